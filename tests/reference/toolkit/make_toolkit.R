# Goldens for lmerpy's analysis toolkit (issue 16): performance's R2 and ICC, broom.mixed's
# tidy/glance/augment, stats' AIC/BIC of several models.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_toolkit.R
# Needs R 4.2, Debian's lme4 1.1-31 (not lme4 2.x), performance 0.10.2, insight 0.19.0,
# broom.mixed 0.2.9.4, jsonlite. Writes tests/reference/toolkit/ID.json, one per case.
# Data: lmerpy's bundled data sets, read as lmerpy reads them (tests/reference/r/common.R).

source(file.path("tests", "reference", "r", "common.R"))
suppressPackageStartupMessages({
  library(performance)
  library(insight)
  library(broom.mixed)
})
OUT <- file.path(REF_DIR, "toolkit")

## a data frame as plain columns (NA -> null; factors as strings)

quiet <- function(expr) suppressWarnings(suppressMessages(expr))

variance_json <- function(fit) {
  v <- quiet(get_variance(fit))
  lapply(v, function(x) if (length(x) > 1 || !is.null(names(x)))
    list(names = I(names(x)), values = num_or_null(x)) else num_or_null(x))
}

case <- function(id, fn, formula, data, family = NULL, link = NULL, REML = TRUE,
                 augment = TRUE, weights = NULL) {
  df <- load_data(data)
  f <- as.formula(formula)
  if (!is.null(weights)) df$.w <- df[[weights]]
  fit <- if (!is.null(weights)) lmer(f, df, REML = REML, weights = .w) else
    if (fn == "lmer") lmer(f, df, REML = REML) else
    glmer(f, df, family = get(family)(link = link))
  r2 <- quiet(r2_nakagawa(fit))
  ic <- quiet(icc(fit))
  icg <- quiet(icc(fit, by_group = TRUE))
  out <- list(
    id = id, fn = fn, formula = formula, data = data, family = family, link = link,
    weights = weights,
    REML = if (fn == "lmer") REML else NULL,
    singular = isSingular(fit),
    theta = arr(getME(fit, "theta")), fixef = arr(fixef(fit)),
    variance = variance_json(fit),
    r2 = list(conditional = num_or_null(r2$R2_conditional), marginal = num_or_null(r2$R2_marginal)),
    icc = if (is.list(ic)) list(adjusted = num_or_null(ic$ICC_adjusted),
                                unadjusted = num_or_null(ic$ICC_unadjusted)) else
                           list(adjusted = num_or_null(NA), unadjusted = num_or_null(NA)),
    icc_by_group = if (is.data.frame(icg)) frame_columns(icg) else NULL,
    tidy = frame_columns(tidy(fit)),
    tidy_fixed_ci = frame_columns(tidy(fit, effects = "fixed", conf.int = TRUE)),
    tidy_fixed_ci90 = frame_columns(tidy(fit, effects = "fixed", conf.int = TRUE, conf.level = 0.9)),
    tidy_ran_pars = frame_columns(tidy(fit, effects = "ran_pars")),
    tidy_ran_pars_vcov = frame_columns(tidy(fit, effects = "ran_pars", scales = "vcov")),
    tidy_ran_vals = frame_columns(tidy(fit, effects = "ran_vals", conf.int = TRUE)),
    glance = frame_columns(glance(fit)),
    logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"), nobs = nobs(fit),
    AIC = AIC(fit), BIC = BIC(fit)
  )
  if (augment) {
    a <- as.data.frame(quiet(augment(fit)))
    keep <- grep("^\\.", names(a), value = TRUE)
    out$augment <- frame_columns(a[, keep])
  }
  write_case(out, OUT, id)
  invisible(fit)
}

ss1 <- case("sleep_slope", "lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy")
ss0 <- case("sleep_intercept_ml", "lmer", "Reaction ~ Days + (1 | Subject)", "sleepstudy",
            REML = FALSE)
ss2 <- case("sleep_uncorr", "lmer", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
            "sleepstudy")
case("sleep_slope_not_fixed", "lmer", "Reaction ~ 1 + (Days | Subject)", "sleepstudy")
case("groups_weighted", "lmer", "y ~ x + (1 | g)", "synth_groups", weights = "w")
case("penicillin_crossed", "lmer", "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
case("pastes_nested", "lmer", "strength ~ 1 + (1 | batch/cask)", "Pastes")
case("dyestuff2_singular", "lmer", "Yield ~ 1 + (1 | Batch)", "Dyestuff2")
case("cbpp_logit", "glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     family = "binomial", link = "logit", augment = FALSE)
case("cbpp_probit", "glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     family = "binomial", link = "probit", augment = FALSE)
case("grouseticks_poisson", "glmer",
     "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", "grouseticks",
     family = "poisson", link = "log", augment = FALSE)
## an observation-level random effect (INDEX): insight counts its variance as dispersion
case("grouseticks_olre", "glmer",
     "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
     family = "poisson", link = "log", augment = FALSE)

## AIC/BIC of several models (stats' data frames) -------------------------------------------
ss0_reml <- lmer(Reaction ~ Days + (1 | Subject), load_data("sleepstudy"))
tab_aic <- AIC(ss0_reml, ss1, ss2)
tab_bic <- BIC(ss0_reml, ss1, ss2)
write_case(list(
  id = "aic_bic_tables",
  formulas = I(c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)",
                 "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)")),
  data = "sleepstudy",
  AIC = c(list(rownames = I(rownames(tab_aic))), frame_columns(tab_aic)),
  BIC = c(list(rownames = I(rownames(tab_bic))), frame_columns(tab_bic))
), OUT, "aic_bic_tables")

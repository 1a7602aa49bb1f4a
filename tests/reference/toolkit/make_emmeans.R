# Goldens for lmerpy.emmeans / pairs (issue 16): emmeans 1.8.4-1 with pbkrtest 0.5.2 (Kenward-Roger
# df, emmeans' default for lmer fits) and lme4 1.1-31.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_emmeans.R
# Writes tests/reference/toolkit/emmeans/ID.json.

source(file.path("tests", "reference", "r", "common.R"))
suppressPackageStartupMessages(library(emmeans))
OUT <- file.path(REF_DIR, "toolkit", "emmeans")
emm_options(msg.interaction = FALSE)


case <- function(id, formula, data, specs, by = NULL, mode = "kenward-roger") {
  df <- load_data(data)
  fit <- lmer(as.formula(formula), df)
  em <- emmeans(fit, specs, by = by, lmer.df = mode)
  out <- list(id = id, formula = formula, data = data, specs = I(specs), by = by,
              lmer_df = mode, theta = arr(getME(fit, "theta")),
              emmeans = frame_columns(summary(em)), emmeans_text = printed(em))
  for (adj in c("tukey", "none", "bonferroni")) {
    pr <- pairs(em, adjust = adj)
    out[[paste0("pairs_", adj)]] <- frame_columns(summary(pr))
    out[[paste0("pairs_", adj, "_text")]] <- printed(pr)
  }
  write_case(out, OUT, id)
}

case("penicillin_treat", "yield ~ treat + (1 | blend)", "bhh_penicillin", "treat")
case("nested_trt_covariate", "y ~ trt + x + (1 | a/b)", "synth_nested", "trt")
case("groups_f", "y ~ f * dose + x + (1 | g)", "synth_groups", "f")
case("groups_f_by_dose", "y ~ f * dose + x + (1 | g)", "synth_groups", "f", by = "dose")
case("nested_trt_satterthwaite", "y ~ trt + x + (1 | a/b)", "synth_nested", "trt",
     mode = "satterthwaite")
case("nested_trt_asymptotic", "y ~ trt + x + (1 | a/b)", "synth_nested", "trt",
     mode = "asymptotic")

## GLMMs: asymptotic z (emmeans' default for glmer fits), link and response scales
glmm_case <- function(id, formula, data, family, specs) {
  df <- load_data(data)
  fit <- glmer(as.formula(formula), df, family = family)
  em <- emmeans(fit, specs)
  emr <- emmeans(fit, specs, type = "response")
  out <- list(id = id, formula = formula, data = data, family = family()$family,
              link = family()$link, specs = I(specs), by = NULL, lmer_df = "asymptotic",
              theta = arr(getME(fit, "theta")), fixef = arr(fixef(fit)),
              emmeans = frame_columns(summary(em)), emmeans_text = printed(em),
              emmeans_response = frame_columns(summary(emr)), emmeans_response_text = printed(emr))
  for (adj in c("tukey", "none", "bonferroni")) {
    pr <- pairs(em, adjust = adj)
    out[[paste0("pairs_", adj)]] <- frame_columns(summary(pr))
    out[[paste0("pairs_", adj, "_text")]] <- printed(pr)
  }
  write_case(out, OUT, id)
}
glmm_case("cbpp_period", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
          binomial, "period")
glmm_case("grouseticks_year", "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", "grouseticks",
          poisson, "YEAR")

# lmer fit goldens: lme4's full results for linear mixed models.
# Writes tests/reference/lmer/ID.json (schema: tests/reference/README.md).
# Run from the repository root:  Rscript tests/reference/r/make_lmer_goldens.R [ID ...]
# (with IDs, only those cases are rewritten).

local({
  ## this script's folder, whether run by Rscript or source()d
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
  source(file.path(here, "make_data.R"))
}, envir = globalenv())

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "lmer")
ONLY <- commandArgs(trailingOnly = TRUE)
make_all_data()

lmer_case <- function(id, data, formula, covers, REML = TRUE, weights = NULL,
                      contrasts = NULL, args = NULL) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_data(data)
  fml <- as.formula(formula, env = globalenv())
  mc <- make_call("lmer", fml, df, REML = REML, weights = weights, contrasts = contrasts,
                  args = args)
  r <- fit_timed(id, mc)
  fit <- r$value

  is_reml <- isREML(fit)
  ll <- logLik(fit)
  n <- nobs(fit)
  out <- list(id = id, data = data, fn = "lmer", formula = formula, covers = covers,
              REML = REML, family = "gaussian", link = "identity", nAGQ = 1L,
              weights = weights, contrasts = contrasts)
  if (!is.null(args)) out$args <- args
  out <- with_design_notes(out, fit, r$messages)
  out <- c(out, estimates_json(fit), list(
    logLik = as.numeric(ll),
    df = attr(ll, "df"),
    AIC = AIC(fit),
    BIC = BIC(fit),
    deviance = if (is_reml) NULL else deviance(fit),
    REMLcrit = if (is_reml) REMLcrit(fit) else NULL,
    singular = isSingular(fit),
    ranef = ranef_json(fit),
    summary_text = summary_text(fit)))
  if (n <= 2000) {
    des <- fit_design_json(fit)
    des$prior_weights <- if (is.null(weights)) NULL else arr(weights(fit))
    out$design <- des
    out$fitted <- arr(fitted(fit))
    out$residuals <- arr(residuals(fit))
    out$predict_population <- arr(predict(fit, re.form = NA))
  }
  write_fit_case(out, OUT_DIR, id, fit, r, as.numeric(ll), theta_width = 40)
}

## ---- the issue's seeds -------------------------------------------------------------------------
lmer_case("seed_sleep_ri_reml", "sleepstudy", "Reaction ~ Days + (1|Subject)",
          "random intercept, REML (same model as ../sleep_ri_reml.json)")
lmer_case("seed_sleep_ri_ml", "sleepstudy", "Reaction ~ Days + (1|Subject)",
          "random intercept, ML (same model as ../sleep_ri_ml.json)", REML = FALSE)
lmer_case("seed_sleep_ri_plus_slope", "sleepstudy",
          "Reaction ~ Days + (1|Subject) + (0+Days|Subject)",
          "two uncorrelated terms on one factor written out (Subject, Subject.1)")
lmer_case("bhh_penicillin_sum_reml", "bhh_penicillin", "yield ~ treat + (1|blend)",
          "BHH penicillin, randomized blocks, contr.sum, REML", contrasts = "contr.sum")
lmer_case("bhh_penicillin_sum_ml", "bhh_penicillin", "yield ~ treat + (1|blend)",
          "BHH penicillin, contr.sum, ML", REML = FALSE, contrasts = "contr.sum")
lmer_case("bhh_penicillin_treatment", "bhh_penicillin", "yield ~ treat + (1|blend)",
          "BHH penicillin, default treatment contrasts, REML")

## ---- random-effects structures -----------------------------------------------------------------
lmer_case("nested_ab", "synth_nested", "y ~ x + (1|a/b)",
          "nested grouping (1|a/b) -> b:a and a terms")
lmer_case("nested_interaction_group", "synth_nested", "y ~ x + (1|a) + (1|a:b)",
          "nesting written with an explicit interaction grouping factor")
lmer_case("crossed_subj_item", "synth_crossed", "rt ~ cond + (1|subj) + (1|item)",
          "crossed random intercepts (fully crossed 24 x 12)")
lmer_case("crossed_slope", "synth_crossed", "rt ~ cond + (cond|subj) + (1|item)",
          "crossed, with a factor random slope")
lmer_case("vector3", "synth_groups", "y ~ x + z + (1 + x + z|g)",
          "3-column vector-valued term, 6 thetas")
lmer_case("double_bar_factor", "synth_groups", "yf ~ f + (f||g)",
          paste("(f||g) with a factor: (1|g) + correlated (0+f|g); over-parameterised, lme4 warns",
                "(unable to evaluate scaled gradient; degenerate Hessian)"))

## ---- weights, offsets ------------------------------------------------------------------------------
lmer_case("weights_column", "synth_groups", "yw ~ x + (1|g)", "prior weights from a column",
          weights = "w")
lmer_case("weights_inverse", "synth_groups", "yw ~ x + (1|g)", "prior weights 1/col",
          weights = "1/w")
lmer_case("offset_term", "synth_groups", "yo ~ x + offset(off) + (1|g)", "offset() term")
lmer_case("offset_argument", "synth_groups", "yo ~ x + (1|g)", "offset= argument",
          args = list(offset_column = "off"))

## ---- contrasts ---------------------------------------------------------------------------------
lmer_case("ordered_poly", "synth_groups", "yd ~ dose + (1|g)",
          "ordered factor: polynomial contrasts")
lmer_case("helmert", "synth_groups", "yf ~ f + (1|g)", "contr.helmert",
          contrasts = "contr.helmert")
lmer_case("sum_nested_trt", "synth_nested", "y ~ trt + x + (1|a)", "contr.sum on a 3-level factor",
          contrasts = "contr.sum")

## ---- boundary, rank, convergence ------------------------------------------------------------------
lmer_case("singular_no_group_effect", "synth_groups", "ys ~ x + (1|g)",
          "singular fit: the group variance is estimated as 0")
lmer_case("rank_deficient", "synth_groups", "y ~ x + x2 + (1|g)",
          "rank-deficient X (x2 = 2x - 1): x2 dropped with a message")

lmer_case("bad_scale_warning", "sleepstudy", "Reaction ~ I(Days * 10000) + (1|Subject)",
          "badly scaled column: lme4 warns 'Some predictor variables are on very different scales'")

## ---- fixed-effect forms ----------------------------------------------------------------------
lmer_case("orthodont_age_sex_ri", "Orthodont", "distance ~ age*Sex + (1|Subject)",
          "numeric x factor interaction, random intercept")
lmer_case("orthodont_ml", "Orthodont", "distance ~ age + Sex + (age|Subject)",
          "Orthodont, correlated slope, ML; lme4 warns (max|grad| above tol)", REML = FALSE)
lmer_case("sleep_quadratic_I", "sleepstudy", "Reaction ~ Days + I(Days^2) + (Days|Subject)",
          "growth curve with I(x^2)")
lmer_case("sleep_poly2", "sleepstudy", "Reaction ~ poly(Days, 2) + (Days|Subject)",
          "growth curve with orthogonal poly(x, 2)")
lmer_case("sleep_log_response", "sleepstudy", "log(Reaction) ~ Days + (Days|Subject)",
          "log() response")
lmer_case("na_rows_fit", "synth_na", "y ~ x + f + (1|g)", "NA rows dropped (na.omit)")

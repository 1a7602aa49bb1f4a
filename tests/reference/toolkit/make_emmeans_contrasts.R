# Goldens for lmerpy.contrast / pairs / confint / emmeans(at=) (issue 16): emmeans 1.8.4-1 with
# pbkrtest 0.5.2 and lme4 1.1-31. Each golden names the model (a case of make_emmeans.R, whose
# JSON holds the formula, the data and lme4's optimum), the call, its table and printed text.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_emmeans_contrasts.R
# Writes tests/reference/toolkit/emmeans_contrasts/ID.json.

source(file.path("tests", "reference", "r", "common.R"))
suppressPackageStartupMessages(library(emmeans))
OUT <- file.path(REF_DIR, "toolkit", "emmeans_contrasts")
dir.create(OUT, showWarnings = FALSE)
emm_options(msg.interaction = FALSE)


models <- list(
  penicillin_treat = function() lmer(yield ~ treat + (1 | blend), load_data("bhh_penicillin")),
  nested_trt_covariate = function() lmer(y ~ trt + x + (1 | a/b), load_data("synth_nested")),
  groups_f = function() lmer(y ~ f * dose + x + (1 | g), load_data("synth_groups")),
  cbpp_period = function() glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                                 load_data("cbpp"), family = binomial),
  grouseticks_year = function() glmer(TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION),
                                      load_data("grouseticks"), family = poisson))
fits <- lapply(models, function(f) suppressWarnings(f()))

## `call` is what the test replays: emmeans arguments, then contrast/pairs/confint
case <- function(id, model, call, obj) {
  notes <- character(0)
  val <- withCallingHandlers(obj, message = function(m) {
    notes <<- c(notes, conditionMessage(m)); invokeRestart("muffleMessage") })
  tab <- if (inherits(val, "summary_emm")) val else summary(val)
  write_case(list(id = id, model = model, call = call, table = frame_columns(tab),
                  text = printed(val), notes = I(notes)), OUT, id)
}

pen <- emmeans(fits$penicillin_treat, "treat")
case("pen_trt_vs_ctrl", "penicillin_treat", list(method = "trt.vs.ctrl"), contrast(pen, "trt.vs.ctrl"))
case("pen_trt_vs_ctrl_ref2", "penicillin_treat", list(method = "trt.vs.ctrl", ref = 2),
     contrast(pen, "trt.vs.ctrl", ref = 2))
case("pen_trt_vs_ctrl_tukey", "penicillin_treat", list(method = "trt.vs.ctrl", adjust = "tukey"),
     contrast(pen, "trt.vs.ctrl", adjust = "tukey"))
case("pen_poly", "penicillin_treat", list(method = "poly"), contrast(pen, "poly"))
case("pen_eff", "penicillin_treat", list(method = "eff"), contrast(pen, "eff"))
case("pen_revpairwise", "penicillin_treat", list(method = "revpairwise"), contrast(pen, "revpairwise"))
case("pen_custom", "penicillin_treat",
     list(method = list(AvsB = c(1, -1, 0, 0), ABvsCD = c(.5, .5, -.5, -.5))),
     contrast(pen, list(AvsB = c(1, -1, 0, 0), ABvsCD = c(.5, .5, -.5, -.5))))
case("pen_holm", "penicillin_treat", list(method = "pairwise", adjust = "holm"), pairs(pen, adjust = "holm"))
case("pen_sidak", "penicillin_treat", list(method = "pairwise", adjust = "sidak"), pairs(pen, adjust = "sidak"))
case("pen_fdr", "penicillin_treat", list(method = "pairwise", adjust = "fdr"), pairs(pen, adjust = "fdr"))
case("pen_hochberg", "penicillin_treat", list(method = "pairwise", adjust = "hochberg"),
     pairs(pen, adjust = "hochberg"))
case("pen_confint_pairs", "penicillin_treat", list(method = "pairwise", confint = TRUE),
     confint(pairs(pen)))
case("pen_confint_trt_vs_ctrl", "penicillin_treat", list(method = "trt.vs.ctrl", confint = TRUE),
     confint(contrast(pen, "trt.vs.ctrl")))
case("pen_confint_bonferroni90", "penicillin_treat",
     list(method = "pairwise", adjust = "bonferroni", confint = TRUE, level = 0.9),
     confint(pairs(pen, adjust = "bonferroni"), level = 0.9))
gf <- emmeans(fits$groups_f, "f", by = "dose")
case("groups_by_trt_vs_ctrl", "groups_f", list(by = "dose", method = "trt.vs.ctrl"),
     contrast(gf, "trt.vs.ctrl"))
case("groups_by_confint", "groups_f", list(by = "dose", method = "pairwise", confint = TRUE),
     confint(pairs(gf)))
cb <- emmeans(fits$cbpp_period, "period", type = "response")
case("cbpp_pairs_response", "cbpp_period", list(type = "response", method = "pairwise"), pairs(cb))
case("cbpp_trt_vs_ctrl_response", "cbpp_period", list(type = "response", method = "trt.vs.ctrl"),
     contrast(cb, "trt.vs.ctrl"))
case("cbpp_confint_response", "cbpp_period", list(type = "response", method = "pairwise", confint = TRUE),
     confint(pairs(cb)))
case("cbpp_poly_link", "cbpp_period", list(method = "poly"),
     contrast(emmeans(fits$cbpp_period, "period"), "poly"))
gt <- emmeans(fits$grouseticks_year, "YEAR", type = "response")
case("grouse_pairs_response", "grouseticks_year", list(type = "response", method = "pairwise"), pairs(gt))
nt <- fits$nested_trt_covariate
case("nested_at_x1", "nested_trt_covariate", list(specs = "trt", at = list(x = 1)),
     emmeans(nt, "trt", at = list(x = 1)))
case("nested_at_by_x", "nested_trt_covariate", list(specs = "trt", by = "x", at = list(x = c(0, 1))),
     emmeans(nt, "trt", by = "x", at = list(x = c(0, 1))))
case("nested_specs_x", "nested_trt_covariate", list(specs = "x", at = list(x = c(-1, 0, 1))),
     emmeans(nt, "x", at = list(x = c(-1, 0, 1))))
case("nested_at_levels", "nested_trt_covariate", list(specs = "trt", at = list(trt = c("lo", "hi"))),
     emmeans(nt, "trt", at = list(trt = c("lo", "hi"))))
case("nested_specs_x_mean", "nested_trt_covariate", list(specs = "x"), emmeans(nt, "x"))

# Denominator-df goldens: lmerTest's Satterthwaite and (via pbkrtest) Kenward-Roger t and F
# tests on unbalanced designs, factor interactions, non-treatment contrasts, ML, weighted and
# singular fits; anova types 1, 2 and 3; the printed lmerTest summary.
# Writes tests/reference/ddf/ID.json. Run from the repository root:
#   Rscript tests/reference/r/make_ddf_goldens.R [ID ...]
# Needs lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, jsonlite.
#
# Keys: id, data, subset (rows kept, an R expression; the test applies the same filter),
# covers, formula, REML, weights, contrasts (per variable), fixef, theta,
# sigma, r_messages; for each ddf in satterthwaite / kenward_roger:
#   coefficients = summary(m, ddf)$coefficients as {rownames, colnames, values},
#   anova_type1 / anova_type2 / anova_type3 = anova(m, type, ddf) as {heading, rownames,
#   colnames, values, text}, summary_text (when asked) = print(summary(m, ddf)) at width 80,
#   r_warnings = warnings raised while computing them.

local({
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
}, envir = globalenv())
suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
})

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "ddf")
ONLY <- commandArgs(trailingOnly = TRUE)

ddf_case <- function(id, data, covers, formula, REML = TRUE, weights = NULL, contrasts = NULL,
                     kr = REML, types = 1:3, summary_text = c("Satterthwaite"),
                     subset = NULL) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_data(data)
  if (!is.null(subset)) df <- df[eval(str2lang(subset), df), , drop = FALSE]
  assign("df", df, envir = globalenv())
  cl <- call("lmer", formula = as.formula(formula, env = globalenv()), data = quote(df),
             REML = REML)
  cl[[1]] <- quote(lme4::lmer)
  if (!is.null(weights)) cl$weights <- as.name(weights)
  if (!is.null(contrasts)) cl$contrasts <- contrasts
  fit <- collect_warnings(eval(cl, globalenv()))
  m <- fit$value
  assign("m", m, envir = globalenv())
  out <- list(id = id, data = data, subset = subset, covers = covers, formula = formula,
              REML = REML,
              weights = weights, contrasts = contrasts, fixef = named(fixef(m)),
              theta = arr(getME(m, "theta")), sigma = sigma(m),
              r_messages = arr(m@optinfo$conv$lme4$messages),
              r_fit_warnings = arr(fit$warnings))
  t <- lmerTest::as_lmerModLmerTest(m)
  for (ddf in c("Satterthwaite", if (kr) "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    res <- collect_warnings({
      s <- summary(t, ddf = ddf)
      r <- list(coefficients = table_json(s$coefficients))
      for (ty in types) {
        a <- anova(t, type = ty, ddf = ddf)
        r[[paste0("anova_type", ty)]] <- printed_table_json(a)
      }
      if (ddf %in% summary_text) r$summary_text <- printed(s)
      r
    })
    out[[key]] <- c(res$value, list(r_warnings = arr(unique(res$warnings))))
  }
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-22s %s\n", id, paste(setdiff(names(out), c("id", "data", "covers")),
                                       collapse = " ")))
  invisible(out)
}

## ---- cases -------------------------------------------------------------------------------------

ddf_case("design_fxh", "synth_design",
  "unbalanced factor x factor interaction plus a covariate, random intercept: Satterthwaite and KR (adjusted SEs differ), anova types 1-3",
  "y ~ f * h + x + (1|g)", summary_text = c("Satterthwaite", "Kenward-Roger"))

ddf_case("groups_sum", "synth_groups",
  "contr.sum factor x covariate with a correlated random slope: type 3 through lmerTest's treatment remake",
  "y ~ f * x + (x|g)", contrasts = list(f = "contr.sum"))

ddf_case("groups_poly", "synth_groups",
  "ordered factor (contr.poly) plus factor: type 3 through the treatment remake, types 1 and 2",
  "y ~ dose + f + (1|g)")

ddf_case("nested_trt", "synth_nested",
  "factor x covariate with nested random intercepts (1|a/b)",
  "y ~ trt * x + (1|a/b)")

ddf_case("crossed_slope", "synth_crossed",
  "crossed subjects and items with a by-subject random slope for a 2-level factor",
  "rt ~ cond + (cond|subj) + (1|item)")

ddf_case("groups_ml", "synth_groups",
  "ML fit: Satterthwaite only (KR needs REML), types 1-3",
  "y ~ f + x + z + (1|g)", REML = FALSE, summary_text = "Satterthwaite")

ddf_case("groups_weights", "synth_groups",
  "prior weights: Satterthwaite (pbkrtest ignores weights, so no KR)",
  "y ~ x + f + (1|g)", weights = "w", kr = FALSE)

ddf_case("dyestuff2_singular", "Dyestuff2",
  "singular fit (theta = 0): Satterthwaite and KR of the intercept",
  "Yield ~ 1 + (1|Batch)", types = 3)

ddf_case("orthodont_slope3", "Orthodont",
  "age*Sex with (age|Subject): anova types 1 and 2 (type 3 is in inference/orthodont_interaction)",
  "distance ~ age * Sex + (age|Subject)", types = c(1, 2))

ddf_case("design_missing_cell", "synth_design",
  "an empty f x h cell: lme4 drops the aliased column, lmerTest's 'Missing cells' message and type III tests",
  "y ~ f * h + x + (1|g)", subset = "!(f == 'c' & h == 'hi')", types = c(2, 3))

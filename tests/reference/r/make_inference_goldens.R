# Inference goldens: lme4's predict(newdata), anova (one model and model comparisons), confint
# (profile and Wald), lmerTest's Satterthwaite tests and Kenward-Roger tests (via pbkrtest).
# Writes tests/reference/inference/ID.json (schema: tests/reference/README.md).
# Run from the repository root:  Rscript tests/reference/r/make_inference_goldens.R [ID ...]
# Needs lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, jsonlite.

local({
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
}, envir = globalenv())
suppressPackageStartupMessages({
  library(lmerTest)   # masks lmer(); the fits below call lme4::lmer explicitly
  library(pbkrtest)
})

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "inference")
ONLY <- commandArgs(trailingOnly = TRUE)

## ---- JSON pieces -------------------------------------------------------------------------------

## A new-data frame as {column: values}; factors written as their labels.
newdata_json <- function(nd) {
  lapply(nd, function(col) if (is.factor(col)) arr(as.character(col)) else arr(col))
}

## Build new data from plain vectors; a column that is a factor in the fitted data becomes a
## factor with the data's levels (plus, for new levels, those labels appended).
as_newdata <- function(cols, df) {
  nd <- as.data.frame(cols, stringsAsFactors = FALSE, check.names = FALSE)
  for (v in names(nd)) if (is.factor(df[[v]])) {
    levs <- levels(df[[v]])
    nd[[v]] <- factor(nd[[v]], levels = c(levs, setdiff(unique(nd[[v]]), levs)))
  }
  nd
}

## ---- fitting -----------------------------------------------------------------------------------

## spec: list(formula, REML = TRUE, family = NULL (lmer) or an R family expression, nAGQ = 1).
## The models are fitted in the global environment with the data bound to `df`, so printed
## outputs say "Data: df" and anova() names the models as given (m0, m1, ...).
fit_model <- function(name, spec) {
  fml <- as.formula(spec$formula, env = globalenv())
  fn <- if (is.null(spec$family)) "lmer" else "glmer"
  cl <- call(fn, formula = fml, data = quote(df))
  if (fn == "lmer") { cl[[1]] <- quote(lme4::lmer); cl$REML <- isTRUE(spec$REML %||% TRUE) }
  else { cl[[1]] <- quote(lme4::glmer); cl$family <- str2lang(spec$family) }
  if (!is.null(spec$nAGQ)) cl$nAGQ <- as.integer(spec$nAGQ)
  r <- run_collect(cl, globalenv())
  if (inherits(r$value, "caught_error")) stop(name, ": ", r$value$message)
  fit <- r$value
  assign(name, fit, envir = globalenv())
  fam <- family(fit)
  list(fit = fit, json = list(
    fn = fn, formula = spec$formula, REML = isREML(fit), family = fam$family, link = fam$link,
    nAGQ = if (fn == "glmer") as.integer(spec$nAGQ %||% 1L) else 1L,
    fixef = named(fixef(fit)), theta = arr(getME(fit, "theta")),
    theta_names = arr(names(getME(fit, "theta"))), sigma = sigma(fit),
    logLik = as.numeric(logLik(fit)), r_warnings = arr(r$warnings),
    r_messages = arr(fit@optinfo$conv$lme4$messages)))
}

## ---- one case ----------------------------------------------------------------------------------

## models: named list of specs; main: the model for predict/anova(m)/confint/lmerTest.
## predict: list of list(newdata = cols, re_form = NULL | "NA" | "~(1|g)", allow_new_levels,
##   type = "link"/"response").  compare: list of list(models = names, refit = TRUE).
## confint: any of "profile", "Wald".  lmertest: Satterthwaite (+ Kenward-Roger for REML fits).
inference_case <- function(id, data, covers, models, main = names(models)[1], predict = NULL,
                           anova_single = TRUE, compare = NULL,
                           confint = c("profile", "Wald"), lmertest = TRUE) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_data(data)
  assign("df", df, envir = globalenv())
  fits <- lapply(names(models), function(nm) fit_model(nm, models[[nm]]))
  names(fits) <- names(models)
  m <- fits[[main]]$fit
  out <- list(id = id, data = data, covers = covers, main = main,
              models = lapply(fits, `[[`, "json"))

  if (length(predict)) {
    out$predict <- lapply(predict, function(p) {
      nd <- as_newdata(p$newdata, df)
      type <- p$type %||% "link"
      re <- if (is.null(p$re_form)) NULL
            else if (identical(p$re_form, "NA")) NA
            else as.formula(p$re_form, env = globalenv())
      val <- predict(m, newdata = nd, re.form = re,
                     allow.new.levels = isTRUE(p$allow_new_levels), type = type)
      list(newdata = newdata_json(nd), re_form = p$re_form,
           allow_new_levels = isTRUE(p$allow_new_levels), type = type, values = arr(val))
    })
  }

  if (anova_single) {
    a <- anova(m)
    out$anova <- printed_table_json(a)
  }

  if (length(compare)) {
    out$anova_compare <- lapply(compare, function(cmp) {
      refit <- cmp$refit %||% TRUE
      cl <- as.call(c(list(as.name("anova")), lapply(cmp$models, as.name)))
      if (!refit) cl$refit <- FALSE
      r <- run_collect(cl, globalenv())
      if (inherits(r$value, "caught_error")) stop(id, ": ", r$value$message)
      c(list(models = arr(cmp$models), refit = refit, r_messages = arr(r$messages)),
        printed_table_json(r$value))
    })
  }

  for (method in confint) {
    r <- run_collect(call("confint", as.name(main), method = method), globalenv())
    if (inherits(r$value, "caught_error")) stop(id, ": ", r$value$message)
    key <- paste0("confint_", tolower(method))
    out[[key]] <- c(table_json(r$value), list(level = 0.95, r_warnings = arr(r$warnings)))
  }

  if (lmertest && inherits(m, "lmerMod")) {
    t <- lmerTest::as_lmerModLmerTest(m)
    ddfs <- if (isREML(m)) c("Satterthwaite", "Kenward-Roger") else "Satterthwaite"
    for (ddf in ddfs) {
      s <- summary(t, ddf = ddf)
      a <- anova(t, type = 3, ddf = ddf)
      key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
      out[[key]] <- list(coefficients = table_json(s$coefficients),
                         anova = printed_table_json(a))
    }
  }
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-24s %s\n", id, paste(setdiff(names(out), c("id", "data", "covers", "main",
                                                              "models")), collapse = " ")))
  invisible(out)
}

## ---- cases -------------------------------------------------------------------------------------

SLEEP_NEW <- list(Days = c(0, 4.5, 9, 2), Subject = c("308", "335", "new1", "new2"))
SLEEP_OLD <- list(Days = c(0, 4.5, 9, 2), Subject = c("308", "335", "372", "309"))
inference_case("sleep_slope", "sleepstudy",
  "correlated slope (REML): predict (all REs, re.form=NA, new levels), anova(m), LRT with ML refit and refit=FALSE, profile/Wald confint, Satterthwaite, Kenward-Roger",
  models = list(m1 = list(formula = "Reaction ~ Days + (Days|Subject)"),
                m0 = list(formula = "Reaction ~ Days + (1|Subject)")),
  predict = list(list(newdata = SLEEP_OLD),
                 list(newdata = SLEEP_OLD, re_form = "NA"),
                 list(newdata = SLEEP_NEW, re_form = "NA"),
                 list(newdata = SLEEP_NEW, allow_new_levels = TRUE),
                 list(newdata = SLEEP_OLD, re_form = "~(1|Subject)")),
  compare = list(list(models = c("m0", "m1")), list(models = c("m0", "m1"), refit = FALSE)))

inference_case("sleep_ml_three", "sleepstudy",
  "ML fits: LRT table of three nested models (no refit), anova(m), profile/Wald confint on an ML fit, Satterthwaite on ML",
  models = list(m2 = list(formula = "Reaction ~ Days + (Days|Subject)", REML = FALSE),
                m0 = list(formula = "Reaction ~ Days + (1|Subject)", REML = FALSE),
                m1 = list(formula = "Reaction ~ Days + (Days||Subject)", REML = FALSE)),
  compare = list(list(models = c("m0", "m1", "m2"))))

inference_case("sleep_uncorr", "sleepstudy",
  "(Days||Subject): profile/Wald confint names for two uncorrelated terms, predict with re.form=~(1|Subject)",
  models = list(m = list(formula = "Reaction ~ Days + (Days||Subject)")),
  predict = list(list(newdata = SLEEP_OLD, re_form = "~(1|Subject)"),
                 list(newdata = SLEEP_NEW, allow_new_levels = TRUE)))

PEN_NEW <- list(plate = c("a", "m", "x", "newplate"), sample = c("A", "F", "C", "D"))
inference_case("penicillin_crossed", "Penicillin",
  "crossed plate x sample: predict with re.form=~(1|plate), ~(1|sample), NA, and a new plate; LRT vs (1|plate) only (ML refit); confint; Satterthwaite/KR for an intercept-only model",
  models = list(m = list(formula = "diameter ~ 1 + (1|plate) + (1|sample)"),
                m0 = list(formula = "diameter ~ 1 + (1|plate)")),
  predict = list(list(newdata = PEN_NEW, re_form = "~(1|plate)", allow_new_levels = TRUE),
                 list(newdata = PEN_NEW, re_form = "~(1|sample)"),
                 list(newdata = PEN_NEW, re_form = "NA"),
                 list(newdata = PEN_NEW, allow_new_levels = TRUE)),
  anova_single = FALSE,
  compare = list(list(models = c("m0", "m"))))

PASTE_NEW <- list(batch = c("A", "E", "J", "J"), cask = c("a", "b", "c", "a"))
inference_case("pastes_nested", "Pastes",
  "nested (1|batch/cask): predict with re.form=~(1|batch) and all REs; LRT vs (1|batch:cask); profile/Wald confint; Satterthwaite/KR",
  models = list(m = list(formula = "strength ~ 1 + (1|batch/cask)"),
                m0 = list(formula = "strength ~ 1 + (1|batch:cask)")),
  predict = list(list(newdata = PASTE_NEW),
                 list(newdata = PASTE_NEW, re_form = "~(1|batch)"),
                 list(newdata = PASTE_NEW, re_form = "NA")),
  anova_single = FALSE,
  compare = list(list(models = c("m0", "m"))))

ORTHO_NEW <- list(age = c(8, 11, 14, 10), Sex = c("Male", "Female", "Female", "Male"),
                  Subject = c("M01", "F03", "F99", "M99"))
inference_case("orthodont_ri", "Orthodont",
  "numeric + factor fixed effects: anova(m) with 2 terms, LRT for a fixed effect (ML refit), predict with new subjects, confint, Satterthwaite/KR with type 3 anova",
  models = list(m = list(formula = "distance ~ age + Sex + (1|Subject)"),
                m0 = list(formula = "distance ~ age + (1|Subject)")),
  predict = list(list(newdata = ORTHO_NEW, allow_new_levels = TRUE),
                 list(newdata = ORTHO_NEW, re_form = "NA")),
  compare = list(list(models = c("m0", "m"))))

inference_case("orthodont_interaction", "Orthodont",
  "age*Sex with (age|Subject): 3-term anova(m), Satterthwaite/KR type 3 with an interaction, Wald confint",
  models = list(m = list(formula = "distance ~ age * Sex + (age|Subject)")),
  confint = "Wald")

BHH_NEW <- list(treat = c("A", "B", "C", "D"), blend = c("blend1", "blend3", "blend5", "blendX"))
inference_case("bhh_penicillin", "bhh_penicillin",
  "balanced randomized blocks: Satterthwaite = KR (df 12), anova(m) and type 3 F for a 4-level factor, LRT treat vs none (ML refit), confint, predict",
  models = list(m = list(formula = "yield ~ treat + (1|blend)"),
                m0 = list(formula = "yield ~ 1 + (1|blend)")),
  predict = list(list(newdata = BHH_NEW, allow_new_levels = TRUE)),
  compare = list(list(models = c("m0", "m"))))

inference_case("dyestuff", "Dyestuff",
  "one-way random effects: profile confint (the lme4 book's example), Wald, Satterthwaite/KR, predict with a new batch",
  models = list(m = list(formula = "Yield ~ 1 + (1|Batch)")),
  predict = list(list(newdata = list(Batch = c("A", "F", "G")), allow_new_levels = TRUE)),
  anova_single = FALSE)

CBPP_F <- "cbind(incidence, size - incidence) ~ period + (1|herd)"
CBPP_NEW <- list(period = c("1", "2", "3", "4", "1"), herd = c("1", "5", "15", "new", "new"))
inference_case("cbpp_glmer", "cbpp",
  "binomial glmer: predict link/response (all REs, NA, new herd), anova(m), LRT vs intercept-only, profile/Wald confint",
  models = list(m = list(formula = CBPP_F, family = "binomial"),
                m0 = list(formula = "cbind(incidence, size - incidence) ~ 1 + (1|herd)",
                          family = "binomial")),
  predict = list(list(newdata = CBPP_NEW, allow_new_levels = TRUE),
                 list(newdata = CBPP_NEW, allow_new_levels = TRUE, type = "response"),
                 list(newdata = CBPP_NEW, re_form = "NA", type = "response")),
  compare = list(list(models = c("m0", "m"))))

inference_case("grouseticks_poisson", "grouseticks",
  "Poisson glmer with two crossed terms: predict with re.form=~(1|BROOD), LRT dropping a term, Wald confint",
  models = list(m = list(formula = "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)",
                         family = "poisson"),
                m0 = list(formula = "TICKS ~ YEAR + cHEIGHT + (1|BROOD)", family = "poisson")),
  predict = list(list(newdata = list(YEAR = c("95", "96", "97"), cHEIGHT = c(-10, 0, 25),
                                     BROOD = c("501", "503", "999"),
                                     LOCATION = c("32", "4", "999")),
                      re_form = "~(1|BROOD)", allow_new_levels = TRUE, type = "response")),
  compare = list(list(models = c("m0", "m"))), confint = "Wald")

# nlme golden files for anova(fit, Terms =, L =) on gls fits (issue 13).
#
#   Rscript tests/reference/nlme/make_nlme_inference.R      (from the repository root)
#
# Needs R with nlme (3.1-162 made these) and jsonlite; reads the data sets and the gls and lme
# calls make_gls.R and make_lme.R wrote (tests/reference/nlme/data, .../gls/ID.json,
# .../lme/ID.json) and writes
#   tests/reference/nlme/anova_terms_L.json     single-model F tests with Terms= or L= (gls and
#                                               lme fits), and nlme's errors for bad Terms/L
#   tests/reference/nlme/lme_anova.json         anova(lme) sequential and marginal tables
#   tests/reference/nlme/lme_anova_lrt.json     anova(fit1, fit2, ...) of lme (and gls) fits
#   tests/reference/nlme/lme_intervals.json     intervals(lme): nlme's (fdHess apVar) and from
#                                               an accurate Hessian of nlme's own function
# Numbers unrounded (jsonlite digits = NA); printed text at options(width = 80, digits = 7).
# Terms are written as R has them (names, or 1-based positions); the tests map positions to
# lmerpy's 0-based ones.
`%in%` <- base::`%in%`
source(file.path("tests", "reference", "nlme", "nlme_common.R"))  # nlme, jsonlite, OUT, DATA, helpers

fit_env <- new.env()
gls_fit <- function(id, kind = "gls") {
  case <- fromJSON(file.path(OUT, kind, paste0(id, ".json")), simplifyVector = TRUE)
  if (!exists(case$data, envir = fit_env, inherits = FALSE))
    assign(case$data, load_data(case$data), envir = fit_env)
  eval(parse(text = case$r_call), envir = fit_env)
}

## L as JSON: rows, and the column / row names R sees (NULL when absent)
L_json <- function(L) {
  if (is.null(L)) return(NULL)
  m <- if (is.matrix(L)) L else t(as.matrix(L))
  list(rows = unname(lapply(seq_len(nrow(m)), function(i) V(m[i, ]))),
       colnames = if (is.null(colnames(m))) NULL else I(colnames(m)),
       rownames = if (is.null(rownames(m))) NULL else I(rownames(m)),
       vector = !is.matrix(L))
}

CASES <- list(
  list(id = "ovary_terms_positions", fit = "ovary_ar1", Terms = c(2, 3)),
  list(id = "ovary_terms_name", fit = "ovary_ar1", Terms = "cos(2 * pi * Time)"),
  list(id = "ovary_L_vector", fit = "ovary_ar1", L = c(0, 1, -1)),
  list(id = "ovary_L_matrix", fit = "ovary_ar1", L = rbind(a = c(0, 1, 0), b = c(0, 0, 1))),
  list(id = "ovary_L_named_one", fit = "ovary_ar1", L = c("cos(2 * pi * Time)" = 1)),
  list(id = "ovary_L_named_two", fit = "ovary_ar1",
       L = c("sin(2 * pi * Time)" = 1, "cos(2 * pi * Time)" = 1)),
  list(id = "ovary_ml_terms", fit = "ovary_ar1_ml", Terms = 2),
  list(id = "ovary_ml_L", fit = "ovary_ar1_ml", L = c(0, 1, -1)),
  list(id = "ortho_terms_interaction", fit = "ortho_ident", Terms = "age:Sex"),
  list(id = "ortho_terms_two", fit = "ortho_ident", Terms = c("Sex", "age:Sex")),
  list(id = "ortho_L_colnames", fit = "ortho_ident",
       L = matrix(c(1, 0, 0, 1, 1, 1), nrow = 3, byrow = TRUE,
                  dimnames = list(NULL, c("SexFemale", "age:SexFemale")))),
  list(id = "ortho_L_short", fit = "ortho_ident", L = c(0, 1)),
  # nlme's errors
  list(id = "err_terms_range", fit = "ovary_ar1", Terms = 5),
  list(id = "err_terms_name", fit = "ovary_ar1", Terms = "nope"),
  list(id = "err_L_columns", fit = "ovary_ar1", L = c(1, 0, 0, 0, 1)),
  list(id = "err_L_name", fit = "ovary_ar1", L = c(nope = 1)),
  # lme fits: the denominator df of the terms (between/within rule)
  list(id = "lme_ortho_terms_between", fit = "ortho_rs", model = "lme", Terms = "Sex"),
  list(id = "lme_ortho_terms_within", fit = "ortho_rs", model = "lme", Terms = c("age", "age:Sex")),
  list(id = "lme_ortho_L_within", fit = "ortho_rs", model = "lme", L = c(0, 1, 0, 1)),
  list(id = "lme_ortho_ml_terms", fit = "ortho_rs_ml", model = "lme", Terms = c(2, 4)),
  list(id = "lme_oats_L_named", fit = "oats_nested", model = "lme", L = c(nitro = 1)),
  list(id = "err_lme_terms_ddf", fit = "ortho_rs", model = "lme", Terms = c("age", "Sex")),
  list(id = "err_lme_L_ddf", fit = "ortho_rs", model = "lme", L = c(0, 1, 1, 0))
)

out <- list()
for (case in CASES) {
  model <- if (is.null(case$model)) "gls" else case$model
  fit <- gls_fit(case$fit, model)
  args <- list(fit)
  if (!is.null(case$Terms)) args$Terms <- case$Terms
  if (!is.null(case$L)) args$L <- case$L
  res <- list(id = case$id, fit = case$fit, model = model,
              Terms = if (is.null(case$Terms)) NULL else I(case$Terms),
              Terms_numeric = is.numeric(case$Terms), L = L_json(case$L))
  a <- tryCatch(do.call(anova, args), error = function(e) e)
  if (inherits(a, "error")) {
    res$error <- conditionMessage(a)
  } else {
    res$numDF <- V(a[["numDF"]])
    res$denDF <- if ("denDF" %in% names(a)) V(a[["denDF"]]) else NULL
    res$F <- V(a[["F-value"]])
    res$p <- V(a[["p-value"]])
    res$L_printed <- if (is.null(attr(a, "L"))) NULL else L_json(attr(a, "L"))
    res$text <- text_of(a)
  }
  out[[length(out) + 1L]] <- res
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(OUT, "anova_terms_L.json"))
cat("nlme", as.character(packageVersion("nlme")), ":", length(out), "Terms/L cases\n")

## ---- anova(lme): sequential and marginal F tables ---------------------------------------
LME_ANOVA <- c("ortho_ri", "ortho_rs", "ortho_rs_ml", "ortho_ri_ident", "ortho_ri_ident_ml",
               "oats_nested", "pixel", "ovary_ri_ar1", "dial_power")
tables <- list()
for (id in LME_ANOVA) {
  fit <- gls_fit(id, "lme")
  for (type in c("sequential", "marginal")) {
    a <- anova(fit, type = type)
    tables[[length(tables) + 1L]] <- list(fit = id, type = type, terms = I(rownames(a)),
      numDF = V(a[["numDF"]]), denDF = V(a[["denDF"]]), F = V(a[["F-value"]]),
      p = V(a[["p-value"]]), text = text_of(a))
  }
}
writeLines(toJSON(tables, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"),
           file.path(OUT, "lme_anova.json"))

## ---- anova(fit1, fit2, ...): likelihood-ratio tables --------------------------------------
LRT <- list(
  list(id = "ortho_ri_vs_rs_ml", fits = list(c("lme", "ortho_ri_ident_ml"), c("lme", "ortho_rs_ml"))),
  list(id = "gls_vs_lme_ml", fits = list(c("gls", "ortho_cs_ml"), c("lme", "ortho_rs_ml"))),
  list(id = "oats_nested_reml", fits = list(c("lme", "oats_cs"), c("lme", "oats_nested"), c("lme", "oats_symm"))),
  list(id = "ovary_ar1_vs_arma", fits = list(c("lme", "ovary_ri_ar1"), c("lme", "ovary_ri_arma11"))),
  list(id = "ortho_reml_different_fixed", fits = list(c("lme", "ortho_ri"), c("lme", "ortho_rs")))
)
lrt <- list()
for (case in LRT) {
  fits <- lapply(case$fits, function(f) gls_fit(f[2], f[1]))
  warns <- character(0)
  a <- withCallingHandlers(do.call(anova, unname(fits)), warning = function(w) {
    warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  rownames(a) <- vapply(case$fits, function(f) f[2], "")
  lrt[[length(lrt) + 1L]] <- list(id = case$id, fits = lapply(case$fits, I),
    df = V(a[["df"]]), AIC = V(a[["AIC"]]), BIC = V(a[["BIC"]]), logLik = V(a[["logLik"]]),
    test = if ("Test" %in% names(a)) I(as.character(a[["Test"]])) else NULL,
    L_ratio = if ("L.Ratio" %in% names(a)) V(a[["L.Ratio"]]) else NULL,
    p = if ("p-value" %in% names(a)) V(a[["p-value"]]) else NULL,
    warnings = I(warns), text = text_of(a))
}
writeLines(toJSON(lrt, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"),
           file.path(OUT, "lme_anova_lrt.json"))

## ---- intervals(lme) ------------------------------------------------------------------------
## nlme's apVar of an lme fit is the inverse negative Hessian (fdHess) of the log-likelihood in
## the random effects' absolute covariances on the "natural" scale (pdSymm: log sd and
## log((1 + r) / (1 - r)); pdDiag/pdIdent: log sd), the residual structure's unconstrained
## parameters and log(sigma), beta profiled (REML: restricted). fdHess leaves 1e-5 to 1e-2 of
## rounding noise in it, so the goldens also keep apVar from Richardson-extrapolated central
## differences of nlme's own lmeApVar.fullLmeLogLik (the scheme of make_gls.R, lmerpy's
## default), and the intervals from it.

## nlme's lmeApVar with the Hessian above (the same parametrization)
ORIGINAL_LME_APVAR <- get("lmeApVar", envir = asNamespace("nlme"))
richardson_fdHess <- function(pars, fun, ..., .relStep, minAbsPar)
  list(Hessian = richardson_hess(pars, fun, ...))
lme_apvar_richardson <- ORIGINAL_LME_APVAR
body(lme_apvar_richardson) <- do.call(substitute, list(body(ORIGINAL_LME_APVAR),
                                                       list(fdHess = quote(richardson_fdHess))))
environment(lme_apvar_richardson) <- list2env(list(richardson_fdHess = richardson_fdHess),
                                              parent = asNamespace("nlme"))
with_richardson_lme <- function(expr) {
  assignInNamespace("lmeApVar", lme_apvar_richardson, "nlme")
  on.exit(assignInNamespace("lmeApVar", ORIGINAL_LME_APVAR, "nlme"))
  expr
}

intervals_json <- function(iv) {
  out <- list()
  for (nm in names(iv)) {
    a <- iv[[nm]]
    if (nm == "sigma") {
      out$sigma <- V(a)
    } else if (nm == "reStruct") {
      out$reStruct <- lapply(a, function(m) list(names = V(rownames(m)), rows = mat_rows(as.matrix(m))))
      out$reStruct_levels <- I(names(a))
    } else {
      m <- as.matrix(a)
      out[[nm]] <- list(label = attr(a, "label"), names = V(rownames(m)), rows = mat_rows(m))
    }
  }
  out
}
LME_INTERVALS <- c("ortho_ri", "ortho_rs", "ortho_rs_ml", "ortho_rs_diag", "ortho_rs_ident",
                   "ortho_ri_ident", "oats_nested", "ovary_ri_ar1", "pixel", "dial_power",
                   "oats_compsymm_pd", "oats_symm")
ivs <- list()
for (id in LME_INTERVALS) {
  fit <- gls_fit(id, "lme")
  iv <- tryCatch(intervals(fit), error = function(e) e)
  fit_r <- with_richardson_lme(gls_fit(id, "lme"))
  iv_r <- tryCatch(intervals(fit_r), error = function(e) e)
  av <- fit$apVar
  av_r <- fit_r$apVar
  ivs[[length(ivs) + 1L]] <- list(
    fit = id,
    apVar_pars = if (is.matrix(av)) V(attr(av, "Pars")) else NULL,
    apVar_names = if (is.matrix(av)) I(names(attr(av, "Pars"))) else NULL,
    apVar = if (is.matrix(av)) mat_rows(av) else NULL,
    apVar_message = if (is.character(av)) av else NULL,
    apVar_richardson = if (is.matrix(av_r)) mat_rows(av_r) else NULL,
    intervals = if (!inherits(iv, "error")) intervals_json(iv) else NULL,
    intervals_error = if (inherits(iv, "error")) conditionMessage(iv) else NULL,
    intervals_text = if (!inherits(iv, "error")) text_of(iv) else NULL,
    intervals_richardson = if (!inherits(iv_r, "error")) intervals_json(iv_r) else NULL,
    intervals_richardson_text = if (!inherits(iv_r, "error")) text_of(iv_r) else NULL,
    intervals_fixed_90_text = text_of(intervals(fit, level = 0.9, which = "fixed")))
}
writeLines(toJSON(ivs, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null"),
           file.path(OUT, "lme_intervals.json"))
cat("intervals:", length(ivs), "lme fits\n")

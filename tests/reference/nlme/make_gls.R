# nlme golden files for lmerpy.gls (issue 13, step 1).
#
#   Rscript tests/reference/nlme/make_gls.R          (from the repository root)
#
# Needs R with nlme (3.1-162 made these) and jsonlite. Writes
#   tests/reference/nlme/data/NAME.csv.gz + NAME.levels.json   the data sets (nlme's, and two
#                                                              simulated ones), read back before
#                                                              fitting so R fits what lmerpy reads
#   tests/reference/nlme/gls/ID.json                           one fit per file
#   tests/reference/nlme/gls_anova.json                        anova(fit1, fit2, ...) tables
#   tests/reference/nlme/gls_errors.json                       nlme's errors on bad input
#   lmerpy/datasets/data/{Ovary,BodyWeight,Dialyzer}.*        the same data, bundled
# Numbers are written unrounded (jsonlite digits = NA); printed text at options(width = 80,
# digits = 7).
source(file.path("tests", "reference", "nlme", "nlme_common.R"))  # nlme, jsonlite, OUT, DATA, helpers

GLS <- file.path(OUT, "gls")
dir.create(GLS, showWarnings = FALSE, recursive = TRUE)

## ---- data (the documentation's data sets are bundled with lmerpy too) ------------------

DATASETS <- list()
DATASETS$Ovary <- save_data(Ovary, "Ovary")
DATASETS$Orthodont <- save_data(Orthodont, "Orthodont")
DATASETS$BodyWeight <- save_data(BodyWeight, "BodyWeight")
DATASETS$Dialyzer <- save_data(Dialyzer, "Dialyzer")
for (name in c("Ovary", "BodyWeight", "Dialyzer")) bundle(name)
## Orthodont with its rows shuffled: gls sorts by the correlation's groups and puts the
## results back in the caller's order; varIdent's reference stratum is the first one met
## in the sorted data.
set.seed(13)
DATASETS$OrthodontShuffled <- save_data(Orthodont[sample(nrow(Orthodont)), ], "OrthodontShuffled")
## Variance growing like (c + x^p): varConstPower with a well-determined constant; an AR(1)
## series with no grouping; a few missing values.
set.seed(2013)
n <- 200
x <- round(runif(n, 0.5, 10), 3)
t <- seq_len(n)
e <- as.numeric(arima.sim(list(ar = 0.6), n))
sim <- data.frame(y = round(1 + 2 * x + rnorm(n, sd = 2 + x^1.2), 4),
                  x = x, t = t, z = round(3 + 0.05 * t + e, 4),
                  g = factor(rep(c("a", "b", "c", "d"), length.out = n)))
sim$y[c(7, 50)] <- NA
sim$x[120] <- NA
DATASETS$VarSim <- save_data(sim, "VarSim")

## ---- structure specs: the R call text and the Python call (as data) together ------------

# S(): the spec builder, in nlme_common.R

OVARY <- "follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)"
ORTHO <- "distance ~ age * Sex"
BW <- "weight ~ Time * Diet"
DIAL <- "rate ~ (pressure + I(pressure^2)) * QB"

CASES <- list(
  list(id = "ovary_plain", data = "Ovary", formula = OVARY),
  list(id = "ovary_plain_ml", data = "Ovary", formula = OVARY, method = "ML"),
  list(id = "ovary_ar1", data = "Ovary", formula = OVARY, correlation = S("corAR1", form = "~ 1 | Mare")),
  list(id = "ovary_ar1_sin", data = "Ovary", formula = "follicles ~ sin(2 * pi * Time)",
       correlation = S("corAR1", form = "~ 1 | Mare")),
  list(id = "ovary_ar1_ml", data = "Ovary", formula = OVARY, method = "ML",
       correlation = S("corAR1", form = "~ 1 | Mare")),
  list(id = "ovary_arma11", data = "Ovary", formula = OVARY,
       correlation = S("corARMA", form = "~ 1 | Mare", p = 1, q = 1)),
  list(id = "ovary_arma20", data = "Ovary", formula = OVARY,
       correlation = S("corARMA", form = "~ 1 | Mare", p = 2)),
  list(id = "ovary_ma2_ml", data = "Ovary", formula = OVARY, method = "ML",
       correlation = S("corARMA", form = "~ 1 | Mare", q = 2)),
  list(id = "ovary_ar1_fixed", data = "Ovary", formula = "follicles ~ 1",
       correlation = S("corAR1", 0.5, form = "~ 1 | Mare", fixed = TRUE)),
  list(id = "ortho_ident_fixed", data = "Orthodont", formula = ORTHO,
       weights = S("varIdent", form = "~ 1 | age", fixed = list(`10` = 0.9))),
  list(id = "ovary_cs", data = "Ovary", formula = OVARY,
       correlation = S("corCompSymm", form = "~ 1 | Mare")),
  list(id = "ovary_power_fitted", data = "Ovary", formula = OVARY, weights = S("varPower")),
  list(id = "ortho_cs", data = "Orthodont", formula = ORTHO,
       correlation = S("corCompSymm", form = "~ 1 | Subject")),
  list(id = "ortho_cs_ml", data = "Orthodont", formula = ORTHO, method = "ML",
       correlation = S("corCompSymm", form = "~ 1 | Subject")),
  list(id = "ortho_symm", data = "Orthodont", formula = ORTHO,
       correlation = S("corSymm", form = "~ 1 | Subject")),
  list(id = "ortho_symm_ident", data = "Orthodont", formula = ORTHO,
       correlation = S("corSymm", form = "~ 1 | Subject"), weights = S("varIdent", form = "~ 1 | age")),
  list(id = "ortho_ident", data = "Orthodont", formula = ORTHO, weights = S("varIdent", form = "~ 1 | Sex")),
  list(id = "ortho_ident_ml", data = "Orthodont", formula = ORTHO, method = "ML",
       weights = S("varIdent", form = "~ 1 | Sex")),
  list(id = "ortho_ident_strata", data = "Orthodont", formula = ORTHO,
       weights = S("varIdent", form = "~ 1 | Sex * age")),
  list(id = "ortho_ident_ar1", data = "Orthodont", formula = ORTHO,
       weights = S("varIdent", form = "~ 1 | Sex"), correlation = S("corAR1", form = "~ 1 | Subject")),
  list(id = "ortho_fixed", data = "Orthodont", formula = ORTHO, weights = S("varFixed", "~ age")),
  list(id = "ortho_exp", data = "Orthodont", formula = ORTHO, weights = S("varExp", form = "~ age")),
  list(id = "ortho_shuffled_car1_ident", data = "OrthodontShuffled", formula = ORTHO,
       weights = S("varIdent", form = "~ 1 | Sex"), correlation = S("corCAR1", form = "~ age | Subject")),
  list(id = "bw_car1", data = "BodyWeight", formula = BW, correlation = S("corCAR1", form = "~ Time | Rat")),
  list(id = "bw_power_fitted", data = "BodyWeight", formula = BW, weights = S("varPower")),
  list(id = "bw_power_car1", data = "BodyWeight", formula = BW, weights = S("varPower"),
       correlation = S("corCAR1", form = "~ Time | Rat")),
  list(id = "dial_power", data = "Dialyzer", formula = DIAL, weights = S("varPower", form = "~ pressure")),
  list(id = "dial_power_ml", data = "Dialyzer", formula = DIAL, method = "ML",
       weights = S("varPower", form = "~ pressure")),
  list(id = "dial_power_strata_ar1", data = "Dialyzer", formula = DIAL,
       weights = S("varPower", form = "~ pressure | QB"), correlation = S("corAR1", form = "~ index | Subject")),
  list(id = "dial_fixed", data = "Dialyzer", formula = DIAL, weights = S("varFixed", "~ pressure")),
  list(id = "dial_exp_fitted", data = "Dialyzer", formula = DIAL, weights = S("varExp")),
  list(id = "dial_comb", data = "Dialyzer", formula = DIAL,
       weights = S("varComb", S("varIdent", form = "~ 1 | QB"), S("varPower", form = "~ pressure"))),
  list(id = "dial_comb_ar1", data = "Dialyzer", formula = DIAL,
       weights = S("varComb", S("varIdent", form = "~ 1 | QB"), S("varPower", form = "~ pressure")),
       correlation = S("corAR1", form = "~ 1 | Subject")),
  list(id = "sim_constpower", data = "VarSim", formula = "y ~ x", na_action = "omit",
       weights = S("varConstPower", form = "~ x")),
  list(id = "sim_constpower_fitted_ml", data = "VarSim", formula = "y ~ x", method = "ML",
       na_action = "omit", weights = S("varConstPower")),
  list(id = "sim_ar1_nogroup", data = "VarSim", formula = "z ~ t", na_action = "omit",
       correlation = S("corAR1")),
  list(id = "sim_ar1_exclude", data = "VarSim", formula = "y ~ x", na_action = "exclude",
       correlation = S("corAR1", form = "~ 1 | g"), weights = S("varIdent", form = "~ 1 | g"))
)

## ---- apVar by an accurate Hessian ---------------------------------------------------------
## nlme's apVar differentiates the log-likelihood with fdHess, whose steps (~6e-6 times the
## parameter, at least 3e-7) leave 1e-5 to 1e-2 of rounding noise in it. The goldens also keep
## apVar from Richardson-extrapolated central differences of nlme's own function
## (glsApVar.fullGlsLogLik), the scheme lmerpy uses by default: steps h_i = 0.03 / sqrt(|f_ii|)
## and h_i / 2 (f_ii from a first central difference with step 1e-4 max(1, |x_i|)), combined
## as (4 H(h/2) - H(h)) / 3; and nlme's intervals() computed from that apVar.

## glsApVar with the Hessian above (same parametrization: corSymm on the corNatural scale,
## then the other structure parameters unconstrained, then log(sigma))
apvar_richardson <- function(glsSt, sigma, conLin = attr(glsSt, "conLin"), .relStep, minAbsPar,
                             natural = TRUE) {
  if (length(coef(glsSt)) == 0L) return(NULL)
  cSt <- glsSt[["corStruct"]]
  if (natural && !is.null(cSt) && inherits(cSt, "corSymm")) {
    r <- coef(cSt, unconstrained = FALSE)
    class(cSt) <- c("corNatural", "corStruct")
    coef(cSt) <- log((1 + r) / (1 - r))
    glsSt[["corStruct"]] <- cSt
  }
  dims <- conLin$dims
  conLin[["logLik"]] <- 0
  Pars <- c(coef(glsSt), lSigma = log(sigma))
  H <- richardson_hess(Pars, nlme:::glsApVar.fullGlsLogLik, glsSt, conLin, dims,
                       dims$N - dims$REML * dims$p)
  if (!all(eigen(H, only.values = TRUE)$values < 0))
    return("Non-positive definite approximate variance-covariance")
  val <- solve(-H)
  dimnames(val) <- list(names(Pars), names(Pars))
  attr(val, "Pars") <- Pars
  attr(val, "natural") <- natural
  val
}
ORIGINAL_APVAR <- get("glsApVar", envir = asNamespace("nlme"))
with_richardson_apvar <- function(expr) {
  assignInNamespace("glsApVar", apvar_richardson, "nlme")
  on.exit(assignInNamespace("glsApVar", ORIGINAL_APVAR, "nlme"))
  expr
}

## ---- one fit -----------------------------------------------------------------------------

## a JSON array even when of length 1 (NULL stays NULL: the key is left out)

call_text <- function(case) {
  args <- c(case$formula, paste("data =", case$data))
  if (!is.null(case$correlation)) args <- c(args, paste("correlation =", case$correlation$r))
  if (!is.null(case$weights)) args <- c(args, paste("weights =", case$weights$r))
  if (!is.null(case$method)) args <- c(args, sprintf('method = "%s"', case$method))
  if (!is.null(case$na_action)) args <- c(args, paste0("na.action = na.", case$na_action))
  paste0("gls(", paste(args, collapse = ", "), ")")
}

fit_env <- new.env()
for (nm in names(DATASETS)) assign(nm, DATASETS[[nm]], envir = fit_env)

## nlme 3.1's residuals(type = "normalized") applies the correlation factor, built on the rows
## sorted by the correlation groups, to the residuals in the data's order: when the data are
## not already sorted that way, rows of different groups are mixed. These are the residuals
## whitened on the sorted rows and put back in the data's order (equal to nlme's when the data
## are sorted).
normalized_aligned <- function(fit) {
  cSt <- fit$modelStruct$corStruct
  r <- c(fit$residuals) / attr(fit$residuals, "std")
  if (is.null(cSt)) return(r)
  ord <- if (is.null(fit$groups)) seq_along(r) else order(fit$groups)
  out <- numeric(length(r))
  out[ord] <- nlme:::recalc(cSt, list(Xy = as.matrix(r[ord])))$Xy[, 1]
  out
}

intervals_json <- function(iv) {
  out <- list()
  for (nm in names(iv)) {
    a <- iv[[nm]]
    if (nm == "sigma") {
      out$sigma <- V(a)
    } else {
      m <- as.matrix(a)
      out[[nm]] <- list(label = attr(a, "label"), names = V(rownames(m)), rows = mat_rows(m))
    }
  }
  out
}

anova_json <- function(a) {
  list(terms = V(rownames(a)), numDF = V(a[["numDF"]]), F = V(a[["F-value"]]), p = V(a[["p-value"]]),
       text = text_of(a))
}

one_case <- function(case) {
  cl <- call_text(case)
  t0 <- proc.time()[["elapsed"]]
  fit <- eval(parse(text = cl), envir = fit_env)
  secs <- proc.time()[["elapsed"]] - t0
  ms <- fit$modelStruct
  ll <- logLik(fit)
  d <- DATASETS[[case$data]]
  newdata <- head(d[complete.cases(d), ], 6)
  iv <- tryCatch(intervals(fit), error = function(e) conditionMessage(e))
  av <- fit$apVar
  fit_r <- with_richardson_apvar(eval(parse(text = cl), envir = fit_env))
  stopifnot(identical(coef(fit_r), coef(fit)))
  av_r <- fit_r$apVar
  iv_r <- tryCatch(intervals(fit_r), error = function(e) conditionMessage(e))
  res <- list(
    id = case$id, data = case$data, formula = case$formula,
    method = if (is.null(case$method)) "REML" else case$method,
    na_action = if (is.null(case$na_action)) "fail" else case$na_action,
    weights = if (!is.null(case$weights)) case$weights$py,
    correlation = if (!is.null(case$correlation)) case$correlation$py,
    r_call = cl,
    nobs = fit$dims$N, p = fit$dims$p,
    cor_class = if (!is.null(ms$corStruct)) class(ms$corStruct)[1],
    coef_names = V(names(coef(fit))), coef = V(coef(fit)),
    se = V(sqrt(diag(vcov(fit)))), vcov = mat_rows(vcov(fit)),
    sigma = fit$sigma, logLik = as.numeric(ll), df = attr(ll, "df"),
    AIC = AIC(fit), BIC = BIC(fit),
    logLik_other_REML = as.numeric(logLik(fit, REML = (fit$method != "REML"))),
    struct_names = V(names(coef(ms))), struct_unconstrained = V(coef(ms)),
    struct_natural_names = V(names(coef(ms, unconstrained = FALSE))),
    struct_natural = V(coef(ms, unconstrained = FALSE)),
    numIter = fit$numIter,
    apVar = if (is.matrix(av)) mat_rows(av),
    apVar_names = if (is.matrix(av)) V(rownames(av)),
    apVar_pars = if (is.matrix(av)) V(attr(av, "Pars")),
    apVar_message = if (is.character(av)) av,
    apVar_richardson = if (is.matrix(av_r)) mat_rows(av_r),
    apVar_richardson_message = if (is.character(av_r)) av_r,
    intervals_richardson = if (is.list(iv_r)) intervals_json(iv_r),
    intervals_richardson_text = if (is.list(iv_r)) text_of(iv_r),
    resid_std = V(attr(residuals(fit), "std")),
    fitted = V(fitted(fit)),
    resid_response = V(residuals(fit, type = "response")),
    resid_pearson = V(residuals(fit, type = "pearson")),
    resid_normalized = V(residuals(fit, type = "normalized")),
    resid_normalized_aligned = V(normalized_aligned(fit)),
    newdata_rows = V(as.integer(rownames(newdata))),
    predict = V(predict(fit, newdata)),
    anova = anova_json(anova(fit)),
    anova_marginal = anova_json(anova(fit, type = "marginal")),
    intervals = if (is.list(iv)) intervals_json(iv),
    intervals_text = if (is.list(iv)) text_of(iv),
    intervals_error = if (is.character(iv)) iv,
    getVarCov = if (!is.null(ms$corStruct) && !is.null(getGroups(ms$corStruct)))
      mat_rows(unclass(getVarCov(fit))),
    getVarCov_text = if (!is.null(ms$corStruct) && !is.null(getGroups(ms$corStruct)))
      text_of(getVarCov(fit)),
    getVarCov_2 = if (!is.null(ms$corStruct) && !is.null(getGroups(ms$corStruct)))
      mat_rows(unclass(getVarCov(fit, individual = 2))),
    summary_text = text_of(summary(fit)),
    print_text = text_of(fit),
    r_fit_seconds = secs
  )
  res <- res[!vapply(res, is.null, TRUE)]
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                    na = "null"),
             file.path(GLS, paste0(case$id, ".json")))
  assign(case$id, fit, envir = fit_env)
  cat(sprintf("%-28s logLik %.6f  (%.2fs)\n", case$id, as.numeric(ll), secs))
  invisible(fit)
}

for (case in CASES) one_case(case)

## ---- anova(fit1, fit2, ...) ----------------------------------------------------------------

LRT <- list(
  c("ovary_plain", "ovary_ar1"),
  c("ovary_ar1", "ovary_arma11"),
  c("ovary_plain", "ovary_ar1", "ovary_arma11"),
  c("ovary_plain_ml", "ovary_ar1_ml"),
  c("ortho_cs", "ortho_symm", "ortho_symm_ident"),
  c("ortho_ident", "ortho_ident_ar1"),
  c("dial_power", "dial_comb"),
  c("ortho_cs", "ortho_ident_ar1"),
  c("ovary_ar1", "ovary_cs"),
  c("ovary_ar1_sin", "ovary_ar1")
)
lrt_out <- list()
for (ids in LRT) {
  warns <- character(0)
  a <- withCallingHandlers(
    eval(parse(text = paste0("anova(", paste(ids, collapse = ", "), ")")), envir = fit_env),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  lrt_out[[length(lrt_out) + 1L]] <- list(
    models = V(ids), df = V(a[["df"]]), AIC = V(a[["AIC"]]), BIC = V(a[["BIC"]]), logLik = V(a[["logLik"]]),
    test = if (!is.null(a[["Test"]])) V(as.character(a[["Test"]])),
    L_ratio = if (!is.null(a[["L.Ratio"]])) V(a[["L.Ratio"]]),
    p = if (!is.null(a[["p-value"]])) V(a[["p-value"]]),
    warnings = I(warns), text = text_of(a))
}
writeLines(toJSON(lrt_out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(OUT, "gls_anova.json"))

## ---- bad input -----------------------------------------------------------------------------

bad <- data.frame(y = c(1.2, 0.4, 2.2, 1.9, 0.3, 1.1, 2.5, 1.7), x = c(0, 1, 2, 3, 1, 2, 3, 4),
                  t = c(1, 2, 2, 3, 1, 2, 3, 4), g = rep(c("a", "b"), each = 4))
assign("bad", bad, envir = fit_env)
ERRORS <- list(
  list(id = "corAR1_duplicated_time", call = 'gls(y ~ 1, bad, correlation = corAR1(form = ~ t | g))'),
  list(id = "corCAR1_duplicated_time", call = 'gls(y ~ 1, bad, correlation = corCAR1(form = ~ t | g))'),
  list(id = "corSymm_duplicated_time", call = 'gls(y ~ 1, bad, correlation = corSymm(form = ~ t | g))'),
  list(id = "varFixed_zero", call = 'gls(y ~ 1, bad, weights = varFixed(~ x))'),
  list(id = "varPower_zero", call = 'gls(y ~ 1, bad, weights = varPower(form = ~ x))'),
  list(id = "form_missing_column", call = 'gls(y ~ 1, bad, correlation = corAR1(form = ~ 1 | zz))')
)
err_out <- list()
for (e in ERRORS) {
  msg <- tryCatch({
    eval(parse(text = e$call), envir = fit_env)
    NA_character_
  }, error = function(err) conditionMessage(err))
  err_out[[length(err_out) + 1L]] <- list(id = e$id, call = e$call, r_error = msg)
}
writeLines(toJSON(list(data = bad, errors = err_out), auto_unbox = TRUE, digits = NA,
                  pretty = TRUE, na = "null"),
           file.path(OUT, "gls_errors.json"))
cat("nlme", as.character(packageVersion("nlme")), "\n")

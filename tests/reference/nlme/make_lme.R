## nlme golden files for lmerpy.lme (issue 13, step 2).
##
##   Rscript tests/reference/nlme/make_lme.R          (from the repository root)
##
## Needs R with nlme (3.1-162 made these) and jsonlite; reads the data sets make_gls.R wrote
## (tests/reference/nlme/data) and adds Oats and Pixel there. Writes
##   tests/reference/nlme/lme/ID.json      one fit per file
##   tests/reference/nlme/lme_errors.json  nlme's errors on bad input
## Numbers are written unrounded (jsonlite digits = NA); printed text at options(width = 80,
## digits = 7).
source(file.path("tests", "reference", "nlme", "nlme_common.R"))  # nlme, jsonlite, OUT, DATA, helpers

LME <- file.path(OUT, "lme")
dir.create(LME, showWarnings = FALSE, recursive = TRUE)

DATASETS <- list()
for (nm in c("Ovary", "Orthodont", "BodyWeight", "Dialyzer", "VarSim")) DATASETS[[nm]] <- load_data(nm)
DATASETS$Oats <- save_data(Oats, "Oats")
DATASETS$Pixel <- save_data(Pixel, "Pixel")

## ---- specs: the R call text and the Python call (as data) together ------------------------

# S(): the spec builder, in nlme_common.R
## random = a formula string, or list(level = pdX(formula) or formula, ...)
R <- function(...) {
  a <- list(...)
  if (length(a) == 1 && is.null(names(a))) return(list(r = a[[1]], py = a[[1]]))
  r <- paste0("list(", paste(vapply(names(a), function(n) {
    v <- a[[n]]
    paste(n, "=", if (is.list(v)) v$r else v)
  }, ""), collapse = ", "), ")")
  py <- lapply(a, function(v) if (is.list(v)) v$py else v)
  list(r = r, py = py)
}

ORTHO <- "distance ~ age"
ORTHO2 <- "distance ~ age * Sex"
OVARY <- "follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)"
BW <- "weight ~ Time * Diet"
DIAL <- "rate ~ (pressure + I(pressure^2)) * QB"
OATS <- "yield ~ nitro"
PIXEL <- "pixel ~ day + I(day^2)"

CASES <- list(
  list(id = "ortho_ri", data = "Orthodont", formula = ORTHO, random = R("~ 1 | Subject")),
  list(id = "ortho_ri_ml", data = "Orthodont", formula = ORTHO, random = R("~ 1 | Subject"),
       method = "ML"),
  list(id = "ortho_rs", data = "Orthodont", formula = ORTHO2, random = R("~ age | Subject")),
  list(id = "ortho_rs_ml", data = "Orthodont", formula = ORTHO2, random = R("~ age | Subject"),
       method = "ML"),
  list(id = "ortho_rs_diag", data = "Orthodont", formula = ORTHO,
       random = R(Subject = S("pdDiag", "~ age"))),
  list(id = "ortho_rs_ident", data = "Orthodont", formula = ORTHO,
       random = R(Subject = S("pdIdent", "~ age"))),
  list(id = "ortho_ri_ident", data = "Orthodont", formula = ORTHO2, random = R("~ 1 | Subject"),
       weights = S("varIdent", form = "~ 1 | Sex")),
  list(id = "ortho_ri_ident_ml", data = "Orthodont", formula = ORTHO2, random = R("~ 1 | Subject"),
       weights = S("varIdent", form = "~ 1 | Sex"), method = "ML"),
  list(id = "ortho_ri_ar1", data = "Orthodont", formula = ORTHO2, random = R("~ 1 | Subject"),
       correlation = S("corAR1", form = "~ 1 | Subject")),
  list(id = "ortho_ri_exp", data = "Orthodont", formula = ORTHO2, random = R("~ 1 | Subject"),
       weights = S("varExp", form = "~ age")),
  list(id = "ortho_ri_fixed", data = "Orthodont", formula = ORTHO2, random = R("~ 1 | Subject"),
       weights = S("varFixed", "~ age")),
  list(id = "ovary_ri_ar1", data = "Ovary", formula = OVARY, random = R("~ 1 | Mare"),
       correlation = S("corAR1", form = "~ 1 | Mare")),
  list(id = "ovary_ri_ar1_ml", data = "Ovary", formula = OVARY, random = R("~ 1 | Mare"),
       correlation = S("corAR1", form = "~ 1 | Mare"), method = "ML"),
  list(id = "ovary_diag_ar1", data = "Ovary", formula = OVARY,
       random = R(Mare = S("pdDiag", "~ sin(2 * pi * Time)")),
       correlation = S("corAR1", form = "~ 1 | Mare")),
  list(id = "ovary_ri_arma11", data = "Ovary", formula = OVARY, random = R("~ 1 | Mare"),
       correlation = S("corARMA", form = "~ 1 | Mare", p = 1, q = 1)),
  list(id = "bw_power", data = "BodyWeight", formula = BW, random = R("~ Time | Rat"),
       weights = S("varPower")),
  list(id = "bw_power_car1", data = "BodyWeight", formula = BW, random = R("~ Time | Rat"),
       weights = S("varPower"), correlation = S("corCAR1", form = "~ Time | Rat")),
  list(id = "dial_power", data = "Dialyzer", formula = DIAL, random = R("~ pressure | Subject"),
       weights = S("varPower", form = "~ pressure")),
  list(id = "sim_constpower", data = "VarSim", formula = "y ~ x", random = R("~ 1 | g"),
       weights = S("varConstPower", form = "~ x"), na_action = "omit"),
  list(id = "dial_comb", data = "Dialyzer", formula = DIAL, random = R("~ pressure | Subject"),
       weights = S("varComb", S("varIdent", form = "~ 1 | QB"), S("varPower", form = "~ pressure"))),
  list(id = "oats_nested", data = "Oats", formula = OATS, random = R("~ 1 | Block/Variety")),
  list(id = "oats_nested_ml", data = "Oats", formula = OATS, random = R("~ 1 | Block/Variety"),
       method = "ML"),
  list(id = "oats_compsymm_pd", data = "Oats", formula = OATS,
       random = R(Block = S("pdCompSymm", "~ Variety - 1"))),
  list(id = "oats_cs", data = "Oats", formula = OATS, random = R("~ 1 | Block"),
       correlation = S("corCompSymm", form = "~ 1 | Block/Variety")),
  list(id = "oats_symm", data = "Oats", formula = OATS, random = R("~ 1 | Block"),
       correlation = S("corSymm", form = "~ 1 | Block/Variety")),
  list(id = "pixel", data = "Pixel", formula = PIXEL, random = R(Dog = "~ day", Side = "~ 1")),
  list(id = "pixel_ident", data = "Pixel", formula = PIXEL, random = R(Dog = "~ day", Side = "~ 1"),
       weights = S("varIdent", form = "~ 1 | Side"))
)

## ---- one fit -----------------------------------------------------------------------------

frame_json <- function(df) list(rows = V(rownames(df)), cols = V(colnames(df)),
                                values = mat_rows(as.matrix(df)))

call_text <- function(case) {
  args <- c(case$formula, paste("data =", case$data), paste("random =", case$random$r))
  if (!is.null(case$correlation)) args <- c(args, paste("correlation =", case$correlation$r))
  if (!is.null(case$weights)) args <- c(args, paste("weights =", case$weights$r))
  if (!is.null(case$method)) args <- c(args, sprintf('method = "%s"', case$method))
  if (!is.null(case$na_action)) args <- c(args, paste0("na.action = na.", case$na_action))
  paste0("lme(", paste(args, collapse = ", "), ")")
}

fit_env <- new.env()
for (nm in names(DATASETS)) assign(nm, DATASETS[[nm]], envir = fit_env)

## nlme 3.1's residuals(type = "normalized") applies the correlation factor, built on the rows
## sorted by the groups, to the Pearson residuals in the data's order (see make_gls.R): when the
## data are not sorted that way (Ovary: Mare is an ordered factor whose level order is not the
## data's), rows of different groups are mixed. These are whitened on the sorted rows and put
## back in the data's order (equal to nlme's when the data are sorted).
normalized_aligned <- function(fit) {
  cSt <- fit$modelStruct$corStruct
  r <- c(residuals(fit, type = "pearson"))
  if (is.null(cSt)) return(r)
  ord <- do.call(order, fit$groups)
  out <- numeric(length(r))
  out[ord] <- nlme:::recalc(cSt, list(Xy = as.matrix(r[ord])))$Xy[, 1]
  out
}

one_case <- function(case) {
  cl <- call_text(case)
  t0 <- proc.time()[["elapsed"]]
  fit <- eval(parse(text = cl), envir = fit_env)
  secs <- proc.time()[["elapsed"]] - t0
  ms <- fit$modelStruct
  Q <- fit$dims$Q
  ll <- logLik(fit)
  d <- DATASETS[[case$data]]
  newdata <- head(d[complete.cases(d), ], 6)
  re <- ranef(fit)
  re_list <- if (Q == 1) list(re) else re
  pdm <- pdMatrix(ms$reStruct)
  struct <- list()
  for (key in c("corStruct", "varStruct")) if (!is.null(ms[[key]])) {
    struct[[key]] <- list(names = V(names(coef(ms[[key]]))),
                          unconstrained = V(coef(ms[[key]])),
                          natural = V(coef(ms[[key]], unconstrained = FALSE)))
  }
  fl <- fitted(fit, level = 0:Q)
  rl <- residuals(fit, level = 0:Q)
  grp1 <- as.character(getGroups(fit, level = Q)[1])
  gv <- function(type) tryCatch(getVarCov(fit, type = type),
                                error = function(e) conditionMessage(e))
  vc_re <- gv("random.effects")
  vc_cond <- gv("conditional")
  vc_marg <- gv("marginal")
  vcj <- function(v) if (is.character(v)) list(error = v) else
    list(values = mat_rows(if (is.list(v)) v[[1]] else unclass(v)), text = text_of(v))
  res <- list(
    id = case$id, data = case$data, formula = case$formula,
    method = fit$method, na_action = if (is.null(case$na_action)) "fail" else case$na_action,
    random = case$random$py,
    weights = if (!is.null(case$weights)) case$weights$py,
    correlation = if (!is.null(case$correlation)) case$correlation$py,
    r_call = cl, nobs = fit$dims$N, Q = Q,
    ngrps = as.list(fit$dims$ngrps[seq_len(Q)]),
    coef_names = V(names(fixef(fit))), fixef = V(fixef(fit)),
    se = V(sqrt(diag(vcov(fit)))), vcov = mat_rows(vcov(fit)),
    fixDF = V(fit$fixDF$X), fixDF_terms = V(fit$fixDF$terms),
    fixDF_term_names = V(names(fit$fixDF$terms)),
    sigma = fit$sigma, logLik = as.numeric(ll), df = attr(ll, "df"),
    AIC = AIC(fit), BIC = BIC(fit),
    re_levels = V(names(pdm)),
    re_scaled = lapply(pdm, function(m) list(names = V(colnames(m)), rows = mat_rows(m))),
    struct = struct,
    ranef = lapply(re_list, frame_json),
    ranef_levels = V(if (Q == 1) names(fit$groups) else names(re)),
    coef = frame_json(coef(fit)),
    fitted_levels = V(colnames(fl)), fitted = mat_rows(t(fl)),
    resid_levels = V(colnames(rl)), resid_response = mat_rows(t(rl)),
    resid_pearson = V(residuals(fit, type = "pearson")),
    resid_pearson0 = V(residuals(fit, type = "pearson", level = 0)),
    resid_normalized = V(residuals(fit, type = "normalized")),
    resid_normalized_aligned = V(normalized_aligned(fit)),
    newdata_rows = V(as.integer(rownames(newdata))),
    predict0 = V(predict(fit, newdata, level = 0)),
    predictQ = V(predict(fit, newdata, level = Q)),
    VarCorr = text_of(VarCorr(fit)),
    getVarCov_re = vcj(vc_re), getVarCov_cond = vcj(vc_cond), getVarCov_marg = vcj(vc_marg),
    first_group = grp1,
    summary_text = text_of(summary(fit)),
    print_text = text_of(fit),
    r_fit_seconds = secs
  )
  res <- res[!vapply(res, is.null, TRUE)]
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                    na = "null"),
             file.path(LME, paste0(case$id, ".json")))
  assign(case$id, fit, envir = fit_env)
  cat(sprintf("%-22s logLik %.6f  (%.2fs)\n", case$id, as.numeric(ll), secs))
  invisible(fit)
}

for (case in CASES) suppressWarnings(one_case(case))

## ---- errors --------------------------------------------------------------------------------
err <- function(expr) tryCatch({ force(expr); NA_character_ }, error = function(e) conditionMessage(e))
O <- DATASETS$Orthodont
O0 <- O; O0$age[1] <- 0
errors <- list(
  missing_column = err(lme(distance ~ age, O, random = ~ 1 | Subject,
                           weights = varIdent(form = ~ 1 | nosuch))),
  incompatible_groups = err(lme(distance ~ age, O, random = ~ 1 | Subject,
                                correlation = corAR1(form = ~ 1 | Sex))),
  duplicated_times = err(lme(distance ~ age, O, random = ~ 1 | Subject,
                             correlation = corAR1(form = ~ Sex == "Male" | Subject))),
  varpower_zero = err(lme(distance ~ age, O0, random = ~ 1 | Subject,
                          weights = varPower(form = ~ age))),
  varfixed_zero = err(lme(distance ~ age, O0, random = ~ 1 | Subject,
                          weights = varFixed(~ age)))
)
writeLines(toJSON(errors, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(OUT, "lme_errors.json"))

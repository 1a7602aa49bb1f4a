# Goldens for lmerpy's case- and group-deletion diagnostics (issue 16): lme4 1.1-31's
# influence.merMod (case deletion and deletion of the levels of a grouping factor), its
# cooks.distance, dfbeta and dfbetas methods, and hatvalues / rstudent of the fit.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_influence.R
# Needs R 4.2, Debian's lme4 1.1-31 (not lme4 2.x) and jsonlite. Writes
# tests/reference/toolkit/influence/ID.json, one per case (kept apart from the toolkit cases).
# Data: lmerpy's bundled data sets, read as lmerpy reads them (tests/reference/r/common.R).

source(file.path("tests", "reference", "r", "common.R"))
stopifnot(packageVersion("lme4") < "2.0")
OUT <- file.path(REF_DIR, "toolkit", "influence")

mat <- function(m) list(rownames = arr(rownames(m)), colnames = arr(colnames(m)), rows = rows(m))

infl_json <- function(infl, groups) {
  key <- if (is.null(groups)) "case" else groups
  db <- dfbeta(infl)
  list(
    groups = groups,
    deleted = arr(as.character(infl$deleted)),
    fixed = named(infl[["fixed.effects"]]),
    fixed_deleted = mat(infl[[paste0("fixed.effects[-", key, "]")]]),
    var_cov = named(infl[["var.cov.comps"]]),
    var_cov_deleted = mat(infl[[paste0("var.cov.comps[-", key, "]")]]),
    vcov = mat(infl[["vcov"]]),
    vcov_deleted_diag = rows(do.call(rbind, lapply(infl[[paste0("vcov[-", key, "]")]],
                                                   function(v) diag(as.matrix(v))))),
    converged = arr(infl$converged),
    function_evals = arr(infl$function.evals),
    cooks_distance = arr(cooks.distance(infl)),
    dfbeta = mat(db),
    dfbeta_var_cov = mat(dfbeta(infl, which = "var.cov")),
    ## lme4 1.1-31's dfbetas fails with one fixed effect (its vapply/t() gives a 1 x n matrix)
    dfbetas = tryCatch(mat(dfbetas(infl)), error = function(e) NULL)
  )
}

## lme4's hatvalues.merMod formula with the working weights at the final mu (lme4's own use the
## weights of its last PIRLS iteration, one step behind: 7e-5 apart on cbpp), and rstudent
## from them: what lmerpy computes for a GLMM.
hat_at_final_weights <- function(fit) {
  eta <- predict(fit, type = "link"); mu <- fitted(fit); fam <- family(fit)
  P <- weights(fit, type = "prior")
  W <- P * fam$mu.eta(eta)^2 / fam$variance(mu)
  ZL <- t(as.matrix(getME(fit, "Lambdat") %*% getME(fit, "Zt"))); X <- getME(fit, "X")
  B <- cbind(ZL, X); M <- crossprod(B, W * B); q <- ncol(ZL)
  M[cbind(1:q, 1:q)] <- M[cbind(1:q, 1:q)] + 1
  A <- sqrt(P) * B
  rowSums((A %*% solve(M)) * A)
}
rstudent_from <- function(fit, hat) {
  r <- residuals(fit, type = "deviance"); pr <- residuals(fit, type = "pearson")
  r <- sign(r) * sqrt(r^2 + (hat * pr^2) / (1 - hat))
  r[is.infinite(r)] <- NaN
  r / sigma(fit)
}

case <- function(id, fn, formula, data, groups, family = NULL) {
  df <- load_data(data)
  f <- as.formula(formula)
  ## the call holds the formula and the family themselves: influence() re-evaluates it
  fit <- if (fn == "lmer") eval(bquote(lmer(.(f), data = df))) else
    eval(bquote(glmer(.(f), data = df, family = .(as.name(family)))))
  by_case <- influence(fit, data = df)
  by_group <- lapply(groups, function(g) infl_json(influence(fit, groups = g, data = df), g))
  out <- list(
    id = id, fn = fn, formula = formula, data = data, family = family,
    theta = arr(getME(fit, "theta")), fixef = named(fixef(fit)),
    hatvalues = arr(suppressWarnings(hatvalues(fit))),
    rstudent = arr(suppressWarnings(rstudent(fit))),
    cooks_distance_fit = arr(suppressWarnings(cooks.distance(fit))),
    hatvalues_final_weights = if (fn == "glmer") arr(hat_at_final_weights(fit)),
    rstudent_final_weights = if (fn == "glmer")
      arr(suppressWarnings(rstudent_from(fit, hat_at_final_weights(fit)))),
    case = infl_json(by_case, NULL),
    by_group = setNames(by_group, groups)
  )
  write_case(out, OUT, id)
}

case("sleep_slope", "lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy", "Subject")
case("pastes_nested", "lmer", "strength ~ 1 + (1 | batch/cask)", "Pastes", "batch")
case("cbpp_logit", "glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     "herd", family = "binomial")

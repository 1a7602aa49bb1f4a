# Goldens for lmerpy.augment of GLMMs (issue 16): broom.mixed 0.2.9.4's augment() of glmer fits
# (lme4 1.1-31), with the optimum it was computed at.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_augment_glmm.R
# Writes tests/reference/toolkit/augment/ID.json.

source(file.path("tests", "reference", "r", "common.R"))
suppressPackageStartupMessages(library(broom.mixed))
OUT <- file.path(REF_DIR, "toolkit", "augment")
dir.create(OUT, showWarnings = FALSE)

case <- function(id, formula, data, family, link) {
  df <- load_data(data)
  fit <- glmer(as.formula(formula), df, family = get(family)(link = link))
  w <- character(0)
  a <- withCallingHandlers(as.data.frame(augment(fit)), warning = function(cnd) {
    w <<- c(w, conditionMessage(cnd)); invokeRestart("muffleWarning") })
  keep <- grep("^\\.", names(a), value = TRUE)
  ## lme4's hatvalues() uses the factor L stored in the fit, made with the working weights of
  ## PIRLS's last iteration, one step before the final mu; the same formula at the working
  ## weights of the final mu (what lmerpy computes), and Cook's distance from it
  mu <- getME(fit, "mu"); pw <- weights(fit, type = "prior"); fam <- family(fit)
  ww <- pw * fam$mu.eta(fam$linkfun(mu))^2 / fam$variance(mu)
  A <- cbind(t(as.matrix(getME(fit, "Lambdat") %*% getME(fit, "Zt"))), getME(fit, "X"))
  q <- nrow(getME(fit, "Zt"))
  M <- crossprod(A * sqrt(ww)) + diag(c(rep(1, q), rep(0, ncol(getME(fit, "X")))))
  V <- A * sqrt(pw)
  hat_final <- rowSums((V %*% solve(M)) * V)
  res <- residuals(fit, type = "pearson")
  cooks_final <- (res / (1 - hat_final))^2 * hat_final /
    (sigma(fit)^2 * Matrix::rankMatrix(getME(fit, "X")))
  write_case(list(id = id, formula = formula, data = data, family = family, link = link,
                  theta = arr(getME(fit, "theta")), fixef = arr(fixef(fit)),
                  names = I(names(a)), warnings = I(unique(w)),
                  columns = lapply(a[keep], num_or_null),
                  hat_final_weights = num_or_null(hat_final),
                  cooksd_final_weights = num_or_null(as.numeric(cooks_final))), OUT, id)
}

case("cbpp_logit", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     "binomial", "logit")
case("grouseticks_poisson", "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)",
     "grouseticks", "poisson", "log")

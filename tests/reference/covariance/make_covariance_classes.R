## lme4 2.1's Covariance classes (R/covariance.R) evaluated at fixed parameters, for
## tests/test_design_covariance.py. Needs lme4 >= 2.0 (see ../../../../shared/tools/lme4-2.1):
##
##     R_LIBS=/opt/lme4-2.1 Rscript tests/reference/covariance/make_covariance_classes.R
##
## Writes tests/reference/covariance/classes.json: one record per (structure, hom, nc, par).
suppressMessages(library(lme4))
library(jsonlite)
stopifnot(packageVersion("lme4") >= "2.0")

gnm <- "g"
cnm_all <- c("(Intercept)", "x", "f2", "f3")

sds <- function(nc) 0.5 + 0.37 * seq_len(nc)
us_par <- function(nc) {
    L <- matrix(0, nc, nc)
    L[lower.tri(L, diag = TRUE)] <- seq(-0.4, 0.9, length.out = nc * (nc + 1) / 2)
    diag(L) <- sds(nc)
    L[lower.tri(L, diag = TRUE)]
}

pars <- function(kind, hom, nc) {
    s <- if (hom) 1.3 else sds(nc)
    switch(kind,
           us = list(us_par(nc)),
           diag = list(s, replace(s, 1L, 0)),
           cs = if (nc == 1L) list(s) else
                list(c(s, 0.3), c(s, -0.2), c(s, -1 / (nc - 1) + 5e-5), c(s, 0.99995)),
           ar1 = if (nc == 1L) list(s) else
                 list(c(s, 0.6), c(s, -0.45), c(s, 0.99995), c(replace(s, 1L, 0), 0.5)))
}

rec <- function(kind, hom, nc, par) {
    Class <- paste0("Covariance.", kind)
    o0 <- if (is.na(hom)) new(Class, nc = nc) else new(Class, nc = nc, hom = hom)
    o <- setPar(o0, par)
    cnm <- cnm_all[seq_len(nc)]
    theta <- getTheta(o)
    back <- tryCatch(getPar(setTheta(o0, theta)), error = conditionMessage)
    pp <- getProfPar(o, profscale = "sdcor", sc = 1.7)
    pp_back <- getPar(setProfPar(o0, profscale = "sdcor", sc = 1.7, value = pp))
    vc <- getVC(o)
    vcn <- getVCNames(o, cnm, gnm, prf = c("sd", "cor"), old = FALSE)
    vv <- mkVarCorr(sc = 1.7, cnms = setNames(list(cnm), gnm), nc = nc, theta = theta,
                    nms = gnm, reCovs = list(o))
    out <- list(kind = kind, hom = if (is.na(hom)) NULL else hom, nc = nc, par = par,
                start = getPar(o0), lower = getLower(o0), upper = getUpper(o0),
                theta = theta, theta_index = getThetaIndex(o),
                lambdat_dp = getLambdat.dp(o), lambdat_i = getLambdat.i(o),
                Lambda = getLambda(o),
                theta_names = getThetaNames(o, cnm, gnm),
                par_names = getParNames(o, cnm, gnm),
                par_names_new = getParNames(o, cnm, gnm, old = FALSE),
                prof_names = c(vcn$vcomp, vcn$ccomp),
                vcomp = vc$vcomp, ccomp = vc$ccomp,
                profpar_sdcor_sc = pp, par_from_profpar = pp_back,
                prof_lower = getProfLower(o, profscale = "sdcor"),
                prof_upper = getProfUpper(o, profscale = "sdcor"),
                par_from_theta = back,
                singular = isSingular(o), singular_1e_3 = isSingular(o, tol = 1e-3),
                vcmat_class = class(vv[[1L]])[1L],
                varcov = unclass(vv[[1L]])[seq_len(nc), seq_len(nc)],
                formatted = unname(reformulas::formatVC(vv, digits = 4, useScale = TRUE)))
    if (kind %in% c("us", "diag")) {
        out$profpar_varcov_sc <- getProfPar(o, profscale = "varcov", sc = 1.7)
        out$prof_lower_varcov <- getProfLower(o, profscale = "varcov")
    }
    out
}

## θ whose L[2,1] and L[2,2] are both 0 (lme4's fallback in setTheta), cs/ar1 het, nc = 3
fallback <- list()
for (kind in c("cs", "ar1")) {
    o0 <- new(paste0("Covariance.", kind), nc = 3L, hom = FALSE)
    o <- setPar(o0, c(1.1, 0, 0.8, if (kind == "cs") 0.4 else 0.5))
    th <- getTheta(o)
    fallback[[length(fallback) + 1L]] <-
        list(kind = kind, hom = FALSE, nc = 3L, theta = th,
             par_from_theta = getPar(setTheta(o0, th)))
}

out <- list()
for (kind in c("us", "diag", "cs", "ar1"))
    for (hom in if (kind == "us") NA else c(FALSE, TRUE))
        for (nc in 1:4)
            for (par in pars(kind, isTRUE(hom), nc))
                out[[length(out) + 1L]] <- rec(kind, hom, nc, par)

## numbers with 17 significant digits (exact doubles; jsonlite stops at 15): every numeric
## vector becomes a JSON array, a matrix an array of its rows, non-finite values strings
num17 <- function(x) {
    one <- function(v) ifelse(is.finite(v), sprintf("%.17g", v), sprintf('"%s"', v))
    arr <- function(v) paste0("[", paste(one(v), collapse = ","), "]")
    if (is.matrix(x))
        structure(arr(apply(x, 1L, arr)), class = "json")
    else structure(arr(x), class = "json")
}
exact <- function(x) {
    if (is.list(x)) lapply(x, exact)
    else if (is.double(x) || (is.integer(x) && length(x) != 1L)) num17(x)
    else x
}
fixmat <- function(s) gsub('"\\[([^"]*)\\]"', "[\\1]", s)   # rows arrays, not strings

writeLines(fixmat(toJSON(exact(list(lme4 = as.character(packageVersion("lme4")), cases = out,
                                    fallback = fallback)),
                         auto_unbox = TRUE, null = "null", json_verbatim = TRUE,
                         pretty = FALSE)),
           "tests/reference/covariance/classes.json")

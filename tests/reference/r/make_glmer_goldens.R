# glmer fit goldens: lme4's full results for generalized linear mixed models.
# Writes tests/reference/glmer/ID.json (schema: tests/reference/README.md), the extra data set
# tests/reference/data/synth_glmm.csv and lmerpy's bundled VerbAgg data set
# (lmerpy/datasets/data/VerbAgg.csv.gz + VerbAgg.levels.json).
# Run from the repository root:  Rscript tests/reference/r/make_glmer_goldens.R [ID ...]
# (with IDs, only those cases are rewritten; the data sets are always rewritten).

local({
  ## this script's folder, whether run by Rscript or source()d
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
}, envir = globalenv())

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "glmer")
ONLY <- commandArgs(trailingOnly = TRUE)

## ---- data sets ---------------------------------------------------------------------------------

## lme4's VerbAgg (n = 7584) as a bundled lmerpy data set: CSV (gzip) with factors as strings,
## levels JSON with R's levels and `resp` ordered.  Read back with load_data("VerbAgg").
make_verbagg <- function() {
  df <- lme4::VerbAgg
  back <- save_bundled_data(df, "VerbAgg")
  stopifnot(isTRUE(all.equal(back, df, check.attributes = FALSE)),
            identical(lapply(back, levels), lapply(df, levels)),
            identical(sapply(back, is.ordered), sapply(df, is.ordered)))
  invisible(back)
}

## Inverse Gaussian draws (Michael, Schucany & Haas 1976), so no extra package is needed.
rinvgauss_msh <- function(n, mean, shape) {
  nu <- rnorm(n)^2
  x <- mean + mean^2 * nu / (2 * shape) -
    mean / (2 * shape) * sqrt(4 * mean * shape * nu + mean^2 * nu^2)
  ifelse(runif(n) <= mean / (mean + x), x, mean^2 / x)
}

## synth_glmm (n = 240): responses for every family/response form the goldens need.
##   g (20 levels x 12), a (6 levels) with b (b1-b4 reused within each a, 10 obs per a:b),
##   x ~ N(0,1), z ~ U(0,1), exposure t and its log lt (offset), count (Poisson, rate
##   exp(0.2 + 0.4x + u_g) per unit t), yb (0/1, random slope in x), ylgl (logical), yfac
##   (factor, levels "survived" < "died": first level = failure), s of n trials (nested a/b
##   effects), yg (Gamma, log link mean), ygi (Gamma, identity-link mean), yig (inverse
##   Gaussian, log-link mean).
make_synth_glmm <- function() {
  set.seed(20240404)
  N <- 240
  g <- factor(sprintf("g%02d", rep(1:20, each = 12)))
  a <- factor(paste0("A", rep(1:6, each = 40)))
  b <- factor(paste0("b", rep(rep(1:4, each = 10), 6)))
  gi <- as.integer(g)
  ab <- as.integer(interaction(a, b, drop = TRUE))
  x <- round(rnorm(N), 3)
  z <- round(runif(N), 3)
  t <- round(runif(N, 0.5, 5), 3)
  lt <- round(log(t), 6)
  u_g <- rnorm(20, 0, 0.5)
  count <- rpois(N, t * exp(0.2 + 0.4 * x + u_g[gi]))
  u0 <- rnorm(20, 0, 0.8)
  u1 <- rnorm(20, 0, 1)
  yb <- rbinom(N, 1, plogis(-0.2 + 0.8 * x + u0[gi] + u1[gi] * x))
  ylgl <- rbinom(N, 1, plogis(0.3 - 0.6 * x + u0[gi])) == 1
  yfac <- factor(ifelse(rbinom(N, 1, plogis(-0.4 + 0.7 * z + u_g[gi] * 1.5)) == 1,
                        "died", "survived"), levels = c("survived", "died"))
  n <- sample(5:15, N, replace = TRUE)
  u_a <- rnorm(6, 0, 0.6)
  u_ab <- rnorm(24, 0, 0.4)
  s <- rbinom(N, n, plogis(-0.5 + 0.5 * x + u_a[as.integer(a)] + u_ab[ab]))
  shape <- 4
  mu_g <- exp(1 + 0.3 * x + u_g[gi])
  yg <- round(rgamma(N, shape = shape, rate = shape / mu_g), 4)
  mu_gi <- 10 + 4 * z + rnorm(20, 0, 1.5)[gi]
  ygi <- round(rgamma(N, shape = 6, rate = 6 / mu_gi), 4)
  mu_ig <- exp(0.5 + 0.25 * x + rnorm(20, 0, 0.4)[gi])
  yig <- round(rinvgauss_msh(N, mu_ig, shape = 8), 4)
  df <- data.frame(g = g, a = a, b = b, x = x, z = z, t = t, lt = lt, count = count,
                   yb = yb, ylgl = ylgl, yfac = yfac, s = s, n = n,
                   yg = yg, ygi = ygi, yig = yig)
  invisible(save_data(df, "synth_glmm"))
}

make_verbagg()
make_synth_glmm()

## ---- one case --------------------------------------------------------------------------------------

## family: an R expression as a string ("binomial", "binomial(link = \"probit\")", ...), or
## NULL with fn = "glmer.nb".  per_obs: write fitted/residuals/predictions and the design block
## (default: n <= 2000).  keep_ranef: grouping factors whose ranef to keep (default all).
glmer_case <- function(id, data, formula, covers, family = "binomial", nAGQ = 1L,
                       weights = NULL, contrasts = NULL, args = NULL, fn = "glmer",
                       per_obs = NULL, keep_ranef = NULL) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_data(data)
  fml <- as.formula(formula, env = globalenv())
  mc <- make_call(fn, fml, df, weights = weights, contrasts = contrasts, args = args,
                  family = if (fn == "glmer") family else NULL)
  if (nAGQ != 1L) mc$call$nAGQ <- as.integer(nAGQ)
  r <- fit_timed(id, mc)
  fit <- r$value

  fam <- family(fit)
  ll <- logLik(fit)
  n <- nobs(fit)
  dfll <- attr(ll, "df")
  ## lme4's nAGQ > 1 logLik lacks the saturated log-likelihood; put it on the Laplace scale
  sat <- if (nAGQ > 1) -fam$aic(fit@resp$y, fit@resp$n, fit@resp$y, fit@resp$weights, 0) / 2
         else 0
  ll_out <- as.numeric(ll) + sat
  out <- list(id = id, data = data, fn = fn, formula = formula, covers = covers,
              REML = FALSE, family = fam$family, link = fam$link, nAGQ = as.integer(nAGQ),
              weights = weights, contrasts = contrasts)
  if (!is.null(args)) out$args <- args
  if (fn == "glmer.nb") out$nb_theta <- getME(fit, "glmer.nb.theta")
  out <- with_design_notes(out, fit, r$messages)
  re <- ranef_json(fit)
  if (!is.null(keep_ranef)) re <- re[keep_ranef]
  out <- c(out, estimates_json(fit), list(
    logLik = ll_out,
    minus2logLik = -2 * ll_out,
    df = dfll,
    AIC = -2 * ll_out + 2 * dfll,
    BIC = -2 * ll_out + log(n) * dfll,
    deviance = deviance(fit),
    singular = isSingular(fit),
    ranef = re,
    summary_text = summary_text(fit)))
  if (nAGQ > 1) {
    out$logLik_lme4_agq_scale <- as.numeric(ll)
    out$saturated_logLik <- sat
  }
  if (is.null(per_obs)) per_obs <- n <= 2000
  if (per_obs) {
    des <- fit_design_json(fit)
    pw <- weights(fit, type = "prior")
    des$prior_weights <- if (any(pw != 1)) arr(pw) else NULL
    out$design <- des
    out$fitted <- arr(fitted(fit))
    out$residuals <- arr(residuals(fit))
    out$residuals_pearson <- arr(residuals(fit, type = "pearson"))
    out$predict_link <- arr(predict(fit))
    out$predict_population <- arr(predict(fit, re.form = NA))
  }
  out$optimizer <- fit@optinfo$optimizer
  write_fit_case(out, OUT_DIR, id, fit, r, ll_out, theta_width = 34)
}

CBPP <- "cbind(incidence, size - incidence) ~ period + (1|herd)"

## ---- binomial links and response forms ------------------------------------------------------
glmer_case("cbpp_probit", "cbpp", CBPP, "binomial with the probit link (cbind response)",
           family = "binomial(link = \"probit\")")
glmer_case("cbpp_cloglog", "cbpp", CBPP, "binomial with the cloglog link (cbind response)",
           family = "binomial(link = \"cloglog\")")
glmer_case("cbpp_proportion_weights", "cbpp", "incidence/size ~ period + (1|herd)",
           "proportion response with weights = size (same fit as ../cbpp_laplace.json)",
           weights = "size")
glmer_case("binary_numeric01", "synth_glmm", "yb ~ x + (1|g)", "0/1 numeric response")
glmer_case("binary_logical", "synth_glmm", "ylgl ~ x + (1|g)",
           "logical response (FALSE = failure)")
glmer_case("binary_factor", "synth_glmm", "yfac ~ z + (1|g)",
           "two-level factor response, levels survived < died: the first level is failure")
glmer_case("binary_random_slope", "synth_glmm", "yb ~ x + (x|g)",
           "binary response, correlated random intercept and slope")
glmer_case("binomial_nested_ab", "synth_glmm", "cbind(s, n - s) ~ x + (1|a/b)",
           "cbind binomial with nested grouping (1|a/b) -> b:a and a terms")
glmer_case("verbagg_crossed", "VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)",
           paste("VerbAgg (n = 7584): factor response, crossed id x item; no per-observation",
                 "fields, no design block"))

## ---- nAGQ --------------------------------------------------------------------------------------
glmer_case("cbpp_nagq0", "cbpp", CBPP, "nAGQ = 0: beta estimated inside PIRLS", nAGQ = 0L)
glmer_case("cbpp_agq5", "cbpp", CBPP, "adaptive Gauss-Hermite, nAGQ = 5", nAGQ = 5L)
glmer_case("cbpp_agq9", "cbpp", CBPP, "adaptive Gauss-Hermite, nAGQ = 9", nAGQ = 9L)
GT <- "TICKS ~ YEAR + cHEIGHT + (1|BROOD)"
glmer_case("gticks_brood_laplace", "grouseticks", GT,
           "Poisson, one scalar term (Laplace; the AGQ cases' baseline)", family = "poisson")
glmer_case("gticks_brood_agq5", "grouseticks", GT, "Poisson, nAGQ = 5", family = "poisson",
           nAGQ = 5L)
glmer_case("gticks_brood_agq9", "grouseticks", GT, "Poisson, nAGQ = 9", family = "poisson",
           nAGQ = 9L)
glmer_case("gticks_brood_agq25", "grouseticks", GT, "Poisson, nAGQ = 25", family = "poisson",
           nAGQ = 25L)

## ---- Poisson offsets -----------------------------------------------------------------------------
glmer_case("poisson_offset_term", "synth_glmm", "count ~ x + offset(log(t)) + (1|g)",
           "Poisson rate model with an offset(log(t)) term", family = "poisson")
glmer_case("poisson_offset_argument", "synth_glmm", "count ~ x + (1|g)",
           "Poisson rate model with the offset= argument (column lt = rounded log t)",
           family = "poisson", args = list(offset_column = "lt"))

## ---- Gamma, inverse Gaussian ---------------------------------------------------------------------
glmer_case("gamma_log", "synth_glmm", "yg ~ x + (1|g)", "Gamma with the log link",
           family = "Gamma(link = \"log\")")
glmer_case("gamma_identity", "synth_glmm", "ygi ~ z + (1|g)", "Gamma with the identity link",
           family = "Gamma(link = \"identity\")")
glmer_case("gamma_inverse", "synth_glmm", "ygi ~ z + (1|g)",
           "Gamma with its default inverse link", family = "Gamma")
glmer_case("inverse_gaussian_log", "synth_glmm", "yig ~ x + (1|g)",
           "inverse Gaussian with the log link", family = "inverse.gaussian(link = \"log\")")

## ---- negative binomial ---------------------------------------------------------------------------
glmer_case("grouseticks_nb", "grouseticks", "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)",
           "glmer.nb: negative binomial with theta estimated (nb_theta)", fn = "glmer.nb")

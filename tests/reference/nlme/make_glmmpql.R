# MASS::glmmPQL golden files for lmerpy.glmmPQL (issue 13).
#
#   Rscript tests/reference/nlme/make_glmmpql.R          (from the repository root)
#
# Needs R with MASS (7.3-58 made these), nlme (3.1-162), lme4 (for cbpp and grouseticks) and
# jsonlite. Writes
#   tests/reference/nlme/data/{bacteria,epil,cbpp,grouseticks,pqlgamma}.csv.gz + .levels.json
#                                   the data, read back before fitting so R fits what lmerpy reads
#   tests/reference/nlme/glmmpql/ID.json                       one fit per file
#   lmerpy/datasets/data/bacteria.*                            the same data, bundled
# Numbers are written unrounded (jsonlite digits = NA); printed text at options(width = 80,
# digits = 7).
suppressPackageStartupMessages(library(MASS))
source(file.path("tests", "reference", "nlme", "nlme_common.R"))  # nlme, jsonlite, OUT, DATA, helpers

PQL <- file.path(OUT, "glmmpql")
dir.create(PQL, showWarnings = FALSE, recursive = TRUE)

bacteria <- save_data(MASS::bacteria, "bacteria")
## bacteria is bundled with lmerpy too (the PQL tutorial uses it): the same files
bundle("bacteria")
epil <- save_data(MASS::epil, "epil")
cbpp <- save_data(lme4::cbpp, "cbpp")
grouseticks <- save_data(lme4::grouseticks, "grouseticks")
## Gamma responses with a log link: 30 groups of 8, a random intercept (sd 0.5), shape 4
set.seed(13)
pg <- data.frame(g = factor(rep(sprintf("g%02d", 1:30), each = 8)), x = round(rnorm(240), 4))
pg$y <- round(rgamma(240, shape = 4,
                     scale = exp(0.5 + 0.3 * pg$x + rep(rnorm(30, sd = 0.5), each = 8)) / 4), 5)
pqlgamma <- save_data(pg, "pqlgamma")

CASES <- list(
  list(id = "bacteria", data = "bacteria", fixed = "y ~ trt + I(week > 2)", random = "~ 1 | ID",
       family = "binomial"),
  list(id = "bacteria_probit", data = "bacteria", fixed = "y ~ trt + week", random = "~ 1 | ID",
       family = "binomial", link = "probit"),
  list(id = "bacteria_slope", data = "bacteria", fixed = "y ~ trt + week",
       random = "~ week | ID", family = "binomial"),
  list(id = "cbpp_cbind", data = "cbpp", fixed = "cbind(incidence, size - incidence) ~ period",
       random = "~ 1 | herd", family = "binomial"),
  list(id = "cbpp_weights", data = "cbpp", fixed = "incidence / size ~ period",
       random = "~ 1 | herd", family = "binomial", weights = "size"),
  list(id = "cbpp_offset", data = "cbpp", fixed = "incidence ~ period + offset(log(size))",
       random = "~ 1 | herd", family = "poisson"),
  list(id = "epil", data = "epil", fixed = "y ~ lbase * trt + lage + V4",
       random = "~ 1 | subject", family = "poisson"),
  list(id = "grouse_nested", data = "grouseticks", fixed = "TICKS ~ YEAR + cHEIGHT",
       random = "~ 1 | LOCATION/BROOD", family = "poisson"),
  list(id = "gamma_log", data = "pqlgamma", fixed = "y ~ x", random = "~ 1 | g",
       family = "Gamma", link = "log"),
  list(id = "epil_ar1", data = "epil", fixed = "y ~ lbase * trt + lage + V4",
       random = "~ 1 | subject", family = "poisson",
       correlation = "corAR1(form = ~ period | subject)")
)

run_case <- function(case) {
  df <- get(case$data)
  fam <- if (is.null(case$link)) get(case$family)() else get(case$family)(link = case$link)
  iterations <- 0L
  args <- list(fixed = as.formula(case$fixed), random = as.formula(case$random), family = fam,
               data = df)
  call <- if (is.null(case$weights)) {
    quote(glmmPQL(fixed = args$fixed, random = args$random, family = args$family,
                  data = df))
  } else {
    substitute(glmmPQL(fixed = args$fixed, random = args$random, family = args$family,
                       data = df, weights = W), list(W = as.name(case$weights)))
  }
  if (!is.null(case$correlation)) call$correlation <- parse(text = case$correlation)[[1]]
  fit <- withCallingHandlers(eval(call), message = function(m) {
    if (grepl("^iteration", conditionMessage(m))) iterations <<- iterations + 1L
    invokeRestart("muffleMessage")
  })
  # the printouts name the call's data and formula as the user wrote them
  fit$call$data <- as.name(case$data)
  fit$call$fixed <- as.formula(case$fixed)
  fit$call$random <- as.formula(case$random)
  sm <- summary(fit)
  tt <- sm$tTable
  re <- lapply(as.list(fit$modelStruct$reStruct), function(p) {
    m <- as.matrix(p) * fit$sigma^2
    list(names = I(colnames(m)), cov = unname(m))
  })
  rf <- ranef(fit)
  if (is.data.frame(rf)) rf <- list(rf)
  glm_fixed <- as.formula(case$fixed)
  glm0 <- if (is.null(case$weights)) glm(glm_fixed, family = fam, data = df)
          else eval(substitute(glm(glm_fixed, family = fam, data = df, weights = W),
                               list(W = as.name(case$weights))))
  res <- list(
    id = case$id, data = case$data, fixed = case$fixed, random = case$random,
    family = case$family, link = fam$link, weights = case$weights,
    correlation = case$correlation,
    cor_unconstrained = if (is.null(fit$modelStruct$corStruct)) NULL
                        else I(unname(coef(fit$modelStruct$corStruct, unconstrained = TRUE))),
    iterations = iterations,
    glm_coef = unname(coef(glm0)),
    coef_names = I(names(fixef(fit))),
    fixef = unname(fixef(fit)),
    se = unname(tt[, "Std.Error"]),
    df = unname(tt[, "DF"]),
    tvalue = unname(tt[, "t-value"]),
    pvalue = unname(tt[, "p-value"]),
    vcov = unname(as.matrix(vcov(fit))),
    sigma = fit$sigma,
    random_levels = I(names(re)),
    re_cov = unname(re),
    ranef = lapply(rf, function(x) unname(as.matrix(x))),
    fitted0 = unname(fitted(fit, level = 0)),
    fitted = unname(fitted(fit)),
    resid_pearson = unname(resid(fit, type = "pearson")),
    # the working data of the last lme fit (MASS keeps them in fit$data)
    zz = unname(fit$data$zz),
    invwt = unname(fit$data$invwt),
    nobs = nrow(df),
    intervals_fixed = unname(lapply(seq_len(length(fixef(fit))), function(i)
      I(unname(intervals(fit, which = "fixed")$fixed[i, ])))),
    intervals_fixed_text = text_of(intervals(fit, which = "fixed")),
    summary_text = text_of(sm),
    print_text = text_of(fit)
  )
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                    na = "null"),
             file.path(PQL, paste0(case$id, ".json")))
  cat(sprintf("%-18s %d iterations  sigma %.6f\n", case$id, iterations, fit$sigma))
}

for (case in CASES) run_case(case)

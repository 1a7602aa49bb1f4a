# Goldens for lmerpy.lmList (issue 16): lme4 1.1-31's lmList() -- its print, coef, summary,
# confint (a glm's by profile likelihood, MASS) and pooled sigma.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_lmlist.R
# Needs R 4.2, Debian's lme4 1.1-31, jsonlite. Writes tests/reference/toolkit/lmlist/ID.json.
# Data: lmerpy's bundled data sets as lmerpy reads them (tests/reference/r/common.R); a
# derived data set is built the same way in the tests (see each case's `derived`).

source(file.path("tests", "reference", "r", "common.R"))
OUT <- file.path(REF_DIR, "toolkit", "lmlist")
dir.create(OUT, showWarnings = FALSE)

mat <- function(m) list(rownames = I(rownames(m)), colnames = I(colnames(m)),
                        rows = rows(unname(as.matrix(m))))

## lme4's confint.lmList4 stops ("subscript out of bounds") when a group has a coefficient the
## first group lacks; lmerpy then keeps the first group's coefficients (NA where a group lacks
## one). This builds that array from each group's own confint, as lme4 does otherwise.
lenient_confint <- function(fit, level = 0.95) {
  ci <- tryCatch(suppressMessages(confint(fit, level = level)), error = function(e) e)
  if (!inherits(ci, "error")) return(ci)
  template <- suppressMessages(confint(fit[[1]], level = level))
  val <- array(NA_real_, c(dim(template), length(fit)),
               c(dimnames(template), list(names(fit))))
  for (i in seq_along(fit)) if (!is.null(fit[[i]])) {
    ci_i <- suppressMessages(confint(fit[[i]], level = level))
    common <- intersect(rownames(ci_i), rownames(template))
    val[common, , i] <- ci_i[common, ]
  }
  structure(new("lmList4.confint", aperm(val, 3:1)), lme4_error = conditionMessage(ci))
}

case <- function(id, formula, data, df, family = NULL, derived = NULL) {
  f <- as.formula(formula)
  w <- character(0)
  fit <- withCallingHandlers(
    if (is.null(family)) eval(bquote(lmList(.(f), data = .(as.name(data))))) else
      eval(bquote(lmList(.(f), data = .(as.name(data)), family = .(as.name(family))))),
    warning = function(cnd) { w <<- c(w, conditionMessage(cnd)); invokeRestart("muffleWarning") })
  out <- list(id = id, formula = formula, data = data, family = family, derived = derived,
              warnings = I(w), coef = mat(coef(fit)), text = printed(fit),
              summary_text = printed(summary(fit)))
  ## a glm's confint is MASS's profile likelihood (its "Waiting for profiling" messages muted)
  ci <- lenient_confint(fit)
  out$confint <- lapply(dimnames(ci)[[3]], function(k) c(list(name = k), mat(ci[, , k])))
  out$confint_text <- printed(ci)
  out$confint90_text <- printed(lenient_confint(fit, level = 0.9))
  out$confint_error <- attr(ci, "lme4_error")
  if (is.null(family)) out$sigma <- sigma(fit)
  write_case(out, OUT, id)
}

sleepstudy <- load_data("sleepstudy")
case("sleep", "Reaction ~ Days | Subject", "sleepstudy")
## a predictor constant (zero) within three subjects: aliased there (NA), R's dqrdc2 pivoting
sleepz <- transform(sleepstudy, z = ifelse(as.integer(Subject) <= 3, 0, Days^2))
case("sleep_aliased", "Reaction ~ Days + z | Subject", "sleepz",
     derived = "sleepstudy with z = 0 for the first three subjects, Days^2 otherwise")
Orthodont <- load_data("Orthodont")
case("orthodont", "distance ~ age | Subject", "Orthodont")
VerbAgg <- load_data("VerbAgg")
case("verbagg_binomial", "r2 ~ Anger + Gender | item", "VerbAgg", family = "binomial")
grouseticks <- load_data("grouseticks")
gt6 <- grouseticks[grouseticks$LOCATION %in% c("1", "2", "3", "4", "5", "6"), ]
case("grouse_poisson_failures", "TICKS ~ YEAR | LOCATION", "gt6", family = "poisson",
     derived = "grouseticks rows with LOCATION 1 to 6")

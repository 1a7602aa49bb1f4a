# Profile goldens: lme4's profile() tables (as.data.frame(profile(fit))), confint(profile) at
# other levels, with oldNames = FALSE and for parameter subsets, on REML/ML, singular, boundary,
# 3x3 covariance, weighted and binomial GLMM fits; and splines::interpSpline/backSpline values.
# Writes tests/reference/profile/ID.json. Run from the repository root:
#   Rscript tests/reference/r/make_profile_goldens.R [ID ...]
# Needs lme4 1.1-31 and jsonlite.
#
# Keys: id, data, covers, fn, formula, REML, family, weights, theta, logLik;
#   profile = {columns: names of as.data.frame(profile(m)) without .par/.focal, par: .par per
#   row, values: rows} (when asked); confint = list of {level, parm, oldNames, rownames,
#   colnames, values, r_warnings}; r_warnings: warnings of profile().

local({
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
}, envir = globalenv())

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "profile")
ONLY <- commandArgs(trailingOnly = TRUE)
ci_json <- function(ci, level, parm, oldNames, warns) {
  list(level = level, parm = if (is.null(parm)) NULL else arr(parm), oldNames = oldNames,
       rownames = arr(rownames(ci)), colnames = arr(colnames(ci)),
       values = lapply(seq_len(nrow(ci)), function(i) num_or_null(ci[i, ])),
       r_warnings = arr(warns))
}

profile_case <- function(id, data, covers, formula, REML = TRUE, family = NULL,
                         weights = NULL, table = TRUE, confints = list(list(level = 0.95))) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_data(data)
  assign("df", df, envir = globalenv())
  fml <- as.formula(formula, env = globalenv())
  cl <- if (is.null(family)) call("lmer", formula = fml, data = quote(df), REML = REML)
        else call("glmer", formula = fml, data = quote(df), family = str2lang(family))
  cl[[1]] <- if (is.null(family)) quote(lme4::lmer) else quote(lme4::glmer)
  if (!is.null(weights)) cl$weights <- as.name(weights)
  m <- suppressMessages(eval(cl, globalenv()))
  out <- list(id = id, data = data, covers = covers,
              fn = if (is.null(family)) "lmer" else "glmer", formula = formula,
              REML = if (is.null(family)) REML else FALSE, family = family, weights = weights,
              theta = arr(getME(m, "theta")), logLik = as.numeric(logLik(m)))
  if (table) {
    pr <- collect_warnings(profile(m))
    d <- as.data.frame(pr$value)
    cols <- setdiff(names(d), c(".par", ".focal"))
    out$profile <- list(columns = arr(cols), par = arr(as.character(d$.par)),
                        values = lapply(seq_len(nrow(d)),
                                        function(i) num_or_null(unlist(d[i, cols]))))
    out$r_warnings <- arr(unique(pr$warnings))
  }
  out$confint <- lapply(confints, function(cc) {
    level <- cc$level %||% 0.95
    old <- cc$oldNames %||% TRUE
    args <- list(m, level = level, oldNames = old, method = "profile")
    if (!is.null(cc$parm)) args$parm <- cc$parm
    r <- collect_warnings(do.call(confint, args))
    ci_json(r$value, level, cc$parm, old, unique(r$warnings))
  })
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-20s %s\n", id, paste(setdiff(names(out), c("id", "data", "covers")),
                                     collapse = " ")))
  invisible(out)
}

## ---- splines -------------------------------------------------------------------------------

if (!length(ONLY) || "splines" %in% ONLY) {
  x <- c(-1.3, -0.7, 0, 0.4, 1.1, 2.0, 3.2)
  y <- c(-2.9, -1.6, 0, 0.7, 1.8, 2.9, 4.1)             # increasing: a profile-like curve
  fwd <- splines::interpSpline(x, y)
  bak <- splines::backSpline(fwd)
  xs <- c(-1.3, -1.0, -0.2, 0.4, 0.9, 2.5, 3.2, 3.5, -1.5)
  zs <- c(-2.9, -2.5, -1.96, 0, 0.3, 1.96, 4.1, 4.5, -3.0)
  y2 <- c(3.1, 2.0, 0.4, -0.3, -1.2, -2.6, -4.0)          # decreasing
  fwd2 <- splines::interpSpline(x, y2)
  bak2 <- splines::backSpline(fwd2)
  zs2 <- c(-3.5, -1.96, 0, 1.0, 2.5)
  write_case(list(id = "splines", covers = "interpSpline / backSpline / predict (NA outside)",
                  x = arr(x), y = arr(y), y_decreasing = arr(y2),
                  forward_at = arr(xs), forward = num_or_null(predict(fwd, xs)$y),
                  backward_at = arr(zs), backward = num_or_null(predict(bak, zs)$y),
                  backward_decreasing_at = arr(zs2),
                  backward_decreasing = num_or_null(predict(bak2, zs2)$y)),
             OUT_DIR, "splines")
  cat("splines\n")
}

## ---- cases -------------------------------------------------------------------------------------

profile_case("sleep_slope", "sleepstudy",
  "REML fit profiled on the ML deviance: the full profile table; confint at 0.9 and 0.99, oldNames = FALSE, parm subsets",
  "Reaction ~ Days + (Days|Subject)",
  confints = list(list(level = 0.9), list(level = 0.99), list(oldNames = FALSE),
                  list(parm = c(".sig02", "Days")), list(parm = "beta_"),
                  list(parm = "theta_")))

profile_case("dyestuff2", "Dyestuff2",
  "singular fit (theta = 0): the .sig01 profile starts at 0 and its lower limit is the bound",
  "Yield ~ 1 + (1|Batch)")

profile_case("pastes", "Pastes",
  "nested (1|batch/cask): the batch SD reaches 0 inside the interval (lower limit 0)",
  "strength ~ 1 + (1|batch/cask)", REML = FALSE)

profile_case("groups_3x3", "synth_groups",
  "a 3x3 covariance block (x + z | g): general Cholesky between sd/cor and theta",
  "y ~ x + z + (x + z|g)", table = FALSE)

profile_case("groups_weights", "synth_groups",
  "prior weights in the profiled deviance",
  "y ~ x + (1|g)", weights = "w", table = FALSE,
  confints = list(list(level = 0.95), list(oldNames = FALSE)))

profile_case("cbpp", "cbpp",
  "binomial GLMM: every parameter profiled over all others (Laplace deviance over theta, beta)",
  "cbind(incidence, size - incidence) ~ period + (1|herd)", family = "binomial",
  confints = list(list(level = 0.9)))

profile_case("small_slope", "synth_small",
  "8 groups, correlated slope: the correlation's profile is flat up to both bounds (limits -1 and 1 by linear fall-back, lme4's warnings), the slope SD reaches 0",
  "y ~ x + (x|g)", table = FALSE)

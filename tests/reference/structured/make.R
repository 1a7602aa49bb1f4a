# Structured covariance goldens: lme4 2.1.0's fits with us(), diag(), cs(), ar1() terms (and
# hom = TRUE/FALSE), with glmmTMB 1.1.5 as a second opinion.  Schema and findings: NOTES.md.
#
# Run from this folder (tests/reference/structured), with lme4 2.1.0's library:
#   R_LIBS=/opt/lme4-2.1 Rscript make.R            # all goldens (+ data/), 5-10 min
#   R_LIBS=/opt/lme4-2.1 Rscript make.R ID ...     # only these cases (data/ always rewritten)
#   R_LIBS=/opt/lme4-2.1 Rscript make.R timings    # timings.json (one BLAS thread), ~1 min
# lme4 2.1.0 is built by /work/shared/tools/lme4-2.1/install.sh (Debian's default lme4 1.1-31
# stays the default library).  Numbers are written unrounded (jsonlite digits = NA).
#
# Writes ID.json (one golden per case: `kind` = "fit" or "anova"), data/NAME.csv.gz +
# NAME.levels.json (the data sets it made; bundled lmerpy data sets are read from
# lmerpy/datasets/data), and with `timings` timings.json.  R fits every data set *as read back
# from the CSV*, so R and lmerpy see identical numbers.

local({
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(arg)) dirname(normalizePath(sub("^--file=", "", arg[1]))) else getwd()
  assign("HERE", here, envir = globalenv())
  source(file.path(here, "..", "r", "common.R"))   # arr, rows, triplets, write_case, printed, ...
}, envir = globalenv())

if (format(packageVersion("lme4")) != "2.1.0")
  stop("needs lme4 2.1.0 (R_LIBS=/opt/lme4-2.1); found ", format(packageVersion("lme4")))
ensure_one_blas_thread()
suppressPackageStartupMessages(library(glmmTMB))

OUT_DIR <- HERE
SDATA_DIR <- file.path(HERE, "data")
ARGS <- commandArgs(trailingOnly = TRUE)
DO_TIMINGS <- identical(ARGS, "timings")
ONLY <- if (DO_TIMINGS) character(0) else ARGS

## glmmTMB 1.1.5 calls lme4's old formula helpers once per session, and lme4 2.1 warns that they
## moved to reformulas: fit one small model first so those warnings are not recorded later.
invisible(suppressWarnings(suppressMessages(
  glmmTMB(Reaction ~ Days + (1 | Subject), lme4::sleepstudy))))

## ---- data ------------------------------------------------------------------------------------

## Write data/NAME.csv.gz + NAME.levels.json (the bundled sets' format: factors as strings with
## their levels listed in R's order, ordered factors listed) and read it back.
save_struct_data <- function(df, name) {
  dir.create(SDATA_DIR, showWarnings = FALSE, recursive = TRUE)
  con <- gzfile(file.path(SDATA_DIR, paste0(name, ".csv.gz")), "w")
  write.csv(df, con, row.names = FALSE, na = "NA")
  close(con)
  facs <- names(df)[vapply(df, is.factor, TRUE)]
  meta <- list(levels = setNames(lapply(facs, function(f) I(levels(df[[f]]))), facs),
               ordered = I(names(df)[vapply(df, is.ordered, TRUE)]))
  writeLines(toJSON(meta, auto_unbox = TRUE, pretty = TRUE),
             file.path(SDATA_DIR, paste0(name, ".levels.json")))
  back <- load_struct_data(name)
  stopifnot(identical(dim(back), dim(df)), identical(lapply(back, levels), lapply(df, levels)))
  invisible(back)
}

## A data set by name: data/NAME.csv.gz here, else lmerpy's bundled set (common.R's load_data).
load_struct_data <- function(name) {
  csv <- file.path(SDATA_DIR, paste0(name, ".csv.gz"))
  if (!file.exists(csv)) return(load_data(name))
  df <- read.csv(gzfile(csv), check.names = FALSE, stringsAsFactors = FALSE, na.strings = "NA")
  meta <- fromJSON(file.path(SDATA_DIR, paste0(name, ".levels.json")), simplifyVector = TRUE)
  for (col in names(meta$levels))
    df[[col]] <- factor(as.character(df[[col]]), levels = as.character(unlist(meta$levels[[col]])),
                        ordered = col %in% unlist(meta$ordered))
  df
}

## sleepstudy with Daysf = factor(Days, ordered = TRUE), as in lme4 2.1's ?Covariance example.
make_sleep_daysf <- function() {
  df <- load_data("sleepstudy")
  df$Daysf <- factor(df$Days, levels = 0:9, ordered = TRUE)
  save_struct_data(df, "sleep_daysf")
}

## nlme's Machines (6 workers x 3 machines x 3 replicates), Worker and Machine as unordered
## factors with levels in sorted order (nlme stores Worker as an ordered factor by mean score).
make_machines <- function() {
  M <- as.data.frame(nlme::Machines)
  df <- data.frame(Worker = factor(as.character(M$Worker), levels = as.character(1:6)),
                   Machine = factor(as.character(M$Machine), levels = c("A", "B", "C")),
                   score = M$score)
  save_struct_data(df, "Machines")
}

## synth_long (n = 400, set.seed(20260412)): 40 subjects s01-s40 nested in 8 sites S1-S8 (5
## each), times t1-t5 (factor; tnum = 0-4) with 2 replicates per subject x time, a crossed
## 15-level item (random), x ~ N(0,1).  Responses:
##   y     : time effects + heterogeneous AR(1) subject x time effects (sd 1-1.6, rho 0.6)
##           + item intercept (sd .5) and x slope (sd .3) + site intercept (sd .4) + N(0, .7^2)
##   ycs   : compound-symmetric subject x time effects (sd 1, rho .5) + N(0, .8^2)
##   ys    : no random effects at all (singular fits)
##   count : Poisson, log mean .5 + .3x + CS subject x time effects (sd .5, rho .4)
##   yb    : 0/1, logit .5x + AR(1) subject x time effects (sd 1, rho .7)
## time_shuf is time with its levels in the order t1 t3 t5 t2 t4 (ar1 follows the level order).
make_synth_long <- function() {
  set.seed(20260412)
  ns <- 40; nt <- 5; nr <- 2
  subj <- factor(sprintf("s%02d", rep(1:ns, each = nt * nr)))
  time <- factor(paste0("t", rep(rep(1:nt, each = nr), ns)))
  si <- as.integer(subj); ti <- as.integer(time)
  site <- factor(paste0("S", (si - 1) %/% 5 + 1))
  item <- factor(sprintf("i%02d", sample(1:15, ns * nt * nr, replace = TRUE)))
  ii <- as.integer(item)
  N <- ns * nt * nr
  x <- round(rnorm(N), 3)
  draw <- function(n, sds, C) matrix(rnorm(n * length(sds)), n) %*% chol(diag(sds) %*% C %*% diag(sds))
  ar1C <- function(k, rho) rho^abs(outer(1:k, 1:k, "-"))
  csC <- function(k, rho) { C <- matrix(rho, k, k); diag(C) <- 1; C }
  b_ar <- draw(ns, c(1.0, 1.1, 1.2, 1.4, 1.6), ar1C(5, 0.6))
  b_cs <- draw(ns, rep(1, 5), csC(5, 0.5))
  u_item <- rnorm(15, 0, 0.5); v_item <- rnorm(15, 0, 0.3); u_site <- rnorm(8, 0, 0.4)
  teff <- c(0, 0.3, 0.6, 0.8, 1.0)[ti]
  y <- round(10 + 0.5 * x + teff + b_ar[cbind(si, ti)] + u_item[ii] + v_item[ii] * x +
             u_site[as.integer(site)] + rnorm(N, 0, 0.7), 4)
  ycs <- round(5 - 0.4 * x + teff + b_cs[cbind(si, ti)] + rnorm(N, 0, 0.8), 4)
  ys <- round(2 + 0.3 * x + rnorm(N, 0, 1), 4)
  b_p <- draw(ns, rep(0.5, 5), csC(5, 0.4))
  count <- rpois(N, exp(0.5 + 0.3 * x + b_p[cbind(si, ti)]))
  b_b <- draw(ns, rep(1, 5), ar1C(5, 0.7))
  yb <- rbinom(N, 1, plogis(0.5 * x + b_b[cbind(si, ti)]))
  time_shuf <- factor(as.character(time), levels = c("t1", "t3", "t5", "t2", "t4"))
  save_struct_data(data.frame(subj, site, item, time, time_shuf, tnum = ti - 1L, x, y, ycs, ys,
                              count, yb), "synth_long")
}

## bench_long (n = 12000, set.seed(20260413)): 1000 subjects x 6 times (t1-t6) x 2 replicates,
## heterogeneous AR(1) subject x time effects (sd 1-1.5, rho .6), y = 10 + .5x + .2 time + b +
## N(0, .7^2).  Used only by `make.R timings` (and the later benchmark), which also times the
## same generator with ns = 5000 (n = 60000, not stored: gen_bench_long(5000L) rebuilds it).
gen_bench_long <- function(ns = 1000L, nt = 6L, nr = 2L) {
  set.seed(20260413)
  subj <- factor(sprintf("s%04d", rep(1:ns, each = nt * nr)))
  time <- factor(paste0("t", rep(rep(1:nt, each = nr), ns)))
  si <- as.integer(subj); ti <- as.integer(time); N <- length(si)
  x <- round(rnorm(N), 3)
  sds <- seq(1, 1.5, length.out = nt)
  S <- diag(sds) %*% (0.6^abs(outer(1:nt, 1:nt, "-"))) %*% diag(sds)
  b <- matrix(rnorm(ns * nt), ns, nt) %*% chol(S)
  y <- round(10 + 0.5 * x + 0.2 * ti + b[cbind(si, ti)] + rnorm(N, 0, 0.7), 4)
  data.frame(subj, time, x, y)
}
make_bench_long <- function() save_struct_data(gen_bench_long(), "bench_long")

## ---- pieces of a fitted model --------------------------------------------------------------------

RC <- function(fit) lme4::getReCovs(fit)
structure_of <- function(o) sub("^Covariance[.]", "", class(o))
hom_of <- function(o) if (.hasSlot(o, "hom")) o@hom else NULL
num_rows <- function(m) lapply(seq_len(nrow(m)), function(i) num_or_null(m[i, ]))

## Random-effects terms in lme4's order, with each term's covariance parameterisation.
terms_json <- function(fit) {
  rc <- RC(fit)
  cnms <- fit@cnms
  gnm <- names(cnms)
  vc <- VarCorr(fit)
  nl <- vapply(fit@flist, nlevels, 0L)[attr(fit@flist, "assign")]
  lapply(seq_along(rc), function(i) {
    o <- rc[[i]]
    cn <- cnms[[i]]
    S <- vc[[i]]
    list(group = gnm[i], varcorr_name = names(vc)[i], columns = arr(cn), nl = nl[[i]],
         structure = structure_of(o), hom = hom_of(o), vcmat_class = class(S)[1], nc = o@nc,
         par = arr(getPar(o)), par_names = arr(getParNames(o, cn, gnm[i])),
         par_names_sdcor = arr(getParNames(o, cn, gnm[i], prf = c("sd", "cor"), old = FALSE)),
         profpar_names = arr(if (is(o, "Covariance.us"))
                               unlist(getVCNames(o, cn, gnm[i], prf = c("sd", "cor"), old = FALSE))
                             else getParNames(o, cn, gnm[i], prf = c("sd", "cor"), old = FALSE)),
         ## lme4 2.1's own split into SD and correlation names: wrong (NA-padded) for
         ## homogeneous cs/ar1, which is what breaks confint(signames = FALSE) there
         vc_names_lme4 = lapply(getVCNames(o, cn, gnm[i], prf = c("sd", "cor"), old = FALSE), arr),
         lower = num_or_null(getLower(o)), upper = num_or_null(getUpper(o)),
         theta = arr(getTheta(o)), theta_names = arr(getThetaNames(o, cn, gnm[i])),
         theta_index = arr(getThetaIndex(o)),
         Lambda = num_rows(getLambda(o)),
         stddev = num_or_null(attr(S, "stddev")),
         correlation = num_rows(attr(S, "correlation")),
         covariance = num_rows(unclass(S)[seq_len(o@nc), seq_len(o@nc), drop = FALSE]),
         singular = isSingular(o))
  })
}

## The model's design, at lme4's estimate (Lambdat at theta-hat).
design_block <- function(fit) {
  fl <- getME(fit, "flist")
  X <- getME(fit, "X")
  out <- list(
    X_colnames = arr(colnames(X)), X = rows(unname(X)), X_assign = arr(attr(X, "assign")),
    Zt = triplets(getME(fit, "Zt")), Zt_rownames = arr(rownames(getME(fit, "Zt"))),
    Lambdat = triplets(getME(fit, "Lambdat")), Lind = arr(getME(fit, "Lind")),
    cnms = cnms_json(fit@cnms), flist_names = arr(names(fl)),
    flist_assign = arr(attr(fl, "assign")),
    flist_levels = lapply(fl, function(f) arr(levels(f))),
    Gp = arr(getME(fit, "Gp")), y = arr(getME(fit, "y")))
  off <- getME(fit, "offset")
  if (any(off != 0)) out$offset <- arr(off)
  pw <- weights(fit, type = "prior")
  if (any(pw != 1)) out$prior_weights <- arr(pw)
  out
}

## The bar terms in formula order and lme4's order of them (mkReTrms sorts terms stably by
## decreasing number of levels; lme4 2.0-6 fixed applying that to the structures, GH #945).
term_order_json <- function(formula, df, fn) {
  bars <- reformulas::findbars_x(formula, specials = lme4:::lme4_specials,
                                 default.special = "us", target = "|",
                                 expand_doublevert_method = getDoublevertDefault())
  lf <- if (fn == "lmer") lFormula(formula, df) else glFormula(formula, df, family = binomial)
  list(formula_terms = arr(vapply(bars, function(b) paste(deparse(b), collapse = " "), "")),
       term_order = arr(lf$reTrms$ord))
}

## confint() as a table, or the error it stopped with.
confint_json <- function(fit, method, extra = list()) {
  one <- function(signames) {
    r <- tryCatch(collect_warnings(suppressMessages(
           do.call(confint, c(list(fit, method = method, signames = signames), extra)))),
           error = function(e) list(error = conditionMessage(e)))
    if (!is.null(r$error)) return(list(error = r$error))
    ci <- r$value
    list(rownames = arr(ifelse(is.na(rownames(ci)), "NA", rownames(ci))),
         colnames = arr(colnames(ci)), values = num_rows(ci), r_warnings = arr(unique(r$warnings)))
  }
  a <- one(TRUE)
  b <- one(FALSE)
  c(list(method = method), a, list(signames_false = b))
}

## as.data.frame(profile(fit, signames = FALSE)): columns, .par per row, values.
profile_table_json <- function(fit) {
  pr <- collect_warnings(profile(fit, signames = FALSE))
  d <- as.data.frame(pr$value)
  cols <- setdiff(names(d), c(".par", ".focal"))
  list(columns = arr(cols), par = arr(as.character(d$.par)),
       values = lapply(seq_len(nrow(d)), function(i) num_or_null(unlist(d[i, cols]))),
       r_warnings = arr(unique(pr$warnings)))
}

## predict() on new data (factor columns as labels; labels not among the levels are new).
predict_json <- function(fit, newdata, df) {
  nd <- as.data.frame(newdata, stringsAsFactors = FALSE)
  for (v in names(nd)) if (is.factor(df[[v]]))
    nd[[v]] <- factor(nd[[v]], levels = union(levels(df[[v]]), unique(nd[[v]])),
                      ordered = is.ordered(df[[v]]))
  one <- function(re_form, type) {
    v <- predict(fit, newdata = nd, re.form = if (identical(re_form, "NA")) NA else NULL,
                 allow.new.levels = TRUE, type = type)
    list(re_form = if (is.null(re_form)) NULL else re_form, allow_new_levels = TRUE,
         type = type, values = arr(v))
  }
  types <- if (isGLMM(fit)) c("link", "response") else "response"
  list(newdata = lapply(newdata, arr),
       results = c(lapply(types, function(t) one(NULL, t)), lapply(types, function(t) one("NA", t))))
}

## ---- glmmTMB second opinion --------------------------------------------------------------------

tmb_json <- function(tmb_formula, df, family, REML) {
  env <- new.env(parent = globalenv())
  env$df <- df
  cl <- call("glmmTMB", formula = as.formula(tmb_formula, env = globalenv()), data = quote(df))
  if (!is.null(family)) cl$family <- str2lang(family)
  if (REML) cl$REML <- TRUE
  r <- run_collect(cl, env)
  out <- list(formula = tmb_formula, REML = REML, version = format(packageVersion("glmmTMB")))
  if (inherits(r$value, "caught_error"))
    return(c(out, list(error = r$value$message, r_warnings = arr(r$warnings))))
  t <- r$value
  ll <- logLik(t)
  vc <- VarCorr(t)$cond
  fe <- fixef(t)$cond
  c(out, list(
    logLik = as.numeric(ll), df = attr(ll, "df"), fixef = named(fe),
    se = named(setNames(sqrt(diag(vcov(t)$cond)), names(fe))),
    sigma = if (family(t)$family == "gaussian") sigma(t) else NULL,
    varcorr = lapply(seq_along(vc), function(i) list(
      group = names(vc)[i], columns = arr(colnames(vc[[i]])),
      stddev = num_or_null(attr(vc[[i]], "stddev")),
      correlation = num_rows(attr(vc[[i]], "correlation")))),
    convergence = t$fit$convergence, message = t$fit$message, pdHess = t$sdr$pdHess,
    seconds = r$seconds, r_warnings = arr(r$warnings)))
}

## ---- one fit case --------------------------------------------------------------------------------

## The fit's own criterion on the scale glmmTMB reports (REML logLik for REML fits).
lme4_loglik <- function(fit) as.numeric(logLik(fit))

## fn: "lmer" or "glmer"; family: an R expression (glmer); tmb: the glmmTMB formula (NULL when
## glmmTMB 1.1.5 cannot write the structure: homogeneous cs/diag, heterogeneous ar1); profile:
## also confint(method = "profile") (+ the profile table when "table"); predict: list of
## newdata columns; expect_error: TRUE when lme4's error is its deliberate answer to bad input.
struct_case <- function(id, data, formula, covers, fn = "lmer", REML = TRUE, family = NULL,
                        tmb = NULL, profile = FALSE, predict = NULL, expect_error = FALSE) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_struct_data(data)
  fml <- as.formula(formula, env = globalenv())
  is_lmm <- fn == "lmer"
  mc <- make_call(fn, fml, df, REML = if (is_lmm) REML else NULL, family = family)
  r <- run_collect(mc$call, mc$env)
  out <- list(id = id, kind = "fit", data = data, fn = fn, formula = formula, covers = covers,
              REML = is_lmm && REML, family = family %||% "gaussian", nAGQ = 1L,
              lme4_version = format(packageVersion("lme4")))
  tmb_out <- if (!is.null(tmb)) tmb_json(tmb, df, family, REML = is_lmm && REML) else NULL

  if (inherits(r$value, "caught_error")) {
    key <- if (expect_error) "expect_error" else "lme4_error"
    out[[key]] <- r$value$message
    out$r_warnings <- arr(r$warnings)
    out$glmmtmb <- tmb_out
    write_case(out, OUT_DIR, id)
    cat(sprintf("%-28s %s: %s\n", id, key, r$value$message))
    return(invisible(out))
  }
  fit <- r$value
  if (r$seconds < 1)
    for (k in 1:2) r$seconds <- min(r$seconds, run_collect(mc$call, mc$env)$seconds)

  ## lme4 2.1 can leave its deviance function in a NaN state (see NOTES.md): the optimum (par,
  ## criterion) is fine but every later quantity is NaN.  Keep what lme4 printed, then
  ## re-evaluate at lme4's own optimum with lmerControl(optimizer = NULL) for the results.
  nan_state <- anyNA(fixef(fit)) || is.na(sigma(fit))
  if (nan_state) {
    out$lme4_nan_state <- TRUE
    cmp <- fit@devcomp$cmp
    out$lme4_raw <- list(par = arr(getME(fit, "par")), theta = arr(getME(fit, "theta")),
                         criterion = if (is_lmm && REML) cmp[["REML"]] else cmp[["dev"]],
                         fixef = num_or_null(fixef(fit)), print_text = printed(fit),
                         r_warnings = arr(r$warnings),
                         r_messages = arr(fit@optinfo$conv$lme4$messages))
    cl2 <- mc$call
    cl2$start <- list(par = unname(getME(fit, "par")))
    cl2$control <- if (is_lmm) quote(lmerControl(optimizer = NULL))
                   else quote(glmerControl(optimizer = NULL))
    fit2 <- suppressMessages(eval(cl2, mc$env))
    fit2@call <- fit@call
    fit2@optinfo$conv$lme4$messages <- fit@optinfo$conv$lme4$messages
    stopifnot(!anyNA(fixef(fit2)))
    out$repaired_by <- paste("re-evaluated at lme4's optimum par with",
                             if (is_lmm) "lmerControl" else "glmerControl", "(optimizer = NULL)")
    fit <- fit2
  }

  fam <- family(fit)
  out$family <- fam$family
  out$link <- fam$link
  ll <- logLik(fit)
  n <- nobs(fit)
  tj <- terms_json(fit)
  out <- c(out, term_order_json(fml, df, fn), estimates_json(fit), list(
    par = arr(getME(fit, "par")), par_names = arr(names(getME(fit, "par"))),
    par_names_sdcor = arr(getParNames(fit, prf = c("sd", "cor"), old = FALSE)),
    lower = num_or_null(getLower(fit)), upper = num_or_null(getUpper(fit)),
    npar = getME(fit, "npar"),
    profpar = arr(getProfPar(fit, "sdcor", sc = if (is_lmm) sigma(fit) else NULL)),
    profpar_names = arr(c(unlist(lapply(tj, function(t) unlist(t$profpar_names))),
                          if (is_lmm) "sigma")),
    terms = tj,
    logLik = as.numeric(ll), df = attr(ll, "df"), AIC = AIC(fit), BIC = BIC(fit)))
  if (is_lmm) {
    if (REML) out$REMLcrit <- REMLcrit(fit) else out$deviance <- deviance(fit)
  } else {
    out$minus2logLik <- -2 * as.numeric(ll)
    out$deviance <- deviance(fit)
  }
  out <- c(out, list(
    singular = isSingular(fit),
    ranef = ranef_json(fit),
    summary_text = printed(summary(fit)),
    print_text = printed(fit),
    varcorr_text = printed(VarCorr(fit)),
    varcorr_text_variance = {
      old <- options(width = 80); on.exit(options(old))
      paste(capture.output(print(VarCorr(fit), comp = c("Variance", "Std.Dev."))),
            collapse = "\n")
    }))
  if (n <= 2000) {
    out$design <- design_block(fit)
    out$fitted <- arr(fitted(fit))
    out$residuals <- arr(residuals(fit))
    if (!is_lmm) {
      out$residuals_pearson <- arr(residuals(fit, type = "pearson"))
      out$predict_link <- arr(predict(fit))
    }
    out$predict_population <- arr(predict(fit, re.form = NA))
  }
  out$confint_wald <- confint_json(fit, "Wald")
  if (!isFALSE(profile)) {
    out$confint_profile <- confint_json(fit, "profile")
    if (identical(profile, "table")) out$profile_table <- profile_table_json(fit)
  }
  if (!is.null(predict)) out$predict <- predict_json(fit, predict, df)
  out$optimizer <- fit@optinfo$optimizer
  out$feval <- fit@optinfo$feval
  out$glmmtmb <- tmb_out
  if (is.numeric(tmb_out$logLik) && is.finite(tmb_out$logLik)) {
    out$glmmtmb$logLik_minus_lme4 <- tmb_out$logLik - lme4_loglik(fit)
    out$lme4_worse_optimum <- tmb_out$logLik > lme4_loglik(fit) + 1e-3
  }
  out$r_fit_seconds <- r$seconds
  out$r_warnings <- arr(r$warnings)
  out$r_messages <- arr(fit@optinfo$conv$lme4$messages)
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-28s logLik %11.4f  par %-44s %s%s%s\n", id, as.numeric(ll),
              paste(signif(getME(fit, "par"), 4), collapse = " "),
              if (isSingular(fit)) "singular " else "", if (nan_state) "NaN-state " else "",
              paste(r$warnings, collapse = " | ")))
  invisible(out)
}

## ---- anova cases ---------------------------------------------------------------------------------

## Fits `models` (named list of formulas; all lmer with REML = `REML`) to one data set and
## records anova(m1, m2, ...) in the given order (lme4 refits REML fits with ML).
anova_case <- function(id, data, models, covers, REML = TRUE) {
  if (length(ONLY) && !(id %in% ONLY)) return(invisible(NULL))
  df <- load_struct_data(data)
  env <- new.env(parent = globalenv())
  env$df <- df
  mods <- list()
  for (nm in names(models)) {
    cl <- call("lmer", formula = as.formula(models[[nm]], env = globalenv()), data = quote(df),
               REML = REML)
    r <- run_collect(cl, env)
    if (inherits(r$value, "caught_error")) stop(id, ": ", r$value$message)
    assign(nm, r$value, envir = env)
    fit <- r$value
    ll <- logLik(fit)
    mods[[nm]] <- list(formula = models[[nm]], REML = REML, logLik = as.numeric(ll),
                       df = attr(ll, "df"), par = arr(getME(fit, "par")),
                       par_names = arr(names(getME(fit, "par"))),
                       theta = arr(getME(fit, "theta")), fixef = named(fixef(fit)),
                       sigma = sigma(fit), r_warnings = arr(r$warnings),
                       r_messages = arr(fit@optinfo$conv$lme4$messages))
  }
  acall <- as.call(c(list(as.name("anova")), lapply(names(models), as.name)))
  msgs <- character(0)
  warns <- character(0)
  tab <- withCallingHandlers(eval(acall, env),
                             warning = function(w) {
                               warns <<- c(warns, conditionMessage(w))
                               invokeRestart("muffleWarning")
                             },
                             message = function(m) {
                               msgs <<- c(msgs, sub("\n$", "", conditionMessage(m)))
                               invokeRestart("muffleMessage")
                             })
  out <- list(id = id, kind = "anova", data = data, covers = covers,
              lme4_version = format(packageVersion("lme4")), models = mods,
              anova = c(list(models = arr(names(models)), refit = REML, r_messages = arr(msgs),
                             r_warnings = arr(warns)),
                        printed_table_json(tab)))
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-28s anova npar %s\n", id, paste(tab$npar, collapse = " ")))
  invisible(out)
}

## ---- timings -------------------------------------------------------------------------------------

time_fits <- function(df, data_name) {
  env <- new.env(parent = globalenv())
  env$df <- df
  cases <- list(
    cs = "y ~ x + time + cs(0 + time | subj)",
    cs_hom = "y ~ x + time + cs(0 + time | subj, hom = TRUE)",
    ar1 = "y ~ x + time + ar1(0 + time | subj)",
    ar1_het = "y ~ x + time + ar1(0 + time | subj, hom = FALSE)",
    diag = "y ~ x + time + diag(0 + time | subj)",
    us = "y ~ x + time + (0 + time | subj)")
  lapply(names(cases), function(nm) {
    cl <- call("lmer", formula = as.formula(cases[[nm]], env = globalenv()), data = quote(df))
    secs <- numeric(if (nrow(df) > 20000) 3 else 5)
    for (k in seq_along(secs)) {
      r <- run_collect(cl, env)
      secs[k] <- r$seconds
    }
    fit <- r$value
    cat(sprintf("%-12s %-8s %-50s min %6.3f s  median %6.3f s  feval %d\n", data_name, nm,
                cases[[nm]], min(secs), median(secs), fit@optinfo$feval))
    list(id = paste0(data_name, "_", nm), data = data_name, nobs = nrow(df),
         formula = cases[[nm]], REML = TRUE, seconds = arr(secs), min = min(secs),
         median = median(secs), feval = fit@optinfo$feval, REMLcrit = REMLcrit(fit),
         npar = length(getME(fit, "par")), ntheta = length(getME(fit, "theta")),
         r_warnings = arr(r$warnings))
  })
}

timings <- function() {
  big <- gen_bench_long(5000L)
  tmp <- tempfile(fileext = ".csv")
  write.csv(big, tmp, row.names = FALSE)
  big <- read.csv(tmp, stringsAsFactors = FALSE)
  big$subj <- factor(big$subj)
  big$time <- factor(big$time)
  res <- c(time_fits(load_struct_data("bench_long"), "bench_long"),
           time_fits(big, "bench_long_5000"))
  out <- list(lme4_version = format(packageVersion("lme4")), R = R.version.string,
              blas = La_library(), OPENBLAS_NUM_THREADS = Sys.getenv("OPENBLAS_NUM_THREADS"),
              machine = paste("2 cores shared with other jobs; elapsed seconds of 5 runs",
                              "(3 for n = 60000); default lmerControl (nloptwrap BOBYQA)"),
              data = list(bench_long = "data/bench_long.csv.gz (n = 12000)",
                          bench_long_5000 = "gen_bench_long(5000L) in make.R (n = 60000, not stored)"),
              cases = res)
  writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = TRUE),
             file.path(OUT_DIR, "timings.json"))
}

## ---- the data ------------------------------------------------------------------------------------

make_sleep_daysf()
make_machines()
make_synth_long()
make_bench_long()
if (DO_TIMINGS) {
  timings()
  quit(save = "no")
}

## ---- sleepstudy: us / diag / cs, hom and het, REML and ML -----------------------------------------

SLEEP_NEW <- list(Days = c(0, 5, 9, 2), Subject = c("308", "309", "new1", "new1"))
struct_case("sleep_plain_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)",
            "unstructured term without a tag: lme4 2.x's printing of a plain model",
            tmb = "Reaction ~ Days + us(Days | Subject)", profile = TRUE)
struct_case("sleep_us_reml", "sleepstudy", "Reaction ~ Days + us(Days | Subject)",
            "us() tag = the default (Days | Subject); par = theta",
            tmb = "Reaction ~ Days + us(Days | Subject)")
struct_case("sleep_us_ml", "sleepstudy", "Reaction ~ Days + us(Days | Subject)", "us(), ML",
            REML = FALSE, tmb = "Reaction ~ Days + us(Days | Subject)")
struct_case("sleep_diag_reml", "sleepstudy", "Reaction ~ Days + diag(Days | Subject)",
            "diag(): one term, no correlation, same fit as (Days || Subject)",
            tmb = "Reaction ~ Days + diag(Days | Subject)", profile = TRUE)
struct_case("sleep_doublebar_reml", "sleepstudy", "Reaction ~ Days + (Days || Subject)",
            "(x || g) keeps lme4's default split: two us terms Subject, Subject.1 (not diag)",
            tmb = "Reaction ~ Days + diag(Days | Subject)")
struct_case("sleep_diag_ml", "sleepstudy", "Reaction ~ Days + diag(Days | Subject)",
            "diag(), ML", REML = FALSE, tmb = "Reaction ~ Days + diag(Days | Subject)",
            profile = TRUE)
struct_case("sleep_diag_hom_reml", "sleepstudy",
            "Reaction ~ Days + diag(Days | Subject, hom = TRUE)",
            "diag(hom = TRUE): one SD shared by both columns (par and theta of length 1)",
            profile = TRUE)
struct_case("sleep_cs_reml", "sleepstudy", "Reaction ~ Days + cs(Days | Subject)",
            "cs() heterogeneous (default), nc = 2: same covariance model as us; Corr '0.07 (cs)'",
            tmb = "Reaction ~ Days + cs(Days | Subject)", profile = "table",
            predict = SLEEP_NEW)
struct_case("sleep_cs_ml", "sleepstudy", "Reaction ~ Days + cs(Days | Subject)", "cs(), ML",
            REML = FALSE, tmb = "Reaction ~ Days + cs(Days | Subject)", profile = TRUE)
struct_case("sleep_cs_hom_reml", "sleepstudy",
            "Reaction ~ Days + cs(Days | Subject, hom = TRUE)",
            "cs(hom = TRUE): one SD and one rho; VarCorr prints one SD row; profile fails",
            profile = TRUE)
struct_case("sleep_cs_hom_ml", "sleepstudy", "Reaction ~ Days + cs(Days | Subject, hom = TRUE)",
            "cs(hom = TRUE), ML", REML = FALSE)
struct_case("sleep_cs_1col", "sleepstudy", "Reaction ~ Days + cs(1 | Subject)",
            "cs() on one column: par = the SD only (no rho); prints Corr '1.00 (cs)'")
struct_case("sleep_ar1_numeric", "sleepstudy", "Reaction ~ Days + ar1(1 + Days | Subject)",
            paste("ar1() over the columns (Intercept), Days of a numeric term: lme4 2.1 does",
                  "not ask for a factor; equals cs(hom = TRUE) at nc = 2"))

## ---- ar1 over the levels of a time factor --------------------------------------------------------

struct_case("sleep_ar1_ml", "sleep_daysf", "Reaction ~ Daysf + ar1(0 + Daysf | Subject, hom = TRUE)",
            "lme4 2.1's ?Covariance example: ar1 over 10 ordered days, ML",
            REML = FALSE, tmb = "Reaction ~ Daysf + ar1(0 + Daysf | Subject)")
struct_case("sleep_ar1_reml", "sleep_daysf", "Reaction ~ Days + ar1(0 + Daysf | Subject)",
            "ar1 (homogeneous by default), REML, numeric Days in X; profile fails",
            tmb = "Reaction ~ Days + ar1(0 + Daysf | Subject)", profile = TRUE)

LONG_NEW <- list(x = c(0, 0.5, -1, 1), time = c("t1", "t3", "t5", "t2"),
                 subj = c("s01", "s02", "new1", "new1"))
struct_case("long_ar1_reml", "synth_long", "y ~ x + time + ar1(0 + time | subj)",
            "ar1, 5 time levels, 2 replicates per subject x time",
            tmb = "y ~ x + time + ar1(0 + time | subj)", predict = LONG_NEW)
struct_case("long_ar1_ml", "synth_long", "y ~ x + time + ar1(0 + time | subj)", "ar1, ML",
            REML = FALSE, tmb = "y ~ x + time + ar1(0 + time | subj)")
struct_case("long_ar1_level_order", "synth_long", "y ~ x + time + ar1(0 + time_shuf | subj)",
            paste("ar1 runs over the term's columns in the factor's level order (t1 t3 t5 t2 t4",
                  "here), not over sorted labels or times: a different fit from long_ar1_reml"),
            tmb = "y ~ x + time + ar1(0 + time_shuf | subj)")
struct_case("long_ar1_het_reml", "synth_long", "y ~ x + time + ar1(0 + time | subj, hom = FALSE)",
            "ar1(hom = FALSE): one SD per time, then rho")
struct_case("long_ar1_het_ml", "synth_long", "y ~ x + time + ar1(0 + time | subj, hom = FALSE)",
            "ar1(hom = FALSE), ML", REML = FALSE)

## ---- cs with a factor slope ----------------------------------------------------------------------

struct_case("machines_cs_hom_reml", "Machines", "score ~ Machine + cs(0 + Machine | Worker, hom = TRUE)",
            paste("Machines: cs(hom = TRUE) over the 3 machines (the covariance model of",
                  "(1 | Worker/Machine) but rho may be negative)"))
struct_case("machines_cs_reml", "Machines", "score ~ Machine + cs(0 + Machine | Worker)",
            "Machines: heterogeneous cs, nc = 3 (profile fails: NaN at rho = 1)",
            tmb = "score ~ Machine + cs(0 + Machine | Worker)", profile = TRUE)
struct_case("machines_us_reml", "Machines", "score ~ Machine + (0 + Machine | Worker)",
            "Machines: unstructured 3 x 3 (the anova's largest model)",
            tmb = "score ~ Machine + us(0 + Machine | Worker)")
struct_case("machines_diag_hom_plus_ri", "Machines",
            "score ~ Machine + (1 | Worker) + diag(0 + Machine | Worker, hom = TRUE)",
            paste("a plain term and a structured term on one factor: the same model as",
                  "(1 | Worker/Machine)"))
struct_case("long_cs_hom_reml", "synth_long", "ycs ~ x + time + cs(0 + time | subj, hom = TRUE)",
            "cs(hom = TRUE), nc = 5")
struct_case("long_cs_reml", "synth_long", "ycs ~ x + time + cs(0 + time | subj)",
            "heterogeneous cs, nc = 5", tmb = "ycs ~ x + time + cs(0 + time | subj)")
struct_case("long_cs_ml", "synth_long", "ycs ~ x + time + cs(0 + time | subj)",
            "heterogeneous cs, nc = 5, ML", REML = FALSE,
            tmb = "ycs ~ x + time + cs(0 + time | subj)")
struct_case("long_diag_reml", "synth_long", "ycs ~ x + time + diag(0 + time | subj)",
            "diag over 5 factor columns", tmb = "ycs ~ x + time + diag(0 + time | subj)")
struct_case("long_diag_hom_reml", "synth_long", "ycs ~ x + time + diag(0 + time | subj, hom = TRUE)",
            "diag(hom = TRUE) over 5 factor columns (= (1 | subj:time))")
struct_case("long_doublebar_factor", "synth_long", "ycs ~ x + time + (0 + time || subj)",
            "(f || g) with a factor: lme4's default split leaves an unstructured (0 + time | subj)",
            tmb = "ycs ~ x + time + us(0 + time | subj)")

## ---- mixed with plain terms, crossed, nested, several structures ----------------------------------

struct_case("long_ar1_crossed", "synth_long", "y ~ x + time + (1 | item) + ar1(0 + time | subj)",
            "crossed: ar1 on subj (40 levels) sorted before the plain item term (15) written first",
            tmb = "y ~ x + time + (1 | item) + ar1(0 + time | subj)")
struct_case("long_mixed_types", "synth_long",
            "y ~ x + time + diag(1 + x | item) + ar1(0 + time | subj) + (1 | site)",
            "three structures of different types; lme4 order subj, item, site (GH #945)",
            tmb = "y ~ x + time + diag(1 + x | item) + ar1(0 + time | subj) + (1 | site)")
struct_case("long_mixed_het", "synth_long",
            "y ~ x + time + cs(1 + x | item) + ar1(0 + time | subj, hom = FALSE) + (1 | site)",
            "cs on a numeric slope (nc = 2), heterogeneous ar1, plain site term")
struct_case("long_nested_ar1", "synth_long", "y ~ x + time + ar1(0 + time | site/subj)",
            "nesting inside a structure: ar1(... | site/subj) -> ar1 on subj:site and on site")
struct_case("long_nested_ri", "synth_long", "y ~ x + time + ar1(0 + time | subj) + (1 | site)",
            "ar1 on subj plus a plain term on the site it is nested in",
            tmb = "y ~ x + time + ar1(0 + time | subj) + (1 | site)")
struct_case("long_nested_cs_nan", "synth_long", "y ~ x + time + ar1(0 + time | subj) + cs(0 + time | site)",
            paste("lme4 2.1 leaves NaN estimates (deviance function poisoned at the boundary",
                  "check); results re-evaluated at its optimum; Corr prints 'NaN (cs)'"),
            tmb = "y ~ x + time + ar1(0 + time | subj) + cs(0 + time | site)")

## ---- singular fits --------------------------------------------------------------------------------

struct_case("long_singular_cs", "synth_long", "ys ~ x + cs(0 + time | subj)",
            "singular: some SDs 0 and rho at its lower bound -1/(nc - 1)",
            tmb = "ys ~ x + cs(0 + time | subj)")
struct_case("long_singular_diag", "synth_long", "ys ~ x + diag(0 + time | subj)",
            "singular diag: SDs at 0", tmb = "ys ~ x + diag(0 + time | subj)")
struct_case("long_singular_cs_hom", "synth_long", "ys ~ x + cs(0 + time | subj, hom = TRUE)",
            "lme4 2.1 stops with an error when the shared SD reaches 0 (cs, hom = TRUE)")
struct_case("long_singular_ar1", "synth_long", "ys ~ x + ar1(0 + time | subj)",
            "lme4 2.1 stops with an error when the shared SD reaches 0 (ar1)",
            tmb = "ys ~ x + ar1(0 + time | subj)")

## ---- GLMM: binomial (cbpp), Poisson (grouseticks, synth_long) -----------------------------------

CB <- "cbind(incidence, size - incidence) ~ period + "
struct_case("cbpp_cs", "cbpp", paste0(CB, "cs(0 + period | herd)"),
            "binomial, heterogeneous cs over the 4 periods (singular: one SD at 0)",
            fn = "glmer", family = "binomial", tmb = paste0(CB, "cs(0 + period | herd)"))
struct_case("cbpp_cs_hom", "cbpp", paste0(CB, "cs(0 + period | herd, hom = TRUE)"),
            "binomial, cs(hom = TRUE)", fn = "glmer", family = "binomial",
            predict = list(period = c("1", "2", "4"), herd = c("1", "15", "new")))
struct_case("cbpp_diag", "cbpp", paste0(CB, "diag(0 + period | herd)"),
            "binomial, diag over periods (singular)", fn = "glmer", family = "binomial",
            tmb = paste0(CB, "diag(0 + period | herd)"), profile = TRUE)
struct_case("cbpp_ar1", "cbpp", paste0(CB, "ar1(0 + period | herd)"), "binomial, ar1 over periods",
            fn = "glmer", family = "binomial", tmb = paste0(CB, "ar1(0 + period | herd)"))
struct_case("cbpp_cs_int_slope", "cbpp", paste0(CB, "cs(1 + period | herd)"),
            "binomial, cs on (Intercept) + 3 contrasts; lme4 warns (max|grad|)",
            fn = "glmer", family = "binomial", tmb = paste0(CB, "cs(1 + period | herd)"))
GT <- "TICKS ~ YEAR + cHEIGHT + "
struct_case("grouseticks_cs", "grouseticks", paste0(GT, "cs(0 + YEAR | LOCATION) + (1 | BROOD)"),
            "Poisson, cs: lme4 2.1 stops (PIRLS loop resulted in NaN value); glmmTMB fits it",
            fn = "glmer", family = "poisson",
            tmb = paste0(GT, "cs(0 + YEAR | LOCATION) + (1 | BROOD)"))
struct_case("grouseticks_diag", "grouseticks", paste0(GT, "diag(0 + YEAR | LOCATION) + (1 | BROOD)"),
            "Poisson, diag + plain crossed term; lme4 warns (max|grad|)",
            fn = "glmer", family = "poisson",
            tmb = paste0(GT, "diag(0 + YEAR | LOCATION) + (1 | BROOD)"))
struct_case("grouseticks_ar1", "grouseticks", paste0(GT, "ar1(0 + YEAR | LOCATION) + (1 | BROOD)"),
            "Poisson, ar1 + plain crossed term (rho at 1: singular)",
            fn = "glmer", family = "poisson",
            tmb = paste0(GT, "ar1(0 + YEAR | LOCATION) + (1 | BROOD)"))
struct_case("long_pois_cs", "synth_long", "count ~ x + cs(0 + time | subj)",
            "Poisson, heterogeneous cs over 5 times", fn = "glmer", family = "poisson",
            tmb = "count ~ x + cs(0 + time | subj)")
struct_case("long_pois_cs_hom", "synth_long", "count ~ x + cs(0 + time | subj, hom = TRUE)",
            "Poisson, cs(hom = TRUE)", fn = "glmer", family = "poisson")
struct_case("long_pois_ar1", "synth_long", "count ~ x + ar1(0 + time | subj)",
            "Poisson, ar1", fn = "glmer", family = "poisson",
            tmb = "count ~ x + ar1(0 + time | subj)")
struct_case("long_binom_ar1", "synth_long", "yb ~ x + ar1(0 + time | subj)",
            "Bernoulli, ar1", fn = "glmer", family = "binomial",
            tmb = "yb ~ x + ar1(0 + time | subj)")
struct_case("long_binom_ar1_het", "synth_long", "yb ~ x + ar1(0 + time | subj, hom = FALSE)",
            "Bernoulli, ar1(hom = FALSE)", fn = "glmer", family = "binomial")

## ---- lme4's answers to bad input ------------------------------------------------------------------

struct_case("error_hom_numeric", "sleepstudy", "Reaction ~ Days + diag(Days | Subject, hom = 1)",
            "hom must be the literal TRUE or FALSE", expect_error = TRUE)
struct_case("error_hom_T", "sleepstudy", "Reaction ~ Days + cs(Days | Subject, hom = T)",
            "hom is not evaluated: the symbol T is not TRUE", expect_error = TRUE)
struct_case("error_hom_NA", "sleepstudy", "Reaction ~ Days + ar1(Days | Subject, hom = NA)",
            "hom = NA", expect_error = TRUE)
struct_case("error_unknown_structure", "sleepstudy", "Reaction ~ Days + toep(Days | Subject)",
            "a structure lme4 does not have (glmmTMB's toep): R looks for a function",
            expect_error = TRUE)

## ---- anova: parameter counts ------------------------------------------------------------------------

anova_case("anova_machines_ml", "Machines",
           list(m_cs_hom = "score ~ Machine + cs(0 + Machine | Worker, hom = TRUE)",
                m_cs = "score ~ Machine + cs(0 + Machine | Worker)",
                m_us = "score ~ Machine + (0 + Machine | Worker)"),
           "cs(hom) < cs < us, fitted by ML: npar 6, 8, 10 (GH #943 counts par, not theta)",
           REML = FALSE)
anova_case("anova_machines_refit", "Machines",
           list(m_cs_hom = "score ~ Machine + cs(0 + Machine | Worker, hom = TRUE)",
                m_cs = "score ~ Machine + cs(0 + Machine | Worker)",
                m_us = "score ~ Machine + (0 + Machine | Worker)"),
           "the same from REML fits: lme4 2.1's ML refit of the cs model returns NaN",
           REML = TRUE)
anova_case("anova_sleep_ml", "sleepstudy",
           list(m_diag_hom = "Reaction ~ Days + diag(Days | Subject, hom = TRUE)",
                m_diag = "Reaction ~ Days + diag(Days | Subject)",
                m_cs_hom = "Reaction ~ Days + cs(Days | Subject, hom = TRUE)",
                m_cs = "Reaction ~ Days + cs(Days | Subject)",
                m_us = "Reaction ~ Days + (Days | Subject)"),
           "five structures on one term (npar 4, 5, 5, 6, 6; cs = us at nc = 2)", REML = FALSE)
anova_case("anova_long_ml", "synth_long",
           list(m_ar1 = "y ~ x + time + ar1(0 + time | subj)",
                m_ar1_het = "y ~ x + time + ar1(0 + time | subj, hom = FALSE)",
                m_us = "y ~ x + time + (0 + time | subj)"),
           "ar1 < ar1(hom = FALSE) < us over 5 times (npar 9, 13, 22)", REML = FALSE)

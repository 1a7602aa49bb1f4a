# The lme4 side of one benchmark case: one persistent Rscript process driven by run.py.
#
#   Rscript benchmarks/r_bench.R SPEC.json
#
# SPEC.json: {"csv", "levels", "formula", "fn" ("lmer"|"glmer"|"gls"|"lme"), "family", "inner",
# "warmup_rows", "lme4" (the version that must load, "" for any), "nlme" (gls/lme: "random" and
# the "correlation"/"weights" structures as {"fn", "kwargs"}; keys "r_X" are R's argument X
# only)}; gls and lme are nlme's; the data are
# the CSV that benchmarks/cases.py wrote from the very frame lmerpy fits, with the factor levels
# (and their order) in the levels JSON. Commands come on stdin, one per line; each answer is
# one line "@@BENCH {json}" on stdout (the same protocol as benchmarks/worker.py):
#   fit | fit keep   fit `inner` times, report the time per fit, optinfo$feval, -2 logLik, the
#                    optimizer's parameters (theta; lme4 >= 2.0: par) and their counts
#   mem              peak RSS (VmHWM) since the baseline, and gc()'s "max used"
#   evals            time devfun(par) with devfun <- lmer(..., devFunOnly = TRUE)
#   boot N           time bootMer(kept, fixef, nsim = N, seed = 20240601)
#   quit
# lme4 runs with its default controls. Start-up (loading lme4, reading the CSV, one warm-up fit
# of a small model, and with warmup_rows > 0 one fit of the case's formula on that many first
# rows) is not timed. BLAS threads: OPENBLAS_NUM_THREADS set by the caller; the lme4 library
# (lme4 2.1 for structured terms) by R_LIBS in the caller's environment.

t_start <- as.numeric(Sys.time())
args <- commandArgs(trailingOnly = TRUE)
spec <- jsonlite::fromJSON(args[1])
suppressPackageStartupMessages(library(lme4))
LME4_2 <- utils::packageVersion("lme4") >= "2.0.0"

send <- function(x) {
  cat("@@BENCH ", as.character(jsonlite::toJSON(x, auto_unbox = TRUE, digits = NA,
                                                null = "null", na = "null")),
      "\n", sep = "")
  flush(stdout())
}

vm_status <- function() {
  out <- list()
  lines <- tryCatch(readLines("/proc/self/status"), error = function(e) character(0))
  for (key in c("VmRSS", "VmHWM")) {
    l <- grep(paste0("^", key, ":"), lines, value = TRUE)
    if (length(l)) out[[key]] <- as.numeric(strsplit(trimws(sub(".*:", "", l)), " +")[[1]][1]) / 1024
  }
  out
}

hwm_reset <- function() {
  ok <- tryCatch({ cat("5", file = "/proc/self/clear_refs"); TRUE },
                 error = function(e) FALSE, warning = function(w) FALSE)
  ok
}

gc_mb <- function(g) sum(g[, ncol(g)])  # last column: "max used" (Mb)

read_data <- function(csv, levels_json) {
  df <- utils::read.csv(csv, stringsAsFactors = FALSE, check.names = FALSE)
  meta <- jsonlite::fromJSON(levels_json, simplifyVector = TRUE)
  ordered <- unlist(meta$ordered)
  for (col in names(meta$levels)) {
    lev <- as.character(unlist(meta$levels[[col]]))
    df[[col]] <- factor(as.character(df[[col]]), levels = lev, ordered = col %in% ordered)
  }
  df
}

family_of <- function(name) {
  switch(name, binomial = binomial(), poisson = poisson(), Gamma = Gamma(),
         gaussian = gaussian(), stop("unknown family ", name))
}

if (length(spec$lme4) && nzchar(spec$lme4) && format(utils::packageVersion("lme4")) != spec$lme4) {
  send(list(ready = FALSE, available = FALSE,
            reason = paste0("needs lme4 ", spec$lme4, ", found ", format(utils::packageVersion("lme4")),
                            " (R_LIBS=", Sys.getenv("R_LIBS"), ")")))
  quit(save = "no")
}

## The optimizer's parameters: theta (lme4 1.x), par (lme4 2.x: sds and correlations; the
## deviance function of devFunOnly = TRUE takes par).
opt_par <- function(fit) as.numeric(getME(fit, if (LME4_2) "par" else "theta"))

dat <- read_data(spec$csv, spec$levels)
form <- stats::as.formula(spec$formula)
inner <- max(1L, as.integer(spec$inner))
is_glmm <- identical(spec$fn, "glmer")
is_nlme <- spec$fn %in% c("gls", "lme")
fam <- if (is_glmm) family_of(spec$family) else NULL
if (is_nlme) suppressPackageStartupMessages(library(nlme))

## nlme's arguments from the spec: the random formula, structures built by name
as_arg <- function(v) if (is.character(v) && grepl("~", v, fixed = TRUE)) stats::as.formula(v) else v
nlme_args <- list()
for (key in names(spec$nlme)) {
  v <- spec$nlme[[key]]
  nlme_args[[sub("^r_", "", key)]] <- if (is.list(v)) do.call(get(v$fn, asNamespace("nlme")), lapply(v$kwargs, as_arg))
                      else as_arg(v)
}

fit_on <- function(data, devFunOnly = FALSE) {
  if (is_nlme) do.call(get(spec$fn, asNamespace("nlme")), c(list(form, data = data), nlme_args))
  else if (is_glmm) glmer(form, data = data, family = fam, devFunOnly = devFunOnly)
  else lmer(form, data = data, devFunOnly = devFunOnly)
}
fit_once <- function(devFunOnly = FALSE) fit_on(dat, devFunOnly)

# warm-up on a small model of the same kind (lazy loading, first-call costs); nlme's models
# warm up on the case's own formula (warmup_rows)
invisible(suppressMessages(suppressWarnings(
  if (is_nlme) NULL
  else if (is_glmm) glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
  else lmer(Reaction ~ Days + (Days | Subject), sleepstudy))))
warmup_rows <- if (length(spec$warmup_rows)) as.integer(spec$warmup_rows) else 0L
if (warmup_rows > 0L) {
  small <- droplevels(dat[seq_len(min(warmup_rows, nrow(dat))), , drop = FALSE])
  invisible(suppressMessages(suppressWarnings(fit_on(small))))
  rm(small)
}

versions <- list(R = R.version.string, lme4 = utils::packageDescription("lme4")$Version,
                 nlme = utils::packageDescription("nlme")$Version,
                 Matrix = utils::packageDescription("Matrix")$Version,
                 BLAS = unname(extSoftVersion()["BLAS"]), LAPACK = La_library())
invisible(gc())
base <- vm_status()
gc0 <- gc(reset = TRUE)
reset <- hwm_reset()
send(list(ready = TRUE, available = TRUE, n_rows = nrow(dat), baseline_rss_mb = base$VmRSS,
          hwm_reset = reset, startup_seconds = as.numeric(Sys.time()) - t_start,
          gc_used_mb = sum(gc0[, 2]),
          env = list(OPENBLAS_NUM_THREADS = Sys.getenv("OPENBLAS_NUM_THREADS"),
                     OMP_NUM_THREADS = Sys.getenv("OMP_NUM_THREADS")),
          versions = versions))

kept <- NULL
con <- file("stdin")
open(con)
repeat {
  line <- readLines(con, n = 1)
  if (length(line) == 0) break
  cmd <- strsplit(trimws(line), " +")[[1]]
  if (!length(cmd) || cmd[1] == "") next
  if (cmd[1] == "quit") break
  res <- tryCatch({
    if (cmd[1] == "fit") {
      msgs <- character(0)
      t0 <- as.numeric(Sys.time())
      for (i in seq_len(inner)) {
        fit <- withCallingHandlers(fit_once(),
          warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
          message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
      }
      elapsed <- as.numeric(Sys.time()) - t0
      out <- if (is_nlme) list(time = elapsed / inner, inner = inner, batch_time = elapsed,
                  objective = -2 * as.numeric(logLik(fit)), nobs = nobs(fit),
                  warnings = as.list(head(unique(msgs), 5)))
      else list(time = elapsed / inner, inner = inner, batch_time = elapsed,
                  feval = as.integer(fit@optinfo$feval),
                  optimizer = paste(fit@optinfo$optimizer, collapse = ","),
                  objective = -2 * as.numeric(logLik(fit)),
                  theta = opt_par(fit), nobs = nobs(fit),
                  npar = length(opt_par(fit)), ntheta = length(getME(fit, "theta")),
                  conv_messages = as.list(unlist(fit@optinfo$conv$lme4$messages)),
                  warnings = as.list(head(unique(msgs), 5)))
      if (length(cmd) > 1 && cmd[2] == "keep") kept <- fit
      rm(fit)
      invisible(gc())
      out
    } else if (cmd[1] == "mem") {
      st <- vm_status()
      g <- gc()
      list(peak_rss_mb = st$VmHWM, rss_mb = st$VmRSS, baseline_rss_mb = base$VmRSS,
           hwm_reset = reset, gc_max_used_mb = gc_mb(g), gc_baseline_mb = sum(gc0[, 2]))
    } else if (cmd[1] == "evals") {
      if (is.null(kept)) stop("no kept fit")
      if (is_nlme) stop("not measured for nlme's models (nlme has no deviance function)")
      par <- opt_par(kept)
      what <- paste0("devfun(", if (LME4_2) "par" else "theta", "), devfun <- lmer(..., devFunOnly = TRUE)")
      devfun <- suppressWarnings(suppressMessages(fit_once(devFunOnly = TRUE)))
      if (is_glmm) {
        par <- c(par, as.numeric(fixef(kept)))
        what <- "devfun(c(theta, beta)), devfun <- glmer(..., devFunOnly = TRUE)"
      }
      nudged <- par + 1e-6 * (abs(par) + 1e-3)
      times <- numeric(0)
      start <- as.numeric(Sys.time())
      while (length(times) < 50) {
        x <- if (length(times) %% 2 == 0) par else nudged
        t0 <- as.numeric(Sys.time())
        devfun(x)
        times <- c(times, as.numeric(Sys.time()) - t0)
        if (length(times) >= 5 && as.numeric(Sys.time()) - start > 1.0) break
      }
      list(per_eval = stats::median(times), n_evals = length(times), what = what)
    } else if (cmd[1] == "boot") {
      if (is.null(kept)) stop("no kept fit")
      nsim <- as.integer(cmd[2])
      t0 <- as.numeric(Sys.time())
      b <- suppressWarnings(suppressMessages(bootMer(kept, fixef, nsim = nsim, seed = 20240601)))
      elapsed <- as.numeric(Sys.time()) - t0
      list(time = elapsed, nsim = nsim, per_refit = elapsed / nsim,
           n_failed = sum(!stats::complete.cases(b$t)))
    } else {
      list(error = paste("unknown command", cmd[1]))
    }
  }, error = function(e) list(error = conditionMessage(e)))
  send(res)
}

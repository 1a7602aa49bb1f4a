# The nlme side of benchmarks/lme_vs_nlme.py:
#   Rscript benchmarks/lme_vs_nlme.R DATA_DIR SIM.csv REPS INSTEVAL(0/1)
# REPS > 0: prints one line "@@ {json}" per case: the median of REPS fits after a warm-up, and
# logLik. REPS = 0: serves fits one at a time, a case name per line of stdin (the Python side
# alternates its fits with these). Times by Sys.time() (microseconds; system.time's elapsed
# counts milliseconds, too coarse for the small cases).
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
DATA <- args[1]
reps <- as.integer(args[3])
ld <- function(name) {
  df <- read.csv(gzfile(file.path(DATA, paste0(name, ".csv.gz"))), stringsAsFactors = FALSE)
  meta <- jsonlite::fromJSON(file.path(DATA, paste0(name, ".levels.json")))
  for (col in names(meta$levels))
    df[[col]] <- factor(as.character(df[[col]]), levels = unlist(meta$levels[[col]]),
                        ordered = col %in% unlist(meta$ordered))
  df
}
O <- ld("Orthodont"); Ov <- ld("Ovary"); B <- ld("BodyWeight"); Oa <- ld("Oats")
sim <- read.csv(args[2]); sim$g <- factor(sim$g)
cases <- list(
  "Orthodont ~1|Subject" = function() lme(distance ~ age, O, random = ~ 1 | Subject),
  "Orthodont + varIdent" = function() lme(distance ~ age * Sex, O, random = ~ 1 | Subject,
                                          weights = varIdent(form = ~ 1 | Sex)),
  "Ovary + corAR1" = function() lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), Ov,
                                    random = ~ 1 | Mare, correlation = corAR1(form = ~ 1 | Mare)),
  "BodyWeight varPower+CAR1" = function() lme(weight ~ Time * Diet, B, random = ~ Time | Rat,
                                              weights = varPower(),
                                              correlation = corCAR1(form = ~ Time | Rat)),
  "Oats ~1|Block/Variety" = function() lme(yield ~ nitro, Oa, random = ~ 1 | Block/Variety),
  "sim 20k ~1|g + corAR1" = function() lme(y ~ t, sim, random = ~ 1 | g, correlation = corAR1())
)
if (args[4] == "1") {
  ie <- lme4::InstEval
  ie$yy <- as.numeric(ie$y)
  cases[["InstEval ~1|d + varIdent"]] <- function()
    lme(yy ~ service, ie, random = ~ 1 | d, weights = varIdent(form = ~ 1 | service))
}
timed <- function(nm) {
  t0 <- Sys.time()
  fit <- cases[[nm]]()
  list(seconds = as.numeric(difftime(Sys.time(), t0, units = "secs")),
       logLik = as.numeric(logLik(fit)))
}
emit <- function(nm, r)
  cat("@@ ", jsonlite::toJSON(list(case = nm, seconds = r$seconds, logLik = r$logLik),
                              auto_unbox = TRUE, digits = NA), "\n", sep = "")
if (reps > 0) {
  for (nm in names(cases)) {
    timed(nm)                                       # warm-up
    t <- replicate(reps, timed(nm)$seconds)
    r <- timed(nm)
    r$seconds <- median(t)
    emit(nm, r)
  }
} else {
  # serve: one fit per line of stdin naming a case ("warm NAME": untimed), alternating with
  # lmerpy's fits (benchmarks/lme_vs_nlme.py)
  con <- file("stdin")
  open(con)
  cat("@@ready\n")
  flush(stdout())
  while (length(line <- readLines(con, n = 1)) > 0) {
    if (line == "quit") break
    nm <- sub("^warm ", "", line)
    r <- timed(nm)
    emit(nm, r)
    flush(stdout())
  }
}

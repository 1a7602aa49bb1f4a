# The lme4 side of benchmarks/influence_vs_lme4.py:
#   Rscript benchmarks/influence_vs_lme4.R REPS
# Prints one line "@@ {json}" per case with the median seconds of REPS runs in this (warm)
# process. lme4 1.1-31; one core (ncores = 1, as lmerpy's n_jobs = 1).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 3L
sleep <- lme4::sleepstudy
fm <- lmer(Reaction ~ Days + (Days | Subject), sleep)
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), lme4::cbpp,
            family = binomial)
cbpp <- lme4::cbpp
cases <- list(
  "sleepstudy influence (180 cases)" = function() influence(fm, data = sleep),
  "sleepstudy influence (Subject)" = function() influence(fm, groups = "Subject", data = sleep),
  "cbpp influence (56 cases)" = function() suppressWarnings(influence(gm, data = cbpp)),
  "cbpp influence (herd)" = function() suppressWarnings(influence(gm, groups = "herd", data = cbpp))
)
for (nm in names(cases)) {
  cases[[nm]]()                                   # warm
  ts <- vapply(seq_len(reps), function(i) system.time(cases[[nm]]())[["elapsed"]], 0)
  cat("@@ ", toJSON(list(case = nm, seconds = median(ts)), auto_unbox = TRUE, digits = NA),
      "\n", sep = "")
}

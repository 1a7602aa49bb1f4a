# The nlme side of benchmarks/gls_vs_nlme.py:  Rscript benchmarks/gls_vs_nlme.R DATA.csv [REPS]
# Prints one line "@@ {json}" per case: the fastest of REPS fits (seconds) and logLik.
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args) > 1) as.integer(args[2]) else 1L
d <- read.csv(args[1])
d$g <- factor(d$g)
d$trt <- factor(d$trt)
f <- y ~ x + t + trt
cases <- list(
  "corAR1" = list(correlation = corAR1(form = ~ 1 | g)),
  "corAR1 (~ t | g)" = list(correlation = corAR1(form = ~ t | g)),
  "corAR1 + varIdent" = list(correlation = corAR1(form = ~ 1 | g),
                             weights = varIdent(form = ~ 1 | trt)),
  "corCompSymm" = list(correlation = corCompSymm(form = ~ 1 | g)),
  "corCAR1" = list(correlation = corCAR1(form = ~ t | g)),
  "corARMA(1, 1)" = list(correlation = corARMA(form = ~ 1 | g, p = 1, q = 1))
)
for (nm in names(cases)) {
  best <- Inf
  for (r in seq_len(reps)) {
    t0 <- proc.time()[["elapsed"]]
    fit <- do.call(gls, c(list(model = f, data = d), cases[[nm]]))
    best <- min(best, proc.time()[["elapsed"]] - t0)
  }
  cat("@@ ", jsonlite::toJSON(list(case = nm, seconds = best, logLik = as.numeric(logLik(fit))),
                              auto_unbox = TRUE, digits = NA), "\n", sep = "")
}

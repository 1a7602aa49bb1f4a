## Do lmerTest 3.1.3 and pbkrtest 0.5.2 (Debian 12) work on lme4 2.1.0's structured fits?
## cd ddf && R_LIBS=/opt/lme4-2.1 Rscript ddf_check.R   (prints, and writes ddf_check.json; NOTES.md §10)
## Each structured model is paired with an equivalent lme4 1.1-style model (same likelihood):
## a correct method gives both the same degrees of freedom.
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest)})
cat("lme4", format(packageVersion("lme4")), " lmerTest", format(packageVersion("lmerTest")),
    " pbkrtest", format(packageVersion("pbkrtest")), "\n")
ss <- sleepstudy[!((seq_len(nrow(sleepstudy)) - 1) * 7) %% 11 %in% c(0, 3), ]
pairs <- list(
  c("Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + cs(Days | Subject)"),
  c("Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + diag(Days | Subject)"),
  c("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
    "score ~ Machine + cs(0 + Machine | Worker, hom = TRUE)"))
## Machines (nlme) without every 7th row (1-based rows 3, 10, 17, ...), as in
## tests/test_inference_structured.py
mach <- read.csv(gzfile("../data/Machines.csv.gz"))
mach$Worker <- factor(mach$Worker, levels = sort(unique(as.character(mach$Worker))))
mach$Machine <- factor(mach$Machine)
mach <- mach[(seq_len(nrow(mach)) - 1) %% 7 != 2, ]
out <- list()
for (pr in pairs) for (f in pr) {
  dat <- if (grepl("score", f)) mach else ss
  m <- lme4::lmer(as.formula(f), dat)
  p <- length(fixef(m))
  V <- pbkrtest::vcovAdj(m)
  kr <- sapply(1:p, function(j) pbkrtest::Lb_ddf(diag(p)[j, , drop = FALSE], as.matrix(vcov(m)), V))
  st <- tryCatch({
    mt <- suppressWarnings(lmerTest::lmer(as.formula(f), dat))
    unname(summary(mt)$coefficients[, "df"])
  }, error = function(e) paste("error:", conditionMessage(e)))
  out[[length(out) + 1]] <- list(formula = f, logLik = as.numeric(logLik(m)),
                                 satterthwaite = st, kenward_roger = kr)
  cat(sprintf("%-40s logLik %.6f\n    lmerTest Satterthwaite %s\n    pbkrtest Kenward-Roger %s\n",
              f, logLik(m), paste(format(st, digits = 8), collapse = " "), paste(format(kr, digits = 8), collapse = " ")))
}
jsonlite::write_json(list(lme4 = format(packageVersion("lme4")),
                          lmerTest = format(packageVersion("lmerTest")),
                          pbkrtest = format(packageVersion("pbkrtest")), models = out),
                     "ddf_check.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)

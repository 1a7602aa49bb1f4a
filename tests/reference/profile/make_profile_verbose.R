# lme4 1.1-31's profile(fit, verbose = 1) trace on Dyestuff (the lines it cat()s), for
# tests/test_profile.py.   Run from the repository root:
#   Rscript tests/reference/profile/make_profile_verbose.R
source(file.path("tests", "reference", "r", "common.R"))
stopifnot(packageVersion("lme4") < "2.0")
df <- load_data("Dyestuff")
fm <- lmer(Yield ~ 1 + (1 | Batch), df)
out <- capture.output(invisible(profile(fm, verbose = 1)))
writeLines(out, file.path(REF_DIR, "profile", "dyestuff_verbose.txt"))

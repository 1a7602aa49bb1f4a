# Teaching-example goldens: likelihood-ratio tests and parametric-bootstrap p-values of the
# worked examples (Box-Hunter-Hunter penicillin blocks; Sitka spruce growth curves), and the
# bundled Sitka data set (MASS::Sitka).
# Writes lmerpy/datasets/data/Sitka.csv.gz + Sitka.levels.json and
# tests/reference/teaching/ID.json.
# Run from the repository root:  Rscript tests/reference/r/make_teaching_goldens.R
# Needs lme4 1.1-31, pbkrtest 0.5.2, MASS, jsonlite.  Takes a few minutes (bootstrap refits).

local({
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
}, envir = globalenv())
suppressPackageStartupMessages({
  library(pbkrtest)
  library(MASS)
})

ensure_one_blas_thread()
OUT_DIR <- file.path(REF_DIR, "teaching")

## ---- the Sitka data set ------------------------------------------------------------------------

## MASS::Sitka (79 trees x 5 times; log size, days since 1 January 1988, tree id, ozone or
## control) as a bundled lmerpy data set: `tree` stays an integer column as in MASS.
make_sitka <- function() {
  df <- MASS::Sitka
  back <- save_bundled_data(df, "Sitka")
  stopifnot(isTRUE(all.equal(back, df, check.attributes = FALSE)))
  invisible(back)
}

## ---- JSON pieces -------------------------------------------------------------------------------

model_json <- function(m) {
  list(formula = deparse1(formula(m)), REML = isREML(m), fixef = as.list(fixef(m)),
       theta = arr(getME(m, "theta")), sigma = sigma(m), logLik = as.numeric(logLik(m)),
       npar = attr(logLik(m), "df"))
}

pb_json <- function(large, small, nsim, seed) {
  set.seed(seed)
  pb <- suppressWarnings(PBmodcomp(large, small, nsim = nsim, cl = 1))
  ref <- pb$ref
  list(nsim = nsim, seed = seed, stat = pb$test["LRT", "stat"], df = pb$test["LRT", "df"],
       p_chisq = pb$test["LRT", "p.value"], p_pb = pb$test["PBtest", "p.value"],
       npos = sum(ref > 0), n_extreme = pb$n.extreme, ref_mean = mean(ref[ref > 0]),
       ref_var = var(ref[ref > 0]))
}

## ---- cases -------------------------------------------------------------------------------------

case_penicillin <- function() {
  df <- load_data("bhh_penicillin")
  m <- lme4::lmer(yield ~ treat + (1 | blend), data = df)
  m0 <- lme4::lmer(yield ~ 1 + (1 | blend), data = df)
  a <- suppressMessages(anova(m0, m))
  mML <- refitML(m)
  m0ML <- refitML(m0)
  write_case(list(
    id = "bhh_penicillin_pb", data = "bhh_penicillin",
    covers = "randomized block design: treatment LRT (REML fits refitted by ML) and pbkrtest's parametric-bootstrap p-value",
    models = list(m = model_json(mML), m0 = model_json(m0ML)),
    anova = printed_table_json(a),
    pbmodcomp = pb_json(mML, m0ML, nsim = 2000, seed = 20240601)),
    OUT_DIR, "bhh_penicillin_pb")
}

case_sitka <- function() {
  df <- load_data("Sitka")
  df$time <- df$Time / 100     # days / 100: the quadratic term on a sensible scale
  m1 <- lme4::lmer(size ~ treat * (time + I(time^2)) + (time + I(time^2) | tree), data = df,
                   REML = FALSE)
  m2 <- lme4::lmer(size ~ treat * time + I(time^2) + (time + I(time^2) | tree), data = df,
                   REML = FALSE)
  m0 <- lme4::lmer(size ~ time + I(time^2) + (time + I(time^2) | tree), data = df,
                   REML = FALSE)
  write_case(list(
    id = "sitka_growth", data = "Sitka", derived = "time = Time / 100",
    covers = "growth curves with a correlated random quadratic per tree (ML): LRT of the ozone effect (3 df) and of its curvature (1 df) with a parametric bootstrap",
    models = list(m1 = model_json(m1), m2 = model_json(m2), m0 = model_json(m0)),
    anova_treat = printed_table_json(anova(m0, m1)),
    anova_curvature = printed_table_json(anova(m2, m1)),
    pbmodcomp_curvature = pb_json(m1, m2, nsim = 300, seed = 20240602)),
    OUT_DIR, "sitka_growth")
}

make_sitka()
case_penicillin()
case_sitka()

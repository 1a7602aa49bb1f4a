# Goldens for lmerpy.rePCA (issue 16): lme4 1.1-31's rePCA() and summary(rePCA()), their printed
# text, and the optimum (theta, fixef) each was computed at.
#
# Run from the repository root:  Rscript tests/reference/toolkit/make_repca.R
# Needs R 4.2, Debian's lme4 1.1-31, jsonlite. Writes tests/reference/toolkit/repca/ID.json.

source(file.path("tests", "reference", "r", "common.R"))
OUT <- file.path(REF_DIR, "toolkit", "repca")

case <- function(id, fn, formula, data, family = NULL, link = NULL, REML = TRUE) {
  df <- load_data(data)
  f <- as.formula(formula)
  fit <- suppressWarnings(suppressMessages(
    if (fn == "lmer") lmer(f, df, REML = REML) else glmer(f, df, family = get(family)(link = link))))
  pc <- rePCA(fit)
  groups <- lapply(names(pc), function(g) list(
    group = g, sdev = arr(pc[[g]]$sdev), rotation = rows(pc[[g]]$rotation)))
  write_case(list(
    id = id, fn = fn, formula = formula, data = data, family = family, link = link,
    REML = if (fn == "lmer") REML else NULL,
    theta = arr(getME(fit, "theta")), fixef = arr(fixef(fit)),
    groups = groups,
    text = printed(pc), summary_text = printed(summary(pc))
  ), OUT, id)
}

case("sleep_slope", "lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy")
case("sleep_uncorr", "lmer", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
     "sleepstudy")
case("sleep_quadratic", "lmer", "Reaction ~ Days + (Days + I(Days^2) | Subject)", "sleepstudy")
case("penicillin_crossed", "lmer", "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
case("pastes_nested", "lmer", "strength ~ 1 + (1 | batch/cask)", "Pastes", REML = FALSE)
case("cbpp_logit", "glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
     family = "binomial", link = "logit")

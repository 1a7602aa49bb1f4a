# Expected parses of formulas with lme4 2.x's covariance calls (us, diag, cs, ar1), taken from
# R 4.2 with lme4 2.1.0 and reformulas 0.4.5 (built by ../shared/tools/lme4-2.1/install.sh).
# Writes tests/reference/formula_structured.json, read by tests/test_formula_structured.py.
# Run from the repository root:
#   R_LIBS=/opt/lme4-2.1 Rscript tests/reference/r/formula_structured.R
#
# For each formula, what lme4 2.1's mkFormula() makes of it (no data needed):
#   deparse         deparse(f) after RHSForm(f) <- expandDoubleVerts(RHSForm(f)): the lines
#                   lme4 stores as formula(fit) and prints after "Formula:"
#   bars            reformulas::findbars_x(f, specials = lme4's specials, default.special =
#                   "us", expand_doublevert_method = "split"): per term the special's name,
#                   deparse of its bar, the grouping factor deparse(bar[[3]]), terms(~ bar[[2]])
#                   labels and intercept, and hom as lme4's upReTrms reads it (spCall$hom:
#                   null, true, false, or "error" for lme4's "'hom' is not TRUE or FALSE")
#   term_labels, intercept   terms(nobars(noSpecials(f, delete = FALSE))) (the fixed part)
#   nobars          deparse of that fixed formula
#   frame_variables attr(terms(sub_specials(noSpecials(f, delete = FALSE))), "variables")
suppressMessages(library(lme4))
suppressMessages(library(reformulas))
library(jsonlite)
stopifnot(packageVersion("lme4") >= "2.1.0")

specials <- lme4:::lme4_specials
lbl <- function(e) deparse(e, backtick = TRUE, control = NULL, width.cutoff = 500L)

formulas <- c(
  "Reaction ~ Days + us(Days | Subject)",
  "Reaction ~ Days + diag(Days | Subject)",
  "Reaction ~ Days + diag(Days | Subject, hom = TRUE)",
  "Reaction ~ Days + cs(Days | Subject)",
  "Reaction ~ Days + cs(Days | Subject, hom = TRUE)",
  "Reaction ~ Days + cs(Days | Subject, hom = FALSE)",
  "Reaction ~ Days + ar1(0 + Daysf | Subject)",
  "Reaction ~ Days + ar1(0 + Daysf | Subject, hom = FALSE)",
  "Reaction ~ Days + cs(1 | Subject)",
  "Reaction ~ Days + (Days || Subject)",
  "Reaction ~ Days + us(Days || Subject)",
  "Reaction ~ Days + us((1 | Subject) + (0 + Days | Subject))",
  "Reaction ~ Days + us((Days | Subject))",
  "Reaction ~ Days + (cs(Days | Subject))",
  "Reaction ~ cs(Days | Subject) + Days",
  "Reaction ~ Days + cs(Days | Subject) - 1",
  "Reaction ~ cs(Days | Subject)",
  "~ cs(Days | Subject)",
  "~ (1 | Subject) + ar1(0 + f | g)",
  "score ~ Machine + (1 | Worker) + diag(0 + Machine | Worker, hom = TRUE)",
  "y ~ x + time + (1 | item) + ar1(0 + time | subj)",
  "y ~ x + time + diag(1 + x | item) + ar1(0 + time | subj) + (1 | site)",
  "y ~ x + time + cs(1 + x | item) + ar1(0 + time | subj, hom = FALSE) + (1 | site)",
  "y ~ x + time + ar1(0 + time | site/subj)",
  "y ~ x + time + ar1(0 + time | subj) + cs(0 + time | site)",
  "y ~ x + us(x || g) + cs(1 | h)",
  "y ~ x + us((x || g) + (1 | h))",
  "y ~ x + (x | g) + diag(x | a:b) + (1 | a/b)",
  "y ~ log(x) + cs(0 + f | `my g`, hom = TRUE) + (1 | `my g`)",
  "y ~ x + cs(I(x^2) + poly(z, 2) | g)",
  "cbind(incidence, size - incidence) ~ period + cs(0 + period | herd, hom = TRUE)",
  "Reaction ~ Days + diag(Days | Subject, hom = TRUE) + cs(1 + Days | Subject2, hom = FALSE)",
  "response_variable ~ first_predictor + ar1(0 + time_factor | grouping_factor, hom = FALSE) + (1 | other)",
  "Reaction ~ Days + diag(Days || Subject)",
  "Reaction ~ Days + cs(Days || Subject)",
  "Reaction ~ Days + cs((Days | Subject))",
  "Reaction ~ Days + cs(Days | Subject, hom = T)",
  "Reaction ~ Days + cs(Days | Subject, hom = 1)",
  "Reaction ~ Days + cs(Days | Subject, hom = NA)",
  "Reaction ~ Days + cs(Days | Subject, foo = 1)",
  "Reaction ~ Days + cs(Days | Subject, TRUE)",
  "Reaction ~ Days + cs(hom = TRUE, Days | Subject)"
)

getHom <- function(spCall) {   # lme4 2.1's upReTrms()
  hom <- spCall$hom
  if (is.null(hom) || (is.logical(hom) && length(hom) == 1L && !is.na(hom))) hom else "error"
}

one <- function(text) {
  f <- as.formula(text)
  g <- f
  RHSForm(g) <- reformulas::expandDoubleVerts(RHSForm(g))
  bb <- reformulas::findbars_x(g, specials = specials, default.special = "us", target = "|",
                               expand_doublevert_method = "split")
  bars <- lapply(bb, function(b) {
    bar <- b[[2]]
    tt <- terms(as.formula(substitute(~x, list(x = bar[[2]]))))
    list(special = as.character(b[[1]]), text = lbl(bar), group = deparse(bar[[3]]),
         lhs_labels = I(attr(tt, "term.labels")), lhs_intercept = attr(tt, "intercept"),
         hom = getHom(b))
  })
  fr.form. <- noSpecials(g, specials = specials, delete = FALSE)
  fixed <- fr.form.
  RHSForm(fixed) <- reformulas::nobars(RHSForm(fixed))
  ft <- terms(fixed)
  fr.form <- sub_specials(fr.form., specials = c("|", "||"), keep_args = c(2L, 2L))
  vars <- vapply(as.list(attr(terms(fr.form), "variables"))[-1], lbl, "")
  list(formula = text, deparse = I(deparse(g)), bars = bars,
       term_labels = I(attr(ft, "term.labels")), intercept = attr(ft, "intercept"),
       nobars = I(deparse(fixed)), frame_variables = I(vars))
}

out <- list(generated_by = "tests/reference/r/formula_structured.R",
            r_version = R.version.string,
            lme4_version = format(packageVersion("lme4")),
            reformulas_version = format(packageVersion("reformulas")),
            cases = lapply(formulas, one))
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/formula_structured.json")

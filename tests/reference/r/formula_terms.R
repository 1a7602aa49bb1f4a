# Expected parses of model formulas, taken from R and lme4 (R 4.2, lme4 1.1-31).
# Writes tests/reference/formula_terms.json, read by tests/test_formula_reference.py.
# Run from the repository root:  Rscript tests/reference/r/formula_terms.R
#
# For each formula (optionally with the names of a data frame, for '.'):
#   response        deparse of the left side (NULL for a one-sided formula)
#   term_labels     attr(terms(nobars(f)), "term.labels")
#   intercept       attr(terms(nobars(f)), "intercept")
#   offsets         the argument of each offset() variable
#   variables       attr(terms(nobars(f)), "variables") without the response and the offsets
#   bars            lme4::findbars(f) (expandDoubleVerts and the '/' expansion included):
#                   text = deparse(bar), group = deparse(bar[[3]]) (lme4's grouping-factor
#                   name), lhs_labels / lhs_intercept = terms(~ bar[[2]])
#   deparse         deparse(expandDoubleVerts(f)) -- the lines lme4's summary prints
#   nobars          deparse(nobars(f))
#   frame_variables attr(terms(subbars(f)), "variables") (lme4's model frame columns)
# and two deparse() tables: numeric constants, and calls built without parentheses.
suppressMessages(library(lme4))
library(jsonlite)

lbl <- function(e) deparse(e, backtick = TRUE, control = NULL, width.cutoff = 500L)

formulas <- list(
  # lme4's examples and the reference fits
  "Reaction ~ Days + (Days | Subject)",
  "Reaction ~ Days + (Days || Subject)",
  "Reaction ~ Days + (1 | Subject)",
  "strength ~ 1 + (1 | batch/cask)",
  "diameter ~ 1 + (1 | plate) + (1 | sample)",
  "cbind(incidence, size - incidence) ~ period + (1 | herd)",
  "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
  "y ~ service * dept + (1 | s) + (1 | d)",
  # R's term algebra
  "y ~ a*b - a", "y ~ b %in% a", "y ~ a + b %in% a", "y ~ (a + b) %in% c", "y ~ a/b",
  "y ~ (a + b)/c", "y ~ a/b/c", "y ~ (a + b + c)^2", "y ~ a*b*c", "y ~ x:x", "y ~ b:a + a",
  "y ~ a - 1", "y ~ a + 0", "y ~ 0 + a", "y ~ a - 0", "y ~ -1 + a", "y ~ a + -1",
  "y ~ x - (z - 1)", "y ~ -a + b", "y ~ a*b - a:b", "y ~ a^2", "y ~ (a + b):(c + d)",
  "y ~ a*b*c - a:b:c", "y ~ (a + b + c)^3 - a:b:c", "y ~ (a + b + c)^2 - a:b",
  "y ~ a + b + a:b + b:a + a", "y ~ x %in% a %in% b", "y ~ a*b - b*a + a",
  "y ~ b*a + a*c", "y ~ x * (a + b):c", "y ~ f:x - 1", "y ~ x*z - 1 + 0", "y ~ + x",
  "y ~ 1", "y ~ 0", "y ~ 1 - 1", "y ~ -1", "~ x + z", "~ 0",
  # variables: calls, names, offsets, constants
  "y ~ x + offset(log(t))", "y ~ offset(o) + x + offset(p)", "y ~ offset(o):x + x",
  "y ~ `my var` + log(`x y`)", "y ~ I(x^2) + poly(x, 2, raw = TRUE)", "y ~ x > 2",
  "log(y) ~ log(x + 1) + exp(z) + sqrt(w) + abs(v)", "I(y/10) ~ scale(x) + factor(g)",
  "y ~ total.fruits + my_var2 + x.1 + .hidden", "y ~ poly(x, 2) * f",
  "y ~ x + I(x^2) + I(x^3)", "y ~ splines::ns(x, df = 3)", "y ~ T + F",
  "y ~ I(x*2L) + poly(x, 2L)", "y ~ I(x*1e5) + I(x*0.0001) + I(x/3) + I(x*0x10) + I(x*.5)",
  "y ~ I(-x^2) + I((-x)^2) + I(x^-1) + I(2^x^3)", "y ~ I(x %% 2) + I(x %/% 2) + I(x == 'a')",
  "y ~ (((x)))", "y ~ log((x))", "y ~ I(x > 0 & z < 1) + I(!w)", "y ~ f(a = 1, b)",
  "y ~ poly(x, degree = 2, raw = TRUE):f", "y ~ interaction(a, b)", "y ~ x**2 + I(x**2)",
  "y ~ `if` + `a b`:c", "y ~ x # a comment",
  # bars
  "y ~ x*f + (x | g) + (1 | h)", "y ~ (1 | g) + x", "y ~ x + (1 | a:b)", "y ~ (1 | a/b/c)",
  "y ~ (x | a/b)", "y ~ (0 + x || g)", "y ~ (x + z || g)", "y ~ (x*z || g)", "y ~ (x - 1 || g)",
  "y ~ (f || g)", "y ~ (x || a/b)", "y ~ x + (1 | g) - 1", "y ~ (1 | g) - 1", "y ~ 0 + (1 | g)",
  "y ~ 1 | g", "y ~ (1 | a) + (1 | b) + (x | c)", "y ~ (1 + x | g) + (0 + z | h)",
  "y ~ (I(x^2) || g)", "y ~ (poly(x, 2) || g)", "y ~ (`my var` || g)", "y ~ (1 | `my g`)",
  "y ~ (1 | `my g`:h)", "y ~ (1 | a/(b:c))", "y ~ (1 | a/b:c)", "y ~ (1 | a/b) + (1 | c/d/e)",
  "y ~ (log(x) | g)", "y ~ x + (x | g) + offset(o)", "y ~ (1 | g:h) + (1 | h)",
  "y ~ -1 + x + (x | g)", "y ~ (a + b)^2 - 1 + (1 | g)", "y ~ x + (1 | g) + (1 | g)",
  "y ~ x + (1 | g) + (x + 0 | g)", "y ~ x + (1 | (g))", "y ~ interaction(a, b) + (1 | interaction(a, b))",
  "y ~ (1 | g/h) + (0 + x | g)", "s/n ~ x + (1 | g)", "y ~ x + (x | g) + (1 | a/b) + (z || h)",
  # line breaking (deparse with width.cutoff = 60)
  "yvariable ~ alpha + beta + gamma + delta + epsilon + zeta + eta + theta + iota + kappa + lambda + mu + (1 | g)",
  "y ~ a_long_name*b_long_name*c_long_name + log(d_long_name + 1) + poly(e_long_name, 3) + (1 + a_long_name | g)",
  "y ~ x + (xxxxxxxxxxxxxxxxxxxx + zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz + wwwwwwwwwwwwwwwww || gggggggg)",
  "y ~ aaaaaaaaaa:bbbbbbbbbb:cccccccccc:dddddddddd:eeeeeeeeee:ffffffffff:gggggggggg + x",
  "y ~ f(aaaaaaaaaa, bbbbbbbbbbbbb, ccccccccccccccc, ddddddddddddddd, eeeeeeeeeeeeee, fffffffffffffff, gggggggg)",
  "response_variable ~ first_predictor * second_predictor + third_predictor + (1 + first_predictor | grouping_factor) + (1 | other_grouping/nested_factor)",
  # '.' with a data frame
  list("y ~ .", c("y", "x", "z", "w")),
  list("y ~ .^2", c("y", "x", "z", "w")),
  list("log(y) ~ . - x", c("y", "x", "z", "w")),
  list("y ~ z + .", c("y", "x", "z", "w")),
  list("cbind(y, x) ~ .", c("y", "x", "z", "w")),
  list("y ~ .:w", c("y", "x", "z", "w")),
  list("Reaction ~ . + (1 | Subject)", c("Reaction", "Days", "Subject"))
)

one <- function(item) {
  if (is.list(item)) { s <- item[[1]]; cols <- item[[2]] } else { s <- item; cols <- NULL }
  f <- as.formula(s)
  d <- if (is.null(cols)) NULL else as.data.frame(setNames(rep(list(1), length(cols)), cols),
                                                   check.names = FALSE)
  fe <- f
  fe[[length(fe)]] <- lme4:::expandDoubleVerts(fe[[length(fe)]])
  nb <- nobars(f)
  t <- if (is.null(d)) terms(nb) else terms(nb, data = d)
  vars <- as.list(attr(t, "variables"))[-1]
  resp <- attr(t, "response") == 1
  off <- attr(t, "offset")
  keep <- setdiff(seq_along(vars), c(if (resp) 1L, off))
  bars <- lapply(findbars(f), function(b) {
    tb <- terms(eval(substitute(~foo, list(foo = b[[2]]))))
    list(text = deparse(b), group = deparse(b[[3]]),
         lhs_labels = I(attr(tb, "term.labels")), lhs_intercept = attr(tb, "intercept"))
  })
  sb <- lme4::subbars(fe)
  tf <- if (is.null(d)) terms(sb) else terms(sb, data = d)
  list(formula = s,
       data_columns = if (is.null(cols)) NULL else I(cols),
       response = if (length(f) == 3) lbl(f[[2]]) else NULL,
       term_labels = I(attr(t, "term.labels")),
       intercept = attr(t, "intercept"),
       offsets = I(vapply(vars[off], function(v) lbl(v[[2]]), "")),
       variables = I(vapply(vars[keep], lbl, "")),
       bars = bars,
       deparse = I(deparse(fe)),
       nobars = I(deparse(nb)),
       frame_variables = I(vapply(as.list(attr(tf, "variables"))[-1], lbl, "")))
}

cases <- lapply(formulas, one)

# deparse() of numeric constants: value (as "%.17g", exact) -> R's text
nums <- c(1.5, 100000, 123456, 1e-4, 0.1 + 0.2, 1/3, 2/3, 1e15, 1e16, 123456789012345678,
          0.1234567890123456, 100, 1e-15, 33.3, 1e300, 5e-324, 0, 1e5 + 0.1, 99999,
          999999999999999, 9999999999999999, 0.00012, 1200000, 2e5, 3e-5, 1234.5678, 0.5, 7e22,
          12345678, 1e5 - 1, 314159.26535, 0.000123456, 1e-300, 2^53, 2^31, 1/7 * 1e10, 2.5e-7,
          1e-5, 0.1, 10, 1e6, 1234567.1, 3.14159265358979)
numbers <- lapply(nums, function(v) list(value = sprintf("%.17g", v), deparse = deparse(v)))

# deparse() of calls built without parentheses (R adds them where precedence needs them):
# a spec is [operator, operand...]; a string leaf is a symbol, a number leaf a constant
build <- function(x) {
  if (is.list(x)) as.call(c(list(as.name(x[[1]])), lapply(x[-1], build)))
  else if (is.character(x)) as.name(x) else x
}
L <- list
specs <- list(
  L(":", "c", L(":", "b", "a")), L(":", L(":", "c", "b"), "a"), L("-", L("+", "a", "b")),
  L("^", L("-", "a"), 2), L("*", "a", L("+", "b", "c")), L("-", "a", L("-", "b", "c")),
  L("^", L("^", "a", "b"), "c"), L("^", "a", L("^", "b", "c")), L("%in%", "a", L("%in%", "b", "c")),
  L(":", "a", L("%in%", "b", "c")), L("!", L("==", "a", "b")), L("==", L("!", "a"), "b"),
  L("-", L("-", "a")), L("-", L("-", "a"), "b"), L("+", "a", L("-", "b")), L("*", L("-", "a"), "b"),
  L("|", "a", L("|", "b", "c")), L(":", L("-", "a"), "b"), L("^", "a", L("-", "b")),
  L("^", "a", L("+", "b", "c")), L("<", L("<", "a", "b"), "c"), L("-", L("^", "a", "b")),
  L("-", L(":", "a", "b")), L("!", L("!", "a")), L("!", L("&", "a", "b")), L("&", L("!", "a"), "b"),
  L("/", "a", L("*", "b", "c")), L("*", L("/", "a", "b"), "c"), L("/", "a", L("/", "b", "c")),
  L("%%", L("+", "a", "b"), 2), L(":", L("+", "a", "b"), "c"), L("log", L("+", "x", 1)),
  L("|", L("+", 0, "x"), L(":", "b", "a")), L("~", "y", L("+", "x", L("|", 1, "g"))),
  L("-", L("+", "a", "b"), 1), L("+", "a", L("+", "b", "c")), L("*", "a", L("*", "b", "c")),
  L("%o%", L("*", "a", "b"), "c"), L("*", L("%o%", "a", "b"), "c"), L("==", "a", L("!", "b")))
constructed <- lapply(specs, function(x) list(spec = x, deparse = deparse(build(x))))

out <- list(generated_by = "tests/reference/r/formula_terms.R",
            r_version = R.version.string,
            lme4_version = as.character(packageVersion("lme4")),
            cases = cases, numbers = numbers, constructed = constructed)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "tests/reference/formula_terms.json")
cat(length(cases), "formulas,", length(numbers), "numbers,", length(constructed),
    "constructed calls written\n")

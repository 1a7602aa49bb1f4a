# Design goldens: what lme4's lFormula()/glFormula() build from a formula and a data frame.
# Writes tests/reference/design/ID.json (schema: tests/reference/README.md).
# Run from the repository root:  Rscript tests/reference/r/make_design_goldens.R

local({
  ## this script's folder, whether run by Rscript or source()d
  ofile <- unlist(lapply(sys.frames(), function(f) f$ofile))
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(ofile)) dirname(ofile[length(ofile)])
          else if (length(arg)) dirname(sub("^--file=", "", arg[1])) else "tests/reference/r"
  source(file.path(here, "common.R"))
  source(file.path(here, "make_data.R"))
}, envir = globalenv())

OUT_DIR <- file.path(REF_DIR, "design")
make_all_data()

## One case.  `fn` is the lme4 function called: lFormula, glFormula (when `family` is given),
## or lmer for checks that only lmer's later stage makes (a non-numeric response).
design_case <- function(id, data, formula, covers, REML = TRUE, weights = NULL,
                        contrasts = NULL, args = NULL, family = NULL, fn = NULL) {
  if (is.null(fn)) fn <- if (is.null(family)) "lFormula" else "glFormula"
  df <- load_data(data)
  fml <- as.formula(formula, env = globalenv())
  mc <- make_call(fn, fml, df, REML = if (fn == "glFormula") NULL else REML,
                  weights = weights, contrasts = contrasts, args = args, family = family)
  r <- run_collect(mc$call, mc$env)
  out <- list(id = id, data = data, fn = fn, formula = formula, covers = covers,
              REML = if (fn == "glFormula") NULL else REML,
              family = family, weights = weights, contrasts = contrasts, args = args)
  out <- out[!vapply(out, is.null, TRUE) | names(out) %in% c("weights", "contrasts")]
  if (inherits(r$value, "caught_error")) {
    out$expect_error <- r$value$message
    if (length(r$messages)) out$expect_message <- r$messages[1]
    if (length(r$warnings)) out$r_warnings <- arr(r$warnings)
    write_case(out, OUT_DIR, id)
    cat(sprintf("%-28s ERROR  %s\n", id, r$value$message))
    return(invisible(out))
  }
  lf <- r$value
  fr <- lf$fr
  X <- lf$X
  out$nobs <- nrow(fr)
  na <- attr(fr, "na.action")
  out$rows_dropped <- arr(if (is.null(na)) integer(0) else sort(as.integer(na)) - 1L)
  dropped <- attr(X, "col.dropped")
  if (!is.null(dropped)) out$dropped_columns <- arr(names(dropped))
  if (length(r$messages)) out$expect_message <- r$messages[1]
  out$r_warnings <- arr(r$warnings)
  des <- design_json(X, lf$reTrms)
  y <- model.response(fr)
  des$y <- if (is.matrix(y)) rows(unname(y)) else arr(as.numeric(y))
  if (is.matrix(y)) des$y_colnames <- arr(colnames(y))
  off <- model.offset(fr)
  des$offset <- if (is.null(off)) NULL else arr(off)
  wts <- model.weights(fr)
  des$prior_weights <- if (is.null(wts)) NULL else arr(wts)
  out$design <- des
  write_case(out, OUT_DIR, id)
  cat(sprintf("%-28s n=%-4d p=%-3d q=%-4d theta=%d%s\n", id, nrow(fr), ncol(X),
              nrow(lf$reTrms$Zt), length(lf$reTrms$theta),
              if (!is.null(dropped)) paste0("  dropped: ", paste(names(dropped), collapse = ", "))
              else ""))
  invisible(out)
}

S <- "synth_design"

## ---- response forms ------------------------------------------------------------------------
design_case("resp_plain", S, "y ~ x + (1|g)", "plain response, numeric slope, random intercept")
design_case("resp_log", S, "log(y) ~ x + (1|g)", "log() response")
design_case("resp_I_div", S, "I(y/10) ~ x + (1|g)", "I() arithmetic response")
design_case("resp_cbind_binomial", S, "cbind(s, n - s) ~ x + (1|g)",
            "two-column binomial response cbind(successes, failures) via glFormula",
            family = "binomial")
design_case("resp_prop_weights", S, "s/n ~ x + (1|g)",
            "proportion response with weights = trials via glFormula", family = "binomial",
            weights = "n")

## ---- operators -----------------------------------------------------------------------------
design_case("op_star", S, "y ~ x * f + (1|g)", "a*b = a + b + a:b (numeric x factor)")
design_case("op_star3", S, "y ~ f * h * x + (1|g)", "three-way a*b*c, column order and names")
design_case("op_colon_factors", S, "y ~ f:h + (1|g)",
            paste("factor:factor interaction without main effects: intercept + all 6 cells,",
                  "rank deficient, lme4 drops fc:hhi"))
design_case("op_factor_colon_x", S, "y ~ f:x + (1|g)",
            "f:x without f: one slope column per level of f")
design_case("op_x_plus_x_colon_f", S, "y ~ x + x:f + (1|g)", "x + x:f: contrasts on the slopes")
design_case("op_zero_plus_f", S, "y ~ 0 + f + (1|g)", "0 + f: no intercept, all levels of f")
design_case("op_minus_one", S, "y ~ x + f - 1 + (1|g)", "- 1 removes the intercept")
design_case("op_minus_one_numeric", S, "y ~ -1 + x + (1|g)", "-1 + x: slope only")
design_case("op_slash", S, "y ~ f/x + (1|g)", "f/x = f + f:x (nesting operator)")
design_case("op_in", S, "y ~ f + x %in% f + (1|g)", "%in% (same as f:x here)")
design_case("op_power", S, "y ~ (x + z + f)^2 + (1|g)", "(a + b + c)^2: all two-way interactions")
design_case("op_power_minus", S, "y ~ (x + z + f)^2 - x:z + (1|g)",
            "removal of one interaction from ^2")
design_case("op_remove_main", S, "y ~ x * f - f + (1|g)",
            "x*f - f: interaction kept, main effect removed")
design_case("op_remove_term", S, "y ~ x + z + f - z + (1|g)", "removing a main effect")
design_case("op_dot", "synth_small", "y ~ . + (1|g)",
            "'.' expands to all other columns (including the grouping column g)")
design_case("op_dot_minus", "synth_small", "y ~ . - g + (1|g)", "'.' minus a column")
design_case("op_intercept_only", S, "y ~ 1 + (1|g)", "intercept-only fixed part")

## ---- names ---------------------------------------------------------------------------------
design_case("name_backquoted", S, "y ~ `my var` + (1|g)", "backquoted column name with a space")
design_case("name_dotted", S, "y ~ x.dot + (1|g)", "column name containing a dot")

## ---- functions of columns --------------------------------------------------------------------
design_case("fun_I_square", S, "y ~ x + I(x^2) + (1|g)", "I(x^2)")
design_case("fun_log_plus", S, "y ~ log(z + 1) + (1|g)", "log(x + 1)")
design_case("fun_exp_sqrt_abs", S, "y ~ exp(x) + sqrt(z) + abs(x) + (1|g)", "exp, sqrt, abs")
design_case("fun_scale", S, "y ~ scale(x) + (1|g)", "scale(x): centred and scaled (sample SD)")
design_case("fun_factor_numeric", S, "y ~ factor(k) + (1|g)", "factor() of an integer column")
design_case("fun_poly2", S, "y ~ poly(x, 2) + (1|g)", "orthogonal polynomial poly(x, 2)")
design_case("fun_poly3_raw", S, "y ~ poly(x, 3, raw = TRUE) + (1|g)", "raw polynomial")
design_case("fun_offset_log", S, "y ~ x + offset(log(t)) + (1|g)", "offset(log(t)) term")
design_case("arg_offset", S, "y ~ x + (1|g)", "offset= argument naming a column",
            args = list(offset_column = "lt"))
design_case("arg_offset_and_term", S, "y ~ x + offset(log(t)) + (1|g)",
            "offset() term and offset= argument are summed", args = list(offset_column = "lt"))
design_case("arg_weights", S, "y ~ x + (1|g)", "prior weights from a column", weights = "w")
design_case("arg_weights_inverse", S, "y ~ x + (1|g)", "prior weights 1/col", weights = "1/w")

## ---- factors and contrasts -------------------------------------------------------------------
design_case("ctr_treatment", S, "y ~ f + h + (1|g)",
            "default treatment contrasts; h has levels in non-alphabetical order (lo, hi)")
design_case("ctr_ordered_poly", S, "y ~ o + (1|g)", "ordered factor: contr.poly (.L .Q .C)")
design_case("ctr_sum", S, "y ~ f + h + (1|g)", "contr.sum on every unordered factor",
            contrasts = "contr.sum")
design_case("ctr_helmert", S, "y ~ f + (1|g)", "contr.helmert", contrasts = "contr.helmert")
design_case("ctr_per_variable", S, "y ~ f + d + (1|g)",
            "per-variable contrasts: f sum, d helmert",
            args = list(contrasts = list(f = "contr.sum", d = "contr.helmert")))
design_case("ctr_user_matrix", S, "y ~ d + (1|g)",
            "user contrast matrix (levels x columns, no column names -> d1, d2)",
            args = list(contrasts = list(d = list(c(-1, -1), c(1, -1), c(0, 2)))))
design_case("ctr_sum_interaction", S, "y ~ f * h + (1|g)", "contr.sum with an interaction",
            contrasts = "contr.sum")
design_case("col_logical", S, "y ~ lg + (1|g)", "logical column -> lgTRUE")
design_case("fun_C_function", S, "y ~ C(f, contr.sum) + x + (1|g)",
            "C() with a contrast function: the matrix is fixed at once (numbered columns)")
design_case("fun_C_string", S, "y ~ C(d, \"contr.helmert\") + (1|g)",
            "C() with a contrast name as a string")
design_case("fun_C_short", S, "y ~ C(f, sum) * h + (1|g)",
            "C() with R's short name (sum -> contr.sum), in an interaction")
design_case("fun_C_default", S, "y ~ C(f) + C(o) + (1|g)",
            "C() without contr: the factor's default (treatment; poly when ordered)")
design_case("fun_C_how_many", S, "y ~ C(d, contr.treatment, 1) + (1|g)",
            "C() with how.many: the first column of the contrast matrix")
design_case("fun_dummy_keep", S, "y ~ f + (0 + dummy(f, \"b\") | g)",
            "lme4's dummy(f, levelsToKeep) as a random-effects term")
design_case("fun_dummy_default", S, "y ~ x + (0 + dummy(f) | g)",
            "lme4's dummy(f): every level but the first")

design_case("col_character", S, "y ~ ch + (1|g)",
            "character column -> factor with sorted levels (blue baseline)")
design_case("col_unused_level", S, "y ~ u + (1|g)", "unused factor level zz is dropped from X")
design_case("na_rows", "synth_na", "y ~ x + f + ch + (1|g)",
            "NA in response, numeric, factor and character columns: rows dropped")

## ---- random-effects terms ----------------------------------------------------------------------
design_case("re_slope", S, "y ~ x + (x|g)", "(x|g): correlated intercept and slope")
design_case("re_slope_only", S, "y ~ x + (0 + x|g)", "(0 + x|g): slope only")
design_case("re_double_bar", S, "y ~ x + (x||g)", "(x||g) -> (1|g) + (0 + x|g)")
design_case("re_double_bar_factor", S, "y ~ f + (f||g)",
            "(f||g) with a factor: (1|g) + (0 + f|g), the factor block stays correlated")
design_case("re_factor_slope", S, "y ~ f + (f|g)", "(f|g): 3 correlated columns from a factor")
design_case("re_zero_factor", S, "y ~ f + (0 + f|g)", "(0 + f|g): one column per level")
design_case("re_interaction_group", S, "y ~ x + (1|a:b)", "(1|a:b): interaction grouping factor")
design_case("re_nested", S, "y ~ x + (1|a/b)", "(1|a/b) -> (1|a) + (1|b:a)")
design_case("re_nested3", S, "y ~ x + (1|a/b/c)", "(1|a/b/c) -> (1|a) + (1|b:a) + (1|c:(b:a)), R's name for the innermost factor")
design_case("re_nested_slope", S, "y ~ x + (x|a/b)", "(x|a/b): vector term on each level")
design_case("re_crossed", S, "y ~ x + (1|g) + (1|g2)", "crossed grouping factors")
design_case("re_vector3", S, "y ~ x + z + (1 + x + z|g)", "3-column vector term, 6 thetas")
design_case("re_numeric_group", S, "y ~ x + (1|gnum)", "numeric grouping column -> factor")
design_case("re_unused_level_group", S, "y ~ x + (1|u)",
            "grouping factor with an unused level: level dropped")
design_case("re_order_5_10_10", S, "y ~ x + (1|q5) + (1|r10) + (1|s10)",
            "term-ordering quirk: 5, 10, 10 levels -> reordered s10, r10, q5 (ties reversed)")
design_case("re_order_10_10_5", S, "y ~ x + (1|r10) + (1|s10) + (1|q5)",
            "term-ordering quirk: 10, 10, 5 levels -> kept as written")
design_case("re_order_mixed", S, "y ~ x + (1|g2) + (x|g) + (1|a)",
            "reordering by levels with a vector term: g (12), g2 (6), a (4)")
design_case("re_same_factor_twice", S, "y ~ x + (1|g) + (0 + z|g)",
            "two terms on the same factor (flist holds g once)")

## ---- rank-deficient X -------------------------------------------------------------------------
design_case("rank_collinear", S, "y ~ x + x2 + (1|g)",
            "x2 = 2x: lme4 drops x2 with a message")
design_case("rank_duplicate_factor", S, "y ~ f + f2 + (1|g)",
            "f2 = relabelled f: two columns dropped")

## ---- errors ------------------------------------------------------------------------------------
design_case("err_one_level", S, "y ~ x + (1|one)", "grouping factor with a single level")
design_case("err_levels_ge_nobs", S, "y ~ x + (1|id)", "as many levels as observations")
design_case("err_too_many_re", S, "y ~ x + (x|pair)",
            "random effects (2 per level x 60) not fewer than observations (120)")
design_case("err_nonnumeric_response", S, "ch ~ x + (1|g)",
            "character response (lmer's check; lFormula itself accepts it)", fn = "lmer")
design_case("err_factor_response", S, "f ~ x + (1|g)", "factor response", fn = "lmer")
design_case("err_unknown_column", S, "y ~ x + nosuch + (1|g)", "unknown column in fixed part")
design_case("err_unknown_group", S, "y ~ x + (1|nosuch)", "unknown grouping column")
design_case("err_all_na", "synth_na", "ynan ~ x + (1|g)", "response all NA: no rows left")
design_case("err_no_bars", S, "y ~ x", "no random-effects term")
design_case("err_unknown_function", S, "y ~ foo(x) + (1|g)", "unknown function")

cat("wrote", length(list.files(OUT_DIR, pattern = "\\.json$")), "design goldens to", OUT_DIR, "\n")

"""``format_print`` (R: ``print(fit)``) and ``format_varcorr`` (R: ``print(VarCorr(fit))``)
against R's output for the reference fits.

The inputs are the reference JSONs' own numbers (built as in ``test_display_summary``); the
expected strings were printed by R 4.2.2 / lme4 1.1-31 for the same fits, refitted with the
goldens' generator helpers (``tests/reference/r/common.R``)::

    df  <- load_data(ref$data); fit <- lmer(formula, data = df, REML = ref$REML)   # or glmer
    paste(capture.output(print(fit)), collapse = "\\n")                            # R_PRINT
    paste(capture.output(print(VarCorr(fit))), collapse = "\\n")                   # R_VARCORR_SD
    ... print(VarCorr(fit), comp = c("Variance", "Std.Dev."))                     # R_VARCORR_BOTH
    ... print(VarCorr(fit), comp = "Variance", digits = 3)                         # R_VARCORR_VAR3
"""
import pytest

from lmerpy.display import format_print, format_varcorr

from test_display_summary import CASES, summary_input, varcorr_blocks

REFS = {r["id"]: r for r in CASES}


R_PRINT = {
    'sleep_slope': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Reaction ~ Days + (Days | Subject)\n'
        '   Data: df\n'
        'REML criterion at convergence: 1743.628\n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev. Corr\n'
        ' Subject  (Intercept) 24.741       \n'
        '          Days         5.922   0.07\n'
        ' Residual             25.592       \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        'Fixed Effects:\n'
        '(Intercept)         Days  \n'
        '     251.41        10.47  '
    ),
    'sleep_slope_ml': (
        "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
        'Formula: Reaction ~ Days + (Days | Subject)\n'
        '   Data: df\n'
        '      AIC       BIC    logLik  deviance  df.resid \n'
        '1763.9393 1783.0971 -875.9697 1751.9393       174 \n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev. Corr\n'
        ' Subject  (Intercept) 23.780       \n'
        '          Days         5.717   0.08\n'
        ' Residual             25.592       \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        'Fixed Effects:\n'
        '(Intercept)         Days  \n'
        '     251.41        10.47  '
    ),
    'sleep_uncorr': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))\n'
        '   Data: df\n'
        'REML criterion at convergence: 1743.669\n'
        'Random effects:\n'
        ' Groups    Name        Std.Dev.\n'
        ' Subject   (Intercept) 25.051  \n'
        ' Subject.1 Days         5.988  \n'
        ' Residual              25.565  \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        'Fixed Effects:\n'
        '(Intercept)         Days  \n'
        '     251.41        10.47  '
    ),
    'dyestuff2_singular': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Yield ~ 1 + (1 | Batch)\n'
        '   Data: df\n'
        'REML criterion at convergence: 161.8283\n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev.\n'
        ' Batch    (Intercept) 0.000   \n'
        ' Residual             3.716   \n'
        'Number of obs: 30, groups:  Batch, 6\n'
        'Fixed Effects:\n'
        '(Intercept)  \n'
        '      5.666  \n'
        'optimizer (nloptwrap) convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 warnings '
    ),
    'cbpp_laplace': (
        'Generalized linear mixed model fit by maximum likelihood (Laplace\n'
        '  Approximation) [glmerMod]\n'
        ' Family: binomial  ( logit )\n'
        'Formula: cbind(incidence, size - incidence) ~ period + (1 | herd)\n'
        '   Data: df\n'
        '     AIC      BIC   logLik deviance df.resid \n'
        '194.0531 204.1799 -92.0266 184.0531       51 \n'
        'Random effects:\n'
        ' Groups Name        Std.Dev.\n'
        ' herd   (Intercept) 0.6421  \n'
        'Number of obs: 56, groups:  herd, 15\n'
        'Fixed Effects:\n'
        '(Intercept)      period2      period3      period4  \n'
        '    -1.3983      -0.9919      -1.1282      -1.5797  '
    ),
    'cbpp_agq25': (
        'Generalized linear mixed model fit by maximum likelihood (Adaptive\n'
        '  Gauss-Hermite Quadrature, nAGQ = 25) [glmerMod]\n'
        ' Family: binomial  ( logit )\n'
        'Formula: cbind(incidence, size - incidence) ~ period + (1 | herd)\n'
        '   Data: df\n'
        '     AIC      BIC   logLik deviance df.resid \n'
        '110.0100 120.1368 -50.0050 100.0100       51 \n'
        'Random effects:\n'
        ' Groups Name        Std.Dev.\n'
        ' herd   (Intercept) 0.6475  \n'
        'Number of obs: 56, groups:  herd, 15\n'
        'Fixed Effects:\n'
        '(Intercept)      period2      period3      period4  \n'
        '    -1.3992      -0.9914      -1.1278      -1.5795  '
    ),
    'grouseticks_poisson': (
        'Generalized linear mixed model fit by maximum likelihood (Laplace\n'
        '  Approximation) [glmerMod]\n'
        ' Family: poisson  ( log )\n'
        'Formula: TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)\n'
        '   Data: df\n'
        '      AIC       BIC    logLik  deviance  df.resid \n'
        '1794.5427 1822.5353 -890.2714 1780.5427       396 \n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev.\n'
        ' INDEX    (Intercept) 0.5415  \n'
        ' BROOD    (Intercept) 0.7500  \n'
        ' LOCATION (Intercept) 0.5287  \n'
        'Number of obs: 403, groups:  INDEX, 403; BROOD, 118; LOCATION, 63\n'
        'Fixed Effects:\n'
        '(Intercept)       YEAR96       YEAR97       HEIGHT  \n'
        '   11.35576      1.18043     -0.97869     -0.02376  \n'
        'optimizer (Nelder_Mead) convergence code: 0 (OK) ; 0 optimizer warnings; 3 lme4 warnings '
    ),
    'pastes_nested': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: strength ~ 1 + (1 | batch/cask)\n'
        '   Data: df\n'
        'REML criterion at convergence: 246.9907\n'
        'Random effects:\n'
        ' Groups     Name        Std.Dev.\n'
        ' cask:batch (Intercept) 2.9041  \n'
        ' batch      (Intercept) 1.2874  \n'
        ' Residual               0.8234  \n'
        'Number of obs: 60, groups:  cask:batch, 30; batch, 10\n'
        'Fixed Effects:\n'
        '(Intercept)  \n'
        '      60.05  '
    ),
    'orthodont': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: distance ~ age * Sex + (age | Subject)\n'
        '   Data: df\n'
        'REML criterion at convergence: 432.5817\n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev. Corr \n'
        ' Subject  (Intercept) 2.4030        \n'
        '          age         0.1801   -0.67\n'
        ' Residual             1.3102        \n'
        'Number of obs: 108, groups:  Subject, 27\n'
        'Fixed Effects:\n'
        '  (Intercept)            age      SexFemale  age:SexFemale  \n'
        '      16.3406         0.7844         1.0321        -0.3048  '
    ),
}


R_VARCORR_SD = {
    'sleep_slope': (
        ' Groups   Name        Std.Dev. Corr \n'
        ' Subject  (Intercept) 24.7407       \n'
        '          Days         5.9221  0.066\n'
        ' Residual             25.5918       '
    ),
    'orthodont': (
        ' Groups   Name        Std.Dev. Corr  \n'
        ' Subject  (Intercept) 2.40302        \n'
        '          age         0.18014  -0.667\n'
        ' Residual             1.31020        '
    ),
    'sleep_uncorr': (
        ' Groups    Name        Std.Dev.\n'
        ' Subject   (Intercept) 25.0513 \n'
        ' Subject.1 Days         5.9882 \n'
        ' Residual              25.5653 '
    ),
    'cbpp_laplace': (
        ' Groups Name        Std.Dev.\n'
        ' herd   (Intercept) 0.64207 '
    ),
    'penicillin_crossed': (
        ' Groups   Name        Std.Dev.\n'
        ' plate    (Intercept) 0.84670 \n'
        ' sample   (Intercept) 1.93161 \n'
        ' Residual             0.54992 '
    ),
    'dyestuff2_singular': (
        ' Groups   Name        Std.Dev.\n'
        ' Batch    (Intercept) 0.0000  \n'
        ' Residual             3.7157  '
    ),
}


R_VARCORR_BOTH = {
    'sleep_slope': (
        ' Groups   Name        Variance Std.Dev. Corr \n'
        ' Subject  (Intercept) 612.100  24.7407       \n'
        '          Days         35.072   5.9221  0.066\n'
        ' Residual             654.940  25.5918       '
    ),
    'orthodont': (
        ' Groups   Name        Variance Std.Dev. Corr  \n'
        ' Subject  (Intercept) 5.774487 2.40302        \n'
        '          age         0.032452 0.18014  -0.667\n'
        ' Residual             1.716625 1.31020        '
    ),
    'grouseticks_poisson': (
        ' Groups   Name        Variance Std.Dev.\n'
        ' INDEX    (Intercept) 0.29323  0.54151 \n'
        ' BROOD    (Intercept) 0.56254  0.75002 \n'
        ' LOCATION (Intercept) 0.27956  0.52873 '
    ),
}


R_VARCORR_VAR3 = {
    'orthodont': (
        ' Groups   Name        Variance Corr \n'
        ' Subject  (Intercept) 5.7745        \n'
        '          age         0.0325   -0.67\n'
        ' Residual             1.7166        '
    ),
    'pastes_nested': (
        ' Groups     Name        Variance\n'
        ' cask:batch (Intercept) 8.434   \n'
        ' batch      (Intercept) 1.657   \n'
        ' Residual               0.678   '
    ),
    'dyestuff': (
        ' Groups   Name        Variance\n'
        ' Batch    (Intercept) 1764    \n'
        ' Residual             2451    '
    ),
}


def _blocks(case):
    ref = REFS[case]
    blocks, sigma = varcorr_blocks(ref["varcorr"])
    use_sc = summary_input(ref).use_sc
    return blocks, (sigma if use_sc else None)


@pytest.mark.parametrize("case", sorted(R_PRINT))
def test_print_fit_matches_r(case):
    ref = REFS[case]
    assert format_print(summary_input(ref)) == R_PRINT[case]


@pytest.mark.parametrize("case", sorted(R_VARCORR_SD))
def test_print_varcorr_sd_matches_r(case):
    blocks, sigma = _blocks(case)
    assert format_varcorr(blocks, sigma, comp=("Std.Dev.",)) == R_VARCORR_SD[case]


@pytest.mark.parametrize("case", sorted(R_VARCORR_BOTH))
def test_print_varcorr_both_matches_r(case):
    blocks, sigma = _blocks(case)
    assert format_varcorr(blocks, sigma) == R_VARCORR_BOTH[case]


@pytest.mark.parametrize("case", sorted(R_VARCORR_VAR3))
def test_print_varcorr_variance_digits3_matches_r(case):
    blocks, sigma = _blocks(case)
    assert format_varcorr(blocks, sigma, comp="Var", digits=3) == R_VARCORR_VAR3[case]


def test_varcorr_comp_errors():
    blocks, sigma = _blocks("sleep_slope")
    with pytest.raises(ValueError, match="Illegal 'comp'"):
        format_varcorr(blocks, sigma, comp=("Corr",))
    with pytest.raises(ValueError, match="either"):
        format_varcorr(blocks, sigma, comp=())


def test_summary_options_match_r():
    # R: print(summary(fm1), ranef.comp = "Std.Dev.", show.resids = FALSE)  (fm1 = sleep_slope)
    from lmerpy.display import format_summary
    s = summary_input(REFS["sleep_slope"])
    want = "\n".join([
        "Linear mixed model fit by REML ['lmerMod']",
        "Formula: Reaction ~ Days + (Days | Subject)",
        "   Data: df",
        "",
        "REML criterion at convergence: 1743.6",
        "",
        "Random effects:",
        " Groups   Name        Std.Dev. Corr",
        " Subject  (Intercept) 24.741       ",
        "          Days         5.922   0.07",
        " Residual             25.592       ",
        "Number of obs: 180, groups:  Subject, 18",
        "",
        "Fixed effects:",
        "            Estimate Std. Error t value",
        "(Intercept)  251.405      6.825  36.838",
        "Days          10.467      1.546   6.771",
        "",
        "Correlation of Fixed Effects:",
        "     (Intr)",
        "Days -0.138",
    ])
    assert format_summary(s, ranef_comp="Std.Dev.", show_resids=False) == want


def test_print_with_variances_matches_r():
    # R: print(fm1, ranef.comp = c("Variance", "Std.Dev."))
    s = summary_input(REFS["sleep_slope"])
    lines = format_print(s, ranef_comp=("Variance", "Std.Dev.")).split("\n")
    assert lines[4:9] == [
        "Random effects:",
        " Groups   Name        Variance Std.Dev. Corr",
        " Subject  (Intercept) 612.10   24.741       ",
        "          Days         35.07    5.922   0.07",
        " Residual             654.94   25.592       ",
    ]


def test_negative_binomial_family_name_matches_r():
    from lmerpy.display import negative_binomial_family_name
    # R: MASS::negative.binomial(t)$family for t = 3.30339464787759, 2, 123456.123456, 1.2345e-5
    assert [negative_binomial_family_name(t) for t in
            (3.30339464787759, 2, 123456.123456, 0.000012345)] == [
        "Negative Binomial(3.3034)", "Negative Binomial(2)", "Negative Binomial(123456.1)",
        "Negative Binomial(0)"]


def test_repeated_group_names_made_unique_like_lme4():
    # (Days || Subject): lme4's VarCorr names the two terms Subject and Subject.1
    blocks, sigma = _blocks("sleep_uncorr")
    for b in blocks:
        b.group = "Subject"
    assert format_varcorr(blocks, sigma, comp=("Std.Dev.",)) == R_VARCORR_SD["sleep_uncorr"]

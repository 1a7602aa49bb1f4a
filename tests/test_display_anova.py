"""``format_anova`` (R's ``print.anova``) against R's printed tables.

Inputs are R's own table values (``sprintf("%.17g")``); expected text is
``paste(capture.output(print(tab)), collapse = "\\n")`` from R 4.2.2 / lme4 1.1-31 for::

    fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    fm2 <- lmer(Reaction ~ Days + (Days || Subject), sleepstudy)
    fm0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
    fm3 <- lmer(Reaction ~ 1 + (1 | Subject), sleepstudy)
    a12 <- anova(fm1, fm2); a01 <- anova(fm0, fm1); a301 <- anova(fm3, fm0, fm1)
    single <- anova(fm1); lm <- anova(lm(Reaction ~ Days + Subject, sleepstudy))
"""
import pytest

from lmerpy.display import format_anova

NA = None

TABLES = {
    'a12': dict(
        heading=['Data: sleepstudy', 'Models:', 'fm2: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))', 'fm1: Reaction ~ Days + (Days | Subject)'],
        rows=['fm2', 'fm1'],
        cols=['npar', 'AIC', 'BIC', 'logLik', 'deviance', 'Chisq', 'Df', 'Pr(>Chisq)'],
        table=[
            [5.0, 1762.003255139883, 1777.9680393943343, -876.0016275699415, 1752.003255139883, NA, NA, NA],
            [6.0, 1763.9393444632096, 1783.097085568551, -875.9696722316048, 1751.9393444632096, 0.06391067667345851, 1.0, 0.8004184319948743],
        ],
        text=(
            'Data: sleepstudy\n'
            'Models:\n'
            'fm2: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))\n'
            'fm1: Reaction ~ Days + (Days | Subject)\n'
            '    npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)\n'
            'fm2    5 1762.0 1778.0 -876.00   1752.0                     \n'
            'fm1    6 1763.9 1783.1 -875.97   1751.9 0.0639  1     0.8004'
        ),
    ),
    'a01': dict(
        heading=['Data: sleepstudy', 'Models:', 'fm0: Reaction ~ Days + (1 | Subject)', 'fm1: Reaction ~ Days + (Days | Subject)'],
        rows=['fm0', 'fm1'],
        cols=['npar', 'AIC', 'BIC', 'logLik', 'deviance', 'Chisq', 'Df', 'Pr(>Chisq)'],
        table=[
            [4.0, 1802.078643005226, 1814.8504704087868, -897.039321502613, 1794.078643005226, NA, NA, NA],
            [6.0, 1763.9393444632096, 1783.097085568551, -875.9696722316048, 1751.9393444632096, 42.13929854201638, 2.0, 7.072412547230027e-10],
        ],
        text=(
            'Data: sleepstudy\n'
            'Models:\n'
            'fm0: Reaction ~ Days + (1 | Subject)\n'
            'fm1: Reaction ~ Days + (Days | Subject)\n'
            '    npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)    \n'
            'fm0    4 1802.1 1814.8 -897.04   1794.1                         \n'
            'fm1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***\n'
            '---\n'
            'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'
        ),
    ),
    'a301': dict(
        heading=['Data: sleepstudy', 'Models:', 'fm3: Reaction ~ 1 + (1 | Subject)', 'fm0: Reaction ~ Days + (1 | Subject)', 'fm1: Reaction ~ Days + (Days | Subject)'],
        rows=['fm3', 'fm0', 'fm1'],
        cols=['npar', 'AIC', 'BIC', 'logLik', 'deviance', 'Chisq', 'Df', 'Pr(>Chisq)'],
        table=[
            [3.0, 1916.5410580730588, 1926.1199286257295, -955.2705290365294, 1910.5410580730588, NA, NA, NA],
            [4.0, 1802.078643005226, 1814.8504704087868, -897.039321502613, 1794.078643005226, 116.46241506783281, 1.0, 3.76446147654564e-27],
            [6.0, 1763.9393444632096, 1783.097085568551, -875.9696722316048, 1751.9393444632096, 42.13929854201638, 2.0, 7.072412547230027e-10],
        ],
        text=(
            'Data: sleepstudy\n'
            'Models:\n'
            'fm3: Reaction ~ 1 + (1 | Subject)\n'
            'fm0: Reaction ~ Days + (1 | Subject)\n'
            'fm1: Reaction ~ Days + (Days | Subject)\n'
            '    npar    AIC    BIC  logLik deviance   Chisq Df Pr(>Chisq)    \n'
            'fm3    3 1916.5 1926.1 -955.27   1910.5                          \n'
            'fm0    4 1802.1 1814.8 -897.04   1794.1 116.462  1  < 2.2e-16 ***\n'
            'fm1    6 1763.9 1783.1 -875.97   1751.9  42.139  2  7.072e-10 ***\n'
            '---\n'
            'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'
        ),
    ),
    'single': dict(
        heading=['Analysis of Variance Table'],
        rows=['Days'],
        cols=['npar', 'Sum Sq', 'Mean Sq', 'F value'],
        table=[
            [1.0, 30030.939020137677, 30030.939020137677, 45.85296155585857],
        ],
        text=(
            'Analysis of Variance Table\n'
            '     npar Sum Sq Mean Sq F value\n'
            'Days    1  30031   30031  45.853'
        ),
    ),
    'lm': dict(
        heading=['Analysis of Variance Table\n', 'Response: Reaction'],
        rows=['Days', 'Subject', 'Residuals'],
        cols=['Df', 'Sum Sq', 'Mean Sq', 'F value', 'Pr(>F)'],
        table=[
            [1.0, 162702.65190953275, 162702.65190953275, 169.40136126820272, 6.412601369744216e-27],
            [17.0, 250618.10827293462, 14742.241663113802, 15.349201605299532, 1.2295030524379492e-25],
            [161.0, 154633.50920753018, 960.4565789287589, NA, NA],
        ],
        text=(
            'Analysis of Variance Table\n'
            '\n'
            'Response: Reaction\n'
            '           Df Sum Sq Mean Sq F value    Pr(>F)    \n'
            'Days        1 162703  162703 169.401 < 2.2e-16 ***\n'
            'Subject    17 250618   14742  15.349 < 2.2e-16 ***\n'
            'Residuals 161 154634     960                      \n'
            '---\n'
            'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(TABLES))
def test_anova_table_matches_r(case):
    t = TABLES[case]
    assert format_anova(t["table"], t["rows"], t["cols"], heading=t["heading"]) == t["text"]


def test_anova_without_stars():
    # R: print(anova(fm0, fm1), signif.stars = FALSE) -- last line as below
    t = TABLES["a01"]
    txt = format_anova(t["table"], t["rows"], t["cols"], heading=t["heading"],
                       signif_stars=False)
    assert "Signif. codes" not in txt and "***" not in txt
    assert txt.endswith("fm1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10")

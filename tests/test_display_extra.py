"""lme4 printing cases beyond the reference fits: long formulas, p > 12, no fixed effects, an
optimizer failure code, a wide correlation matrix, a narrow console, long titles.

Expected strings were printed by R 4.2.2 / lme4 1.1-31; inputs are R's numbers for the same
fits (``fixef``, ``sqrt(diag(vcov))``, ``vcov``, ``sigma``, ``summary(fit)$AICtab``,
``as.data.frame(VarCorr(fit))``, ``quantile(residuals(fit, "pearson", scaled = TRUE))``,
``deparse(formula(fit))``). The R code::

    df <- sleepstudy
    fit1 <- lmer(Reaction ~ Days + I(Days^2) + ... + I(Days^9) + (1 | Subject), df)
    set.seed(1); n <- 200; d2 <- data.frame(g = factor(rep(1:10, each = 20)))
    for (k in 1:12) d2[[paste0("x", k)]] <- round(rnorm(n), 3)
    d2$y <- round(1 + as.matrix(d2[, paste0("x", 1:12)]) %*% (1:12 / 10) + rnorm(10)[d2$g]
                  + rnorm(n), 3)
    fit2 <- lmer(y ~ x1 + ... + x12 + (1 | g), d2)
    fit3 <- lmer(Reaction ~ 0 + (1 | Subject), df)
    fit4 <- lmer(Reaction ~ Days + (Days | Subject), df)
    fit4@optinfo$conv$opt <- 1L
    fit4@optinfo$message <- "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval was reached."
    fit4@optinfo$warnings <- list("convergence code 5 from nloptwrap")
    # printed with paste(capture.output(print(summary(fit))), collapse = "\\n") and print(fit);
    # R_SUMMARY_WIDTH40: the same for reference fits under options(width = 40)
"""

import numpy as np
import pytest

from lmerpy.display import (
    SummaryInput, VarCorrBlock, format_fixef_correlation, format_print, format_summary,
    format_title, method_title,
)

from test_display_summary import CASES, summary_input

REFS = {r["id"]: r for r in CASES}


R_SUMMARY_WIDTH40 = {
    'cbpp_laplace': (
        'Generalized linear mixed model fit by\n'
        '  maximum likelihood (Laplace\n'
        '  Approximation) [glmerMod]\n'
        ' Family: binomial  ( logit )\n'
        'Formula: \n'
        'cbind(incidence, size - incidence) ~ period + (1 | herd)\n'
        '   Data: df\n'
        '\n'
        '     AIC      BIC   logLik deviance \n'
        '   194.1    204.2    -92.0    184.1 \n'
        'df.resid \n'
        '      51 \n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-2.3816 -0.7889 -0.2026  0.5142  2.8791 \n'
        '\n'
        'Random effects:\n'
        ' Groups Name        Variance Std.Dev.\n'
        ' herd   (Intercept) 0.4123   0.6421  \n'
        'Number of obs: 56, groups:  herd, 15\n'
        '\n'
        'Fixed effects:\n'
        '            Estimate Std. Error z value\n'
        '(Intercept)  -1.3983     0.2312  -6.048\n'
        'period2      -0.9919     0.3032  -3.272\n'
        'period3      -1.1282     0.3228  -3.495\n'
        'period4      -1.5797     0.4220  -3.743\n'
        '            Pr(>|z|)    \n'
        '(Intercept) 1.47e-09 ***\n'
        'period2     0.001068 ** \n'
        'period3     0.000474 ***\n'
        'period4     0.000182 ***\n'
        '---\n'
        'Signif. codes:  \n'
        '  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05\n'
        '  ‘.’ 0.1 ‘ ’ 1\n'
        '\n'
        'Correlation of Fixed Effects:\n'
        '        (Intr) perid2 perid3\n'
        'period2 -0.363              \n'
        'period3 -0.340  0.280       \n'
        'period4 -0.260  0.213  0.198'
    ),
    'orthodont': (
        'Linear mixed model fit by REML [lmerMod]\n'
        'Formula: \n'
        'distance ~ age * Sex + (age | Subject)\n'
        '   Data: df\n'
        '\n'
        'REML criterion at convergence: 432.6\n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-3.1694 -0.3862  0.0070  0.4454  3.8490 \n'
        '\n'
        'Random effects:\n'
        ' Groups   Name        Variance Std.Dev.\n'
        ' Subject  (Intercept) 5.77449  2.4030  \n'
        '          age         0.03245  0.1801  \n'
        ' Residual             1.71663  1.3102  \n'
        ' Corr \n'
        '      \n'
        ' -0.67\n'
        '      \n'
        'Number of obs: 108, groups:  \n'
        'Subject, 27\n'
        '\n'
        'Fixed effects:\n'
        '              Estimate Std. Error\n'
        '(Intercept)   16.34062    1.01825\n'
        'age            0.78437    0.08598\n'
        'SexFemale      1.03210    1.59529\n'
        'age:SexFemale -0.30483    0.13471\n'
        '              t value\n'
        '(Intercept)    16.048\n'
        'age             9.123\n'
        'SexFemale       0.647\n'
        'age:SexFemale  -2.263\n'
        '\n'
        'Correlation of Fixed Effects:\n'
        '            (Intr) age    SexFml\n'
        'age         -0.880              \n'
        'SexFemale   -0.638  0.562       \n'
        'age:SexFeml  0.562 -0.638 -0.880'
    ),
    'sleep_uncorr': (
        'Linear mixed model fit by REML [lmerMod]\n'
        'Formula: \n'
        'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))\n'
        '   Data: df\n'
        '\n'
        'REML criterion at convergence: 1743.7\n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-3.9626 -0.4625  0.0204  0.4653  5.1860 \n'
        '\n'
        'Random effects:\n'
        ' Groups    Name        Variance\n'
        ' Subject   (Intercept) 627.57  \n'
        ' Subject.1 Days         35.86  \n'
        ' Residual              653.58  \n'
        ' Std.Dev.\n'
        ' 25.051  \n'
        '  5.988  \n'
        ' 25.565  \n'
        'Number of obs: 180, groups:  \n'
        'Subject, 18\n'
        '\n'
        'Fixed effects:\n'
        '            Estimate Std. Error t value\n'
        '(Intercept)  251.405      6.885  36.513\n'
        'Days          10.467      1.560   6.712\n'
        '\n'
        'Correlation of Fixed Effects:\n'
        '     (Intr)\n'
        'Days -0.184'
    ),
}


R_EXTRA = {
    'long_formula/summary': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Reaction ~ Days + I(Days^2) + I(Days^3) + I(Days^4) + I(Days^5) +  \n'
        '    I(Days^6) + I(Days^7) + I(Days^8) + I(Days^9) + (1 | Subject)\n'
        '   Data: df\n'
        '\n'
        'REML criterion at convergence: 1827.4\n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-3.3482 -0.5289  0.0316  0.5331  4.2582 \n'
        '\n'
        'Random effects:\n'
        ' Groups   Name        Variance Std.Dev.\n'
        ' Subject  (Intercept) 1381.7   37.17   \n'
        ' Residual              987.1   31.42   \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        '\n'
        'Fixed effects:\n'
        '              Estimate Std. Error t value\n'
        '(Intercept)  2.567e+02  1.147e+01  22.372\n'
        'Days         4.145e+02  4.097e+02   1.012\n'
        'I(Days^2)   -1.019e+03  1.036e+03  -0.983\n'
        'I(Days^3)    9.908e+02  1.026e+03   0.966\n'
        'I(Days^4)   -5.036e+02  5.310e+02  -0.949\n'
        'I(Days^5)    1.489e+02  1.598e+02   0.932\n'
        'I(Days^6)   -2.653e+01  2.895e+01  -0.916\n'
        'I(Days^7)    2.804e+00  3.112e+00   0.901\n'
        'I(Days^8)   -1.619e-01  1.827e-01  -0.886\n'
        'I(Days^9)    3.928e-03  4.510e-03   0.871\n'
        '\n'
        'Correlation of Fixed Effects:\n'
        '          (Intr) Days   I(D^2) I(D^3) I(D^4) I(D^5) I(D^6) I(D^7) I(D^8)\n'
        'Days      -0.033                                                        \n'
        'I(Days^2)  0.015 -0.998                                                 \n'
        'I(Days^3) -0.009  0.994 -0.999                                          \n'
        'I(Days^4)  0.007 -0.988  0.995 -0.999                                   \n'
        'I(Days^5) -0.005  0.981 -0.991  0.996 -0.999                            \n'
        'I(Days^6)  0.004 -0.974  0.985 -0.992  0.997 -0.999                     \n'
        'I(Days^7) -0.004  0.967 -0.979  0.988 -0.994  0.997 -0.999              \n'
        'I(Days^8)  0.003 -0.960  0.973 -0.983  0.990 -0.995  0.998 -1.000       \n'
        'I(Days^9) -0.003  0.953 -0.967  0.978 -0.986  0.992 -0.996  0.998 -1.000\n'
        'fit warnings:\n'
        'Some predictor variables are on very different scales: consider rescaling\n'
        'optimizer (nloptwrap) convergence code: 0 (OK)\n'
        'Model failed to converge with max|grad| = 0.0165434 (tol = 0.002, component 1)\n'
        ''
    ),
    'long_formula/print': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Reaction ~ Days + I(Days^2) + I(Days^3) + I(Days^4) + I(Days^5) +  \n'
        '    I(Days^6) + I(Days^7) + I(Days^8) + I(Days^9) + (1 | Subject)\n'
        '   Data: df\n'
        'REML criterion at convergence: 1827.411\n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev.\n'
        ' Subject  (Intercept) 37.17   \n'
        ' Residual             31.42   \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        'Fixed Effects:\n'
        '(Intercept)         Days    I(Days^2)    I(Days^3)    I(Days^4)    I(Days^5)  \n'
        '  2.567e+02    4.145e+02   -1.019e+03    9.908e+02   -5.036e+02    1.489e+02  \n'
        '  I(Days^6)    I(Days^7)    I(Days^8)    I(Days^9)  \n'
        ' -2.653e+01    2.804e+00   -1.619e-01    3.928e-03  \n'
        'fit warnings:\n'
        'Some predictor variables are on very different scales: consider rescaling\n'
        'optimizer (nloptwrap) convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 warnings '
    ),
    'p13/summary': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 +  \n'
        '    x12 + (1 | g)\n'
        '   Data: d2\n'
        '\n'
        'REML criterion at convergence: 619.8\n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-3.2139 -0.6286  0.0235  0.7022  2.0100 \n'
        '\n'
        'Random effects:\n'
        ' Groups   Name        Variance Std.Dev.\n'
        ' g        (Intercept) 0.6336   0.7960  \n'
        ' Residual             0.9822   0.9911  \n'
        'Number of obs: 200, groups:  g, 10\n'
        '\n'
        'Fixed effects:\n'
        '            Estimate Std. Error t value\n'
        '(Intercept)  1.47527    0.26166   5.638\n'
        'x1           0.09818    0.07911   1.241\n'
        'x2           0.29923    0.07208   4.151\n'
        'x3           0.38859    0.06814   5.703\n'
        'x4           0.39780    0.06695   5.942\n'
        'x5           0.51272    0.06965   7.361\n'
        'x6           0.51851    0.07297   7.106\n'
        'x7           0.82355    0.07446  11.060\n'
        'x8           0.81865    0.07192  11.383\n'
        'x9           0.83241    0.06627  12.561\n'
        'x10          1.00345    0.07087  14.160\n'
        'x11          1.06239    0.06826  15.564\n'
        'x12          1.21725    0.07499  16.233'
    ),
    'p13/print': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 +  \n'
        '    x12 + (1 | g)\n'
        '   Data: d2\n'
        'REML criterion at convergence: 619.8281\n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev.\n'
        ' g        (Intercept) 0.7960  \n'
        ' Residual             0.9911  \n'
        'Number of obs: 200, groups:  g, 10\n'
        'Fixed Effects:\n'
        '(Intercept)           x1           x2           x3           x4           x5  \n'
        '    1.47527      0.09818      0.29923      0.38859      0.39780      0.51272  \n'
        '         x6           x7           x8           x9          x10          x11  \n'
        '    0.51851      0.82355      0.81865      0.83241      1.00345      1.06239  \n'
        '        x12  \n'
        '    1.21725  '
    ),
    'nofixef/summary': (
        "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
        'Formula: Reaction ~ 0 + (1 | Subject)\n'
        '   Data: df\n'
        '\n'
        '     AIC      BIC   logLik deviance df.resid \n'
        '  1989.7   1996.1   -992.8   1985.7      178 \n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-2.5987 -0.5409 -0.0705  0.5351  3.3332 \n'
        '\n'
        'Random effects:\n'
        ' Groups   Name        Variance Std.Dev.\n'
        ' Subject  (Intercept) 90303    300.51  \n'
        ' Residual              1959     44.26  \n'
        'Number of obs: 180, groups:  Subject, 18'
    ),
    'nofixef/print': (
        "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
        'Formula: Reaction ~ 0 + (1 | Subject)\n'
        '   Data: df\n'
        '      AIC       BIC    logLik  deviance  df.resid \n'
        '1989.6797 1996.0656 -992.8398 1985.6797       178 \n'
        'Random effects:\n'
        ' Groups   Name        Std.Dev.\n'
        ' Subject  (Intercept) 300.51  \n'
        ' Residual              44.26  \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        'No fixed effect coefficients'
    ),
    'convcode/summary': (
        "Linear mixed model fit by REML ['lmerMod']\n"
        'Formula: Reaction ~ Days + (Days | Subject)\n'
        '   Data: df\n'
        '\n'
        'REML criterion at convergence: 1743.6\n'
        '\n'
        'Scaled residuals: \n'
        '    Min      1Q  Median      3Q     Max \n'
        '-3.9536 -0.4634  0.0231  0.4634  5.1793 \n'
        '\n'
        'Random effects:\n'
        ' Groups   Name        Variance Std.Dev. Corr\n'
        ' Subject  (Intercept) 612.10   24.741       \n'
        '          Days         35.07    5.922   0.07\n'
        ' Residual             654.94   25.592       \n'
        'Number of obs: 180, groups:  Subject, 18\n'
        '\n'
        'Fixed effects:\n'
        '            Estimate Std. Error t value\n'
        '(Intercept)  251.405      6.825  36.838\n'
        'Days          10.467      1.546   6.771\n'
        '\n'
        'Correlation of Fixed Effects:\n'
        '     (Intr)\n'
        'Days -0.138\n'
        'optimizer (nloptwrap) convergence code: 1 (NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval was reached.)\n'
        'convergence code 5 from nloptwrap\n'
        ''
    ),
    'convcode/print': (
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
        '     251.41        10.47  \n'
        'optimizer (nloptwrap) convergence code: 1 (NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval was reached.) ; 1 optimizer warnings; 0 lme4 warnings '
    ),
    'corr12': (
        '            (Intr) fc(D)1 fc(D)2 fc(D)3 fc(D)4 fc(D)5 fc(D)6 fc(D)7 fc(D)8\n'
        'factr(Dys)1 0.500                                                         \n'
        'factr(Dys)2 0.250  0.500                                                  \n'
        'factr(Dys)3 0.125  0.250  0.500                                           \n'
        'factr(Dys)4 0.062  0.125  0.250  0.500                                    \n'
        'factr(Dys)5 0.031  0.062  0.125  0.250  0.500                             \n'
        'factr(Dys)6 0.016  0.031  0.062  0.125  0.250  0.500                      \n'
        'factr(Dys)7 0.008  0.016  0.031  0.063  0.125  0.250  0.500               \n'
        'factr(Dys)8 0.004  0.008  0.016  0.031  0.062  0.125  0.250  0.500        \n'
        'factr(Dys)9 0.002  0.004  0.008  0.016  0.031  0.062  0.125  0.250  0.500 \n'
        'fctr(Dys)10 0.001  0.002  0.004  0.008  0.016  0.031  0.062  0.125  0.250 \n'
        'fctr(Dys)11 0.000  0.001  0.002  0.004  0.008  0.016  0.031  0.062  0.125 \n'
        '            fc(D)9 f(D)10\n'
        'factr(Dys)1              \n'
        'factr(Dys)2              \n'
        'factr(Dys)3              \n'
        'factr(Dys)4              \n'
        'factr(Dys)5              \n'
        'factr(Dys)6              \n'
        'factr(Dys)7              \n'
        'factr(Dys)8              \n'
        'factr(Dys)9              \n'
        'fctr(Dys)10 0.500        \n'
        'fctr(Dys)11 0.250  0.500 '
    ),
}


EXTRA_INPUTS = {
    'long_formula': {
        'fixef': [256.651650065452, 414.544019523321, -1018.85472796539, 990.758447937184, -503.649911309899, 148.932018158213, -26.5304908656183, 2.80404294317037, -0.16185601950661, 0.00392828731871037],
        'names': ['(Intercept)', 'Days', 'I(Days^2)', 'I(Days^3)', 'I(Days^4)', 'I(Days^5)', 'I(Days^6)', 'I(Days^7)', 'I(Days^8)', 'I(Days^9)'],
        'se': [11.4717996114602, 409.713349108369, 1036.35851395355, 1025.7583205323, 530.958904552145, 159.762900187626, 28.9499291233624, 3.11227775572381, 0.182727088440306, 0.00451013059989311],
        'vcov': [
            [131.602186325498, -155.211052323159, 177.402005018438, -109.543452352058, 40.7941022015301, -9.59004455616289, 1.43320251050554, -0.132024627802526, 0.00683268127732746, -0.000151915786379583],
            [-155.211052323159, 167865.028437596, -423721.582738928, 417569.156095021, -214902.824304588, 64232.2114777768, -11555.6172238789, 1233.11333239014, -71.8652718299108, 1.76109096036592],
            [177.402005018438, -423721.582738928, 1074038.969444, -1061647.72764142, 547691.093961602, -164019.418117063, 29555.3929935651, -3158.13878250122, 184.263075514331, -4.5197667017906],
            [-109.543452352058, 417569.156095021, -1061647.72764142, 1052180.13214124, -544059.87228085, 163255.982888962, -29467.9597398774, 3153.38746410647, -184.215529519233, 4.52343771768927],
            [40.7941022015301, -214902.824304588, 547691.093961602, -544059.87228085, 281917.358323214, -84754.5487702825, 15323.6761968058, -1642.16495557162, 96.0527348352169, -2.36115209439405],
            [-9.59004455616289, 64232.2114777768, -164019.418117063, 163255.982888962, -84754.5487702825, 25524.1842763612, -4621.89771643256, 495.98090546189, -29.0453577808091, 0.714735000055659],
            [1.43320251050554, -11555.6172238789, 29555.3929935651, -29467.9597398774, 15323.6761968058, -4621.89771643256, 838.098396247704, -90.0495344390249, 5.27926475090757, -0.130036493631822],
            [-0.132024627802526, 1233.11333239014, -3158.13878250122, 3153.38746410647, -1642.16495557162, 495.98090546189, -90.0495344390249, 9.68627282877322, -0.568440669971167, 0.0140140720679387],
            [0.00683268127732746, -71.8652718299108, 184.263075514331, -184.215529519233, 96.0527348352169, -29.0453577808091, 5.27926475090757, -0.568440669971167, 0.0333891888498716, -0.000823825316877886],
            [-0.000151915786379583, 1.76109096036592, -4.5197667017906, 4.52343771768927, -2.36115209439405, 0.714735000055659, -0.130036493631822, 0.0140140720679387, -0.000823825316877886, 2.03412780280922e-05],
        ],
        'sigma': 31.418614724364,
        'crit': 1827.41075368555,
        'vc': [
            {'grp': 'Subject', 'var1': '(Intercept)', 'vcov': 1381.70988664844, 'sdcor': 37.1713584181214},
            {'grp': 'Residual', 'vcov': 987.129351198021, 'sdcor': 31.418614724364},
        ],
        'q': [-3.34816583922811, -0.528938423557818, 0.0315826019011641, 0.53307635342952, 4.25820174438571],
        'formula': ['Reaction ~ Days + I(Days^2) + I(Days^3) + I(Days^4) + I(Days^5) + ', '    I(Days^6) + I(Days^7) + I(Days^8) + I(Days^9) + (1 | Subject)'],
        'nobs': 180,
        'ngrps': {
            'Subject': 18,
        },
    },
    'p13': {
        'fixef': [1.47526529518168, 0.0981822887852506, 0.299230854882412, 0.38859014007828, 0.397804820311521, 0.512720335498734, 0.51851378669883, 0.823546746996334, 0.818651347726425, 0.832405870704113, 1.00344757750668, 1.06238719616374, 1.21725403730494],
        'names': ['(Intercept)', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12'],
        'se': [0.2616602165848, 0.0791113634824644, 0.0720810757755032, 0.0681386353965327, 0.066951320624583, 0.0696497881802885, 0.0729667134199034, 0.0744591552346081, 0.0719168970489544, 0.0662691113039575, 0.0708651284713364, 0.0682576777155551, 0.074986462768415],
        'sigma': 0.991079452840275,
        'crit': 619.828067658315,
        'vc': [
            {'grp': 'g', 'var1': '(Intercept)', 'vcov': 0.633638257353085, 'sdcor': 0.79601398062665},
            {'grp': 'Residual', 'vcov': 0.982238481842178, 'sdcor': 0.991079452840275},
        ],
        'q': [-3.21392605875614, -0.628627360607347, 0.0235182911119448, 0.70218841439567, 2.00998361448228],
        'formula': ['y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + ', '    x12 + (1 | g)'],
        'nobs': 200,
        'ngrps': {
            'g': 10,
        },
    },
    'nofixef': {
        'fixef': [],
        'names': {
        },
        'se': [],
        'sigma': 44.2590690372944,
        'crit': [1989.679690943, 1996.06560464478, -992.839845471499, 1985.679690943, 178],
        'vc': [
            {'grp': 'Subject', 'var1': '(Intercept)', 'vcov': 90303.397705385, 'sdcor': 300.505237400923},
            {'grp': 'Residual', 'vcov': 1958.86519204799, 'sdcor': 44.2590690372944},
        ],
        'q': [-2.59865583544066, -0.540928475643357, -0.0705093415481613, 0.535096977665528, 3.33321489400353],
        'formula': 'Reaction ~ 0 + (1 | Subject)',
        'nobs': 180,
        'ngrps': {
            'Subject': 18,
        },
    },
    'convcode': {
        'fixef': [251.405104848485, 10.467285959596],
        'names': ['(Intercept)', 'Days'],
        'se': [6.82459669495491, 1.54578964390598],
        'sigma': 25.5917957216753,
        'crit': 1743.62827195995,
        'vc': [
            {'grp': 'Subject', 'var1': '(Intercept)', 'vcov': 612.100158024769, 'sdcor': 24.7406579949841},
            {'grp': 'Subject', 'var1': 'Days', 'vcov': 35.0717144509388, 'sdcor': 5.92213765889808},
            {'grp': 'Subject', 'var1': '(Intercept)', 'var2': 'Days', 'vcov': 9.60440895115776, 'sdcor': 0.0655512382381282},
            {'grp': 'Residual', 'vcov': 654.940008259961, 'sdcor': 25.5917957216753},
        ],
        'q': [-3.95356734536703, -0.463397683127066, 0.0231176647794387, 0.463402078150267, 5.17926037341145],
        'formula': 'Reaction ~ Days + (Days | Subject)',
        'nobs': 180,
        'ngrps': {
            'Subject': 18,
        },
    },
}


SCALE_MSG = "Some predictor variables are on very different scales: consider rescaling"
GRAD_MSG = "Model failed to converge with max|grad| = 0.0165434 (tol = 0.002, component 1)"


def extra_input(case):
    e = EXTRA_INPUTS[case]
    blocks, sigma = [], None
    for r in e["vc"]:
        if r["grp"] == "Residual":
            sigma = r["sdcor"]
        elif "var2" not in r:
            if blocks and blocks[-1].group == r["grp"]:
                blocks[-1].names.append(r["var1"])
                blocks[-1].stddev = np.append(blocks[-1].stddev, r["sdcor"])
            else:
                blocks.append(VarCorrBlock(r["grp"], [r["var1"]], np.array([r["sdcor"]])))
        else:
            b = blocks[-1]
            b.corr = np.eye(len(b.names)) if b.corr is None else b.corr
            i, j = b.names.index(r["var1"]), b.names.index(r["var2"])
            b.corr[i, j] = b.corr[j, i] = r["sdcor"]
    crit = e["crit"]
    if isinstance(crit, list):
        criteria = dict(zip(["AIC", "BIC", "logLik", "deviance", "df.resid"], crit))
    else:
        criteria = {"REML": crit}
    se = np.asarray(e["se"], float)
    if "vcov" in e:
        vcov = np.asarray(e["vcov"], float)
    elif case == "convcode":                       # the same fit as the sleep_slope golden
        vcov = np.asarray(REFS["sleep_slope"]["vcov"], float)
    else:                                          # not printed (p > 12, or p = 0)
        vcov = np.diag(se ** 2)
    kw = {}
    if case == "long_formula":
        kw = dict(conv_messages=[GRAD_MSG], fit_messages=[SCALE_MSG])
    if case == "convcode":
        kw = dict(conv_code=1, optimizer_message=(
            "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval was reached."),
            optimizer_warnings=["convergence code 5 from nloptwrap"])
    return SummaryInput(
        kind="lmer", REML=not isinstance(crit, list), family=None, link=None, nAGQ=1,
        formula=e["formula"], data_name="d2" if case == "p13" else "df", criteria=criteria,
        scaled_residuals=np.asarray(e["q"], float),   # type-7 quantiles of 5 values = themselves
        varcorr=blocks, sigma=sigma, use_sc=True, nobs=e["nobs"],
        ngrps=list(e["ngrps"].items()), coef_names=list(e["names"]),
        estimate=np.asarray(e["fixef"], float), std_error=se, statistic_name="t value",
        p_values=None, vcov=vcov, **kw)


@pytest.mark.parametrize("case", sorted(EXTRA_INPUTS))
def test_extra_summary_matches_r(case):
    assert format_summary(extra_input(case)) == R_EXTRA[case + "/summary"]


@pytest.mark.parametrize("case", sorted(EXTRA_INPUTS))
def test_extra_print_matches_r(case):
    assert format_print(extra_input(case)) == R_EXTRA[case + "/print"]


def test_p13_correlation_on_request():
    s = extra_input("p13")
    s.correlation = True
    txt = format_summary(s)
    assert "\nCorrelation of Fixed Effects:\n" in txt
    s = extra_input("long_formula")
    s.correlation = False
    assert "Correlation" not in format_summary(s)


def test_wide_fixef_correlation_wraps_like_r():
    names = ["(Intercept)"] + [f"factor(Days){k}" for k in range(1, 12)]
    i = np.arange(1, 13)
    V = 0.5 ** np.abs(i[:, None] - i[None, :]) * np.sqrt(i[:, None] * i[None, :])
    assert format_fixef_correlation(names, V) == R_EXTRA["corr12"]


@pytest.mark.parametrize("case", sorted(R_SUMMARY_WIDTH40))
def test_summary_at_width_40_matches_r(case):
    assert format_summary(summary_input(REFS[case]), width=40) == R_SUMMARY_WIDTH40[case]


def test_titles():
    # lme4's methTitle(); ML LMM titles end in a space (hence two spaces before ['lmerMod'])
    assert method_title("lmer", True) == "Linear mixed model fit by REML"
    assert method_title("lmer", False) == "Linear mixed model fit by maximum likelihood "
    assert method_title("glmer", False, 0) == (
        "Generalized linear mixed model fit by maximum likelihood "
        "(Adaptive Gauss-Hermite Quadrature, nAGQ = 0)")
    # lmerTest's title as lme4's .prt.methTit prints it (lmerTest 3.1-3, summary(fm1)):
    assert format_title("Linear mixed model fit by REML. t-tests use Satterthwaite's method",
                        "lmerModLmerTest") == (
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
        "lmerModLmerTest]")


def test_long_formula_given_as_one_line_is_split_like_deparse():
    s = extra_input("long_formula")
    s.formula = s.formula[0] + s.formula[1].lstrip()   # one line; R's deparse() gave two
    assert format_summary(s) == R_EXTRA["long_formula/summary"]

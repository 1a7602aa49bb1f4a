"""lmerpy.display.rformat / rtext / rprint against R's own output.

Every expected value below was printed by R 4.2.2 from the R command shown with it (run
through ``Rscript``; character results as R returns them, numbers via ``sprintf("%.17g")``,
printed output via ``capture.output``). The Python call next to it must give exactly that.
"""
import math
import sys

import numpy as np
import pytest

from lmerpy.display.rformat import (
    as_character, format_info, format_number, format_numbers, format_pval, formatC, quantile7,
    round_r, signif, zapsmall,
)
from lmerpy.display.rprint import (
    format_coef_table, print_matrix, print_named_vector, print_numeric_matrix,
)
from lmerpy.display.rtext import abbreviate, cat, deparse_lines, make_names, strwrap

NAN, INF = float("nan"), float("inf")


def g17(x):
    """R's sprintf("%.17g", x)."""
    return "%.17g" % x


def lines(text):
    """capture.output(): printed text split into lines (no final empty line)."""
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


CASES = [
    ('format(c(612.1002, 35.0717, 654.9412), digits = 4)',
     lambda: format_numbers([612.1002, 35.0717, 654.9412], digits=4),
     ['612.10', ' 35.07', '654.94']),
    ('format(c(1, 10, 100))',
     lambda: format_numbers([1, 10, 100]),
     ['  1', ' 10', '100']),
    ('format(1e-20)',
     lambda: format_numbers([1e-20]),
     ['1e-20']),
    ('format(123456789)',
     lambda: format_numbers([123456789]),
     ['123456789']),
    ('format(1234567.1)',
     lambda: format_numbers([1234567.1]),
     ['1234567']),
    ('format(0.1 + 0.2, digits = 17)',
     lambda: format_numbers([0.1 + 0.2], digits=17),
     ['0.30000000000000004']),
    ('format(100000)',
     lambda: format_numbers([100000]),
     ['1e+05']),
    ('format(1e5 + 0.1)',
     lambda: format_numbers([1e5 + 0.1]),
     ['100000.1']),
    ('format(1e15)',
     lambda: format_numbers([1e15]),
     ['1e+15']),
    ('format(1e16)',
     lambda: format_numbers([1e16]),
     ['1e+16']),
    ('format(123456, digits = 2)',
     lambda: format_numbers([123456], digits=2),
     ['123456']),
    ('format(9996, digits = 3)',
     lambda: format_numbers([9996], digits=3),
     ['9996']),
    ('format(c(9.9996, 1), digits = 4)',
     lambda: format_numbers([9.9996, 1], digits=4),
     ['10', ' 1']),
    ('format(99999.5, digits = 5)',
     lambda: format_numbers([99999.5], digits=5),
     ['1e+05']),
    ('format(c(-1.5, NA, 3))',
     lambda: format_numbers([-1.5, None, 3]),
     ['-1.5', '  NA', ' 3.0']),
    ('format(c(NaN, 1.25, Inf, -Inf))',
     lambda: format_numbers([NAN, 1.25, INF, -INF]),
     [' NaN', '1.25', ' Inf', '-Inf']),
    ('format(0.000012345, digits = 3)',
     lambda: format_numbers([0.000012345], digits=3),
     ['1.23e-05']),
    ('format(c(1e-300, 1e300))',
     lambda: format_numbers([1e-300, 1e300]),
     ['1e-300', '1e+300']),
    ('format(1e-310)',
     lambda: format_numbers([1e-310]),
     ['1e-310']),
    ('format(c(1e100, 1))',
     lambda: format_numbers([1e100, 1]),
     ['1e+100', ' 1e+00']),
    ('format(3.14159, nsmall = 2)',
     lambda: format_numbers([3.14159], nsmall=2),
     ['3.14159']),
    ('format(2, nsmall = 2)',
     lambda: format_numbers([2], nsmall=2),
     ['2.00']),
    ('format(c(0.07, 1), nsmall = 2)',
     lambda: format_numbers([0.07, 1], nsmall=2),
     ['0.07', '1.00']),
    ('format(1234.5678, digits = 2, nsmall = 1)',
     lambda: format_numbers([1234.5678], digits=2, nsmall=1),
     ['1234.6']),
    ('format(0.15, digits = 1)',
     lambda: format_numbers([0.15], digits=1),
     ['0.1']),
    ('format(0.25, digits = 1)',
     lambda: format_numbers([0.25], digits=1),
     ['0.2']),
    ('format(2.5, digits = 1)',
     lambda: format_numbers([2.5], digits=1),
     ['2']),
    ('format(0.125, digits = 2)',
     lambda: format_numbers([0.125], digits=2),
     ['0.12']),
    ('format(-0.0)',
     lambda: format_numbers([-0.0]),
     ['0']),
    ('format(123.456, width = 10)',
     lambda: format_numbers([123.456], width=10),
     ['   123.456']),
    ('format(c(1.123456789e-5, 1), digits = 3)',
     lambda: format_numbers([1.123456789e-5, 1], digits=3),
     ['1.12e-05', '1.00e+00']),
    ('format(c(100000, 1), scientific = -2)',
     lambda: format_numbers([100000, 1], scipen=-2),
     ['1e+05', '1e+00']),
    ('format(1e-5, scientific = 3)',
     lambda: format_numbers([1e-5], scipen=3),
     ['0.00001']),
    ('format(c(-0.004, 0.5), digits = 1)',
     lambda: format_numbers([-0.004, 0.5], digits=1),
     ['-0.004', ' 0.500']),
    ('format(c(251.405104848485, 10.467285959596, 6.82459669495491, 1.54578964390598), digits = 4)',
     lambda: format_numbers([251.405104848485, 10.467285959596, 6.82459669495491, 1.54578964390598], digits=4),
     ['251.405', ' 10.467', '  6.825', '  1.546']),
    ('format(2.220446e-16, digits = 1)',
     lambda: format_numbers([2.220446e-16], digits=1),
     ['2e-16']),
    ('format(1/3, digits = 15)',
     lambda: format_numbers([1 / 3], digits=15),
     ['0.333333333333333']),
    ('format(2/3, digits = 16)',
     lambda: format_numbers([2 / 3], digits=16),
     ['0.6666666666666666']),
    ('format(pi * 1e10, digits = 22)',
     lambda: format_numbers([math.pi * 1e10], digits=22),
     ['31415926535.89793014526']),
    ('format(c(0.001068, 0.000474, 0.000182), digits = 3)',
     lambda: format_numbers([0.001068, 0.000474, 0.000182], digits=3),
     ['0.001068', '0.000474', '0.000182']),
    ('format(c(1e-15, 1), digits = 7)',
     lambda: format_numbers([1e-15, 1], digits=7),
     ['1e-15', '1e+00']),
    ('format(.Machine$double.xmax)',
     lambda: format_numbers([sys.float_info.max]),
     ['1.797693e+308']),
    ('format(5e-324)',
     lambda: format_numbers([5e-324]),
     ['4.940656e-324']),
    ('as.character(round(c(0.15, 2.5, -2.5, 0.285, 1.005, 123.456, 1e300, 0.1 + 0.2, 2.675, -0.0005), c(1, 0, 0, 2, 2, -1, 2, 15, 2, 3)))',
     lambda: [as_character(round_r(x, d)) for x, d in zip([0.15, 2.5, -2.5, 0.285, 1.005, 123.456, 1e300, 0.1 + 0.2, 2.675, -0.0005], [1, 0, 0, 2, 2, -1, 2, 15, 2, 3])],
     ['0.1', '2', '-2', '0.28', '1', '120', '1e+300', '0.3', '2.67', '0']),
    ('sprintf("%.17g", round(c(5.5e-320, 1234.5678, 0.5, 1.5, 0.45), c(320, 2, 0, 0, 1)))',
     lambda: [g17(round_r(x, d)) for x, d in zip([5.5e-320, 1234.5678, 0.5, 1.5, 0.45], [320, 2, 0, 0, 1])],
     ['5.999933203096098e-320', '1234.5699999999999', '0', '2', '0.40000000000000002']),
    ('sprintf("%.17g", signif(c(123456, 0.000123456, -1.5e-310, 2.5, 0.15, 1e300 * 1.23456), c(2, 3, 2, 1, 1, 3)))',
     lambda: [g17(signif(x, d)) for x, d in zip([123456, 0.000123456, -1.5e-310, 2.5, 0.15, 1e300 * 1.23456], [2, 3, 2, 1, 1, 3])],
     ['120000', '0.00012300000000000001', '-1.5000000000000201e-310', '2', '0.20000000000000001', '1.2300000000000007e+300']),
    ('format.pval(c(0.1, 0.0001, 1e-27))',
     lambda: format_pval([0.1, 0.0001, 1e-27]),
     ['1e-01', '1e-04', '<2e-16']),
    ('format.pval(1e-20, digits = 3)',
     lambda: format_pval([1e-20], digits=3),
     ['<2e-16']),
    ('format.pval(c(0.05, 2e-17), digits = 3)',
     lambda: format_pval([0.05, 2e-17], digits=3),
     ['0.05', '<2e-16']),
    ('format.pval(c(NA, 0.5))',
     lambda: format_pval([None, 0.5]),
     ['NA', '0.5']),
    ('format.pval(c(3.26e-06, 1e-20), digits = 3)',
     lambda: format_pval([3.26e-06, 1e-20], digits=3),
     ['3.26e-06', '< 2e-16']),
    ('format.pval(c(0.8004, 7.072e-10), digits = 4)',
     lambda: format_pval([0.8004, 7.072e-10], digits=4),
     ['0.8004', '7.072e-10']),
    ('format.pval(c(0.2, 1e-20), digits = 1)',
     lambda: format_pval([0.2, 1e-20], digits=1),
     ['0.2', '<2e-16']),
    ('formatC(3.14159, digits = 3, format = "f")',
     lambda: formatC([3.14159], digits=3, format="f"),
     ['3.142']),
    ('formatC(3.14159, width = 10, format = "e", digits = 2)',
     lambda: formatC([3.14159], width=10, format="e", digits=2),
     ['  3.14e+00']),
    ('formatC(c(1, 10, 100), width = 5)',
     lambda: formatC([1.0, 10.0, 100.0], width=5),
     ['    1', '   10', '  100']),
    ('formatC(0.000012345, format = "fg", digits = 3)',
     lambda: formatC([0.000012345], format="fg", digits=3),
     ['0.0000123']),
    ('formatC(123456789, format = "fg", digits = 3)',
     lambda: formatC([123456789.0], format="fg", digits=3),
     ['123456789']),
    ('formatC(1.5, format = "fg", digits = 3, flag = "#")',
     lambda: formatC([1.5], format="fg", digits=3, flag="#"),
     ['1.50']),
    ('formatC(42, format = "d", flag = "0", width = 6)',
     lambda: formatC([42], format="d", flag="0", width=6),
     ['000042']),
    ('formatC(c(1.5, -2.25), format = "g")',
     lambda: formatC([1.5, -2.25], format="g"),
     ['1.5', '-2.25']),
    ('formatC(c(3.14159, 0.1), format = "fg", digits = 2)',
     lambda: formatC([3.14159, 0.1], format="fg", digits=2),
     ['3.1', '0.1']),
    ('formatC(0.00297628, format = "g")',
     lambda: formatC([0.00297628], format="g"),
     ['0.002976']),
    ('formatC(-1.5, width = 8, flag = "-")',
     lambda: formatC([-1.5], width=8, flag="-"),
     ['-1.5    ']),
    ('abbreviate(c("(Intercept)", "period2", "period3", "period4"), 6)',
     lambda: abbreviate(["(Intercept)", "period2", "period3", "period4"], 6),
     ['(Intr)', 'perid2', 'perid3', 'perid4']),
    ('abbreviate(c("(Intercept)", "age", "SexFemale", "age:SexFemale"), 11)',
     lambda: abbreviate(["(Intercept)", "age", "SexFemale", "age:SexFemale"], 11),
     ['(Intercept)', 'age', 'SexFemale', 'age:SexFeml']),
    ('abbreviate(c("(Intercept)", "I(Days * 10000)"), 11)',
     lambda: abbreviate(["(Intercept)", "I(Days * 10000)"], 11),
     ['(Intercept)', 'I(Dy*10000)']),
    ('abbreviate(c("(Intercept)", "I(Days * 10000)"), 6)',
     lambda: abbreviate(["(Intercept)", "I(Days * 10000)"], 6),
     ['(Intr)', 'I(D*10']),
    ('abbreviate(c("YEAR96", "YEAR97", "HEIGHT", "(Intercept)"), 6)',
     lambda: abbreviate(["YEAR96", "YEAR97", "HEIGHT", "(Intercept)"], 6),
     ['YEAR96', 'YEAR97', 'HEIGHT', '(Intr)']),
    ('abbreviate(c("treatmentA", "treatmentB", "treatmentC"), 6)',
     lambda: abbreviate(["treatmentA", "treatmentB", "treatmentC"], 6),
     ['trtmnA', 'trtmnB', 'trtmnC']),
    ('abbreviate(c("poly(Days, 2)1", "poly(Days, 2)2"), 6)',
     lambda: abbreviate(["poly(Days, 2)1", "poly(Days, 2)2"], 6),
     ['p(D,2)1', 'p(D,2)2']),
    ('abbreviate(c("poly(Days, 2)1", "poly(Days, 2)2"), 11)',
     lambda: abbreviate(["poly(Days, 2)1", "poly(Days, 2)2"], 11),
     ['ply(Dys,2)1', 'ply(Dys,2)2']),
    ('abbreviate("international business machines", 8)',
     lambda: abbreviate(["international business machines"], 8),
     ['intrntbm']),
    ('abbreviate(c("aaaa", "aaab", "aaac", "aaaa"), 2)',
     lambda: abbreviate(["aaaa", "aaab", "aaac", "aaaa"], 2),
     ['aa', 'ab', 'ac', 'aa']),
    ('abbreviate("service1", 6)',
     lambda: abbreviate(["service1"], 6),
     ['servc1']),
    ('abbreviate(c("xa:fb", "xa:fc", "xb:fb"), 4)',
     lambda: abbreviate(["xa:fb", "xa:fc", "xb:fb"], 4),
     ['x:fb', 'x:fc', 'xb:f']),
    ('abbreviate(c("Sepal.Length", "Sepal.Width", "Petal.Length"), 5)',
     lambda: abbreviate(["Sepal.Length", "Sepal.Width", "Petal.Length"], 5),
     ['Spl.L', 'Spl.W', 'Ptl.L']),
    ('sprintf("%.17g", zapsmall(c(1, 1e-20)))',
     lambda: [g17(v) for v in zapsmall([1, 1e-20])],
     ['1', '0']),
    ('sprintf("%.17g", zapsmall(c(-3.95364, 0.0231, 1e-9, 5.1793), 5))',
     lambda: [g17(v) for v in zapsmall([-3.95364, 0.0231, 1e-9, 5.1793], 5)],
     ['-3.9535999999999998', '0.023099999999999999', '0', '5.1792999999999996']),
    ('sprintf("%.17g", quantile(c(3, 1, 4, 1, 5, 9, 2, 6)))',
     lambda: [g17(v) for v in quantile7([3, 1, 4, 1, 5, 9, 2, 6])],
     ['1', '1.75', '3.5', '5.25', '9']),
    ('sprintf("%.17g", quantile((1:10) / 3))',
     lambda: [g17(v) for v in quantile7([i / 3 for i in range(1, 11)])],
     ['0.33333333333333331', '1.0833333333333333', '1.8333333333333335', '2.5833333333333335', '3.3333333333333335']),
    ('strwrap("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)", 78, exdent = 2)',
     lambda: strwrap("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)", 78, exdent=2),
     ['Generalized linear mixed model fit by maximum likelihood (Laplace', '  Approximation)']),
    ('strwrap("Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = 25)", 38, exdent = 2)',
     lambda: strwrap("Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = 25)", 38, exdent=2),
     ['Generalized linear mixed model fit by', '  maximum likelihood (Adaptive', '  Gauss-Hermite Quadrature, nAGQ =', '  25)']),
    ('strwrap("One sentence.  Two sentences here with more words", 20)',
     lambda: strwrap("One sentence.  Two sentences here with more words", 20),
     ['One sentence.  Two', 'sentences here with', 'more words']),
    ('strwrap("a\n\nb c", 10, prefix = "> ")',
     lambda: strwrap("a\n\nb c", 10, prefix="> "),
     ['> a', '> ', '> b c']),
    ('make.names(c("Subject", "Subject", "a:b", "1x", "if", "Subject"), unique = TRUE)',
     lambda: make_names(["Subject", "Subject", "a:b", "1x", "if", "Subject"], unique=True),
     ['Subject', 'Subject.1', 'a.b', 'X1x', 'if.', 'Subject.2']),
    ('capture.output(cat("Number of obs: 30, groups: ", paste(rep("x", 60), collapse = ""), fill = TRUE))',
     lambda: lines(cat("Number of obs: 30, groups: ", "x" * 60, fill=True)),
     ['Number of obs: 30, groups:  ', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx']),
    ('capture.output(cat("A", c("bb", "cc"), "dd", sep = "-", fill = 6))',
     lambda: lines(cat("A", ["bb", "cc"], "dd", sep="-", fill=6)),
     ['A-bb-', 'cc-dd']),
    ('capture.output(print(setNames((1:13) * 1.5, paste0("nm", 1:13))))',
     lambda: lines(print_named_vector([i * 1.5 for i in range(1, 14)], ["nm%d" % i for i in range(1, 14)])),
     [' nm1  nm2  nm3  nm4  nm5  nm6  nm7  nm8  nm9 nm10 nm11 nm12 nm13 ', ' 1.5  3.0  4.5  6.0  7.5  9.0 10.5 12.0 13.5 15.0 16.5 18.0 19.5 ']),
    ('capture.output(print(setNames(c("1.0", "22.5"), c("a", "longer_name")), quote = FALSE))',
     lambda: lines(print_named_vector(["1.0", "22.5"], ["a", "longer_name"])),
     ['          a longer_name ', '        1.0        22.5 ']),
    ('capture.output(print(matrix(c("a", "bb", "ccc", "dddd"), 2, dimnames = list(c("r1", "row2"), c("C1", "C2"))), quote = FALSE))',
     lambda: lines(print_matrix([["a", "ccc"], ["bb", "dddd"]], ["r1", "row2"], ["C1", "C2"])),
     ['     C1 C2  ', 'r1   a  ccc ', 'row2 bb dddd']),
    ('capture.output(print(matrix(c("a", "bb", "ccc", "dddd"), 2, dimnames = list(c("r1", "row2"), c("C1", "C2"))), quote = FALSE, right = TRUE))',
     lambda: lines(print_matrix([["a", "ccc"], ["bb", "dddd"]], ["r1", "row2"], ["C1", "C2"], right=True)),
     ['     C1   C2', 'r1    a  ccc', 'row2 bb dddd']),
    ('capture.output(print(matrix(sprintf("%09d", 1:30), 2, dimnames = list(c("a", "b"), paste0("col", 1:15))), quote = FALSE))',
     lambda: lines(print_matrix([["%09d" % (2 * j + i + 1) for j in range(15)] for i in range(2)], ["a", "b"], ["col%d" % (j + 1) for j in range(15)])),
     ['  col1      col2      col3      col4      col5      col6      col7     ', 'a 000000001 000000003 000000005 000000007 000000009 000000011 000000013', 'b 000000002 000000004 000000006 000000008 000000010 000000012 000000014', '  col8      col9      col10     col11     col12     col13     col14    ', 'a 000000015 000000017 000000019 000000021 000000023 000000025 000000027', 'b 000000016 000000018 000000020 000000022 000000024 000000026 000000028', '  col15    ', 'a 000000029', 'b 000000030']),
    ('capture.output(print(matrix(c(1.5, 2, 300, 4e-8), 2, dimnames = list(c("a", "b"), c("x", "y")))))',
     lambda: lines(print_numeric_matrix([[1.5, 300], [2, 4e-8]], ["a", "b"], ["x", "y"])),
     ['    x     y', 'a 1.5 3e+02', 'b 2.0 4e-08']),
    ('capture.output(print(matrix(c(1.5, NA, 300, 4), 2)))',
     lambda: lines(print_numeric_matrix([[1.5, 300], [None, 4]])),
     ['     [,1] [,2]', '[1,]  1.5  300', '[2,]   NA    4']),
    ('capture.output(printCoefmat(cbind(Estimate = c(251.405, 10.467), "Std. Error" = c(6.8246, 1.5458), df = c(17, 17), "t value" = c(36.838, 6.771), "Pr(>|t|)" = c(1.17e-17, 3.26e-06)), digits = 4))',
     lambda: lines(format_coef_table([[251.405, 6.8246, 17, 36.838, 1.17e-17], [10.467, 1.5458, 17, 6.771, 3.26e-06]], None, ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"], digits=4)),
     ['     Estimate Std. Error      df t value Pr(>|t|)    ', '[1,]  251.405      6.825  17.000  36.838  < 2e-16 ***', '[2,]   10.467      1.546  17.000   6.771 3.26e-06 ***', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
    ('capture.output(printCoefmat(cbind(Estimate = c(1.5, 0, 0.00001), "Std. Error" = c(0.5, 0.25, 0.3), "z value" = c(3, 0, 0.0000333), "Pr(>|z|)" = c(0.0027, 1, 0.99997))))',
     lambda: lines(format_coef_table([[1.5, 0.5, 3, 0.0027], [0, 0.25, 0, 1], [0.00001, 0.3, 0.0000333, 0.99997]], None, ["Estimate", "Std. Error", "z value", "Pr(>|z|)"])),
     ['     Estimate Std. Error z value Pr(>|z|)   ', '[1,]  1.50000    0.50000       3   0.0027 **', '[2,]  0.00000    0.25000       0   1.0000   ', '[3,]  0.00001    0.30000       0   1.0000   ', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
    ('capture.output(printCoefmat(cbind(Estimate = c(1.5, NA), "Std. Error" = c(0.5, NA), "t value" = c(3, NA), "Pr(>|t|)" = c(0.2, NA))))',
     lambda: lines(format_coef_table([[1.5, 0.5, 3, 0.2], [None, None, None, None]], None, ["Estimate", "Std. Error", "t value", "Pr(>|t|)"])),
     ['     Estimate Std. Error t value Pr(>|t|)', '[1,]      1.5        0.5       3      0.2', '[2,]       NA         NA      NA       NA']),
    ('capture.output(printCoefmat(cbind(Estimate = c(1.5, -2), "Std. Error" = c(0.5, 0.25), "t value" = c(3, -8), "Pr(>|t|)" = c(0.0027, 1e-20)), signif.stars = FALSE))',
     lambda: lines(format_coef_table([[1.5, 0.5, 3, 0.0027], [-2, 0.25, -8, 1e-20]], None, ["Estimate", "Std. Error", "t value", "Pr(>|t|)"], signif_stars=False)),
     ['     Estimate Std. Error t value Pr(>|t|)', '[1,]     1.50       0.50       3   0.0027', '[2,]    -2.00       0.25      -8   <2e-16']),
    ('capture.output(printCoefmat(cbind(Estimate = c(123.5, 0.0012), "Std. Error" = c(12.2, 0.0003), "t value" = c(10.1, 4))))',
     lambda: lines(format_coef_table([[123.5, 12.2, 10.1], [0.0012, 0.0003, 4]], None, ["Estimate", "Std. Error", "t value"])),
     ['     Estimate Std. Error t value', '[1,] 123.5000    12.2000    10.1', '[2,]   0.0012     0.0003     4.0']),
    ('capture.output(printCoefmat(cbind(Df = c(1, 2), "Sum Sq" = c(30031.4, 12.5), "F value" = c(45.853, 0.2), "Pr(>F)" = c(3.264e-06, 0.8)), tst.ind = 3, cs.ind = 2, zap.ind = 2, digits = 5))',
     lambda: lines(format_coef_table([[1, 30031.4, 45.853, 3.264e-06], [2, 12.5, 0.2, 0.8]], None, ["Df", "Sum Sq", "F value", "Pr(>F)"], tst_ind=[2], cs_ind=[1], zap_ind=[1], digits=5)),
     ['     Df  Sum Sq F value    Pr(>F)    ', '[1,]  1 30031.4  45.853 3.264e-06 ***', '[2,]  2    12.5   0.200       0.8    ', '---', 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1']),
]


@pytest.mark.parametrize("r_command,python,expected", CASES, ids=[c[0][:60] for c in CASES])
def test_matches_r(r_command, python, expected):
    assert python() == expected


def test_format_info_matches_r_format_info():
    # R: format.info(c(612.1002, 35.0717), digits = 4) -> 6 2 0
    assert format_info([612.1002, 35.0717], digits=4) == (6, 2, 0)
    # R: format.info(1e-20) -> 5 0 1
    assert format_info([1e-20]) == (5, 0, 1)
    # R: format.info(c(1e100, 1)) -> 6 0 2
    assert format_info([1e100, 1]) == (6, 0, 2)


def test_format_number_scalar():
    # R: format(-871.814135979976) -> "-871.8141"
    assert format_number(-871.814135979976) == "-871.8141"
    # R: format(1743.62827195995, digits = 7) -> "1743.628"
    assert format_number(1743.62827195995, digits=7) == "1743.628"


def test_round_r_vectorised_and_nan():
    # R: round(c(1.005, NaN, 2.675), 2) -> 1.00 NaN 2.67
    out = round_r(np.array([1.005, np.nan, 2.675]), 2)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 2.67


def test_mixed_magnitudes_match_r():
    # R: format(c(-0.000229, 1.2e-8, 35071.7144, 2.5), digits = 4)
    assert format_numbers([-0.000229, 1.2e-8, 35071.7144, 2.5], digits=4) == [
        "-2.290e-04", " 1.200e-08", " 3.507e+04", " 2.500e+00"]
    # R: format(c(0.0692, 0.0717, 0.0001, 1.0), digits = 2)
    assert format_numbers([0.0692, 0.0717, 0.0001, 1.0], digits=2) == [
        "0.0692", "0.0717", "0.0001", "1.0000"]
    # R: format(c(1.2345678, -98765.4321, 0.5), digits = 6)
    assert format_numbers([1.2345678, -98765.4321, 0.5], digits=6) == [
        "     1.23457", "-98765.43210", "     0.50000"]


def test_formatC_defaults_match_r():
    # R: formatC(1.5, digits = 6)  (width defaults to digits + 1)
    assert formatC([1.5], digits=6) == ["    1.5"]
    # R: formatC(c(NA, Inf, 2), width = 6)
    assert formatC([None, INF, 2.0], width=6) == ["    NA", "   Inf", "     2"]
    # R: formatC(0, format = "fg"); formatC(99.5, format = "fg", digits = 2)
    assert formatC([0.0], format="fg") == ["0"]
    assert formatC([99.5], format="fg", digits=2) == ["100"]
    # R: formatC(-7.25, format = "d")  (as.integer truncates)
    assert formatC([-7.25], format="d") == ["-7"]


# R: deparse(as.formula(f)) for each f (its default width.cutoff = 60)
DEPARSE = [
    ("Reaction ~ Days + I(Days^2) + I(Days^3) + I(Days^4) + I(Days^5) + I(Days^6) + I(Days^7)"
     " + I(Days^8) + I(Days^9) + (1 | Subject)",
     ["Reaction ~ Days + I(Days^2) + I(Days^3) + I(Days^4) + I(Days^5) + ",
      "    I(Days^6) + I(Days^7) + I(Days^8) + I(Days^9) + (1 | Subject)"]),
    ("y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + (1 | g)",
     ["y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + ", "    x12 + (1 | g)"]),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
     ["cbind(incidence, size - incidence) ~ period + (1 | herd)"]),
    ("TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
     ["TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"]),
    ("log(Reaction) ~ poly(Days, 2) + Days:Subject + (1 + Days + I(Days^2) + I(Days^3) | "
     "Subject) + (1 | Subject:Days)",
     ["log(Reaction) ~ poly(Days, 2) + Days:Subject + (1 + Days + I(Days^2) + ",
      "    I(Days^3) | Subject) + (1 | Subject:Days)"]),
    ("y ~ aaaaaaaaaa * bbbbbbbbbbbb * cccccccccccc * dddddddddddd * eeeeeeeeeeee * ffffffffff"
     " * gggggggggggg * hhhhhhhhhhhh + (1 | g)",
     ["y ~ aaaaaaaaaa * bbbbbbbbbbbb * cccccccccccc * dddddddddddd * ",
      "    eeeeeeeeeeee * ffffffffff * gggggggggggg * hhhhhhhhhhhh + ", "    (1 | g)"]),
    ("y ~ x + (1 + aaaaaaaaaaa + bbbbbbbbbbbbb + cccccccccccccccc + dddddddddddddd + "
     "eeeeeeeeeeeeee + fffffffffff | g)",
     ["y ~ x + (1 + aaaaaaaaaaa + bbbbbbbbbbbbb + cccccccccccccccc + ",
      "    dddddddddddddd + eeeeeeeeeeeeee + fffffffffff | g)"]),
    ("y ~ x + offset(log(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)) + poly(bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,"
     " 3, raw = TRUE) + (1 | g)",
     ["y ~ x + offset(log(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)) + poly(bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, ",
      "    3, raw = TRUE) + (1 | g)"]),
    ("response_with_a_very_long_name_indeed ~ predictor_one + predictor_two + predictor_three + "
     "predictor_four + predictor_five + predictor_six + predictor_seven + predictor_eight + (1 | g)",
     ["response_with_a_very_long_name_indeed ~ predictor_one + predictor_two + ",
      "    predictor_three + predictor_four + predictor_five + predictor_six + ",
      "    predictor_seven + predictor_eight + (1 | g)"]),
]


@pytest.mark.parametrize("one_line,r_lines", DEPARSE)
def test_deparse_lines_matches_r(one_line, r_lines):
    assert deparse_lines(one_line) == r_lines

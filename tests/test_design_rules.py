"""More of R's model.matrix / mkReTrms rules on the synthetic design data, one formula each.

Expected values printed by R 4.2 / lme4 1.1-31 from ``lFormula(formula, synth_design)``:
``colnames(X)``, ``reTrms$cnms``, ``sum(X)``, ``sum(Zt)`` and the first row names of Zt.
"""
import warnings

import pytest

from _reference import load_case_data
from lmerpy.design import build_design
from lmerpy.errors import LmerpyMessage
from lmerpy.formula import parse_formula

CASES = [
    ('y ~ x + (o|g)',
     ['(Intercept)', 'x'],
     [['(Intercept)', 'o.L', 'o.Q', 'o.C']],
     116.743, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (lg|g)',
     ['(Intercept)', 'x'],
     [['(Intercept)', 'lgTRUE']],
     116.743, 179, ['G01', 'G02', 'G03']),
    ('y ~ x + (1|lg)',
     ['(Intercept)', 'x'],
     [['(Intercept)']],
     116.743, 120, ['FALSE', 'TRUE']),
    ('y ~ x + (1|gnum:a)',
     ['(Intercept)', 'x'],
     [['(Intercept)']],
     116.743, 120, ['3:A1', '3:A2', '3:A3']),
    ('y ~ (x > 0) + (1|g)',
     ['(Intercept)', 'x > 0TRUE'],
     [['(Intercept)']],
     175, 120, ['G01', 'G02', 'G03']),
    ('y ~ I(x > 0) + (1|g)',
     ['(Intercept)', 'I(x > 0)TRUE'],
     [['(Intercept)']],
     175, 120, ['G01', 'G02', 'G03']),
    ('y ~ poly(x, 2):f + (1|g)',
     ['(Intercept)', 'poly(x, 2)1:fa', 'poly(x, 2)2:fa', 'poly(x, 2)1:fb', 'poly(x, 2)2:fb', 'poly(x, 2)1:fc', 'poly(x, 2)2:fc'],
     [['(Intercept)']],
     120, 120, ['G01', 'G02', 'G03']),
    ('y ~ 0 + (1|g)',
     [],
     [['(Intercept)']],
     0, 120, ['G01', 'G02', 'G03']),
    ('y ~ -1 + f:x + (1|g)',
     ['fa:x', 'fb:x', 'fc:x'],
     [['(Intercept)']],
     -3.257, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (1|g) + (1|g)',
     ['(Intercept)', 'x'],
     [['(Intercept)'], ['(Intercept)']],
     116.743, 240, ['G01', 'G02', 'G03']),
    ('y ~ x + (x + z || g)',
     ['(Intercept)', 'x'],
     [['(Intercept)'], ['x'], ['z']],
     116.743, 726.225, ['G01', 'G02', 'G03']),
    ('y ~ f*o + (1|g)',
     ['(Intercept)', 'fb', 'fc', 'o.L', 'o.Q', 'o.C', 'fb:o.L', 'fc:o.L', 'fb:o.Q', 'fc:o.Q', 'fb:o.C', 'fc:o.C'],
     [['(Intercept)']],
     206.260990337, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (0 + o | g)',
     ['(Intercept)', 'x'],
     [['olow', 'omid', 'ohigh', 'otop']],
     116.743, 120, ['G01', 'G02', 'G03']),
    ('y ~ lg*x + (1|g)',
     ['(Intercept)', 'lgTRUE', 'x', 'lgTRUE:x'],
     [['(Intercept)']],
     173.998, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (1|ch)',
     ['(Intercept)', 'x'],
     [['(Intercept)']],
     116.743, 120, ['blue', 'green', 'red']),
    ('y ~ x + (1|g:ch)',
     ['(Intercept)', 'x'],
     [['(Intercept)']],
     116.743, 120, ['G01:blue', 'G01:green', 'G01:red']),
    ('y ~ h + (h|f:g)',
     ['(Intercept)', 'hhi'],
     [['(Intercept)', 'hhi']],
     180, 180, ['a:G01', 'a:G02', 'a:G03']),
    ('y ~ log(z, 2) + log10(z) + sqrt(z) + (1|g)',
     ['(Intercept)', 'log(z, 2)', 'sqrt(z)'],
     [['(Intercept)']],
     625.89083371, 120, ['G01', 'G02', 'G03']),
    ('y ~ x %in% f + (1|g)',
     ['(Intercept)', 'x:fa', 'x:fb', 'x:fc'],
     [['(Intercept)']],
     116.743, 120, ['G01', 'G02', 'G03']),
    ('y ~ as.numeric(f) + (1|g)',
     ['(Intercept)', 'as.numeric(f)'],
     [['(Intercept)']],
     360, 120, ['G01', 'G02', 'G03']),
    ('y ~ scale(x, scale = FALSE) + (1|g)',
     ['(Intercept)', 'scale(x, scale = FALSE)'],
     [['(Intercept)']],
     120, 120, ['G01', 'G02', 'G03']),
    ('y ~ pmax(x, 0) + (1|g)',
     ['(Intercept)', 'pmax(x, 0)'],
     [['(Intercept)']],
     166.371, 120, ['G01', 'G02', 'G03']),
    ('y ~ I(x^2):f + (1|g)',
     ['(Intercept)', 'I(x^2):fa', 'I(x^2):fb', 'I(x^2):fc'],
     [['(Intercept)']],
     241.309653, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (1|g/ch)',
     ['(Intercept)', 'x'],
     [['(Intercept)'], ['(Intercept)']],
     116.743, 240, ['blue:G01', 'blue:G02', 'blue:G03']),
    ('y ~ f:h:x + (1|g)',
     ['(Intercept)', 'fa:hlo:x', 'fb:hlo:x', 'fc:hlo:x', 'fa:hhi:x', 'fb:hhi:x', 'fc:hhi:x'],
     [['(Intercept)']],
     116.743, 120, ['G01', 'G02', 'G03']),
    ('y ~ x + (f:h|g)',
     ['(Intercept)', 'x'],
     [['(Intercept)', 'fa:hlo', 'fb:hlo', 'fc:hlo', 'fa:hhi', 'fb:hhi', 'fc:hhi']],
     116.743, 240, ['G01', 'G02', 'G03']),
]


@pytest.fixture(scope="module")
def synth():
    return load_case_data({"data": "synth_design"})


@pytest.mark.parametrize("formula, xnames, cnms, xsum, zsum, rownames", CASES)
def test_design_rules_match_r(synth, formula, xnames, cnms, xsum, zsum, rownames):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LmerpyMessage)  # log(z, 2) and log10(z) are collinear
        des = build_design(parse_formula(formula), synth)
    assert des.X_colnames == xnames
    assert [c for _, c in des.cnms_list()] == cnms
    assert des.X.sum() == pytest.approx(xsum, abs=1e-8)
    assert des.Zt.sum() == pytest.approx(zsum, abs=1e-8)
    assert list(dict.fromkeys(des.Zt_rownames))[:3] == rownames  # R: unique(rownames(Zt))

"""glmer's L-BFGS-B driver (lmerpy.optimize.minimize._lbfgsb_direct) against SciPy's own
``minimize(method="L-BFGS-B")``: the same points asked for, in the same order, bit for bit,
and the same status and message — on bounded and unbounded problems, at the iteration and
evaluation limits, and on a glmer fit's two stages.
"""
import numpy as np
import pytest
from scipy.optimize import minimize

import lmerpy
from lmerpy.optimize import minimize as M

pytestmark = pytest.mark.skipif(M._setulb() is None,
                                reason="this SciPy's L-BFGS-B is not the one driven directly")


def _rosen(x):
    f = float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return f, g


def _both(fun, x0, lo, hi, opts):
    seen = {"direct": [], "scipy": []}

    def logged(key):
        def fg(x):
            seen[key].append(np.array(x, dtype=float))
            return fun(np.array(x, dtype=float))
        return fg

    direct = M._lbfgsb_direct(logged("direct"), x0, lo, hi, opts)
    bounds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b)
              for a, b in zip(lo, hi)]
    res = minimize(logged("scipy"), x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options=opts)
    return direct, (res.status, str(res.message)), seen


@pytest.mark.parametrize("lo, hi, opts", [
    ([-np.inf] * 4, [np.inf] * 4, {"ftol": 1e-13, "gtol": 1e-6}),
    ([0.0, -np.inf, 0.5, -1.0], [np.inf, 2.0, np.inf, 0.3], {"ftol": 1e-13, "gtol": 1e-6}),
    ([-np.inf] * 4, [np.inf] * 4, {"maxiter": 4}),
    ([-np.inf] * 4, [np.inf] * 4, {"maxfun": 6, "maxcor": 3}),
])
def test_same_points_and_status_as_scipy(lo, hi, opts):
    x0 = np.array([-1.2, 1.0, 3.0, -0.5])
    direct, scipy_res, seen = _both(_rosen, x0, np.array(lo), np.array(hi), opts)
    assert direct == scipy_res
    assert len(seen["direct"]) == len(seen["scipy"]) > 3
    for a, b in zip(seen["direct"], seen["scipy"]):
        np.testing.assert_array_equal(a, b)


def test_fixed_parameters_are_left_to_scipy():
    assert M._lbfgsb_direct(_rosen, np.zeros(2), np.array([0.0, 0.0]),
                            np.array([0.0, 1.0]), {}) is None


def test_glmer_stages_take_scipys_path(cbpp, monkeypatch):
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    direct = lmerpy.glmer(f, cbpp, family="binomial")
    monkeypatch.setattr(M, "_lbfgsb_direct", lambda *a: None)
    ref = lmerpy.glmer(f, cbpp, family="binomial")
    for a, b in ((direct.optsum, ref.optsum), (direct.optsum_stage1, ref.optsum_stage1)):
        assert len(a.fitlog) == len(b.fitlog)
        for (xa, fa), (xb, fb) in zip(a.fitlog, b.fitlog):
            np.testing.assert_array_equal(xa, xb)
            assert fa == fb
        assert a.message == b.message
    np.testing.assert_array_equal(direct.optsum.derivs["Hessian"],
                                  ref.optsum.derivs["Hessian"])


def test_messages_are_scipys():
    from scipy.optimize._lbfgsb_py import status_messages, task_messages
    for code, text in M._LBFGSB_STATUS.items():
        assert status_messages[code] == text
    for code, text in M._LBFGSB_TASK.items():
        assert task_messages[code] == text
    assert M._lbfgsb_message(7, 713) == status_messages[7] + ": " + task_messages[713]


def test_routine_is_scipys_own():
    """Loaded on its own (without scipy.optimize's package) or by import: the same routine."""
    from scipy.optimize import _lbfgsb
    assert M._setulb().__doc__ == _lbfgsb.setulb.__doc__

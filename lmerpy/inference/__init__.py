"""What users do with a fitted model: predictions, simulation, tests and intervals.

R equivalents: lme4's ``predict``, ``simulate``, ``anova``, ``drop1``, ``bootMer``,
``confint`` and ``profile`` methods for ``merMod`` fits, and pbkrtest's ``PBmodcomp``.

>>> import lmerpy
>>> fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
>>> lmerpy.predict(fit, re_form=lmerpy.NA)          # population-level fitted values

The functions are imported here eagerly: several share their module's name
(``lmerpy.inference.predict`` the function vs. the module ``predict.py``), and binding the
package attribute to the function once, at import, keeps ``lmerpy.inference.predict`` the
function whatever is imported later.
"""
import importlib

from .reform import NA
from .predict import predict
from .simulate import simulate
from .anova import AnovaTable, anova, drop1
from .bootstrap import BootResult, bootMer
from .pbmodcomp import PBmodcomp, PBModcompResult


def _optional(module, name):
    """Part B's functions (profile / confint), bound when their modules exist."""
    try:
        mod = importlib.import_module(f".{module}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module}":
            return None
        raise
    return getattr(mod, name)


confint = _optional("confint", "confint")
profile = _optional("profile", "profile")

__all__ = ["NA", "predict", "simulate", "anova", "drop1", "AnovaTable", "bootMer", "BootResult",
           "PBmodcomp", "PBModcompResult", "confint", "profile"]

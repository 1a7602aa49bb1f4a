"""What users do with a fitted model: predictions, simulation, tests and intervals.

R equivalents: lme4's ``predict``, ``simulate``, ``anova``, ``drop1``, ``bootMer``,
``confint`` and ``profile`` methods for ``merMod`` fits, and pbkrtest's ``PBmodcomp``.

>>> import lmerpy
>>> fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
>>> lmerpy.predict(fit, re_form=lmerpy.NA)          # population-level fitted values
"""
import importlib

from .reform import NA

_LAZY = {
    "predict": ".predict",
    "simulate": ".simulate",
    "anova": ".anova",
    "drop1": ".anova",
    "AnovaTable": ".anova",
    "bootMer": ".bootstrap",
    "BootResult": ".bootstrap",
    "PBmodcomp": ".pbmodcomp",
    # part B (profile / confint / ddf) -- imported when first used
    "confint": ".confint",
    "profile": ".profile",
}

__all__ = ["NA", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmerpy.inference' has no attribute {name!r}")
    try:
        mod = importlib.import_module(module, __name__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}{module}":
            raise AttributeError(f"lmerpy.inference.{name} is not available yet "
                                 f"(module lmerpy.inference{module} is missing)") from None
        raise
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

"""lmerpy: lme4 for Python.

Linear and generalized linear mixed-effects models with R's formula language, lme4's numbers
and lme4's printed summaries, on a sparse-Cholesky penalized least squares core.
"""
__version__ = "0.1.0"

from ._config import show_config  # noqa: E402
from .errors import (  # noqa: E402
    ConvergenceWarning, DataError, DesignError, FitError, FormulaError, FormulaSyntaxError,
    LmerpyError, LmerpyMessage, UnknownColumnError,
)
from . import datasets  # noqa: E402

__all__ = [
    "__version__", "show_config", "datasets",
    "LmerpyError", "FormulaSyntaxError", "FormulaError", "UnknownColumnError", "DataError",
    "DesignError", "FitError", "ConvergenceWarning", "LmerpyMessage",
]

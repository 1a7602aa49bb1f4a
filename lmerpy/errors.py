"""The errors lmerpy raises.

Every error lmerpy raises on bad input is a subclass of :class:`LmerpyError`, so callers can
catch one type. Messages name the column, token or level at fault and, where lme4 has a message
for the same condition, use lme4's words.

The warning categories live in :mod:`lmerpy.warnings`; ``ConvergenceWarning`` and
``LmerpyMessage`` are importable from here too, as before.
"""
from .warnings import ConvergenceWarning, LmerpyMessage  # noqa: F401  (re-exported)


class LmerpyError(Exception):
    """Base class of every error lmerpy raises on bad input or a failed fit."""


class FormulaSyntaxError(LmerpyError, SyntaxError):
    """A formula that does not parse: the message shows the formula with a caret at the fault.

    Attributes
    ----------
    formula : str
        The formula text.
    column : int
        0-based position of the offending character in ``formula``.
    """

    def __init__(self, message, formula="", column=0):
        self.formula = formula
        self.column = column
        caret = f"\n  {formula}\n  {' ' * column}^" if formula else ""
        super().__init__(f"{message}{caret}")

    def __str__(self):  # SyntaxError's own __str__ would append "(line ...)"
        return self.args[0] if self.args else ""


class FormulaError(LmerpyError):
    """A formula that parses but cannot be used (an unknown function, a misplaced term...)."""


class UnknownColumnError(LmerpyError, KeyError):
    """A formula names a column the data does not have (close matches are suggested)."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ""


class ArgumentError(LmerpyError, ValueError):
    """An argument of the public API has a value or type it cannot take (``REML="yes"``,
    ``nAGQ=-1``, an unknown ``type=``...): the message names the argument and the value."""


class DataError(LmerpyError, ValueError):
    """The data cannot be used as given (non-numeric response, infinite values, empty frame...)."""


class DesignError(LmerpyError, ValueError):
    """The design fails one of lme4's checks (levels vs observations, too few levels...)."""


class FitError(LmerpyError, RuntimeError):
    """The fit itself failed (e.g. lme4's 'Downdated VtV is not positive definite')."""


class DataNotHereError(LmerpyError, AttributeError):
    """A result needs the n-long data, which a fit on a Dask DataFrame keeps on the cluster
    (``fitted``, ``residuals``, the model matrices...): the message says what and why."""

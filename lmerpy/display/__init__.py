"""lme4-identical printed output: ``print(summary(fit))``, ``print(fit)``,
``print(VarCorr(fit))`` and ``printCoefmat``, built on an exact port of R's number formatting
rules (:mod:`lmerpy.display.rformat`).

The printers take plain data (:class:`~lmerpy.display.inputs.SummaryInput`,
:class:`~lmerpy.display.inputs.VarCorrBlock`), so they depend on no model class.
"""
from .inputs import SummaryInput, VarCorrBlock
from .mermod import (
    format_aictab, format_fixef_correlation, format_ngrps, format_print,
    format_residual_quantiles, format_summary, format_title, format_varcorr, format_vc_table,
    method_title, negative_binomial_family_name,
)
from .rprint import (
    format_anova, format_coef_table, print_matrix, print_named_vector, print_numeric_matrix,
)
from .rformat import (
    format_info, format_number, format_numbers, format_pval, formatC, quantile7, round_r,
    signif, zapsmall,
)
from .rtext import abbreviate, cat, make_names, strwrap

__all__ = [
    "SummaryInput", "VarCorrBlock", "format_anova",
    "format_summary", "format_print", "format_varcorr", "format_coef_table",
    "format_aictab", "format_fixef_correlation", "format_ngrps", "format_residual_quantiles",
    "format_title", "format_vc_table", "method_title", "negative_binomial_family_name",
    "print_matrix", "print_named_vector", "print_numeric_matrix",
    "format_info", "format_number", "format_numbers", "format_pval", "formatC", "quantile7",
    "round_r", "signif", "zapsmall",
    "abbreviate", "cat", "make_names", "strwrap",
]

"""The ``lmerpy`` command line: fit a model to a CSV file, list and export the bundled data.

::

    lmerpy fit DATA.csv "y ~ x + (1|g)" [--ml] [--family binomial [--link logit] [--nagq N]]
               [--factor COL ...] [--json]
    lmerpy datasets                      # the bundled data sets, one per line
    lmerpy datasets NAME [--output FILE.csv]

``python -m lmerpy`` is the same program. R equivalents: ``read.csv`` followed by
``print(summary(lmer(formula, data, REML)))`` or ``glmer(formula, data, family, nAGQ)``, and
``write.csv(data, row.names = FALSE)``.

Exit status: 0 on success, 2 for a usage error (a bad option or option value, an unknown
family, link or data set name), 1 for a data or model error (a missing or unreadable file, a bad formula, an unknown
column, a failed fit). Errors are printed as one message on stderr (a formula error adds the
formula with a caret under the fault), never as a traceback; set ``LMERPY_TRACEBACK=1`` to see
the traceback of an unexpected internal error.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .arguments import NAGQ
from .errors import ArgumentError, FormulaSyntaxError, LmerpyError, UnknownColumnError

__all__ = ["main", "build_parser", "read_data", "fit_model", "fit_to_dict"]

PROG = "lmerpy"


class UsageError(Exception):
    """A bad command line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of usage + message and its own exit."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------- data


def read_data(path, factors=()):
    """Read a CSV file as R's ``read.csv`` and lmer see it.

    String columns become factors (pandas Categoricals) with their levels sorted as R sorts
    them; TRUE/FALSE columns are logical; ``NA`` and empty fields are missing. ``factors``
    names numeric columns to turn into factors as well (R's ``factor(x)``: levels sorted
    numerically). The frame's ``attrs["name"]`` is the file's stem (the summary's ``Data:``).

    Parameters
    ----------
    path : str or Path
        The file, or ``"-"`` for standard input.
    factors : sequence of str
        Columns to make factors.

    Returns
    -------
    pandas.DataFrame
    """
    from .design.rformat import format_number, r_sort_key
    source = sys.stdin if str(path) == "-" else Path(path)
    if source is not sys.stdin and not source.is_file():
        reason = "no such file" if not source.exists() else "not a file"
        raise LmerpyError(f"cannot read '{path}': {reason}")
    try:
        df = pd.read_csv(source, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise LmerpyError(f"cannot read '{path}': the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LmerpyError(f"cannot read '{path}' as CSV: {first}") from None
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise LmerpyError(f"'{path}' has no data rows")
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            continue
        missing = s.isna().to_numpy()
        labels = [None if m else str(v) for v, m in zip(s.to_numpy(dtype=object), missing)]
        levels = sorted({v for v in labels if v is not None}, key=r_sort_key)
        df[col] = pd.Categorical(labels, categories=levels)
    for col in factors:
        if col not in df.columns:
            import difflib
            close = difflib.get_close_matches(col, [str(c) for c in df.columns], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UnknownColumnError(f"--factor: column '{col}' not found in '{path}'{hint}")
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        integer = bool(np.all(np.isnan(vals) | (vals == np.round(vals))))
        uniq = np.unique(vals[~np.isnan(vals)])
        labels = {u: format_number(float(u), integer=integer) for u in uniq}
        df[col] = pd.Categorical([None if math.isnan(v) else labels[v] for v in vals],
                                 categories=[labels[u] for u in uniq])
    df.attrs["name"] = "stdin" if source is sys.stdin else Path(path).stem
    return df


# ---------------------------------------------------------------------- fitting


#: ``--family`` names (R's, plus Python spellings); the negative binomial needs glmer_nb
CLI_FAMILIES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")
_ALIASES = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian"}


def _family(name, link):
    """The family object for ``--family``/``--link`` (usage errors for unknown names)."""
    from .families import FAMILIES
    key = _ALIASES.get(name, name)
    if key not in CLI_FAMILIES:
        import difflib
        close = difflib.get_close_matches(name, list(CLI_FAMILIES) + list(_ALIASES), n=1)
        hint = f"; did you mean '{_ALIASES.get(close[0], close[0])}'?" if close else ""
        raise UsageError(f"unknown family '{name}'{hint} (available: {', '.join(CLI_FAMILIES)})")
    try:
        return FAMILIES[key](link=link)
    except LmerpyError as exc:
        raise UsageError(str(exc)) from None


def _glmer():
    import lmerpy
    try:
        return lmerpy.glmer
    except AttributeError:
        pass
    try:
        from .models.glmm import glmer
    except ImportError:
        raise LmerpyError("--family needs lmerpy.glmer, which this installation does not "
                          "have yet") from None
    return glmer


def fit_model(data, formula, family=None, link=None, REML=True, nAGQ=None):
    """Fit ``lmer`` (no family) or ``glmer`` (a family name) and return the fit."""
    import lmerpy
    if family is None:
        return lmerpy.lmer(formula, data, REML=REML)
    fam = _family(family, link)
    glmer = _glmer()
    return glmer(formula, data, family=fam, nAGQ=1 if nAGQ is None else nAGQ)


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def fit_to_dict(fit):
    """The fit's main results as plain JSON-able data (R: ``fixef``, ``sqrt(diag(vcov))``,
    ``as.data.frame(VarCorr(fit))``, ``getME(fit, "theta")``, ``sigma``, ``logLik``, ``AIC``,
    ``BIC``, ``nobs``, ``ngrps`` and the convergence messages)."""
    beta = fit.fixef()
    se = np.sqrt(np.diag(fit.vcov().to_numpy(dtype=float)))
    vc = fit.VarCorr().as_dataframe()
    rows = [{"grp": r.grp, "var1": r.var1, "var2": r.var2, "vcov": _num(r.vcov),
             "sdcor": _num(r.sdcor)} for r in vc.itertuples(index=False)]
    ll = fit.logLik()
    fam = getattr(fit, "family", None)
    reml = bool(getattr(fit, "REML", False))
    out = {
        "formula": str(fit.call.get("formula", "")),
        "data": getattr(fit._data, "attrs", {}).get("name") if fit._data is not None else None,
        "model": "glmer" if fam is not None else "lmer",
        "REML": reml,
        "family": getattr(fam, "family", "gaussian"),
        "link": getattr(fam, "link", "identity"),
        "nAGQ": int(fit.nAGQ) if hasattr(fit, "nAGQ") else None,
        "nobs": int(fit.nobs()),
        "ngrps": {str(k): int(v) for k, v in fit.ngrps().items()},
        "fixef": {str(k): _num(v) for k, v in beta.items()},
        "se": {str(k): _num(v) for k, v in zip(beta.index, se)},
        "varcorr": rows,
        "theta": [_num(t) for t in fit.theta],
        "theta_names": list(getattr(fit.design, "theta_names", []) or []),
        "sigma": _num(fit.sigma()),
        "logLik": _num(ll),
        "df": int(ll.df),
        "AIC": _num(fit.AIC()),
        "BIC": _num(fit.BIC()),
        "deviance": None if reml else _num(fit.deviance()),
        "REMLcrit": _num(fit.REMLcrit()) if reml else None,
        "df.resid": int(fit.df_residual()),
        "singular": bool(fit.isSingular()),
        "optimizer": str(getattr(fit.optsum, "optimizer", "")),
        "convergence": {
            "code": int(getattr(fit.optsum, "return_code", 0) or 0),
            "messages": [str(m) for m in (getattr(fit.optsum, "conv_messages", None) or [])],
        },
    }
    return out


# ---------------------------------------------------------------------- commands


def _cmd_fit(args, out, err):
    if args.family is None:
        for flag, value in (("--link", args.link), ("--nagq", args.nagq)):
            if value is not None:
                raise UsageError(f"{flag} needs --family (it applies to glmer fits)")
    if args.nagq is not None:
        try:
            NAGQ("--nagq", args.nagq)
        except ArgumentError as exc:
            raise UsageError(str(exc)) from None
    data = read_data(args.data, factors=args.factor or ())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_model(data, args.formula, family=args.family, link=args.link,
                        REML=not args.ml, nAGQ=args.nagq)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    if args.json:
        result = fit_to_dict(fit)
        result["warnings"] = messages
        out.write(json.dumps(result, indent=2, allow_nan=False) + "\n")
    else:
        out.write(str(fit.summary()).rstrip("\n") + "\n")
    for m in messages:
        err.write(f"{PROG}: warning: {m}\n")
    return 0


def _cmd_datasets(args, out, err):
    from . import datasets
    if args.name is None:
        if args.output is not None:
            raise UsageError("--output needs a data set name")
        for name in datasets.list_datasets():
            out.write(name + "\n")
        return 0
    names = {n.lower(): n for n in datasets.list_datasets()}
    if args.name.lower() not in names:
        raise UsageError(f"no data set named '{args.name}' (available: "
                         f"{', '.join(datasets.list_datasets())})")
    df = datasets.load(args.name)
    if args.output is None or args.output == "-":
        df.to_csv(out, index=False, na_rep="NA")
        return 0
    try:
        df.to_csv(args.output, index=False, na_rep="NA")
    except OSError as exc:
        raise LmerpyError(f"cannot write '{args.output}': {exc.strerror or exc}") from None
    return 0


def build_parser():
    """The argparse parser of the ``lmerpy`` command."""
    from . import __version__
    parser = _Parser(prog=PROG, description="lme4 for Python: fit mixed models to CSV data and "
                     "print lme4's summary.",
                     epilog="Exit status: 0 ok, 1 data or model error, 2 usage error.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{fit,datasets}", parser_class=_Parser)
    fit = sub.add_parser("fit", help="fit lmer (or glmer with --family) and print the summary",
                         description="Fit a linear (lmer) or, with --family, a generalized "
                         "(glmer) mixed model to a CSV file and print lme4's summary.")
    fit.add_argument("data", help="CSV file with a header line ('-' for standard input); "
                     "string columns become factors with R's sorted levels")
    fit.add_argument("formula", help="lme4 formula, e.g. \"Reaction ~ Days + (Days | Subject)\"")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML (lmer)")
    fit.add_argument("--family", help="GLMM family: binomial, poisson, Gamma, inverse.gaussian, "
                     "gaussian (fits glmer)")
    fit.add_argument("--link", help="link function (default: the family's canonical link)")
    fit.add_argument("--nagq", type=int, metavar="N",
                     help="glmer's nAGQ: 0, 1 (Laplace, the default) or more quadrature points")
    fit.add_argument("--factor", action="append", metavar="COL",
                     help="treat this numeric column as a factor (repeatable)")
    fit.add_argument("--json", action="store_true",
                     help="print the estimates as JSON instead of the summary")
    fit.set_defaults(run=_cmd_fit)
    ds = sub.add_parser("datasets", help="list the bundled data sets, or export one as CSV",
                        description="List the bundled data sets, or write one as CSV.")
    ds.add_argument("name", nargs="?", help="a data set to export (case-insensitive)")
    ds.add_argument("--output", "-o", metavar="FILE.csv", help="write to FILE (default stdout)")
    ds.set_defaults(run=_cmd_datasets)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0, 1 or 2)."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            parser.print_help(err)
            return 2
        return args.run(args, out, err)
    except UsageError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return 2
    except FormulaSyntaxError as exc:
        err.write(f"{PROG}: error: bad formula: {exc}\n")
        return 1
    except ArgumentError as exc:    # a value the command line passed on: a usage error
        err.write(f"{PROG}: error: {exc}\n")
        return 2
    except LmerpyError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return 1
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")   # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback unless asked for
        if os.environ.get("LMERPY_TRACEBACK"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err.write(f"{PROG}: internal error: {type(exc).__name__}: {first} "
                  "(set LMERPY_TRACEBACK=1 for details; please report it)\n")
        return 1

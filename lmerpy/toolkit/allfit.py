"""Refit a model with every available optimizer (R: lme4 1.1-31's ``allFit`` and
``summary(allFit(fit))``).

Each refit is the fitted model's own design and deviance (no new design) optimized from lme4's
default start by another optimizer, with the fit's control otherwise (so a default lmer fit's
``polish`` finishes every optimizer at the optimum itself; pass
``control=lmerControl(polish=False)`` to compare the optimizers' own stopping points, as lme4
does). Optimizer names and their lme4 counterparts:

==================================  =====================================================
lmerpy (``allFit`` name)            lme4 1.1-31 ``allFit`` name
==================================  =====================================================
``bobyqa``                          ``bobyqa`` (minqa's BOBYQA; lmerpy: NLopt's, minqa's settings)
``Nelder_Mead``                     ``Nelder_Mead`` (lme4's own Nelder–Mead)
``nloptwrap.NLOPT_LN_NELDERMEAD``   ``nloptwrap.NLOPT_LN_NELDERMEAD``
``nloptwrap.NLOPT_LN_BOBYQA``       ``nloptwrap.NLOPT_LN_BOBYQA`` (lmer's default)
``lbfgsb``                          ``optimx.L-BFGS-B`` (lmerpy: on the analytic gradient)
``newton_ai``                       — (lmerpy only; LMMs)
—                                   ``nlminbwrap``, ``nmkbw`` (not in lmerpy)
==================================  =====================================================
"""
from __future__ import annotations

import os
import time
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..arguments import LOGICAL, Integer, argument_error
from ..errors import ArgumentError
from ..progress import parallel_map

if TYPE_CHECKING:
    from ..models.base import MixedModel

__all__ = ["allFit", "AllFit", "AllFitSummary", "ALLFIT_OPTIMIZERS"]

#: every optimizer allFit knows: name -> (lmerpy optimizer, optCtrl entries, models)
ALLFIT_OPTIMIZERS: Dict[str, Any] = {
    "bobyqa": ("bobyqa", {}, ("lmer", "glmer")),
    "Nelder_Mead": ("Nelder_Mead", {}, ("lmer", "glmer")),
    "nloptwrap.NLOPT_LN_NELDERMEAD": ("nloptwrap", {"algorithm": "NLOPT_LN_NELDERMEAD"},
                                      ("lmer", "glmer")),
    "nloptwrap.NLOPT_LN_BOBYQA": ("nloptwrap", {"algorithm": "NLOPT_LN_BOBYQA"},
                                  ("lmer", "glmer")),
    "lbfgsb": ("lbfgsb", {}, ("lmer",)),
    "newton_ai": ("newton_ai", {}, ("lmer",)),
}
#: the optCtrl entry that limits the evaluations, per optimizer (lme4's ``maxfun_arg``)
_MAXFUN_ARG = {"bobyqa": "maxfun", "Nelder_Mead": "maxfun", "nloptwrap": "maxeval",
               "lbfgsb": "maxfun", "newton_ai": None}
_MAXFUN = Integer(lower=1)


def _kind(fit) -> str:
    return "lmer" if getattr(fit, "r_kind", "lmer") == "lmer" else "glmer"


def _control_for(fit, name, base, maxfun):
    opt, extra, _ = ALLFIT_OPTIMIZERS[name]
    ctrl = dict(base.optCtrl)
    arg = _MAXFUN_ARG[opt]
    if arg is not None:
        ctrl[arg] = maxfun
    ctrl.update(extra)
    return base.replace(optimizer=opt if _kind(fit) == "lmer" else (opt, opt), optCtrl=ctrl)


def _one_fit(shared, name):
    """(fit or None, error or None, (user, system, elapsed) seconds)."""
    fit, base, maxfun = shared
    t0, c0 = time.perf_counter(), os.times()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ctl = _control_for(fit, name, base, maxfun)
            call = dict(fit.call, control=ctl)
            if _kind(fit) == "lmer":
                from ..models.lmm import mkMerMod, optimizeLmer
                opt = optimizeLmer(fit.devfun, start=fit.call.get("start"), control=ctl)
                out, err = mkMerMod(fit.devfun, opt, fit.design, data=fit.data, call=call), None
            else:
                from ..models.glmm import fit_glmm
                out = fit_glmm(fit.design, fit.family, nAGQ=fit.nAGQ, control=ctl,
                               start=fit.call.get("start"), backend=fit.call.get("backend"),
                               data=fit.data, call=call)
                err = None
        except Exception as exc:          # allFit's catch.errs: the failure is the result
            out, err = None, f"{type(exc).__name__}: {exc}"
    c1 = os.times()
    return out, err, (c1.user - c0.user, c1.system - c0.system, time.perf_counter() - t0)


def _data_name(fit) -> str:
    data = fit.data
    if data is None:
        return "NULL"
    return (getattr(data, "attrs", None) or {}).get("name") or "data"


class AllFit(dict):
    """What :func:`allFit` returns (R: an ``allFit`` list): optimizer name → refitted model,
    or the error message (a ``str``) of a refit that failed. ``print`` gives lme4's
    ``print.allFit``; :meth:`summary` lme4's ``summary.allFit``."""

    def __init__(self, items, fit, times):
        super().__init__(items)
        self.fit = fit
        self.times = times

    @property
    def failed(self) -> List[str]:
        return [k for k, v in self.items() if isinstance(v, str)]

    def summary(self) -> AllFitSummary:
        """R: ``summary(allFit(fit))``."""
        return AllFitSummary(self)

    def __str__(self) -> str:
        from ..display.rformat import format_number, signif
        from ..display.rtext import strwrap
        f = self.fit

        def ss(x, width=80):
            # lme4 cuts at width - 3 and strwraps (at 0.9 * 80); cat() joins the pieces
            return "".join(strwrap(x[:width - 3] + "...", 72)) if len(x) > width else x
        lines = ["original model:", ss(" ".join(f.design.formula.deparse_lines())) + " ",
                 f"data:  {_data_name(f)} ",
                 f"optimizers ({len(self)}): " + ss(", ".join(self))]
        bad = self.failed
        if bad:
            lines.append(f"{len(bad)} optimizer(s) failed")
        lines.append("differences in negative log-likelihoods:")
        nll = np.array([-float(v.logLik()) for v in self.values() if not isinstance(v, str)])
        if nll.size:
            sd = float(np.std(nll, ddof=1)) if nll.size > 1 else float("nan")
            mx = format_number(float(signif(np.max(nll - nll.min()), 3)))
            sdt = "NA" if not np.isfinite(sd) else format_number(float(signif(sd, 3)))
            lines.append(f"max= {mx} ; std dev= {sdt} ")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(str(self))


class AllFitSummary:
    """R: ``summary(allFit(fit))`` (class ``summary.allFit``): ``which_OK``, ``msgs``,
    ``fixef``, ``llik``, ``sdcor``, ``theta``, ``times``, ``feval`` (R's ``which.OK`` ...;
    also by R's names: ``s["which.OK"]``).

    As lme4 1.1-31, ``sdcor`` holds ``as.data.frame(VarCorr(m))$sdcor`` (per term the
    standard deviations, then the correlations, then σ) under the names of θ plus
    ``"sigma"``: for a term with correlations the names do not describe the values (lme4's
    labelling, kept).
    """

    def __init__(self, af: AllFit) -> None:
        names = list(af)
        ok = {k: not isinstance(v, str) for k, v in af.items()}
        fits = {k: v for k, v in af.items() if ok[k]}
        keys = list(fits)
        self.which_OK = pd.Series(ok, dtype=bool)
        self.msgs = {k: (list(v.optsum.conv_messages) or None) for k, v in fits.items()}
        first = next(iter(fits.values()), None)
        self.fixef = pd.DataFrame([v.fixef().to_numpy() for v in fits.values()], index=keys,
                                  columns=list(first.fixef().index) if first is not None
                                  else None)
        self.llik = pd.Series({k: float(v.logLik()) for k, v in fits.items()}, dtype=float)
        cols = []
        if first is not None:
            cols = list(first.design.theta_names) + (["sigma"] if first.sigma() != 1 else [])
        self.sdcor = pd.DataFrame([v.VarCorr().as_dataframe()["sdcor"].to_numpy(dtype=float)
                                   for v in fits.values()], index=keys, columns=cols or None)
        self.theta = pd.DataFrame([v.theta for v in fits.values()], index=keys,
                                  columns=list(first.design.theta_names) if first is not None
                                  else None)
        self.times = pd.DataFrame([af.times[k] for k in keys], index=keys,
                                  columns=["user.self", "sys.self", "elapsed"])
        self.feval = pd.Series({k: float(v.optsum.optimizer_evals)
                                if v.optsum.optimizer_evals is not None else np.nan
                                for k, v in fits.items()}, dtype=float)
        self._names = names

    def __getitem__(self, key: str) -> Any:
        table = {"which.OK": self.which_OK, "msgs": self.msgs, "fixef": self.fixef,
                 "llik": self.llik, "sdcor": self.sdcor, "theta": self.theta,
                 "times": self.times, "feval": self.feval}
        if key not in table:
            raise ArgumentError(f"summary(allFit): no element {key!r}; available: "
                                f"{', '.join(table)}")
        return table[key]

    def __str__(self) -> str:
        """R's print of the summary list (``$which.OK`` ... ``attr(,"class")``)."""
        from ..display.rprint import print_named_vector, print_numeric_matrix
        out = ["$which.OK",
               print_named_vector(["TRUE" if v else "FALSE" for v in self.which_OK],
                                  list(self.which_OK.index)), "", "$msgs"]
        for k, m in self.msgs.items():
            out.append(f"$msgs${k}")
            out.append("NULL" if not m else
                       print_named_vector([f'"{x}"' for x in m], [f"[{i + 1}]" for i in
                                                                  range(len(m))]))
            out.append("")
        out.append("")

        def mat(name, df):
            out.append(f"${name}")
            out.append(print_numeric_matrix(df.to_numpy(dtype=float), list(df.index),
                                            list(df.columns)))
            out.append("")
        mat("fixef", self.fixef)
        out += ["$llik", print_named_vector(list(self.llik.to_numpy()), list(self.llik.index)),
                ""]
        mat("sdcor", self.sdcor)
        mat("theta", self.theta)
        mat("times", self.times)
        out += ["$feval", print_named_vector(list(self.feval.to_numpy()),
                                             list(self.feval.index)), "",
                'attr(,"class")', '[1] "summary.allFit"']
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from ..display.html import pre_html
        return pre_html(str(self))


def allFit(fit: MixedModel, optimizers: Optional[Sequence[str]] = None,
           maxfun: int = 100000, control: Any = None, n_jobs: int = 1, progress: bool = True,
           verbose: bool = False) -> AllFit:
    """Refit with every available optimizer (R: ``allFit(fit, meth.tab, maxfun, verbose,
    parallel, ncpus)``).

    Parameters
    ----------
    fit : LinearMixedModel or GeneralizedLinearMixedModel
    optimizers : sequence of str, optional
        Names from :data:`ALLFIT_OPTIMIZERS` (default: all that apply to the model; see the
        module text for lme4's names).
    maxfun : int
        Evaluation limit of each optimizer (set as that optimizer's ``optCtrl`` entry).
    control : Control, optional
        The controls to vary (default: the fit's own), e.g. ``lmerControl(polish=False)``
        for the optimizers' own stopping points.
    n_jobs : int
        Worker processes (1: none; -1: one per CPU).
    progress : bool
        Show a progress bar when the refits take more than a couple of seconds.
    verbose : bool
        Print ``name : [OK]`` or ``name : [ERROR]`` per optimizer, as lme4 (in order, once
        all are done).

    Returns
    -------
    AllFit
        A dict name → fit (or the error message); ``print`` it for lme4's overview and call
        ``.summary()`` for lme4's table of criteria, estimates, messages and times.
    """
    from ..optimize import as_control, glmerControl, lmerControl
    kind = _kind(fit)
    maxfun = _MAXFUN("maxfun", maxfun, "allFit")
    progress = LOGICAL("progress", progress, "allFit")
    verbose = LOGICAL("verbose", verbose, "allFit")
    if optimizers is None:
        names = [k for k, v in ALLFIT_OPTIMIZERS.items() if kind in v[2]]
    else:
        names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
        for nm in names:
            if nm not in ALLFIT_OPTIMIZERS:
                raise argument_error("optimizers", nm, "one of " + ", ".join(ALLFIT_OPTIMIZERS),
                                     "allFit")
            if kind not in ALLFIT_OPTIMIZERS[nm][2]:
                raise ArgumentError(f"allFit: optimizer {nm!r} fits only "
                                    f"{', '.join(ALLFIT_OPTIMIZERS[nm][2])} models")
    base = as_control(control, kind, "allFit") if control is not None else fit.call.get("control")
    if base is None:
        base = lmerControl() if kind == "lmer" else glmerControl()
    res = parallel_map(_one_fit, names, shared=(fit, base, maxfun), n_jobs=n_jobs,
                       progress=progress, desc="allFit", unit="fit", caller="allFit")
    items = {nm: (r[0] if r[1] is None else r[1]) for nm, r in zip(names, res)}
    if verbose:
        for nm, r in zip(names, res):
            print(f"{nm} : [{'OK' if r[1] is None else 'ERROR'}]")
    return AllFit(items, fit, {nm: r[2] for nm, r in zip(names, res)})

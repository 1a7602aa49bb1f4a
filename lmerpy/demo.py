"""``make demo``: fit lme4's sleepstudy model and print what lme4 prints.

R equivalent::

    library(lme4)
    fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    summary(fm1)
"""
import time


def main():
    import lmerpy

    lmerpy.show_config()
    sleep = lmerpy.datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    print(f"\n>>> lf = lmerpy.lFormula({formula!r}, sleepstudy)")
    lf = lmerpy.lFormula(formula, sleep)
    print(f"terms: fixed {list(lf.formula.fixed.labels)}, random "
          f"{[t.deparse() for t in lf.formula.random]}")
    print(f"X: {lf.X.shape} {lf.X_colnames}; Zt: {lf.Zt.shape} with {lf.Zt.nnz} nonzeros")
    print("theta: " + ", ".join(f"{n} = {v:g} (lower {lo:g})"
                                for n, v, lo in zip(lf.theta_names, lf.theta, lf.lower)))
    print(f"\n>>> fit = lmerpy.lmer({formula!r}, sleepstudy)")
    fit = lmerpy.lmer(formula, sleep)
    t0 = time.perf_counter()
    lmerpy.lmer(formula, sleep)          # timed warm, as a second fit in the same process
    elapsed = time.perf_counter() - t0
    print(fit.summary())
    print(f"\nrefitted in {elapsed * 1000:.1f} ms ({fit.optsum.feval} deviance evaluations, "
          f"{fit.devfun.backend_name} backend)")


if __name__ == "__main__":
    main()

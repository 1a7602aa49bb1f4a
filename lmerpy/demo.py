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
    print(f"theta: {dict(zip(lf.theta_names, lf.theta))}; lower: {list(lf.lower)}")
    print(f"\n>>> fit = lmerpy.lmer({formula!r}, sleepstudy)")
    t0 = time.perf_counter()
    fit = lmerpy.lmer(formula, sleep)
    elapsed = time.perf_counter() - t0
    print(fit.summary())
    print(f"\nfitted in {elapsed * 1000:.1f} ms ({fit.optsum.feval} deviance evaluations, "
          f"{fit.devfun.backend_name} backend)")


if __name__ == "__main__":
    main()

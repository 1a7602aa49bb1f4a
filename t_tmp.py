import warnings, lmerpy, numpy as np, pandas as pd
ss = lmerpy.datasets.load("sleepstudy")
def tr(f):
    try:
        f()
    except Exception as e:
        print(type(e).__name__, [c.__name__ for c in type(e).__mro__[1:4]], "|", e)
tr(lambda: lmerpy.lmer("Reaction ~ Days + (1 | Subject)", ss.assign(Reaction=250.0)))
tr(lambda: lmerpy.lmer("Reaction ~ Days + (1 | one)", ss.assign(one="a")))
tr(lambda: lmerpy.lmer("Reaction ~ Days + (Days | Subject)", ss, control=lmerpy.lmerControl(optimizer="foo")))
tr(lambda: lmerpy.lmer("Reaction ~ Days + (1 | Subject)", ss, control=lmerpy.lmerControl(check_conv_singular=("stop", 1e-4))))
tr(lambda: lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("Dyestuff2"), control=lmerpy.lmerControl(check_conv_singular=("stop", 1e-4))))
tr(lambda: lmerpy.confint(lmerpy.lmer("Reaction ~ Days + (1 | Subject)", ss), level=1.5))
tr(lambda: lmerpy.lmer("Reaction ~ Days + (1 | Subject)", ss.assign(Days=np.where(ss.index==3, np.inf, ss.Days))))
tr(lambda: lmerpy.lmer("Reaction ~ Days", ss))
tr(lambda: lmerpy.lmer("Reaction ~ Days + (Days | Subject)", ss.iloc[:0]))

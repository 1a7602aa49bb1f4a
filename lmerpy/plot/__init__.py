"""Plots of fitted mixed models (matplotlib, an optional extra: ``pip install 'lmerpy[plot]'``).

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show()``;
with ``ax=`` it draws into the caller's Axes instead (one Axes, or a sequence or array of Axes
such as ``plt.subplots(2, 2)[1]`` for a plot of several panels, filled in the plot's panel
order) and returns that ``ax``. matplotlib is imported only when a plot is drawn.
R equivalents:

=============================  ======================================================
``caterpillar(fit)``           ``lattice::dotplot(ranef(fit, condVar = TRUE))``
``qqplot_ranef(fit)``          ``lattice::qqmath(ranef(fit, condVar = TRUE))``
``qqplot_residuals(fit)``      ``qqnorm(resid(fit)); qqline(resid(fit))``
``residuals_vs_fitted(fit)``   ``plot(fit)`` (with ``type = c("p", "smooth")``)
``profile_plot(prof)``         ``lattice::xyplot(profile(fit))``
``panel_plot(data, f, fit)``   ``lattice::xyplot(y ~ x | g, data)`` with fitted lines
``plot_influence(infl)``       ``dotplot(cooks.distance(influence(fit, groups)))``
``lowess(x, y)``               ``stats::lowess(x, y)``
=============================  ======================================================
"""
from .caterpillar import caterpillar, qqplot_ranef
from .diagnostics import qqplot_residuals, residuals_vs_fitted
from .influence_plot import plot_influence
from .panel import panel_plot
from .profile_plot import profile_plot
from .smooth import lowess

__all__ = ["caterpillar", "qqplot_ranef", "qqplot_residuals", "residuals_vs_fitted",
           "profile_plot", "panel_plot", "plot_influence", "lowess"]

"""Turn MLflow runs into answers: tidy frames, comparisons, regressions, plots, reports.

Reads stores only (the report task logs through ``avbench.tracking.reports``).
Import the submodules: ``runs`` (MLflow -> pandas), ``validity`` (a run's VALID |
INVALID verdict: every summary is built on VALID runs), ``compare``, ``quality`` (the
speed-vs-quality axes), ``plots``, ``bands``, ``report``.
"""

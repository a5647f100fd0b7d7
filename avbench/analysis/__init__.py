"""Turn MLflow runs into answers: tidy frames, comparisons, regressions, plots, reports.

Reads stores only (the report task logs through ``avbench.tracking.reports``).
Import the submodules: ``runs`` (MLflow -> pandas), ``compare``, ``plots``,
``bands``, ``report``.
"""

"""Maintainer tools of a source checkout, each run as ``python -m avbench.tools.<name>``:
``config_doc`` writes docs/configuration.md's groups and options from conf/, and
``readme_sample`` runs ``python -m avbench`` and puts what it prints into README.md."""

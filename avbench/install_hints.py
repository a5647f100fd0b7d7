"""What to install for a Hydra plugin a command line names but this environment lacks.

``hydra/launcher=ray`` without ``hydra-ray-launcher`` makes Hydra fail composition with a
``MissingConfigException`` ("Could not find 'hydra/launcher/ray'", the options it has and
its search path). For a launcher or sweeper avbench knows, that is one line naming the
install instead; an unknown name (a typo) keeps Hydra's own listing of the options.
"""

from __future__ import annotations

# Config group -> option -> what provides it (an avbench extra where there is one).
PLUGINS: dict[str, dict[str, str]] = {
    "hydra/launcher": {
        "joblib": "hydra-joblib-launcher>=1.2",  # a dependency of avbench itself
        "ray": "avbench[ray]",
        "ray_aws": "avbench[ray]",
        "submitit_local": "avbench[slurm]",
        "submitit_slurm": "avbench[slurm]",
        "rq": "hydra-rq-launcher",
    },
    "hydra/sweeper": {
        "optuna": "hydra-optuna-sweeper",
        "ax": "hydra-ax-sweeper",
        "nevergrad": "hydra-nevergrad-sweeper",
    },
}


def missing_plugin(error: BaseException) -> str | None:
    """``hydra/launcher=ray is not installed: pip install 'avbench[ray]' (installed: basic,
    joblib)`` for a Hydra ``MissingConfigException`` on a known plugin; None otherwise."""
    missing = getattr(error, "missing_cfg_file", None) or ""
    group, _, option = missing.rpartition("/")
    package = PLUGINS.get(group, {}).get(option)
    if package is None:
        return None
    options = getattr(error, "options", None)
    installed = f" (installed: {', '.join(options)})" if options else ""
    return f"{group}={option} is not installed: pip install '{package}'{installed}"

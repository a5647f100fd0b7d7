"""Command-line runs that several test files read (made once per session, each in a store
of its own copied from the migrated template): one end-to-end path is run once, not once
per file that checks a side of it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_cli

QUICK = ("preset=fast", "audio=1s", "bench.warmup=0", "bench.min_repeats=2",
         "bench.min_time_s=0")  # debug=default without its skipped evaluators: every figure
# What debug=default leaves out (conf/debug/default.yaml), for runs set up key by key.
SLOW_FIGURES_OFF = "bench.skip_evaluators=[dnsmos,separated_dnsmos,roofline]"


@dataclass(frozen=True)
class CliRun:
    done: subprocess.CompletedProcess[str]
    uri: str  # its store: root/mlflow.db
    root: Path
    work: Path  # the working directory it ran in (not where its store is)


def cli_in_own_store(root: Path, template_db: Path, *overrides: str) -> CliRun:
    """``python -m avbench <overrides>`` in ``root/work``, tracked in ``root/mlflow.db``."""
    work = root / "work"
    work.mkdir(parents=True)
    shutil.copy(template_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    done = run_cli(*overrides, cwd=work, env={"MLFLOW_TRACKING_URI": uri})
    return CliRun(done, uri, root, work)


def single_run(root: Path, template_db: Path, asset_cache: Path) -> CliRun:
    """One run of the default pipeline with its pretrained weights; the fast preset with
    HiFi-GAN V1, the one vocoder with public weights, so every graded path is real."""
    return cli_in_own_store(root, template_db, *QUICK, "preset.svc.vocoder=v1",
                            f"paths.cache_dir={asset_cache}")


def seeded_sweep(root: Path, template_db: Path, asset_cache: Path) -> CliRun:
    """preset=quality,fast with seeded weights (the bigger cell first), a sweep."""
    return cli_in_own_store(root, template_db, "-m", "preset=quality,fast", *QUICK[1:],
                            SLOW_FIGURES_OFF,
                            "weights=seeded", f"paths.cache_dir={asset_cache}",
                            f"hydra.sweep.dir={root}/sweep")

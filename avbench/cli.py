"""`python -m avbench` / `avbench`: compose with Hydra, run the task, exit with its status."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from avbench.config import register_configs

register_configs()


def config_path() -> str:
    """The Hydra config tree: conf/ of a source checkout (clone or editable install), else
    the copy installed with the wheel as the package avbench.conf."""
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "conf" / "config.yaml").is_file():
        return str(repo / "conf")
    return "pkg://avbench.conf"


@hydra.main(version_base="1.3", config_path=config_path(), config_name="config")
def _entry(cfg: DictConfig) -> float | None:
    from avbench import runner

    result = runner.run(cfg)
    # A sweeper that optimises gets the real-time factor (lower is better).
    return result.metrics.get("rtf")


def main() -> None:
    from avbench import interrupt, journal
    from avbench.measure.openmp import bound_idle_spin
    from avbench.sweeps.callbacks import close_interrupted_sweep

    bound_idle_spin()  # before the first `import torch` (in the task), or it is too late
    interrupt.install()
    try:
        _entry()
    except (interrupt.Interrupted, KeyboardInterrupt) as error:
        interrupt.acknowledge()
        stop = interrupt.as_interrupted(error)
        close_interrupted_sweep(stop)
        print(f"avbench: {stop}: the runs in progress were ended KILLED",
              file=sys.stderr)
        sys.exit(stop.exit_code)
    except BaseException as error:  # Hydra exits on a launcher's error: read the sweep back
        close_interrupted_sweep(error)
        raise
    close_interrupted_sweep()  # a no-op when the sweep ended normally
    sys.exit(journal.exit_code())

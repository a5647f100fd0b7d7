"""pytest plugin: the ``avbench_benchmark`` fixture and baselines in files.

    def test_vocoder(avbench_benchmark):
        result = avbench_benchmark(vocoder, torch.randn(1, 80, 430), audio_s=5.0)
        assert result.valid, result.reasons

Each call is one ``avbench.benchmark`` run (warm-up, adaptive repeats, statistics,
validity; MLflow off unless ``--avbench-mlflow``). ``--avbench-save=NAME`` writes every
VALID result, with its per-repeat samples, to ``.avbench/NAME.json`` under the rootdir (an
INVALID one fails its test and is not saved); ``--avbench-compare=NAME`` fails a test whose
benchmark is slower than in that file by task=compare's rule: per-repeat RTF changed by more
than ``threshold_pct`` and Mann-Whitney U gives p < ``alpha`` (conf/task/compare.yaml), and a
side too unstable to tell fails as "inconclusive" unless ``--avbench-gate-unstable``.
Registered as the ``pytest11`` entry point ``avbench``; torch, Hydra and MLflow load only
when a test uses the fixture.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from avbench.version import __version__

if TYPE_CHECKING:
    from avbench.api import Result

BASELINE_DIR = ".avbench"
FORMAT = 1
# What a baseline and a result must share to be compared: where and how the run ran.
IDENTITY = ("hardware", "device", "backend", "precision", "audio_s")


class BaselineWarning(UserWarning):
    """A benchmark with no entry in the baseline it is compared with."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("avbench", "avbench benchmarks (the avbench_benchmark fixture)")
    group.addoption("--avbench-save", metavar="NAME",
                    help="save each VALID benchmark as baseline NAME (.avbench/NAME.json under "
                         "the rootdir); an INVALID one fails its test and is not saved")
    group.addoption("--avbench-compare", metavar="NAME",
                    help="fail a benchmark significantly slower than in baseline NAME "
                         "(task=compare's rule, conf/task/compare.yaml)")
    group.addoption("--avbench-threshold-pct", type=float, metavar="PCT",
                    help="the smallest change that counts (default: task.threshold_pct of "
                         "conf/task/compare.yaml)")
    group.addoption("--avbench-alpha", type=float, metavar="P",
                    help="the Mann-Whitney p a change must be under (default: task.alpha)")
    group.addoption("--avbench-gate-unstable", action="store_true",
                    help="compare a side too unstable to tell on its measured change instead "
                         "of failing it as inconclusive (task.gate_unstable)")
    group.addoption("--avbench-mlflow", action="store_true",
                    help="log each benchmark to MLflow (tracking=mlflow: MLFLOW_TRACKING_URI, "
                         "else ./mlflow.db); off by default (tracking=none)")


@dataclass
class Session:
    """What this pytest session benchmarked, saved and compared."""

    folder: Path
    save: str | None
    compare: str | None
    gate_unstable: bool
    mlflow: bool
    threshold_pct: float | None = None  # None: task=compare's own (conf/task/compare.yaml)
    alpha: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)  # the compared file's entries
    saved: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # one per benchmark, for the summary
    keys: set[str] = field(default_factory=set)  # test id :: name of every benchmark run


SESSION = pytest.StashKey[Session]()


def pytest_configure(config: pytest.Config) -> None:
    session = Session(folder=Path(config.rootpath) / BASELINE_DIR,
                      save=config.getoption("avbench_save"),
                      compare=config.getoption("avbench_compare"),
                      gate_unstable=config.getoption("avbench_gate_unstable"),
                      mlflow=config.getoption("avbench_mlflow"),
                      threshold_pct=config.getoption("avbench_threshold_pct"),
                      alpha=config.getoption("avbench_alpha"))
    if session.compare:
        path = session.folder / f"{session.compare}.json"
        if not path.is_file():
            raise pytest.UsageError(f"no avbench baseline {path}: run the benchmarks with "
                                    f"--avbench-save={session.compare} first")
        session.baseline = json.loads(path.read_text())["benchmarks"]
    config.stash[SESSION] = session


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(SESSION, None)
    if state is not None and state.save and state.saved:
        write_baseline(state.folder / f"{state.save}.json", state.saved)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(SESSION, None)
    if state is None or not state.lines:
        return
    terminalreporter.section("avbench")
    for line in state.lines:
        terminalreporter.write_line(line)
    path = state.folder / f"{state.save}.json"
    if state.save and state.saved:
        terminalreporter.write_line(f"saved {len(state.saved)} benchmark(s) to {path}")
    elif state.save:
        terminalreporter.write_line(f"nothing saved to {path}: no VALID benchmark")


@pytest.fixture
def avbench_benchmark(request: pytest.FixtureRequest) -> Callable[..., Result]:
    """``avbench_benchmark(model_or_callable, inputs, **options) -> avbench.Result``: one
    ``avbench.benchmark`` run (options as there: ``audio_s``, ``backend``, ``bench={...}``;
    ``name`` defaults to the test's), saved or compared as the command line asks."""
    state = request.config.stash[SESSION]

    def run(model: Any, inputs: Any, **options: Any) -> Result:
        return benchmark(state, request.node, model, inputs, options)

    return run


def benchmark(state: Session, node: pytest.Item, model: Any, inputs: Any,
              options: dict[str, Any]) -> Result:
    """Run, then compare and save as asked; a failed run, an INVALID result to save, a
    slower or inconclusive comparison fail the test (all of them, in one message)."""
    import avbench

    name = options.pop("name", None) or re.sub(r"[^A-Za-z0-9_-]+", "_", node.name).strip("_")
    key = f"{node.nodeid}::{name}"
    if key in state.keys:
        pytest.fail(f"avbench: two benchmarks named {name} in {node.nodeid}: give each its own "
                    "name=", pytrace=False)
    state.keys.add(key)
    if not state.mlflow:
        options.setdefault("tracking", "none")
    result = avbench.benchmark(model, inputs, name=name, **options)
    if not result.ok:
        pytest.fail(f"avbench: {name} FAILED: {result.error}", pytrace=False)
    entry = baseline_entry(node.nodeid, name, result)
    problems = []
    verdict = ""
    if state.compare:
        verdict, problem = compare_entry(state, key, entry)
        problems += [problem] if problem else []
    if state.save and entry["validity"] == "VALID":
        state.saved[key] = entry
    elif state.save:
        problems.append(f"{name} is INVALID ({'; '.join(entry['reasons'])}): not saved as "
                        f"baseline {state.save}")
    state.lines.append(summary_line(entry, verdict))
    if problems:
        pytest.fail("avbench: " + "\navbench: ".join(problems), pytrace=False)
    return result


def baseline_entry(test: str, name: str, result: Result) -> dict[str, Any]:
    """What a baseline keeps of one result: its verdict, identity and per-repeat samples."""
    out_dir = Path(result.out_dir or ".")
    env = json.loads((out_dir / "environment.json").read_text())
    with (out_dir / "timings.csv").open(newline="") as handle:
        total_ms = [float(row["total_ms"]) for row in csv.DictReader(handle)]
    audio_s = float(result.metrics["audio_duration_s"])
    tags = result.tags
    return {
        "test": test, "name": name, "validity": result.validity, "reasons": result.reasons,
        "hardware": env.get("hardware_key"), "device": tags.get("device"),
        "backend": tags.get("backend.effective"), "precision": tags.get("precision.dtype"),
        "audio_s": audio_s, "machine": env.get("gpu_name") or env.get("cpu_model"),
        "git": (env.get("git") or {}).get("sha"), "loops": int(tags.get("bench.loops", 1)),
        "unstable": tags.get("bench.unstable") == "true", "rtf": result.metrics["rtf"],
        "rtf_cv": result.metrics.get("rtf.cv"), "total_ms": result.metrics["total_ms"],
        "total_ms_samples": total_ms, "rtf_samples": [ms / 1000.0 / audio_s for ms in total_ms],
    }


def compare_entry(state: Session, key: str, entry: dict[str, Any]) -> tuple[str, str | None]:
    """The verdict against the baseline (slower, faster, unchanged, inconclusive) and what
    fails the test, if anything: task=compare's statistics on per-repeat RTF."""
    import numpy as np

    from avbench.analysis.compare import INCONCLUSIVE, SLOWER, classify
    from avbench.analysis.validity import noise_only
    from avbench.measure.stats import speedup

    name, against = entry["name"], state.compare
    base = state.baseline.get(key)
    if base is None:
        warnings.warn(BaselineWarning(f"avbench: {name} has no entry in baseline {against}: "
                                      "not compared"), stacklevel=3)
        return "no baseline", None
    differs = [f"{k} {base[k]} vs {entry[k]}" for k in IDENTITY if base[k] != entry[k]]
    if differs:
        return "not compared", (f"{name} could not be compared with baseline {against}: they "
                                f"differ in {'; '.join(differs)}; compare like with like")
    if entry["validity"] != "VALID" and not noise_only(tuple(entry["reasons"])):
        return "not compared", (f"{name} is INVALID ({'; '.join(entry['reasons'])}): not "
                                f"compared with baseline {against}")
    threshold_pct, alpha = compare_rule(state.threshold_pct, state.alpha)
    baseline, candidate = (np.asarray(side["rtf_samples"]) for side in (base, entry))
    change = classify(baseline, candidate, threshold_pct, alpha)
    gain = speedup(baseline, candidate)
    figures = (f"{change.change_pct:+.1f} % (p={change.p_value:.2g}; speed-up {gain.ratio:.3f} "
               f"[{gain.ci_low:.3f}, {gain.ci_high:.3f}])")
    unstable = [side["name"] + (" (baseline)" if side is base else "") for side in (base, entry)
                if side["unstable"] or (side["validity"] != "VALID"
                                        and noise_only(tuple(side["reasons"])))]
    if unstable and not state.gate_unstable:
        return f"{INCONCLUSIVE} {figures}", (f"{name} vs baseline {against}: inconclusive, measured "
                              f"{change.verdict} {figures}, but {', '.join(unstable)} too "
                              "unstable to tell; rerun on a quiet machine (task=doctor) or pass "
                              "--avbench-gate-unstable")
    if change.verdict == SLOWER:
        return f"{SLOWER} {figures}", (f"{name} slower than baseline {against}: {figures}; the rule: more "
                        f"than {threshold_pct:g} % at Mann-Whitney p < {alpha:g}")
    return f"{change.verdict} {figures}", None


def compare_rule(threshold_pct: float | None = None,
                 alpha: float | None = None) -> tuple[float, float]:
    """``threshold_pct`` and ``alpha`` as given, else task=compare's (conf/task/compare.yaml)."""
    from importlib import resources

    from omegaconf import OmegaConf

    from avbench.cli import config_path

    path = config_path()
    text = ((resources.files("avbench.conf") / "task" / "compare.yaml").read_text()
            if path.startswith("pkg://") else (Path(path) / "task" / "compare.yaml").read_text())
    node = OmegaConf.create(text)
    return (float(node.threshold_pct if threshold_pct is None else threshold_pct),
            float(node.alpha if alpha is None else alpha))


def summary_line(entry: dict[str, Any], verdict: str) -> str:
    cv = "-" if entry["rtf_cv"] is None else f"{100 * entry['rtf_cv']:.1f} %"
    reasons = f" ({'; '.join(entry['reasons'])})" if entry["reasons"] else ""
    return (f"{entry['name']}: {entry['validity']}{reasons}, {entry['total_ms']:.4g} ms per call, "
            f"RTF {entry['rtf']:.4g}, CV {cv}, {len(entry['total_ms_samples'])} samples"
            + (f"; vs baseline: {verdict}" if verdict else ""))


def write_baseline(path: Path, entries: dict[str, Any]) -> None:
    """Merge ``entries`` into the baseline file (other tests' entries stay), atomically."""
    old = json.loads(path.read_text())["benchmarks"] if path.is_file() else {}
    record = {"format": FORMAT, "avbench": __version__,
              "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "benchmarks": old | entries}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(record, indent=1) + "\n")
    os.replace(temp, path)

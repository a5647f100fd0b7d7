"""The pytest plugin in a project of its own (pytester): save a baseline, compare with it,
and a planted slowdown fails; an INVALID result is not saved; MLflow only when asked; the
example test of docs/extending.md runs."""

from __future__ import annotations

import json
import re
from importlib.metadata import entry_points

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO

pytest_plugins = ["pytester"]

# A project's benchmark tests: two "models" sleep 20 ms per call; the planted slowdown
# (PLANTED_DELAY_MS) adds 40 ms to the upsampler's. A sleep costs about the same on a busy
# machine, and the machine's load is not what is tested here, so the busy-machine and
# stability limits are relaxed and a change counts from 50 % (--avbench-threshold-pct): the
# planted one is +200 %.
PROJECT_TEST = '''
import os
import time

import torch

PLANTED_S = float(os.environ.get("PLANTED_DELAY_MS", "0")) / 1000
QUIET = {"max_other_cpu_pct": 100, "max_steal_pct": 100, "max_cv": 1.0}
FAST = {"warmup": 1, "min_repeats": 8, "min_time_s": 0}


def vocoder(mel):
    time.sleep(0.02)
    return mel * 2


def upsampler(mel):
    time.sleep(0.02 + PLANTED_S)
    return mel * 2


def test_vocoder(avbench_benchmark):
    result = avbench_benchmark(vocoder, torch.ones(1, 80, 10), audio_s=0.1, bench=FAST,
                               validity=QUIET)
    assert result.ok and result.metrics["total_ms"] >= 20


def test_upsampler(avbench_benchmark):
    avbench_benchmark(upsampler, torch.ones(1, 80, 10), audio_s=0.1, bench=FAST,
                      validity=QUIET)


def test_too_few_repeats(avbench_benchmark):
    result = avbench_benchmark(vocoder, torch.ones(1, 8), name="short",
                               bench={"warmup": 0, "min_repeats": 2, "min_time_s": 0},
                               validity=QUIET)
    assert result.validity == "INVALID"
'''


def docs_example() -> str:
    """The example test of docs/extending.md ("In a test suite")."""
    match = re.search(r"<!-- example: tests/test_speed.py -->\n```python\n(.*?)```",
                      (REPO / "docs" / "extending.md").read_text(), re.S)
    assert match, "docs/extending.md lost its example test"
    return match[1]


def plugin_args() -> list[str]:
    """The installed entry point when this environment has it, else the module by name."""
    installed = any(ep.value == "avbench.pytest_plugin"
                    for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "avbench.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a process of its own, in the project's folder, as its user runs it."""
    return pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", *args,
                                         timeout=600)


def runs_in(uri: str) -> int:
    client = MlflowClient(tracking_uri=uri)
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


@pytest.mark.slow
def test_save_compare_and_a_planted_slowdown(pytester: pytest.Pytester, mlflow_store: str,
                                             asset_cache, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(asset_cache))
    pytester.makepyfile(test_bench=PROJECT_TEST, test_speed=docs_example())
    pytester.chdir()  # after mlflow_store's chdir: the project is where pytest runs

    saved = run(pytester, "test_bench.py", "--avbench-save=main", "--avbench-mlflow")
    saved.assert_outcomes(passed=2, failed=1)
    saved.stdout.fnmatch_lines(["*avbench: short is INVALID (repeats 2 < 5*): not saved as "
                                "baseline main*"])
    baseline = json.loads((pytester.path / ".avbench" / "main.json").read_text())
    assert sorted(baseline["benchmarks"]) == ["test_bench.py::test_upsampler::test_upsampler",
                                              "test_bench.py::test_vocoder::test_vocoder"]
    for entry in baseline["benchmarks"].values():
        assert entry["validity"] == "VALID" and len(entry["rtf_samples"]) >= 8
        assert min(entry["total_ms_samples"]) >= 20
    assert runs_in(mlflow_store) == 3  # --avbench-mlflow: every run logged

    monkeypatch.setenv("PLANTED_DELAY_MS", "40")
    compared = run(pytester, "--avbench-compare=main", "--avbench-threshold-pct=50",
                   "-k", "not too_few")
    compared.assert_outcomes(passed=2, failed=1)  # the docs' example has no baseline entry
    compared.stdout.fnmatch_lines(["*test_vocoder: VALID*; vs baseline: unchanged*"])
    compared.stdout.fnmatch_lines(["*BaselineWarning: avbench: test_vocoder_speed has no entry "
                                   "in baseline main: not compared*"])
    compared.stdout.fnmatch_lines(["*_ test_upsampler _*",
                                   "avbench: test_upsampler slower than baseline main: +*% "
                                   "(p=*; the rule: more than 50 % at Mann-Whitney p < 0.01",
                                   "*test_upsampler: VALID*; vs baseline: slower +*"])
    assert runs_in(mlflow_store) == 3  # logging is off by default


def test_comparing_with_a_baseline_that_is_not_there_is_a_usage_error(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    done = run(pytester, "--avbench-compare=absent")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(["*no avbench baseline *absent.json: run the benchmarks with "
                               "--avbench-save=absent first*"])

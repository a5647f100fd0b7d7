"""Every metric a run logs is in docs/metrics.md's table (one naming scheme, one place)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, run_cli

PLACEHOLDER = re.compile(r"<[a-z]+>")
CHOICES = re.compile(r"\{([\w,]+)\}")


def documented_patterns() -> list[re.Pattern[str]]:
    """The first column of the table under '## Metric names', as regular expressions."""
    text = (REPO / "docs" / "metrics.md").read_text()
    section = text.split("## Metric names", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert len(names) > 40, "docs/metrics.md lost its metric table"
    return [re.compile(to_regex(name)) for name in names]


def to_regex(name: str) -> str:
    out, pos = "", 0
    for match in re.finditer(f"{PLACEHOLDER.pattern}|{CHOICES.pattern}", name):
        out += re.escape(name[pos:match.start()])
        out += (f"(?:{'|'.join(match[1].split(','))})" if match[1] else r"[\w-]+")
        pos = match.end()
    return "^" + out + re.escape(name[pos:]) + "$"


def undocumented(names: set[str], patterns: list[re.Pattern[str]]) -> set[str]:
    return {n for n in names if not any(p.match(n) for p in patterns)}


def test_patterns_read_as_meant() -> None:
    patterns = documented_patterns()
    assert not undocumented({"rtf", "stage_ms.vocoder.p95", "rtf.ci_low", "latency_ms.p99",
                             "parity.split.split_0.max_abs", "parity.mixing.snr_db",
                             "kernels.f0.torch.speedup_vs_librosa_yin"}, patterns)
    assert undocumented({"rtf_cv", "latency_ms_p50", "repeats", "device.cuda",
                         "stage_ms.vocoder.p42", "monitor.cpu_pct_mean"},
                        patterns) == {"rtf_cv", "latency_ms_p50", "repeats", "device.cuda",
                                      "stage_ms.vocoder.p42", "monitor.cpu_pct_mean"}


@pytest.mark.slow
def test_every_logged_metric_is_documented(tmp_path: Path, mlflow_store: str,
                                           asset_cache: Path) -> None:
    """A sweep of the SVC pipeline on ONNX Runtime (parity, cold start, side by side with
    eager, profiling overhead) and the calibration pipeline: runs and the sweep parent."""
    done = run_cli("-m", "pipeline=svc,calibration", "backend=onnxruntime", "debug=default",
                   "bench.eager_side_by_side=2", "bench.overhead_check=true",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    names = {name for run in runs for name in run.data.metrics}
    assert {"rtf", "parity.vocoder.rel_l2", "vs_eager.total_speedup",
            "calibration.error_pct.long", "harness.profiling_overhead_pct"} <= names
    assert "vs_eager.total_speedup.ci_low" not in names  # no interval from 2 pairs
    assert undocumented(names, documented_patterns()) == set()

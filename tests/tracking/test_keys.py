"""The registry of names (avbench.tracking.keys): docs/metrics.md is generated from it, and
every name real runs log is in it."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from avbench.tools import keys_doc
from avbench.tracking.keys import Key, registered, registry, unregistered

VOLATILE = ("paths.", "tracking.", "avbench.process", "avbench.host", "avbench.pid")


def test_patterns_read_as_meant() -> None:
    assert not unregistered("metric", {
        "rtf", "stage_ms.vocoder.p95", "rtf.ci_low", "latency_ms.p99",
        "parity.split.split_0.max_abs", "parity.mixing.snr_db",
        "kernels.f0.torch.speedup_vs_librosa_yin", "repeat.total_ms"})
    wrong = {"rtf_cv", "latency_ms_p50", "repeats", "device.cuda", "stage_ms.vocoder.p42",
             "monitor.cpu_pct_mean", "stage_ms.a.b"}
    assert unregistered("metric", wrong) == wrong
    # <key> spans dots (a config path, a metric name); {a.b,c} choices are literal
    assert registered("param", "preset.svc.hidden") and registered("tag", "grading.f0_clean.x")
    assert registered("tag", "avbench.sweep.name") and not registered("tag", "avbenchXsweepXname")
    assert not registered("param", "paths.output_dir") and registered("tag", "paths.output_dir")
    assert registered("tag", "mlflow.runName")  # MLflow's own
    with pytest.raises(ValueError, match="kind"):
        registered("metrics", "rtf")


def test_each_entry_is_complete_and_once() -> None:
    keys = registry()
    assert len({(k.kind, k.name) for k in keys}) == len(keys)
    assert all(k.meaning and k.when for k in keys)
    assert all(k.unit for k in keys if k.kind in ("metric", "series"))
    assert {"grading.<key>", "memory.method", "pitch.labels"} <= {k.name for k in keys}


def test_docs_are_the_registry() -> None:
    """docs/metrics.md's tables are what the registry generates; an edit by hand fails."""
    text = keys_doc.DOC.read_text()
    assert keys_doc.stale(text) == [], "run: python -m avbench.tools.keys_doc"
    row = "| `memory.method` |"
    assert row in text
    edited = text.replace(row, "| `memory.how` |")
    assert keys_doc.stale(edited) == ["tags"]
    dropped = "\n".join(line for line in text.splitlines() if not line.startswith("| `rtf` |"))
    assert keys_doc.stale(dropped + "\n") == ["metrics"]
    assert keys_doc.regenerate(edited) == text


def test_default_params_listed_are_a_default_runs() -> None:
    params = keys_doc.default_params()
    assert f"logs these {len(params)} params" in keys_doc.generated("default-params")
    assert "`preset.svc.hidden=192`" in keys_doc.generated("default-params")


def _runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _check_record(run) -> None:
    data = run.data
    for kind, names in (("param", data.params), ("metric", data.metrics), ("tag", data.tags)):
        assert unregistered(kind, names) == set(), (run.info.run_name, kind)
    assert not set(data.params) & set(data.tags), "a param is also a tag"
    assert not set(data.params) & set(data.metrics), "a param is also a metric"
    assert not set(data.tags) & set(data.metrics), "a tag is also a metric"
    assert not [k for k in data.params if k.startswith(VOLATILE) or k.endswith("cache_dir")]


def test_a_default_runs_record(cli_single_run) -> None:
    """The session's default CLI run: every name registered, none in two kinds, nothing
    volatile among the params, at most 60 of them, none a run of SVC does not read."""
    (run,) = _runs(cli_single_run.uri)
    _check_record(run)
    params, tags = run.data.params, run.data.tags
    assert len(params) <= 60, len(params)
    assert not {"pipeline.voice", "pipeline.max_chars", "pipeline.threads",
                "backend.providers", "backend.opset", "backend.workspace_mb",
                "precision.parity.max_rel_l2", "bench.min_gpu_util_pct", "text.name",
                "sweep.resume", "validity.max_cv", "model.parameters.vocoder"} & set(params)
    assert tags["validity.max_cv"] == "0.1" and "precision.dtype" not in tags
    assert tags["paths.output_dir"].endswith(run.info.run_id)
    assert int(tags["model.parameters.vocoder"]) > 0
    assert tags["memory.method"] and tags["pitch.labels"] == "synthetic score (exact)"


def test_a_sweeps_record(cli_seeded_sweep) -> None:
    """The seeded sweep's cells and its parent: every name registered, none in two kinds."""
    runs = _runs(cli_seeded_sweep.uri)
    assert len(runs) == 3
    for run in runs:
        _check_record(run)
    (parent,) = [r for r in runs if r.data.tags.get("avbench.sweep") == "true"]
    assert "sweep.cells" in parent.data.metrics and "sweep.cells" not in parent.data.params
    cells = [r for r in runs if r is not parent]
    assert all("avbench.host" not in r.data.tags and "avbench.pid" not in r.data.tags
               and r.data.tags["avbench.process.pid"] for r in cells)


def test_the_record_warns_of_an_unregistered_name(caplog: pytest.LogCaptureFixture) -> None:
    from avbench.runner import TagRecorder
    from avbench.tracking import NullLogger

    kept: dict[str, str] = {}
    logger = TagRecorder(NullLogger(), kept, user_tags=["team"])
    logger.set_tags({"team": "voice", "validity": "VALID"})
    logger.log_metrics({"rtf": 0.5, "speed_of_light": 1.0})
    assert kept == {"team": "voice", "validity": "VALID"}
    warned = [r.getMessage() for r in caplog.records if "not in avbench" in r.getMessage()]
    assert len(warned) == 1 and "'speed_of_light'" in warned[0]


def test_key_pattern_placeholders() -> None:
    key = Key("kernels.<family>.<impl>.{gbs,gflops}", "metric", "GB/s", "m", "w")
    assert key.pattern().match("kernels.stft.triton.gbs")
    assert not key.pattern().match("kernels.stft.triton.tflops")

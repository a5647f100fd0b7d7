"""Every load scenario, and the TTS pipeline, on tiny settings, recorded in a private MLflow
store: in process through the job runner, and a bad input through the real command line."""

import contextlib
import io
import math
import types
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from avbench import runner
from avbench.config import register_configs
from tests.conftest import run_cli
from tests.test_config import CONF

TINY_TTS = ("pipeline=tts", "text=short", "debug=default", "bench.threads=1",
            "pipeline.settings.hidden=64", "pipeline.settings.encoder_layers=1",
            "pipeline.settings.decoder_layers=1", "pipeline.settings.filter_channels=128")
LOADGEN_TINY = ("scenario.duration_s=0.5", "scenario.min_queries=3", "scenario.max_queries=6")


def runs(uri: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def only_run(uri: str) -> Any:
    (run,) = runs(uri)
    return run


def cli(tmp_path: Path, asset_cache: Path, *overrides: str) -> Any:
    """One run tracked in the test's store, in process (the command line's own behaviour is
    tested in tests/test_cli.py and by the CLI test below); ``.stdout``: what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = runner.run(compose_run(tmp_path, asset_cache, "tracking=mlflow", *overrides))
    assert result.ok, result.error
    return types.SimpleNamespace(stdout=printed.getvalue(), result=result)


def artifacts(uri: str, run_id: str, path: str = "") -> set[str]:
    from mlflow.tracking import MlflowClient

    return {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run_id, path)}


@pytest.mark.slow
def test_tts_repeats(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    cli(tmp_path, asset_cache, *TINY_TTS)
    run = only_run(mlflow_store)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["rtf"] > 0 and run.data.metrics["audio_duration_s"] > 0
    assert {k: v for k, v in run.data.tags.items() if k.startswith("model.weights.")} == {
        f"model.weights.{c}": "seeded" for c in ("text_encoder", "duration_predictor", "decoder",
                                           "vocoder")}
    assert {"stage_ms.text_frontend", "stage_ms.acoustic", "stage_ms.vocoder"} <= set(
        run.data.metrics)


@pytest.mark.slow
def test_single_stream_streaming(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    out = cli(tmp_path, asset_cache, *TINY_TTS, "scenario=single_stream", *LOADGEN_TINY)
    run = only_run(mlflow_store)
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.status == "FINISHED" and tags["loadgen.scenario"] == "SingleStream"
    assert tags["loadgen.result"] in ("VALID", "INVALID")
    assert tags["loadgen.result"] in out.stdout
    # The run's own verdict, first in its summary; p99 of at most 6 queries is left out.
    assert tags["validity"] in ("VALID", "INVALID")
    assert f"avbench · {run.info.run_name} · {tags['validity']}" in out.stdout
    assert "latency_ms.p99" not in metrics and "p99" in tags["stats.omitted"]
    assert 0 < metrics["ttfa_ms.p50"] <= metrics["latency_ms.p50"]
    assert metrics["rps"] > 0 and metrics["asps"] > 0 and metrics["success_rate"] == 1.0
    assert {"mlperf_log_summary.txt", "mlperf_log_detail.txt", "requests.csv"} <= artifacts(
        mlflow_store, run.info.run_id)
    assert int(tags["load.requests"]) >= 3
    assert tags["load.errors"] == "0" and tags["load.latency_source"] == "loadgen"


@pytest.mark.slow
def test_offline(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    cli(tmp_path, asset_cache, *TINY_TTS, "scenario=offline", "scenario.target_qps=4",
        *LOADGEN_TINY)
    run = only_run(mlflow_store)
    assert run.data.tags["loadgen.scenario"] == "Offline"
    assert run.data.metrics["rps"] > 0 and run.data.metrics["cps"] > 0
    assert "latency_ms.p50" not in run.data.metrics  # Offline latencies are not per request


@pytest.mark.slow
def test_server_with_peak_ramp(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    cli(tmp_path, asset_cache, *TINY_TTS, "scenario=server", "scenario.target_qps=2",
        *LOADGEN_TINY, "scenario.find_peak=true", "scenario.peak_duration_s=0.5",
        "scenario.peak_max_qps=4", "scenario.latency_bound_ms=60000")
    run = only_run(mlflow_store)
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["loadgen.scenario"] == "Server"
    assert tags["loadgen.performance_constraints"] in ("Yes", "NO")
    assert tags["server.peak_bound"] == "p90 latency <= 60000 ms"
    assert metrics["server.peak_qps"] >= 2.0  # a 60 s bound holds at 2 QPS on any machine
    assert "ok" in tags["server.peak_steps"]


@pytest.mark.slow
def test_concurrency_child_runs(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    out = cli(tmp_path, asset_cache, *TINY_TTS, "scenario=concurrency", "scenario.levels=[1,2]",
              "scenario.requests_per_level=4")
    all_runs = runs(mlflow_store)
    parent = next(r for r in all_runs if "mlflow.parentRunId" not in r.data.tags)
    children = {r.data.tags["scenario.concurrency"]: r for r in all_runs if r is not parent}
    assert set(children) == {"1", "2"}
    for child in children.values():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert child.data.metrics["rps"] > 0 and child.data.metrics["ttfa_ms.p50"] > 0
        assert child.data.metrics["success_rate"] == 1.0
        assert child.data.tags["load.requests"] == "4" and child.data.tags["load.errors"] == "0"
        # Four requests a level: no p90/p99 from them, and too few for a valid level.
        assert "ttfa_ms.p99" not in child.data.metrics
        assert child.data.tags["stats.omitted"] == (
            "p90, p95, p99 of latency_ms, ttfa_ms: 4 < 10, 20, 100 samples")
        assert child.data.tags["validity"] == "INVALID"
        assert child.data.tags["validity.reasons"] == "requests 4 < 5"
    assert parent.data.metrics["rps"] == max(c.data.metrics["rps"] for c in children.values())
    assert "concurrency 2" in out.stdout
    assert "concurrency 1: requests 4 < 5" in parent.data.tags["validity.reasons"]


@pytest.mark.slow
def test_svc_streaming(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    cli(tmp_path, asset_cache, "debug=default", "bench.threads=1", "scenario=streaming",
        "scenario.chunk_s=0.25", "scenario.context_s=0.25")
    run = only_run(mlflow_store)
    metrics = run.data.metrics
    assert run.data.tags["stream.chunks"] == "4"
    assert 0.0 <= metrics["stream.deadline_miss_pct"] <= 100.0
    assert metrics["stream.added_latency_ms.p50"] > 250.0  # the chunk itself + processing
    assert metrics["stream.jitter_ms.p50"] >= 0.0 and "stream.jitter_ms.p99" not in metrics
    assert "chunks 4 < 5" in run.data.tags["validity.reasons"]


@pytest.mark.slow
def test_http_against_our_server(tmp_path: Path, asset_cache: Path, mlflow_store: str) -> None:
    out = cli(tmp_path, asset_cache, *TINY_TTS, "scenario=http", *LOADGEN_TINY,
              "scenario.paired=2")
    run = only_run(mlflow_store)
    tags, metrics = run.data.tags, run.data.metrics
    assert metrics["http.in_process_ms.p50"] > 0 and metrics["http.latency_ms.p50"] > 0
    assert math.isfinite(metrics["http.overhead_pct"])
    assert "HTTP overhead" in out.stdout
    assert tags["http.server"] == "ours" and tags["http.url"].startswith("http://127.0.0.1:")
    assert tags["load.failures"] == "none" and run.data.metrics["success_rate"] == 1.0
    assert run.data.metrics["ttfa_ms.p50"] > 0
    assert run.data.params["scenario.response_format"] == "pcm" and tags["http.model"] == "tts"


def compose_run(tmp_path: Path, asset_cache: Path, *overrides: str) -> Any:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["tracking=none", f"paths.cache_dir={asset_cache}",
                                            f"paths.output_dir={tmp_path / 'out'}",
                                            *overrides])


@pytest.mark.slow
def test_http_refused_is_counted_not_a_crash(tmp_path: Path, asset_cache: Path) -> None:
    from avbench.serve.server import free_port

    result = runner.run(compose_run(tmp_path, asset_cache, *TINY_TTS, "scenario=http",
                                   *LOADGEN_TINY, f"scenario.url=http://127.0.0.1:{free_port()}"))
    assert result.ok and result.metrics["success_rate"] == 0.0 and result.metrics["rps"] == 0.0
    assert "connection failed: connection refused" in result.tags["load.failures"]
    assert result.tags["load.errors"] == result.tags["load.requests"]
    assert result.tags["load.result"] == "INVALID"
    assert not any(k.startswith("latency_ms.") for k in result.metrics)
    assert (tmp_path / "out" / "loadgen" / "mlperf_log_summary.txt").exists()


@pytest.mark.slow
def test_server_streaming_below_the_latency_is_invalid_naming_the_bound(
        tmp_path: Path, asset_cache: Path) -> None:
    """Streaming (LoadGen's token mode) with a latency bound below any real request: the
    run is INVALID for its latency bound, its TTFA bound (a minute) held."""
    result = runner.run(compose_run(tmp_path, asset_cache, *TINY_TTS, "scenario=server",
                                   "scenario.streaming=true", "scenario.target_qps=4",
                                   "scenario.duration_s=1", "scenario.min_queries=6",
                                   "scenario.max_queries=8", "scenario.latency_bound_ms=1",
                                   "scenario.ttfa_bound_ms=60000"))
    tags = result.tags
    assert result.ok and tags["load.bound_failed"] == "latency"
    assert tags["load.result"] == "INVALID"
    assert tags["load.invalid_reasons"].startswith("latency bound:")
    assert tags["loadgen.performance_constraints"] == "Yes"  # LoadGen's own: TTFT held
    table = (tmp_path / "out" / "loadgen" / "requests.csv").read_text().splitlines()
    assert len(table) == 1 + int(tags["load.requests"])


def test_bad_text_file_fails_the_run_with_one_line(tmp_path: Path, asset_cache: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = runner.run(compose_run(tmp_path, asset_cache, "pipeline=tts", f"text.path={empty}"))
    assert not result.ok
    assert capsys.readouterr().err.strip() == (
        f"avbench: error: text.path={empty} has no text; give one utterance per line")


@pytest.mark.slow
def test_bad_text_through_the_cli_is_a_failed_run(tmp_path: Path, mlflow_store: str) -> None:
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\xff")
    result = run_cli("pipeline=tts", f"text.path={binary}", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"avbench: error: text.path={binary} is a binary file")
    run = only_run(mlflow_store)
    assert run.info.status == "FAILED" and "binary file" in run.data.tags["error"]


def test_loadgen_scenario_on_svc_is_a_clear_error(tmp_path: Path, asset_cache: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.run(compose_run(tmp_path, asset_cache, "debug=default",
                                   "scenario=single_stream"))
    assert not result.ok
    assert "scenario=single_stream drives a text pipeline (pipeline=tts)" in result.error

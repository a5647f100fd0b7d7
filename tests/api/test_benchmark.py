"""avbench.benchmark on modules that are not ours, through the real run machinery."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

import avbench

FAST = {"min_repeats": 3, "min_time_s": 0, "warmup": 0}


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = ("import avbench, sys; "
            "print(sorted(m for m in ('torch', 'hydra', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_torchaudio_model_on_onnxruntime_is_recorded(mlflow_store: str,
                                                      asset_cache: Path) -> None:
    torchaudio = pytest.importorskip("torchaudio")
    torch.manual_seed(0)
    model = torchaudio.models.ConvTasNet(
        num_sources=2, enc_kernel_size=16, enc_num_feats=32, msk_kernel_size=3,
        msk_num_feats=16, msk_num_hidden_feats=32, msk_num_layers=2, msk_num_stacks=1)
    mixture = torch.randn(1, 1, 8000)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    result = avbench.benchmark(model, mixture, name="convtasnet", audio_s=0.5,
                               backend="onnxruntime", bench=FAST,
                               paths={"cache_dir": str(asset_cache)})

    assert result.ok, result.error
    assert result.tags["backend.effective"] == "onnxruntime"
    assert result.tags["parity.pass"] == "true"  # against the fp32 eager reference
    assert result.metrics["parity.convtasnet.rel_l2"] < 1e-3
    assert result.metrics["rtf"] == pytest.approx(result.metrics["total_ms"] / 1000 / 0.5)
    assert set(result.summary["stage_timings_ms"]) == {"convtasnet", "total"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    run = MlflowClient(tracking_uri=mlflow_store).get_run(result.run_id)
    # Its name, then what differs from the defaults (the harness's bench and paths are not).
    assert run.info.status == "FINISHED" and run.info.run_name == "convtasnet-onnxruntime-0.5s"
    assert run.data.params["pipeline._target_"] == "avbench.pipelines.modules.ModulePipeline"
    assert run.data.params["backend.name"] == "onnxruntime"
    assert run.data.tags["choice.pipeline"] == "custom"
    assert run.data.metrics["stage_ms.convtasnet"] > 0
    assert "convtasnet" in str(result) and result.run_id in str(result)


class Join(torch.nn.Module):
    """A stage of two inputs (the two outputs of the stage before)."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = torch.nn.Bilinear(40, 40, 8)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.mix(a.transpose(1, 2), b.transpose(1, 2))


@pytest.mark.slow
def test_named_stages_in_fp16_and_a_plain_callable(mlflow_store: str, asset_cache: Path) -> None:
    torch.manual_seed(0)

    def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # a callable, two outputs
        return x[:, :40], x[:, 40:]

    stages = [("encoder", torch.nn.Conv1d(80, 80, 3, padding=1)), ("split", split),
              ("decoder", Join())]

    result = avbench.benchmark(stages, torch.randn(1, 80, 40), name="three", precision="fp16",
                               bench=FAST, paths={"cache_dir": str(asset_cache)})

    assert result.ok, result.error
    assert list(result.summary["stage_timings_ms"]) == ["encoder", "split", "decoder", "total"]
    # Both outputs of the split stage are compared with the fp32 reference.
    assert {"parity.split.split_0.rel_l2", "parity.split.split_1.rel_l2"} <= set(result.metrics)
    assert result.tags["precision"] == "fp16" and result.tags["parity.pass"] == "true"


def test_a_failing_model_is_a_failed_run(mlflow_store: str, asset_cache: Path) -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("shape mismatch in my model")

    result = avbench.benchmark(broken, torch.zeros(3), name="broken", bench=FAST,
                               paths={"cache_dir": str(asset_cache)})

    assert not result.ok and "shape mismatch in my model" in result.error
    run = MlflowClient(tracking_uri=mlflow_store).get_run(result.run_id)
    assert run.info.status == "FAILED"


def test_the_result_carries_the_verdict(asset_cache: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Three repeats of a tiny module: INVALID for its repeats whatever the machine; a call
    this short is timed in batches, per call, with the digits it needs. The run names and
    prints its own module and input, not the command line's song and preset."""
    result = avbench.benchmark(torch.nn.Linear(8, 8), torch.randn(1, 8), audio_s=0.25,
                               tracking="none", bench=FAST,
                               paths={"cache_dir": str(asset_cache)})
    assert result.ok, result.error
    printed = capsys.readouterr().out
    assert result.name == "Linear-0.25s" and "avbench · Linear-0.25s · INVALID" in printed
    assert ("[1/5] input  the example inputs, a tensor (1, 8) float32; one call stands for "
            "0.25 s of audio") in printed
    assert "[2/5] build  Linear fp32 on cpu (pytorch)" in printed
    assert "synthetic song" not in printed and "balanced" not in printed
    assert result.validity == "INVALID" and not result.valid
    assert result.reasons[0] == "repeats 3 < 5" and result.tags["validity.reasons"].startswith(
        "repeats 3 < 5")
    assert result.tags["bench.batched"] == "true" and "rtf.ci_low" not in result.metrics
    text = str(result)
    assert text.startswith("Linear-0.25s: INVALID: repeats 3 < 5")
    assert "no 95% CI" in text and "RTF 0.000," not in text


def test_a_module_run_is_named_after_the_module_and_what_differs() -> None:
    from avbench.api import changed_settings, module_label

    def vocode(mel: torch.Tensor) -> torch.Tensor:
        return mel

    assert module_label(torch.nn.GRU(4, 4)) == "GRU" and module_label(vocode) == "vocode"
    assert module_label(lambda x: x) == "lambda"
    assert module_label({"encoder": torch.nn.ReLU(), "vocoder": vocode}) == "encoder+vocoder"
    assert module_label([("a", torch.nn.ReLU()), ("b", vocode)]) == "a+b"
    defaults = {"backend": "pytorch", "precision": "fp32", "gpu": "auto"}
    choices = {"backend": "onnxruntime", "precision": "fp32", "gpu": "cpu"}
    given = ["backend=onnxruntime", "precision=fp32", "gpu=cpu", "bench.min_repeats=10",
             "tracking=none", "paths.cache_dir=/tmp/x", "validity.max_cv=0.05",
             "precision.tf32=true", "+pipeline.extra=1"]
    assert changed_settings(given, choices, defaults) == [
        "onnxruntime", "cpu", "precision.tf32=true", "pipeline.extra=1"]


def test_a_model_key_that_reads_as_a_number_stays_a_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's registry key is a hex digest: one like 1234e56789012345 (all digits and
    one "e") is a float to Hydra's parser unless quoted (it was: pipeline.model=inf)."""
    import avbench.api

    monkeypatch.setattr(avbench.api, "model_key", lambda *args: "1234e56789012345")
    monkeypatch.chdir(tmp_path)
    result = avbench.benchmark(torch.nn.Linear(8, 8), torch.randn(1, 8), audio_s=0.25,
                               tracking="none", bench=FAST)
    assert result.ok, result.error


def test_options_become_overrides() -> None:
    from avbench.api import option_overrides

    assert option_overrides({"backend": "onnxruntime", "bench": {"threads": None, "warmup": 2},
                             "backend.strict": False, "x": [1, 2]}) == [
        "backend=onnxruntime", "bench.threads=null", "bench.warmup=2", "backend.strict=false",
        "x=[1,2]"]


@pytest.mark.slow
def test_readme_example_runs(mlflow_store: str, asset_cache: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """The 'Your own model' block of README.md, as written (caches under the test's)."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
               if "avbench.benchmark(" in block]
    monkeypatch.setenv("XDG_CACHE_HOME", str(asset_cache))
    exec(compile(code, "README.md", "exec"), {})
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    run = MlflowClient(tracking_uri=mlflow_store).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["backend.effective"] == "onnxruntime"

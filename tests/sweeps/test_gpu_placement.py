"""Parallel cells on GPUs: each slot gets one GPU named by UUID, never by NVML index, and
more cells at once than GPUs is refused unless sweep.share_gpus=true. NVML is a stub here
(this machine has no GPU); CUDA_VISIBLE_DEVICES is set and read as on a GPU machine."""

from __future__ import annotations

import os
import sys
import types
import uuid
from pathlib import Path

import pytest
import torch

from avbench import runner
from avbench.sweeps import job as sweep_job
from avbench.sweeps import placement
from avbench.sweeps.placement import GpuOversubscribed, gpu_ids, placed
from tests.tasks.test_pipeline_task import compose_run

# NVML's order (PCI bus) is not CUDA's default (fastest first): only the UUIDs agree.
UUIDS = ["GPU-7e1b0c2e-0000-0000-0000-00000000000a", "GPU-3f9d5a41-0000-0000-0000-00000000000b"]


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """An NVML with two GPUs, no CUDA_VISIBLE_DEVICES given; the variable restored after."""
    nvml = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetUUID=lambda handle: UUIDS[handle].encode() if handle else UUIDS[handle])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(placement, "ORIGINAL_VISIBLE_GPUS", None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # so that teardown restores it
    if torch.cuda.is_initialized():
        pytest.skip("CUDA is already up in this process: a cell keeps its GPU")


def test_gpus_are_named_by_uuid(two_gpus: None) -> None:
    assert gpu_ids() == UUIDS  # str, or bytes from an older nvidia-ml-py


def test_each_slot_gets_its_own_gpu_by_uuid(two_gpus: None) -> None:
    pool = uuid.uuid4().hex
    with placed(2, False, pool, 0) as first, placed(2, False, pool, 1) as second:
        assert {first.gpu, second.gpu} == set(UUIDS)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == second.gpu
        assert first.tags()["gpu.visible_devices"] in UUIDS and "gpu.placement" not in \
            first.tags()


def test_more_cells_than_gpus_is_refused_unless_shared(two_gpus: None) -> None:
    pool = uuid.uuid4().hex
    refused = pytest.raises(GpuOversubscribed, match=r"3 cells at once .* 2 GPU\(s\).*"
                                                     r"sweep\.share_gpus=true")
    with refused, placed(3, False, pool, 0):
        pass
    with placed(3, False, pool, 0, share_gpus=True) as shared:
        assert shared.gpu in UUIDS
        assert shared.tags()["gpu.placement"] == "shared: 3 cells at once on 2 GPU(s)"


def test_the_users_own_visible_devices_are_kept_as_given(monkeypatch: pytest.MonkeyPatch,
                                                          two_gpus: None) -> None:
    monkeypatch.setattr(placement, "ORIGINAL_VISIBLE_GPUS", "2, 3")
    assert gpu_ids() == ["2", "3"]


def test_a_refused_cell_is_a_failed_attempt_with_why(two_gpus: None, tmp_path: Path,
                                                     asset_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal reaches the run (a FAILED child with its error), never escapes the job."""
    job = sweep_job.SweepJob(uuid.uuid4().hex, "sweep", parallel=3, num=0, overrides=())
    monkeypatch.setattr(sweep_job.SweepJob, "current", classmethod(lambda cls: job))
    attempts: list[tuple[dict, Exception | None]] = []

    def attempt(tags: dict[str, str], refused: Exception | None = None) -> str:
        attempts.append((tags, refused))
        return "result"

    cfg = compose_run(tmp_path, asset_cache, "sweep.pin=false")
    assert sweep_job.run_cell(cfg, attempt) == "result"
    (tags, refused), = attempts
    assert isinstance(refused, GpuOversubscribed) and tags["avbench.job_num"] == "0"
    attempts.clear()
    shared = compose_run(tmp_path, asset_cache, "sweep.pin=false", "sweep.share_gpus=true")
    sweep_job.run_cell(shared, attempt)
    (tags, refused), = attempts
    assert refused is None and tags["gpu.visible_devices"] in UUIDS
    result = runner.run(cfg)  # the real attempt: the run ends FAILED with the reason
    assert not result.ok and not result.crashed and "sweep.share_gpus=true" in result.error


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and its driver")
def test_the_uuid_placed_selects_that_gpu_in_a_new_process() -> None:
    """What CUDA makes of a UUID in CUDA_VISIBLE_DEVICES: exactly that GPU."""
    import subprocess

    for gpu in gpu_ids():
        if not gpu.startswith("GPU-"):
            pytest.skip("CUDA_VISIBLE_DEVICES was set by the user: not UUIDs")
        seen = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.cuda.device_count(), "
                                   "torch.cuda.get_device_properties(0).uuid)"],
            env=os.environ | {"CUDA_VISIBLE_DEVICES": gpu}, capture_output=True, text=True,
            check=True).stdout.split()
        assert seen == ["1", gpu.removeprefix("GPU-")]

"""Dataclass schemas for the Hydra config tree, registered in the ConfigStore.

The YAML files under ``conf/`` hold the values; these schemas hold the
types. ``conf/config.yaml`` starts its defaults list with ``avbench_schema``,
so every group option is merged onto a typed, struct-mode node: a wrong type
or an unknown key fails at compose time with Hydra's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from avbench.pipelines.settings import SVCSettings


@dataclass
class TaskConfig:
    """``name`` picks the task; the other fields belong to the task that reads them."""

    name: str = "pipeline"
    # task=compare (avbench.analysis); the run ids are top-level: baseline=, candidate=
    threshold_pct: float = 5.0  # a change smaller than this is never called a regression
    alpha: float = 0.01  # Mann-Whitney U significance level
    across: list[str] = field(default_factory=list)  # groups that may differ, e.g. [backend]
    # task=doctor
    noise_probe_s: float = 4.0  # how long to time fixed work for the machine's noise (0: skip)
    # task=kernels
    families: list[str] = field(default_factory=lambda: ["stft", "log_mel", "f0"])
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    frame_length: int = 2048
    fmin: float = 65.0
    fmax: float = 1000.0
    warmup: int = 2
    repeats: int = 10
    pyin_max_s: float = 5.0  # librosa.pyin is slow: timed on at most this much audio
    interpret_max_s: float = 0.25  # Triton under the interpreter: correctness on a short clip


@dataclass
class PipelineConfig:
    _target_: str = MISSING  # each conf/pipeline/*.yaml names its class
    name: str = "svc"
    sample_rate: int = 22050
    settings: Any = None
    checkpoint: str | None = None
    voice_profile: str | None = None
    seed: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class PresetConfig:
    name: str = "balanced"
    svc: SVCSettings = field(default_factory=SVCSettings)


@dataclass
class ParityThresholds:
    """Limits of a stage output against the fp32 eager reference (null: not checked)."""

    max_rel_l2: float | None = None  # ||y - ref|| / ||ref||
    min_cosine: float | None = None  # cosine similarity of y and ref
    min_snr_db: float | None = None  # audio stages only: 10 log10(||ref||^2 / ||y - ref||^2)


@dataclass
class PrecisionConfig:
    name: str = "fp32"
    dtype: str = "float32"
    parity: ParityThresholds = field(default_factory=ParityThresholds)


@dataclass
class ParityConfig:
    enabled: bool = True  # compare runs that are not fp32 eager with the fp32 eager reference
    enforce: bool = False  # true: a run beyond the precision's thresholds exits non-zero


@dataclass
class BackendConfig:
    """How neural components run; fields a backend does not use are ignored by it."""

    name: str = "pytorch"
    strict: bool = True
    cache_dir: str | None = None
    parity: ParityConfig = field(default_factory=ParityConfig)
    compile_mode: str = "default"  # backend=compile: default | reduce-overhead | max-autotune
    compile_dynamic: bool | None = None  # torch.compile(dynamic=...)
    opset: int = 17  # ONNX opset of exported graphs
    ort_spinning: bool = False  # ONNX Runtime intra-op workers spin-wait between calls
    providers: list[str] = field(default_factory=lambda: [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "OpenVINOExecutionProvider",
        "CPUExecutionProvider"])
    workspace_mb: int = 2048  # backend=tensorrt: builder workspace


@dataclass
class KernelConfig:
    name: str = "auto"


@dataclass
class GpuConfig:
    """Device selection and the hardware profile runs are compared against."""

    name: str = "auto"
    device: str = "auto"
    name_pattern: str | None = None
    memory_gb: float | None = None
    peak_tflops: dict[str, float] = field(default_factory=dict)
    memory_bandwidth_gbs: float | None = None
    compute_capability: str | None = None


@dataclass
class AudioConfig:
    name: str = "10s"
    duration_s: float = 10.0
    sample_rate: int = 22050
    path: str | None = None
    seed: int = 0
    cache_dir: str | None = None
    # Lengths a TensorRT engine accepts: min, opt = the input's length, max = the larger
    # of the input's length and profile_max_s (null: the input's length).
    profile_min_s: float = 1.0
    profile_max_s: float | None = None


@dataclass
class TrackingConfig:
    name: str = "mlflow"
    enabled: bool = True
    uri: str | None = "sqlite:///mlflow.db"
    experiment: str = "avbench"
    output_sample_s: float = 5.0


@dataclass
class BenchConfig:
    """Warm-up, adaptive repeats, threads and telemetry of a timed run."""

    warmup: int = 1
    warmup_s: float = 0.0
    min_repeats: int = 5
    min_time_s: float = 3.0
    max_repeats: int = 100
    max_cv: float = 0.10
    threads: int | None = None
    retain_freed_memory: bool = True  # glibc: no trimming / mmap of freed blocks (allocator.py)
    monitor_interval_s: float = 0.1
    min_gpu_util_pct: float = 70.0
    overhead_check: bool = False
    eager_side_by_side: int = 0  # pairs interleaved with the fp32 eager reference (0: off)


@dataclass
class PathsConfig:
    cache_dir: str | None = None
    output_dir: str = "${hydra:runtime.output_dir}"


@dataclass
class AvbenchConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    preset: PresetConfig = field(default_factory=PresetConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    kernel: KernelConfig = field(default_factory=KernelConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    run_name: str | None = None
    baseline: str | None = None  # task=compare: run id or sweep (parent run) id
    candidate: str | None = None  # task=compare: run id or sweep (parent run) id
    sweep: str | None = None  # task=report: sweep (parent run) id; null = the latest sweep
    tags: dict[str, str] = field(default_factory=dict)


def register_configs() -> None:
    """Register the root schema; called once before Hydra composes."""
    ConfigStore.instance().store(name="avbench_schema", node=AvbenchConfig)

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

from avbench.config_data import DataConfig, LoaderConfig
from avbench.pipelines.settings import SVCSettings


@dataclass
class TaskConfig:
    """``name`` picks the task; the other fields belong to the task that reads them."""

    name: str = "pipeline"
    # task=compare (avbench.analysis); the run ids are top-level: baseline=, candidate=
    threshold_pct: float = 5.0  # a change smaller than this is never called a regression
    alpha: float = 0.01  # Mann-Whitney U significance level
    across: list[str] = field(default_factory=list)  # groups that may differ, e.g. [backend]
    gate_unstable: bool = False  # true: an unstable side does not make a cell inconclusive
    # task=doctor
    noise_probe_s: float = 4.0  # how long to time fixed work for the machine's noise (0: skip)
    peaks_s: float = 0.5  # per peak: GEMM per precision and the triad, cached for the roofline
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
    input: str = "audio"  # audio | text | example (a module run's own): what the input phase loads
    max_chars: int = 600  # text pipelines: the longest utterance the model takes
    voice: str = "heart"  # pipeline=hibari: the voice (only "heart" ships in its wheel)
    threads: int = 1  # pipeline=hibari: ONNX Runtime intra-op threads


@dataclass
class WeightsConfig:
    """``pretrained``: real weights where they exist (docs/models.md); ``seeded``: none."""

    name: str = "pretrained"
    cache_dir: str | None = None  # null: the machine's avbench cache, whatever paths.cache_dir


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
class QualityThresholds:
    """Limits of a real-weight stage's output against the fp32 eager reference's, in its
    field's measures (avbench/evaluators/quality_gate.py; null: not checked)."""

    max_log_mel_db: float | None = None  # vocoder, TTS: mean |log-mel difference|, dB
    max_mr_stft_db: float | None = None  # vocoder: multi-resolution STFT distance, dB
    min_si_sdr_db: float | None = None  # separation: SI-SDR of the stem vs the reference's
    min_si_sdr_change_db: float | None = None  # separation: SI-SDR to the true stem, run - ref
    max_f0_rmse_cents: float | None = None  # F0: RMSE vs the reference's track, cents
    min_f0_rpa: float | None = None  # F0: share of frames within 50 cents of the reference's


@dataclass
class PrecisionConfig:
    name: str = "fp32"
    dtype: str = "float32"
    tf32: bool = False  # CUDA: float32 matmuls/convolutions may use TF32 tensor cores
    quantize: str | None = None  # int8: post-training quantisation (backend=openvino, NNCF)
    keep_float: list[str] = field(default_factory=list)  # int8: components left in float32
    hold_margin: float | None = None  # int8: NNCF's accuracy control holds to this share of
    # the gate's log-mel limit (null: plain NNCF int8, not held)
    parity: ParityThresholds = field(default_factory=ParityThresholds)
    quality: QualityThresholds = field(default_factory=QualityThresholds)


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
    vocals_path: str | None = None  # the real file's reference vocal stem (quality figures)
    seed: int = 0
    cache_dir: str | None = None
    # Lengths a TensorRT engine accepts: min, opt = the input's length, max = the larger
    # of the input's length and profile_max_s (null: the input's length).
    profile_min_s: float = 1.0
    profile_max_s: float | None = None


@dataclass
class TextConfig:
    """TTS inputs: a built-in corpus, or ``path`` (UTF-8, one utterance per line)."""

    name: str = "harvard"
    corpus: str = "harvard"
    path: str | None = None


@dataclass
class ScenarioConfig:
    """The load shape of the measure phase (avbench/load/); fields a scenario does not use
    are ignored by it. Durations are LoadGen's minimum; max_queries caps a run."""

    name: str = "repeats"
    duration_s: float = 20.0
    max_queries: int = 200
    min_queries: int = 8
    streaming: bool = False  # TTS: the pipeline yields chunks; TTFA via LoadGen's first token
    workers: int = 1  # LoadGen in process: queries served at once (a server's instances)
    target_qps: float = 1.0  # server: Poisson arrival rate
    latency_bound_ms: float = 2000.0  # server: bound on the whole request's latency
    latency_percentile: float = 0.90  # server: the percentile held to both bounds
    ttfa_bound_ms: float = 1000.0  # server with streaming: bound on time to first audio
    find_peak: bool = False  # server: ramp QPS, report the highest within the bound
    peak_max_qps: float = 64.0  # find_peak: give up above this rate
    peak_duration_s: float = 10.0  # find_peak: length of each step
    levels: list[int] = field(default_factory=lambda: [1, 2, 4])  # concurrency: closed loop
    requests_per_level: int = 100  # concurrency: requests timed per level (p99 needs 100)
    chunk_s: float = 0.5  # streaming (SVC): seconds of input per chunk
    context_s: float = 0.5  # streaming (SVC): past input each chunk is processed with
    url: str | None = None  # http: the server to drive; null = ours on loopback
    timeout_s: float = 30.0  # http: per request
    driver: str = "single_stream"  # http: which LoadGen scenario drives the server
    model: str | None = None  # http: the request's model (null: the run's pipeline name)
    voice: str | None = None  # http: the request's voice (null: the run pipeline's first)
    response_format: str = "pcm"  # http: mp3 | opus | aac | flac | wav | pcm
    stream_format: str = "audio"  # http: audio | sse
    api_key_env: str | None = "OPENAI_API_KEY"  # http: env var with the API key (Bearer)
    paired: int = 0  # http, our server: in-process/HTTP pairs measuring HTTP's overhead


@dataclass
class ServeConfig:
    """task=serve: where the OpenAI-compatible speech server listens (loopback only)."""

    host: str = "127.0.0.1"
    port: int = 8000


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

    warmup: int = 3  # minimum warm-up calls, the cold call included (0: the cold call only)
    warmup_s: float = 0.0
    warmup_max: int = 20  # then warm up until the per-call time settles, at most this many calls
    warmup_settle_pct: float = 5.0  # settled: the last 3 calls within this % of their median
    min_repeats: int = 5
    min_time_s: float = 3.0
    max_repeats: int = 100
    calls_per_sample: int | None = None  # null: calibrated (tag bench.loops); 1: profiled calls
    threads: int | None = None
    retain_freed_memory: bool = True  # glibc: no trimming / mmap of freed blocks (allocator.py)
    monitor_interval_s: float = 0.1
    min_gpu_util_pct: float = 70.0
    overhead_check: bool = False
    eager_side_by_side: int = 0  # pairs interleaved with the fp32 eager reference (0: off)
    skip_evaluators: list[str] = field(default_factory=list)  # figures not computed (by name)


@dataclass
class ValidityConfig:
    """When a run is VALID: the thresholds of every rule the judge applies (see
    docs/measurement.md, "Validity"). A run that breaks any rule is INVALID, with a reason."""

    min_samples: int = 5  # timed samples a run needs; below it no 95 % CI is logged either
    max_cv: float = 0.10  # largest coefficient of variation of the timed samples (0.10 = 10 %)
    max_clock_pct: float = 1.0  # largest share of a timed sample the clock may cost, in %
    max_other_cpu_pct: float = 25.0  # other processes' share of all cores while timing, in %
    max_steal_pct: float = 10.0  # the hypervisor's share (steal) of all cores while timing, in %
    max_error_pct: float = 0.0  # failed requests of a load run, in % (0: any failure)
    percentile_tail: float = 1.0  # pXX is logged when n * (1 - XX/100) >= this (p99: n >= 100)
    min_epochs: int = 2  # task=data: timed epochs (after the first) the medians need


@dataclass
class LimitsConfig:
    """Upper bounds on the work a run asks for, checked before it starts (validation.py);
    raise one on the command line when you mean it (``limits.max_audio_s=7200``)."""

    max_audio_s: float = 3600.0  # audio.duration_s, an audio.path file's length, data.max_s
    max_repeats: int = 100_000  # bench.min_repeats, warm-up calls, load scenarios' queries
    max_time_s: float = 86_400.0  # bench.min_time_s, bench.warmup_s, scenario durations
    max_texts: int = 10_000  # utterances in a text.path file
    max_clips: int = 100_000  # data.clips of a generated corpus


@dataclass
class SweepConfig:
    """How a multirun (-m) behaves; see docs/sweeps.md. ``id`` is read by task=report."""

    id: str | None = None  # task=report: sweep (parent run) id; null = the latest sweep
    name: str | None = None  # the sweep's name in the store (null: built from the swept axes)
    resume: bool = False  # rerun only the cells without a FINISHED run under sweep.name
    retries: int = 0  # reruns of a cell that crashed (never of a user error)
    parallel: int | None = None  # cells at once on one machine (null: from the launcher)
    pin: bool = True  # parallel local cells get disjoint cores and matching thread counts
    share_gpus: bool = False  # more parallel cells than GPUs may share them (else an error)
    replica: int = 0  # the same cell again (one per GPU): summed by analysis.multigpu


@dataclass
class PathsConfig:
    cache_dir: str | None = None
    output_dir: str = "${hydra:runtime.output_dir}"


@dataclass
class AvbenchConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    preset: PresetConfig = field(default_factory=PresetConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    kernel: KernelConfig = field(default_factory=KernelConfig)
    gpu: GpuConfig = field(default_factory=GpuConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    validity: ValidityConfig = field(default_factory=ValidityConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    data: DataConfig = field(default_factory=DataConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    run_name: str | None = None
    baseline: str | None = None  # task=compare: run id or sweep (parent run) id
    candidate: str | None = None  # task=compare: run id or sweep (parent run) id
    sweep: SweepConfig = field(default_factory=SweepConfig)
    tags: dict[str, str] = field(default_factory=dict)


def register_configs() -> None:
    """Register the root schema and the run folders' resolvers; called once before Hydra
    composes."""
    from avbench.run_dir import register_resolvers

    register_resolvers()
    ConfigStore.instance().store(name="avbench_schema", node=AvbenchConfig)

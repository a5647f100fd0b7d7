"""task=doctor: check this machine before benchmarking; exit non-zero on a failure."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from rich.markup import escape
from rich.table import Table

from avbench.console import console
from avbench.runtime import ConfigError, resolve_cache_dir
from avbench.tracking import RunLogger, resolve_tracking_uri

TRACKED = False  # the doctor checks the tracking store itself, so it does not depend on it
PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


class DoctorFailed(ConfigError):
    """At least one check failed; the table above says what to do."""


def run_name(cfg: DictConfig) -> str:
    return "doctor"


def check_python() -> Check:
    version = sys.version_info[:2]
    ok = (3, 10) <= version <= (3, 13)
    return Check("python", PASS if ok else FAIL, sys.version.split()[0],
                 "" if ok else "use Python 3.10-3.13 (Hydra 1.3 breaks on 3.14)")


def check_cuda() -> Check:
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return Check("cuda", PASS, f"{torch.cuda.device_count()} device(s), {name}, "
                                   f"CUDA {torch.version.cuda}")
    return Check("cuda", WARN, "no CUDA device: runs use the CPU",
                 "install a CUDA build of torch and an NVIDIA driver to benchmark GPUs")


def check_gpu_profile(gpu_cfg: Any) -> Check:
    if gpu_cfg.device != "cuda":
        return Check("gpu profile", PASS, f"gpu={gpu_cfg.name} (no device check)")
    if not torch.cuda.is_available():
        return Check("gpu profile", FAIL, f"gpu={gpu_cfg.name} but no CUDA device",
                     "use gpu=auto or gpu=cpu on this machine")
    name = torch.cuda.get_device_name(0)
    if re.search(gpu_cfg.name_pattern or "", name, flags=re.IGNORECASE):
        return Check("gpu profile", PASS, f"gpu={gpu_cfg.name} matches {name}")
    return Check("gpu profile", WARN, f"gpu={gpu_cfg.name} expects {gpu_cfg.name_pattern!r}, "
                                      f"found {name}", "pick the profile of this GPU")


def check_triton() -> Check:
    """A real Triton kernel (STFT power) against the torch reference; interpreter on CPU."""
    on_gpu = torch.cuda.is_available()
    if not on_gpu:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    try:
        from avbench.dsp.functional import hann_window, power_spectrogram
        from kernels_triton.stft import dft_bases, stft_power
    except Exception as error:
        return Check("triton kernels", FAIL, f"import failed: {error}",
                     "pip install triton (Linux) or use kernel=torch")
    if not on_gpu and os.environ.get("TRITON_INTERPRET") != "1":
        return Check("triton kernels", WARN, "triton was imported before TRITON_INTERPRET=1",
                     "set TRITON_INTERPRET=1 to run Triton on the CPU")
    device = torch.device("cuda" if on_gpu else "cpu")
    signal = torch.randn(2, 777, generator=torch.Generator().manual_seed(0)).to(device)
    window = hann_window(64, device=device)
    try:
        ours = stft_power(signal, dft_bases(window), hop_length=16)
    except Exception as error:
        return Check("triton kernels", FAIL, f"STFT kernel failed: {error}",
                     "use kernel=torch; report the error")
    reference = power_spectrogram(signal, 64, 16, window)
    error = ((ours - reference).abs().max() / reference.abs().max()).item()
    mode = "compiled" if on_gpu else "interpreter"
    if error > 1e-4:
        return Check("triton kernels", FAIL, f"STFT differs from torch by {error:.1e} ({mode})",
                     "use kernel=torch; report the mismatch")
    return Check("triton kernels", PASS, f"STFT matches torch, rel err {error:.1e} ({mode})")


def check_onnxruntime() -> Check:
    try:
        import onnxruntime
    except ImportError as error:
        return Check("onnxruntime", WARN, str(error),
                     "pip install -e '.[cpu]', or '.[gpu]' on a CUDA machine (docs/gpu.md)")
    from avbench.backends.ort_gpu import ort_conflict, ort_distributions

    if conflict := ort_conflict(ort_distributions()):
        return Check("onnxruntime", FAIL, "several ONNX Runtime builds installed", conflict)
    providers = onnxruntime.get_available_providers()
    return Check("onnxruntime", PASS, f"{onnxruntime.__version__}: {', '.join(providers)}")


def check_compile() -> Check:
    """backend=compile on the CPU needs a C++ compiler for Inductor's kernels."""
    from avbench.backends.compile import cpp_compiler_problem

    problem = cpp_compiler_problem()
    if problem:
        return Check("torch.compile (cpu)", WARN, "no C++ compiler for Inductor",
                     "install g++ (e.g. apt install g++) to use backend=compile on the CPU")
    from torch._inductor import cpp_builder

    return Check("torch.compile (cpu)", PASS, f"C++ compiler {cpp_builder.get_cpp_compiler()}")


def check_tensorrt() -> Check:
    try:
        import tensorrt
    except ImportError:
        return Check("tensorrt", WARN, "not installed (optional)",
                     "pip install 'avbench[tensorrt]' on a CUDA machine")
    return Check("tensorrt", PASS, tensorrt.__version__)


def tensorrt_pair(ort_major: int | None, installed: dict[int, str],
                  cuda_major: str | None) -> Check:
    """The TensorRT major ONNX Runtime's TensorRT provider links (``ort_major``) against
    the majors installed packages ship (``installed``, see ``installed_nvinfer``)."""
    name = "tensorrt pair"
    if ort_major is None:
        return Check(name, WARN, "cannot read which libnvinfer the TensorRT provider needs",
                     "reinstall onnxruntime-gpu (docs/gpu.md)")
    fix = f"pip install 'tensorrt-cu{cuda_major or 13}>={ort_major},<{ort_major + 1}'"
    needs = f"onnxruntime's TensorRT provider links libnvinfer.so.{ort_major}"
    if ort_major in installed:
        return Check(name, PASS, f"{needs}; {installed[ort_major]} ships it")
    if not installed:
        return Check(name, WARN, f"{needs}; no TensorRT package is installed (the provider "
                                 "cannot load)", fix)
    shipped = ", ".join(f"libnvinfer.so.{m} ({d})" for m, d in sorted(installed.items()))
    return Check(name, FAIL, f"{needs}, but only {shipped} is installed: the provider cannot "
                             "load and backend=tensorrt runs another major", fix)


def check_tensorrt_pair() -> Check:
    """Read at check time from the provider library's ``DT_NEEDED`` entries (docs/gpu.md)."""
    from avbench.backends.elf import elf_needed, soname_major
    from avbench.backends.ort_gpu import installed_nvinfer, ort_tensorrt_provider

    try:
        provider = ort_tensorrt_provider()
    except ImportError:
        return Check("tensorrt pair", PASS, "no onnxruntime (nothing to pair)")
    if not provider.exists():
        return Check("tensorrt pair", PASS, "this onnxruntime has no TensorRT provider")
    try:
        major = soname_major(elf_needed(provider), "nvinfer")
    except (OSError, ValueError):
        major = None
    return tensorrt_pair(major, installed_nvinfer(), (torch.version.cuda or "").split(".")[0])


def check_mlflow(tracking_cfg: Any) -> Check:
    uri = resolve_tracking_uri(tracking_cfg.uri)
    try:
        from avbench.tracking.liveness import end_dead_runs
        from avbench.tracking.mlflow_logger import get_or_create_experiment, open_client

        client = open_client(uri)
        dead = end_dead_runs(client)
        experiment_id = get_or_create_experiment(client, tracking_cfg.experiment)
        probe = client.create_run(experiment_id, run_name="doctor-write-check")
        client.set_terminated(probe.info.run_id)
        client.delete_run(probe.info.run_id)
    except Exception as error:
        return Check("mlflow store", FAIL, f"{uri}: {str(error).splitlines()[0]}",
                     "fix tracking.uri / MLFLOW_TRACKING_URI or use tracking=none")
    ended = (f"; ended KILLED {len(dead)} run(s) left RUNNING by a killed process: "
             f"{', '.join(dead)}") if dead else ""
    return Check("mlflow store", PASS, f"{uri} reachable and writable{ended}")


def check_cache(cache_dir: Path) -> Check:
    from avbench.validation import check_writable_dir

    try:
        check_writable_dir("paths.cache_dir", cache_dir)
    except ConfigError as error:
        return Check("cache dir", FAIL, str(error), "set paths.cache_dir to a writable folder")
    free_gb = shutil.disk_usage(cache_dir).free / 2**30
    if free_gb < 2:
        return Check("cache dir", WARN, f"{cache_dir}: {free_gb:.1f} GB free",
                     "free disk space or set paths.cache_dir")
    return Check("cache dir", PASS, f"{cache_dir}: {free_gb:.0f} GB free")


def check_timing_noise(bench: Any, seconds: float, max_cv: float) -> Check:
    """How much fixed work varies on this machine, against validity.max_cv."""
    from avbench.measure.noise import probe_noise
    from avbench.measure.threads import apply_threads

    threads = apply_threads(bench.threads)["threads.torch"]
    floor = probe_noise(seconds)
    detail = (f"fixed work varies: compute {100 * floor.compute_cv:.1f} %, memory "
              f"{100 * floor.memory_cv:.1f} % at {floor.memory_gb_s:.0f} GB/s (CV of "
              f"{floor.blocks} blocks each, {threads} thread(s)); other processes took "
              f"{floor.other_cpu_pct:.1f} %, steal {floor.steal_pct:.1f} % of the CPU")
    if floor.cv <= max_cv / 2:
        return Check("timing noise", PASS, detail)
    return Check("timing noise", WARN, detail,
                 f"over half of validity.max_cv={max_cv:g}: runs here will often be INVALID "
                 "(unstable); stop other work or use a dedicated machine (on a shared host, "
                 "neighbours take memory bandwidth), and raise bench.min_time_s")


def check_peaks(bench: Any, cache_dir: Path, seconds: float) -> Check:
    """This machine's GEMM peaks per precision and triad bandwidth, measured and cached for
    the runs' roofline (avbench/measure/roofline.py)."""
    from avbench.measure import roofline
    from avbench.measure.threads import apply_threads

    threads = apply_threads(bench.threads)["threads.torch"]
    peaks = roofline.measure_peaks(seconds)
    path = roofline.peaks_path(cache_dir, threads)
    roofline.save_peaks(peaks, path)
    gemm = "; ".join(
        f"{precision} " + ", ".join(f"{library} {value:,.0f}"
                                    for library, value in peaks.gemm_gflops[precision].items())
        for precision in roofline.PRECISIONS if peaks.gemm_gflops.get(precision))
    detail = (f"GEMM GFLOP/s {gemm}; triad {peaks.triad_gbs:,.1f} GB/s ({threads} thread(s)); "
              f"cached in {path}")
    if not peaks.gemm_gflops["int8"]:
        return Check("peaks", WARN, detail, "pip install -e '.[cpu]' (OpenVINO, NNCF) for the "
                     "int8 peak")
    return Check("peaks", PASS, detail)


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    checks: list[Callable[[], Check]] = [
        check_python, check_cuda, lambda: check_gpu_profile(cfg.gpu), check_triton,
        check_onnxruntime, check_compile, check_tensorrt, check_tensorrt_pair,
        lambda: check_mlflow(cfg.tracking),
        lambda: check_cache(resolve_cache_dir(cfg.paths.cache_dir)),
    ]
    if cfg.task.noise_probe_s > 0:
        checks.append(lambda: check_timing_noise(cfg.bench, cfg.task.noise_probe_s,
                                                 cfg.validity.max_cv))
    if cfg.task.peaks_s > 0:
        checks.append(lambda: check_peaks(cfg.bench, resolve_cache_dir(cfg.paths.cache_dir),
                                          cfg.task.peaks_s))
    results = [check() for check in checks]
    table = Table(title="avbench doctor", title_justify="left")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column)
    colours = {PASS: "green", WARN: "yellow", FAIL: "red"}
    for r in results:
        table.add_row(r.name, f"[{colours[r.status]}]{r.status}[/]", escape(r.detail),
                      escape(r.fix))
    console.print(table)
    counts = {status: sum(r.status == status for r in results) for status in (PASS, WARN, FAIL)}
    if counts[FAIL]:
        failed = ", ".join(r.name for r in results if r.status == FAIL)
        raise DoctorFailed(f"doctor: {counts[FAIL]} check(s) failed ({failed}); see the table")
    return {f"doctor.{status}": float(n) for status, n in counts.items()}

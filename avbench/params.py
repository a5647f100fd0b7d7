"""The run's settings as MLflow params: each setting once, only those the run reads.

A run reads the config nodes of its task (``TASK_NODES``), and within them the keys its
pipeline class, backend and scenario read (``pipeline_keys``, ``BACKEND_READS``,
``SCENARIO_READS``; tests/test_params.py holds these tables against the reads in the
code). What is not a setting is never a param: locations (``paths.*``, every
``cache_dir``, the store), pids and hosts are tags or nothing; the validity thresholds are
tags beside the verdict (``settings_tags``); a null value means "decided at run time"
and what was decided is a tag (``bench.loops``, ``threads.torch``), so it is left out.
The names, units and meanings of every key are in ``avbench.tracking.keys``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# The top-level config nodes each tracked task reads; a task not listed (the untracked
# ones) logs nothing of the nodes in NOT_SETTINGS and all the others.
TASK_NODES: dict[str, tuple[str, ...]] = {
    "pipeline": ("task", "pipeline", "preset", "weights", "precision", "backend", "kernel",
                 "gpu", "audio", "text", "scenario", "serve", "bench"),
    "kernels": ("task", "kernel", "gpu", "audio", "precision", "bench"),
    "data": ("task", "loader", "data", "gpu", "bench"),
}
# Never params: where things are (paths, the store), the run's own name and tags, the
# bounds checked before it (limits), the sweep's settings (on its parent run), the verdict's
# thresholds (tags: settings_tags), compare's inputs.
NOT_SETTINGS = ("paths", "tracking", "limits", "sweep", "validity", "tags", "run_name",
                "baseline", "candidate")
# backend.<key>s each backend reads besides name, strict and parity.* (ctx.cfg.<key> in
# avbench/backends/<name>.py); exporting backends also read the engine shape profile.
_PROFILE = ("audio.profile_min_s", "audio.profile_max_s")
BACKEND_READS: dict[str, tuple[str, ...]] = {
    "pytorch": (),
    "compile": ("backend.compile_mode", "backend.compile_dynamic"),
    "onnxruntime": ("backend.opset", "backend.ort_spinning", "backend.providers", *_PROFILE),
    "openvino": ("backend.opset", *_PROFILE),
    "tensorrt": ("backend.opset", "backend.workspace_mb", *_PROFILE),
}
# scenario.<key>s each load scenario reads besides its name (avbench/load/).
_LOADGEN = ("duration_s", "max_queries", "min_queries", "streaming", "workers")
_SERVER = ("target_qps", "latency_bound_ms", "latency_percentile", "ttfa_bound_ms",
           "find_peak", "peak_max_qps", "peak_duration_s")
SCENARIO_READS: dict[str, tuple[str, ...]] = {
    "repeats": (),
    "single_stream": _LOADGEN,
    "offline": _LOADGEN,
    "server": (*_LOADGEN, *_SERVER),
    "concurrency": ("levels", "requests_per_level", "streaming"),
    "streaming": ("chunk_s", "context_s"),
    "http": ("url", "timeout_s", "driver", "model", "voice", "response_format",
             "stream_format", "api_key_env", "paired", *_LOADGEN, *_SERVER, "levels",
             "requests_per_level"),
}
_REFERENCE = re.compile(r"\$\{\.*([\w.\[\]-]+)\}")  # ${preset.svc}: a node, not a resolver


def flatten(node: DictConfig, prefix: str = "") -> dict[str, Any]:
    """Every leaf of ``node`` as ``dotted.key: value``; a key that points at a whole node
    (``pipeline.settings: ${preset.svc}``) is left out (logged where it is set); null
    values, empty containers and ``???`` are left out."""
    flat: dict[str, Any] = {}
    for key in node:
        path = f"{prefix}{key}"
        raw = node._get_node(key)._value()  # noqa: SLF001 (unresolved, to spot references)
        if OmegaConf.is_missing(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            if not (isinstance(raw, str) and _REFERENCE.fullmatch(raw)):
                flat |= flatten(value, f"{path}.")
        elif isinstance(value, ListConfig):
            if len(value):
                flat[path] = OmegaConf.to_container(value, resolve=True)
        elif value is not None:
            flat[path] = value
    return flat


def _device_type(cfg: DictConfig) -> str:
    from avbench.runtime import resolve_device

    try:
        return resolve_device(cfg.gpu).type
    except Exception:  # noqa: BLE001 (a device that cannot be had: the run says why)
        return "cuda" if cfg.gpu.device != "cpu" else "cpu"


def gate_runs(cfg: DictConfig, device_type: str) -> bool:
    """Whether the run's outputs are held to the precision's thresholds: every run but the
    fp32 eager reference itself (avbench.evaluators.parity_reference)."""
    from avbench.runtime import is_fp32_eager_reference

    kernel = cfg.kernel.name
    if kernel == "auto":
        kernel = "triton" if device_type == "cuda" else "torch"
    return bool(cfg.backend.parity.enabled) and not is_fp32_eager_reference(
        cfg.backend.name, cfg.precision.dtype, kernel, bool(cfg.precision.get("tf32")))


def pipeline_keys(pipeline: DictConfig) -> set[str] | None:
    """The ``pipeline.*`` keys the run reads: the class, its name, its input kind (and for
    text, the longest utterance the input phase accepts) and the constructor's arguments
    (matched by name, avbench.phases.build); None when the class cannot be imported (every
    key is logged and the build says why)."""
    from hydra.utils import get_class

    try:
        accepted = inspect.signature(get_class(pipeline._target_)).parameters
    except Exception:  # noqa: BLE001 (a missing or broken class: the build phase reports it)
        return None
    text = ("max_chars",) if pipeline.get("input", "audio") == "text" else ()
    return {"_target_", "name", "input", *text, *accepted}


def _reads_preset(cfg: DictConfig) -> bool:
    """The pipeline's settings are a preset's node (``settings: ${preset.svc}``)."""
    pipeline = cfg.get("pipeline")
    if pipeline is None or "settings" not in pipeline:
        return False
    raw = pipeline._get_node("settings")._value()  # noqa: SLF001
    match = _REFERENCE.fullmatch(raw) if isinstance(raw, str) else None
    return bool(match and match[1].startswith("preset"))


def _node_reads(cfg: DictConfig, node: str, device_type: str) -> Any:
    """A predicate on the dotted keys of ``node`` the run reads (True: all of them)."""
    if node == "pipeline":
        keys = pipeline_keys(cfg.pipeline)
        return True if keys is None else (lambda k: k.split(".")[1] in keys)
    if node == "precision":
        gate = gate_runs(cfg, device_type)
        return lambda k: ((gate or k.split(".")[1] not in ("parity", "quality"))
                          and (device_type == "cuda" or k != "precision.tf32"))
    if node == "backend":
        own = BACKEND_READS.get(cfg.backend.name)
        return True if own is None else (
            lambda k: k in own or k.split(".")[1] in ("name", "strict", "parity"))
    if node == "audio":
        own = BACKEND_READS.get(cfg.backend.name, _PROFILE)
        return lambda k: not k.startswith("audio.profile_") or k in own
    if node == "scenario":
        reads = SCENARIO_READS.get(cfg.scenario.name)
        return True if reads is None else (lambda k: k.split(".")[1] in ("name", *reads))
    if node == "bench":
        return lambda k: device_type == "cuda" or k != "bench.min_gpu_util_pct"
    return True


def _nodes(cfg: DictConfig) -> list[str]:
    """The top-level nodes whose settings this run reads."""
    task = cfg.task.name
    nodes = [n for n in TASK_NODES.get(task, tuple(cfg)) if n in cfg and n not in NOT_SETTINGS]
    text_input = cfg.get("pipeline", {}).get("input", "audio") == "text"
    if task == "pipeline":
        nodes.remove("text" if not text_input else "audio")
        if not _reads_preset(cfg):
            nodes.remove("preset")
        if cfg.scenario.name != "http" or cfg.scenario.get("url"):
            nodes.remove("serve")  # our server on loopback only
    return nodes


def settings_params(cfg: DictConfig, task_options: tuple[str, ...] | None = None,
                    device_type: str | None = None) -> dict[str, Any]:
    """Each setting the run reads, once, as a dotted key with its resolved value.

    ``task.*`` holds the options of every task: only ``task.name`` and the task's own
    ``task_options`` are kept (None: all). Group choices are tags (``choice.<group>``).
    ``device_type``: ``cpu`` or ``cuda`` (None: the device ``gpu.*`` resolves to here).
    """
    device_type = device_type or _device_type(cfg)
    params: dict[str, Any] = {}
    for node in _nodes(cfg):
        value = cfg[node]
        flat = flatten(value, f"{node}.") if isinstance(value, DictConfig) else (
            {} if value is None else {node: value})
        reads = _node_reads(cfg, node, device_type)
        params |= {k: v for k, v in flat.items()
                   if (reads is True or reads(k)) and not k.endswith("cache_dir")}
    if task_options is not None:
        keep = {"task.name", *(f"task.{option}" for option in task_options)}
        params = {k: v for k, v in params.items() if not k.startswith("task.") or k in keep}
    return params


def settings_tags(cfg: DictConfig, output_dir: str | None = None) -> dict[str, str]:
    """What the run records about its settings as tags: its folder (volatile: a time and
    the run id) and the validity thresholds its verdict is judged against."""
    tags = {f"validity.{key}": str(value) for key, value in cfg.get("validity", {}).items()
            if _threshold_applies(cfg, key)}
    if output_dir:
        tags["paths.output_dir"] = output_dir
    return tags


def _threshold_applies(cfg: DictConfig, key: str) -> bool:
    """min_epochs is task=data's, max_error_pct a load scenario's."""
    if key == "min_epochs":
        return cfg.task.name == "data"
    if key == "max_error_pct":
        return cfg.task.name == "pipeline" and cfg.scenario.name != "repeats"
    return True

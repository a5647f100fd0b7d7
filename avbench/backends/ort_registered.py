"""What an ONNX Runtime session really registered, held against what was asked for.

``InferenceSession`` does not fail when an execution provider cannot be made. The C++
side drops a provider whose factory fails with a logged warning, and the Python side, when
creating the session raises (e.g. TensorRT's libraries do not load), makes it again with
``["CUDAExecutionProvider", "CPUExecutionProvider"]`` and no provider options at all: the
compute stream and ``use_tf32=0`` are then gone while the run believes they hold. So after
creating a session its ``get_providers()`` and ``get_provider_options()`` are compared
with the request, and what the run records comes from what the session reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from avbench.backends.tensorrt import BackendBuildError

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
Requested = Sequence[str | tuple[str, Mapping[str, str]]]

_TRUE, _FALSE = ("1", "true"), ("0", "false")


def _normalised(value: Any) -> str:
    """A provider option as ONNX Runtime reads it: "True"/"true"/"1" alike (it reports
    booleans as 1 and 0)."""
    text = str(value).strip()
    return "1" if text.lower() in _TRUE else "0" if text.lower() in _FALSE else text


def registration_problems(requested: Requested, providers: Sequence[str],
                          options: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What the session (``providers``, ``options`` as it reports them) lacks of the
    request, one line each. A provider that reports no options at all (OpenVINO's) has only
    its presence checked; one that reports options must report each requested one alike."""
    problems = []
    for entry in requested:
        name, wanted = (entry, {}) if isinstance(entry, str) else entry
        if name not in providers:
            problems.append(f"{name} is not registered")
            continue
        reported = options.get(name, {})
        if not reported:
            continue
        for key, value in wanted.items():
            got = reported.get(key)
            if got is None or _normalised(got) != _normalised(value):
                problems.append(f"{name} {key}={got!r}, asked {value!r}")
    return problems


def check_registered(session: Any, requested: Requested, what: str) -> None:
    """Raise when ``session`` did not register ``requested`` as asked; also turn off the
    per-call fallback of ``session.run`` (it would switch providers mid-run)."""
    session.disable_fallback()
    problems = registration_problems(requested, session.get_providers(),
                                     session.get_provider_options())
    if problems:
        raise BackendBuildError(
            f"ONNX Runtime did not set up {what} as asked ({'; '.join(problems)}; it has "
            f"{list(session.get_providers())}): a provider failed to load (its log above says "
            "why; python -m avbench task=doctor checks the GPU libraries), and running on "
            "would time and check something else")


def session_tf32(providers: Sequence[str], options: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether float32 math of a CUDA session may use TF32, from what it reports: always
    with the TensorRT provider (it has no option to clear it), else the CUDA provider's
    ``use_tf32`` (on unless reported 0)."""
    if TENSORRT in providers:
        return True
    return _normalised(options.get(CUDA, {}).get("use_tf32", "1")) != "0"

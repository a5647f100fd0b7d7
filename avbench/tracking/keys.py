"""The registry of every name the MLflow record uses: metrics, series, params and tags.

Each entry says what a name means, its unit and when it is logged; docs/metrics.md's
tables are generated from it (``python -m avbench.tools.keys_doc``) and a test fails when they
differ. Every write to a run goes through ``check``, which warns once per name that is not
here, and the tests hold the names real runs log against it.

A name may hold placeholders: ``<stage>`` (or any ``<word>``) stands for one name without
dots, ``{a,b}`` for one of the listed words, and ``<key>`` at the end of a param for a
dotted config path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

log = logging.getLogger(__name__)

KINDS = ("metric", "series", "param", "tag")
_PLACEHOLDER = re.compile(r"<([a-z_]+)>|\{([\w.,]+)\}")


@dataclass(frozen=True)
class Key:
    """One name (or family of names) of the record."""

    name: str
    kind: str  # metric (one value per run) | series (one per step) | param | tag
    unit: str  # "" for tags and params; "–" for a unitless figure
    meaning: str
    when: str  # which runs log it

    def pattern(self) -> re.Pattern[str]:
        out, pos = "", 0
        for match in _PLACEHOLDER.finditer(self.name):
            out += re.escape(self.name[pos:match.start()])
            if match[2]:
                out += f"(?:{'|'.join(map(re.escape, match[2].split(',')))})"
            else:  # a config path may be dotted; a stage, component... may not
                out += r"[\w.-]+" if match[1] == "key" else r"[\w-]+"
            pos = match.end()
        return re.compile("^" + out + re.escape(self.name[pos:]) + "$")


@cache
def registry() -> tuple[Key, ...]:
    """Every registered name, in the order the docs list them."""
    from avbench.tracking.keys_metrics import METRICS
    from avbench.tracking.keys_params import PARAMS
    from avbench.tracking.keys_tags import TAGS

    keys = []
    for name, kind, unit, meaning, when in METRICS:
        keys.append(Key(name, kind, unit, meaning, when))
    for name, meaning, when in PARAMS:
        keys.append(Key(name, "param", "", meaning, when))
    for name, meaning, when in TAGS:
        keys.append(Key(name, "tag", "", meaning, when))
    return tuple(keys)


@cache
def _patterns(kind: str) -> tuple[re.Pattern[str], ...]:
    # a series is also a metric name: MLflow keeps both under one key
    kinds = ("metric", "series") if kind in ("metric", "series") else (kind,)
    return tuple(k.pattern() for k in registry() if k.kind in kinds)


def registered(kind: str, name: str) -> bool:
    """Whether ``name`` is a registered ``kind`` (metric, series, param or tag)."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    return name.startswith("mlflow.") or any(p.match(name) for p in _patterns(kind))


def unregistered(kind: str, names: Iterable[str]) -> set[str]:
    return {name for name in names if not registered(kind, name)}


_warned: set[tuple[str, str]] = set()


def check(kind: str, names: Iterable[str]) -> None:
    """Warn once per name written to a run that is not in the registry (add it to
    avbench/tracking/keys_*.py, then regenerate docs/metrics.md)."""
    for name in unregistered(kind, names):
        if (kind, name) not in _warned:
            _warned.add((kind, name))
            log.warning("%s %r is not in avbench/tracking/keys_*.py: register it (and run "
                        "python -m avbench.tools.keys_doc)", kind, name)


class CheckedClient:
    """An MLflow client whose writes (``log_metric``, ``log_param``, ``set_tag``,
    ``log_batch``) are checked against the registry first: what the sweep's parent run
    writes without a run logger."""

    def __init__(self, client: object) -> None:
        self._client = client

    def log_metric(self, run_id: str, key: str, *args: object, **kwargs: object) -> object:
        check("metric", [key])
        return self._client.log_metric(run_id, key, *args, **kwargs)  # type: ignore[attr-defined]

    def log_param(self, run_id: str, key: str, *args: object, **kwargs: object) -> object:
        check("param", [key])
        return self._client.log_param(run_id, key, *args, **kwargs)  # type: ignore[attr-defined]

    def set_tag(self, run_id: str, key: str, *args: object, **kwargs: object) -> object:
        check("tag", [key])
        return self._client.set_tag(run_id, key, *args, **kwargs)  # type: ignore[attr-defined]

    def log_batch(self, run_id: str, metrics: Iterable[object] = (),
                  params: Iterable[object] = (), tags: Iterable[object] = (),
                  **kwargs: object) -> object:
        metrics, params, tags = list(metrics), list(params), list(tags)
        for kind, items in (("metric", metrics), ("param", params), ("tag", tags)):
            check(kind, [item.key for item in items])  # type: ignore[attr-defined]
        return self._client.log_batch(run_id, metrics=metrics, params=params,  # type: ignore[attr-defined]
                                      tags=tags, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

"""The per-request record of a load run: ``requests.csv``, one row per request.

Columns: ``request`` (in completion order), ``sample`` is not known to every scenario and
is left out; ``scheduled_ms``, ``sent_ms``, ``first_audio_ms``, ``end_ms`` are clock
readings in milliseconds from the first request's schedule (LoadGen's issue; the closed
loop sends at once); ``latency_ms`` = end - scheduled and ``ttfa_ms`` = first audio -
scheduled (empty when there was none); ``ok`` (1/0), ``status`` (HTTP status; 0 in
process), ``bytes`` (response body), ``chars`` (input characters), ``audio_s`` (seconds of
audio received), ``error``.

From these rows: requests and errors are counts of rows; latency and TTFA percentiles are
the rank percentiles (metrics/perf.py) of the ok rows; RPS, CPS and ASPS divide the ok
rows' count, characters and audio by the run's wall time.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avbench.metrics.perf import RequestRecord

COLUMNS = ("request", "scheduled_ms", "sent_ms", "first_audio_ms", "end_ms", "latency_ms",
           "ttfa_ms", "ok", "status", "bytes", "chars", "audio_s", "error")


def _ms(value: float | None, origin: float) -> str:
    return "" if value is None else f"{(value - origin) * 1000.0:.3f}"


def write_requests_csv(path: Path, records: list[RequestRecord]) -> Path:
    """Write ``records`` to ``path`` (atomically) and return it."""
    starts = [r.scheduled_s if r.scheduled_s is not None else r.sent_s for r in records]
    origin = min((s for s in starts if s is not None), default=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.tmp")
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for number, (r, start) in enumerate(zip(records, starts, strict=True)):
            writer.writerow([number, _ms(start, origin), _ms(r.sent_s, origin),
                             _ms(r.first_audio_s, origin), _ms(r.end_s, origin),
                             _ms(r.end_s, start) if start is not None else "",
                             _ms(r.first_audio_s, start) if start is not None else "",
                             int(r.ok), r.status, r.bytes, r.chars, f"{r.audio_s:.6f}",
                             r.error])
    partial.replace(path)
    return path

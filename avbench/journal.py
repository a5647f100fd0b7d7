"""What each job of this process ended as; read by the sweep callback and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field

FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"  # ended by a signal (SIGTERM, SIGINT) or found dead by the liveness check
LOST = "LOST"  # a sweep cell that never reported: its worker died
# The judge's tags (avbench.measure.validity): VALID | INVALID, and the reasons joined by "; ".
VALIDITY_TAG = "validity"
REASONS_TAG = "validity.reasons"


@dataclass
class RunResult:
    """The outcome of one job (one cell of a sweep)."""

    name: str
    status: str
    run_id: str | None = None
    error: str | None = None
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # what the run tagged (backend, parity)
    exit_code: int | None = None  # a failure's own exit code (task=compare: 3 inconclusive)
    crashed: bool = False  # an unexpected exception (retried by sweep.retries), not a user error

    @property
    def ok(self) -> bool:
        return self.status == FINISHED

    @property
    def validity(self) -> str | None:
        """``VALID`` or ``INVALID`` as the run was judged; None when it was not (a failed
        run, or a task that measures nothing: compare, report, doctor, serve)."""
        return self.tags.get(VALIDITY_TAG)

    @property
    def reasons(self) -> list[str]:
        """Why the run is INVALID (empty when VALID or not judged)."""
        return [r for r in self.tags.get(REASONS_TAG, "").split("; ") if r]


JOURNAL: list[RunResult] = []


def record(result: RunResult) -> RunResult:
    JOURNAL.append(result)
    return result


def replace(results: list[RunResult]) -> None:
    """A sweep's outcome as read back from the store replaces what this process saw."""
    JOURNAL[:] = results


def exit_code() -> int:
    """Non-zero when any job of this process failed: 1, or the failures' own code when
    every failure has one (e.g. 3: task=compare was inconclusive)."""
    codes = {result.exit_code for result in JOURNAL if not result.ok}
    if not codes:
        return 0
    return 1 if None in codes or len(codes) > 1 else codes.pop()


def cell_key(result: RunResult) -> str:
    """The cell a result belongs to, ignoring its gpu choice."""
    return " ".join(sorted(o for o in result.overrides if not o.startswith("gpu="))) or "default"


def cpu_gpu_speedups(results: list[RunResult]) -> list[tuple[str, float, float, float]]:
    """(cell, CPU rtf, GPU rtf, speed-up) for each cell that ran on both a CPU and a GPU."""
    by_cell: dict[str, dict[bool, float]] = {}
    for r in results:
        if r.ok and "rtf" in r.metrics and "device" in r.tags:
            cuda = r.tags["device"].startswith("cuda")
            by_cell.setdefault(cell_key(r), {})[cuda] = r.metrics["rtf"]
    return [(cell, rtf[False], rtf[True], rtf[False] / rtf[True])
            for cell, rtf in by_cell.items() if False in rtf and True in rtf]

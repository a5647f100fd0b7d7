"""What each job of this process ended as; read by the sweep callback and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field

FINISHED = "FINISHED"
FAILED = "FAILED"


@dataclass
class RunResult:
    """The outcome of one job (one cell of a sweep)."""

    name: str
    status: str
    run_id: str | None = None
    error: str | None = None
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == FINISHED


JOURNAL: list[RunResult] = []


def record(result: RunResult) -> RunResult:
    JOURNAL.append(result)
    return result


def exit_code() -> int:
    """Non-zero when any job of this process failed."""
    return 1 if any(not result.ok for result in JOURNAL) else 0

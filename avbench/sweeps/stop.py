"""A signalled sweep leaves no cell RUNNING, whichever processes ran its cells.

The command line's own cells (the basic launcher) end KILLED in this process. A launcher's
workers (loky, Ray, submitit) are other processes: joblib kills its loky workers when the
main process is interrupted, before they can end their runs. So when a sweep is
signalled, the parent looks at its children in the store: a child still RUNNING whose
process is one of ours and alive gets the same signal and ``GRACE_S`` to end its own run
(avbench.runner installs the handler in a worker); whatever is still RUNNING then is ended
KILLED on its behalf, its process (if ours) stopped first so that it cannot write later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import psutil

from avbench.tracking.liveness import PID_TAG, is_alive

GRACE_S = 5.0
POLL_S = 0.1


def children(client: Any, parent_id: str, status: str) -> list[Any]:
    experiment_id = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}' "
                              f"and attributes.status = '{status}'", max_results=10000)


def running_children(client: Any, parent_id: str) -> list[Any]:
    return children(client, parent_id, "RUNNING")


def killed_children(client: Any, parent_id: str) -> int:
    return len(children(client, parent_id, "KILLED"))


def end_running_children(client: Any, parent_id: str, signum: int, reason: str) -> None:
    """Every child of the sweep still RUNNING ends KILLED with ``reason``: by its own
    worker when that worker can still do it within GRACE_S, else by this process."""
    running = running_children(client, parent_id)
    workers = {run.info.run_id: _our_worker(run.data.tags) for run in running}
    for process in filter(None, workers.values()):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)
    deadline = time.monotonic() + GRACE_S
    while running and time.monotonic() < deadline and any(
            _alive(workers.get(run.info.run_id)) for run in running):
        time.sleep(POLL_S)
        running = running_children(client, parent_id)
    for run in running:
        process = workers.get(run.info.run_id)
        if _alive(process):
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)  # it must not write to the run later
        pid = run.data.tags.get(PID_TAG, "?")
        client.set_tag(run.info.run_id, "error",
                       f"{reason} (its worker, pid {pid}, was stopped before it could end "
                       "the run; ended by the sweep's parent)")
        client.set_terminated(run.info.run_id, status="KILLED")


def _our_worker(tags: dict[str, str]) -> psutil.Process | None:
    """The process that owns a run, when it is alive, not this one, and started by it."""
    if is_alive(tags) is not True or tags.get(PID_TAG) == str(os.getpid()):
        return None
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        ours = os.getpid() in {parent.pid for parent in process.parents()}
    except (psutil.Error, ValueError):
        return None
    return process if ours else None


def _alive(process: psutil.Process | None) -> bool:
    if process is None:
        return False
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

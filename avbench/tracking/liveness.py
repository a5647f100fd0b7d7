"""Which process owns a run, and ending the runs whose process is gone.

Every run is tagged with the host, pid and start time of the process that opened it. A
run still RUNNING whose process no longer exists on this host (the pid is gone, or now
belongs to a process started at another time) was left by a killed process (SIGKILL, a
crash, a power cut): it is ended KILLED with the reason. A run's age never decides, and
runs of other hosts are left alone (their processes cannot be seen from here).
"""

from __future__ import annotations

import logging
import os
import socket
from functools import cache
from typing import Any

import psutil

log = logging.getLogger(__name__)

HOST_TAG = "avbench.process.host"
PID_TAG = "avbench.process.pid"
START_TAG = "avbench.process.start"  # process creation time, seconds since the epoch
SAME_START_S = 1.0  # start times read twice differ by clock-tick rounding, not by seconds


@cache
def process_tags() -> dict[str, str]:
    """Host, pid and start time of this process: what ``is_alive`` checks later."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid),
            START_TAG: f"{psutil.Process(pid).create_time():.3f}"}


def is_alive(tags: dict[str, str]) -> bool | None:
    """True/False when the owner of a run with these tags can be checked from here, None
    when it cannot (no tags, or another host)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not {PID_TAG, START_TAG} <= set(tags):
        return None
    try:
        started = psutil.Process(int(tags[PID_TAG])).create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, ValueError):
        return None
    return abs(started - float(tags[START_TAG])) < SAME_START_S


def end_dead_runs(client: Any) -> list[str]:
    """End KILLED, with the reason as the ``error`` tag, every RUNNING run of the store
    whose process is gone; returns their ids."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'",
                                 max_results=50000)
    ended = []
    for run in running:
        tags = run.data.tags
        if is_alive(tags) is not False:
            continue
        reason = (f"killed: its process (pid {tags[PID_TAG]} on {tags[HOST_TAG]}) ended "
                  "without closing the run; found by avbench's liveness check")
        client.set_tag(run.info.run_id, "error", reason)
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    if ended:
        log.warning("ended %d run(s) left RUNNING by a killed process: %s", len(ended),
                    ", ".join(ended))
    return ended

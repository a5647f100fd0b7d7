"""The store as the sweep's record: the parent run, its cells read back, lost cells, reuse.

Whatever launcher ran the jobs (basic, joblib, Ray, submitit), the end of a sweep reads
the children of its parent from the store; nothing depends on the launching process
having seen the jobs.
"""

from __future__ import annotations

import re
import time
from itertools import combinations
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from avbench.journal import FINISHED, LOST, RunResult
from avbench.sweeps.placement import parse_cores
from avbench.sweeps.plan import SweepPlan
from avbench.tracking import keys

LOST_BEFORE_START = "no run reported: the worker died (or was never started) before the cell"
LOST_MID_CELL = "lost mid-cell: its worker stopped (run ended KILLED)"


def param_key(key: str) -> str:
    """A swept key as an MLflow param key: no ``+``/``++``/``~`` prefix, and only the
    characters MLflow accepts (letters, digits, ``_ - . / `` and space)."""
    return re.sub(r"[^\w\-./ ]", "_", key.lstrip("+~"))


def open_parent(client: MlflowClient, experiment_id: str, plan: SweepPlan, name: str,
                tags: dict[str, str]) -> str:
    """The parent run, created once before any job: the swept axes are its params. A parent
    that cannot be recorded whole is ended FAILED (never left RUNNING) and the sweep stops."""
    from avbench.tracking.mlflow_logger import TrackingError

    keys.check("tag", tags)
    run = client.create_run(experiment_id, run_name=name, tags=tags | {
        "avbench.sweep": "true", "avbench.sweep.name": name})
    params = {f"sweep.axis.{param_key(key)}": ",".join(values)
              for key, values in plan.axes.items()}
    params |= {"sweep.launcher": plan.launcher, "sweep.parallel": plan.parallel}
    try:
        keys.CheckedClient(client).log_batch(run.info.run_id, params=[Param(k, str(v)[:6000])
                                                  for k, v in params.items()])
    except Exception as error:
        client.set_tag(run.info.run_id, "error", str(error)[:5000])
        client.set_terminated(run.info.run_id, status="FAILED")
        raise TrackingError(f"the sweep's parent run could not be recorded: "
                            f"{str(error).strip().splitlines()[0]}") from None
    return run.info.run_id


def all_runs(client: MlflowClient, experiment_ids: list[str], query: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, query, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def read_cells(client: MlflowClient, parent_id: str, plan: SweepPlan,
               cause: str | None = None) -> tuple[list[RunResult], list[Any]]:
    """Each planned cell's outcome (its latest attempt), and every child run.

    Runs only when no job of the sweep can still be running: a child still RUNNING
    belongs to a dead worker and is ended KILLED, tagged lost, and so is its cell.
    ``cause``: why the launcher stopped early, when it did (the lost cells say so)."""
    experiment_id = client.get_run(parent_id).info.experiment_id
    children = all_runs(client, [experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")
    latest: dict[int, Any] = {}
    for run in sorted(children, key=lambda r: (int(r.data.tags.get("avbench.attempt", "0")),
                                               r.info.start_time)):
        if "avbench.job_num" in run.data.tags:
            latest[int(run.data.tags["avbench.job_num"])] = run
    results = []
    for cell in plan.cells:
        run = latest.get(cell.num)
        if run is None:
            results.append(RunResult(cell.label, LOST, error=f"not run: {cause}" if cause
                                     else LOST_BEFORE_START,
                                     overrides=list(cell.overrides),
                                     tags={"avbench.job_num": str(cell.num)}))
            continue
        tags = dict(run.data.tags)
        status, error = run.info.status, _error_line(tags.get("error", ""))
        if status == "RUNNING":
            lost = f"lost mid-cell: {cause}" if cause else LOST_MID_CELL
            client.set_tag(run.info.run_id, "avbench.lost", "true")
            client.set_tag(run.info.run_id, "error", lost)
            client.set_terminated(run.info.run_id, status="KILLED")
            status, error = LOST, [lost]
        results.append(RunResult(run.info.run_name, status, run.info.run_id,
                                 error[0] if error else None, list(cell.overrides),
                                 dict(run.data.metrics), tags))
    return results, children


def _error_line(error: str) -> list[str]:
    """A run's error tag in one line: a traceback's last line (the exception)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        return lines[-1:]
    return lines[:1]


def core_overlaps(children: list[Any]) -> list[str]:
    """Pairs of cells that ran at the same time on a shared core: their timings distort
    each other."""
    now_ms = int(time.time() * 1000)
    timed = [r for r in children if "bench.cpu_affinity" in r.data.tags
             and "avbench.resumed_from" not in r.data.tags]
    notes = []
    for a, b in combinations(timed, 2):
        shared = (parse_cores(a.data.tags["bench.cpu_affinity"])
                  & parse_cores(b.data.tags["bench.cpu_affinity"]))
        a_end, b_end = a.info.end_time or now_ms, b.info.end_time or now_ms
        if shared and a.info.start_time < b_end and b.info.start_time < a_end:
            notes.append(f"{_job(a)} and {_job(b)} ran at the same time on "
                         f"core(s) {','.join(map(str, sorted(shared)))}")
    return notes


def _job(run: Any) -> str:
    return f"#{run.data.tags.get('avbench.job_num', '?')} {run.info.run_name}"


def reuse_finished(uri: str | None, experiment: str, parent_id: str,
                   tags: dict[str, str]) -> RunResult | None:
    """sweep.resume: a FINISHED run of the same cell key under the same sweep name, from an
    earlier parent, is recorded under this parent (metrics and params copied, tagged
    ``avbench.resumed_from``) instead of being measured again."""
    from avbench.tracking.mlflow_logger import get_or_create_experiment, open_client

    client = open_client(uri)
    experiment_id = get_or_create_experiment(client, experiment)
    query = (f"tags.`avbench.sweep.name` = '{tags['avbench.sweep.name']}' and "
             f"tags.`avbench.cell_key` = '{tags['avbench.cell_key']}' and "
             "attributes.status = 'FINISHED'")
    found = [r for r in all_runs(client, [experiment_id], query)
             if r.data.tags.get("mlflow.parentRunId") != parent_id]
    if not found:
        return None
    previous = max(found, key=lambda r: r.info.start_time)
    origin = previous.data.tags.get("avbench.resumed_from", previous.info.run_id)
    kept = {k: v for k, v in previous.data.tags.items() if not k.startswith("mlflow.")}
    run = client.create_run(experiment_id, run_name=previous.info.run_name, tags=kept | tags | {
        "mlflow.parentRunId": parent_id, "avbench.resumed_from": origin})
    now_ms = int(time.time() * 1000)
    metrics = [Metric(k, v, now_ms, 0) for k, v in previous.data.metrics.items()]
    params = [Param(k, v) for k, v in previous.data.params.items()]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
    for i in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[i:i + 100])
    client.set_terminated(run.info.run_id, status=FINISHED)
    return RunResult(run.info.run_name, FINISHED, run.info.run_id,
                     metrics=dict(previous.data.metrics), tags=kept | tags | {
                         "avbench.resumed_from": origin})

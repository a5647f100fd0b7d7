"""The load scenarios of the measure phase: LoadGen's single_stream / offline / server
(with an optional peak-QPS ramp) and the closed-loop concurrency sweep, for text
pipelines; ``streaming`` (SVC) and ``http`` live in their own modules."""

from __future__ import annotations

import threading

from avbench.load.loadgen_scenario import failure_tags, loadgen_measurement
from avbench.load.records import write_requests_csv
from avbench.load.work import Work, in_process
from avbench.metrics.perf import RequestRecord, load_metrics
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import ConfigError


def text_work(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Work:
    """In-process work over the run's texts, after one untimed warm-up call."""
    if run_input.texts is None:
        raise ConfigError(f"scenario={ctx.cfg.scenario.name} drives a text pipeline "
                          "(pipeline=tts); for SVC use scenario=streaming or scenario=repeats")
    streaming = bool(ctx.cfg.scenario.streaming)
    if streaming and not hasattr(pipe, "stream"):
        raise ConfigError(f"pipeline={ctx.cfg.pipeline.name} cannot stream; set "
                          "scenario.streaming=false")
    work = in_process(pipe, run_input.texts, streaming)
    warm = work(0, lambda: None)
    if not warm.ok:
        raise RuntimeError(f"the warm-up request failed: {warm.error}")
    return work


class LoadGenScenario:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        work = text_work(ctx, pipe, run_input)
        return loadgen_measurement(ctx, self.name, work, len(run_input.texts or []))


def closed_loop(work: Work, n_samples: int, concurrency: int,
                requests: int) -> tuple[list[RequestRecord], float]:
    """``concurrency`` clients, each sending its next request as soon as the last ends,
    until ``requests`` have been sent; the records (timed by the work itself, TTFA
    included; scheduled = sent) and the level's wall time, from the first request sent to
    the last answer."""
    records: list[RequestRecord] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            record = work(index % n_samples, lambda: None)
            record.scheduled_s = record.sent_s
            records.append(record)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = [r.sent_s for r in records if r.sent_s is not None]
    ends = [r.end_s for r in records if r.end_s is not None]
    return records, (max(ends) - min(starts)) if starts and ends else 0.0


class ConcurrencySweep:
    """Closed loop at each of scenario.levels; one child run per level. LoadGen has no
    closed-loop scenario (its SingleStream is this loop at concurrency 1), so this loop
    is ours; every figure comes from the same definitions (metrics/perf.load_metrics)."""

    name = "concurrency"

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        work = text_work(ctx, pipe, run_input)
        return closed_loop_levels(ctx, work, len(run_input.texts or []))


def closed_loop_levels(ctx: RunContext, work: Work, n_samples: int) -> Measurement:
    """The closed loop at every level; the run's own metrics are those of the level with
    the highest rps, each level's are in its child run and as ``level.*`` by step; each
    level's requests are in ``concurrency/requests_c<level>.csv``."""
    sc = ctx.cfg.scenario
    measured = Measurement({})
    everyone: list[RequestRecord] = []
    for level in sc.levels:
        records, wall_s = closed_loop(work, n_samples, int(level), int(sc.requests_per_level))
        everyone += records
        metrics = load_metrics(records, wall_s) if wall_s > 0 else {"success_rate": 0.0}
        csv = write_requests_csv(ctx.out_dir / "concurrency" / f"requests_c{level}.csv",
                                 records)
        measured.artifacts.append(csv)
        child = ctx.logger.child(f"{ctx.name}-c{level}", {
            "scenario.concurrency": str(level), "avbench.task": "pipeline",
            "choice.scenario": "concurrency", "choice.pipeline": ctx.cfg.pipeline.name,
            "load.requests": str(len(records)),
            "load.errors": str(sum(not r.ok for r in records))})
        child.log_metrics(metrics)
        child.end("FINISHED")
        ctx.logger.log_metrics({f"level.{k}": v for k, v in metrics.items()}, step=int(level))
        measured.lines.append((f"concurrency {level}", level_line(metrics)))
        if metrics.get("rps", 0) > measured.metrics.get("rps", -1):
            measured.metrics = dict(metrics)
    failures = failure_tags(everyone)
    errors = sum(not r.ok for r in everyone)
    ctx.set_tags({"concurrency.levels": ",".join(str(v) for v in sc.levels),
                  "load.requests": len(everyone), "load.errors": errors,
                  "load.result": "INVALID" if errors else "VALID",
                  "load.invalid_reasons": f"{errors} of {len(everyone)} requests failed"
                  if errors else "none"} | failures)
    if errors:
        measured.lines.append(("failures", failures["load.failures"]))
    return measured


def level_line(m: dict[str, float]) -> str:
    line = (f"{m.get('rps', 0):.3f} req/s, {m.get('asps', 0):.2f} audio s/s, "
            f"success {100 * m['success_rate']:.0f} %")
    for name, label in (("latency_ms", "latency"), ("ttfa_ms", "TTFA")):
        shown = [f"p{q} {m[f'{name}.p{q}']:,.0f}" for q in (50, 99) if f"{name}.p{q}" in m]
        if shown:
            line += f", {label} {' / '.join(shown)} ms"
    return line

"""The tag names of the record (avbench.tracking.keys): name, meaning, when logged.
Tags are facts about a run: what ran where, counts and flags, verdicts, volatile values."""

from __future__ import annotations

_EVERY = "every tracked run"
_PIPELINE = "task=pipeline"
_LOAD = "load scenarios"
_CELL = "each cell of a sweep"
_PARENT = "a sweep's parent run"

TAGS: tuple[tuple[str, str, str], ...] = (
    # what ran, where, with what
    ("choice.<group>", "the option of every config group (`choice.preset=fast`)",
     "runs started by Hydra (the command line, `avbench.benchmark`)"),
    ("avbench.task", "the task that ran", _EVERY),
    ("precision", "the precision option (`fp32`, `bf16`, ...)", _EVERY),
    ("precision.native", "`false`: a CPU without that dtype's instructions", _PIPELINE),
    ("device", "the torch device it ran on", "task=pipeline, kernels, data"),
    ("hardware.{key,cpu_model,cpu_cores,gpu_name}",
     "the machine: a key of its hardware, CPU model, logical cores, GPU name (`none`)", _EVERY),
    ("cuda.version", "CUDA version torch was built with", _EVERY),
    ("gpu.profile_match", "whether the device matches the `gpu=` profile's name pattern "
     "(empty: nothing to check)", _PIPELINE),
    ("version.<package>", "installed version of each package the record depends on", _EVERY),
    ("git.{sha,dirty}", "the commit of the avbench checkout, and uncommitted changes", _EVERY),
    ("avbench.process.{host,pid,start}", "the process that opened the run (host, pid, start "
     "time): what the liveness check reads to end a run whose process died", _EVERY),
    ("paths.output_dir", "the run's folder (outputs/<date>/<time>-<run id>)", _EVERY),
    ("error", "a failed run's error (one line)", "failed runs"),
    # backends and kernels
    ("backend.{requested,effective,fallback_reason,cache}", "the backend asked for and what "
     "ran per component, why it fell back, whether the exported graph or engine was cached",
     _PIPELINE),
    ("backend.providers", "ONNX Runtime execution providers the sessions run on", "backend=onnxruntime"),
    ("backend.tf32", "fp32 runs on CUDA: whether float32 math could use TF32 (`off` unless "
     "`precision.tf32=true`; docs/gpu.md)", "CUDA fp32 runs"),
    ("backend.execution.<component>", "the kernels that ran, read back from the library "
     "(oneDNN's verbose mode for eager, OpenVINO's runtime graph), e.g. "
     "`brgconv_avx512_bf16 bf16 x42`", _PIPELINE),
    ("backend.precision.<component>", "what the component computed in, and why when it is "
     "not what was asked (`f32 (seeded weights: not quantised)`)", "backend=openvino"),
    ("kernel.{effective,interpreted}", "DSP kernels (`interpreted=true`: Triton's CPU "
     "interpreter, not a speed)", "task=pipeline, kernels"),
    ("kernels.triton_dtype", "the dtype the Triton kernels were timed in", "task=kernels"),
    ("threads.{torch,blas,openmp,gomp_spincount,omp_wait_policy}", "thread pools and "
     "OpenMP's idle spin in force while timing", "task=pipeline, kernels"),
    ("bench.malloc", "allocator settings in force (`retain`: freed memory kept, "
     "`bench.retain_freed_memory`)", "task=pipeline, kernels"),
    # the verdict
    ("validity", "`VALID` or `INVALID`: the judge's verdict on every measuring run "
     "([measurement.md](measurement.md#validity))", "measuring runs"),
    ("validity.reasons", "why it is INVALID: one short rule with its numbers per broken rule, "
     "joined by `; ` (`repeats 2 < 5; cv 47.9 % > 10 %`); empty when VALID", "measuring runs"),
    ("validity.{min_samples,max_cv,max_clock_pct,max_other_cpu_pct,max_steal_pct,"
     "percentile_tail}", "the thresholds the verdict was judged against (`validity.*` "
     "settings)", _EVERY),
    ("validity.max_error_pct", "the share of failed requests a load run may have", _LOAD),
    ("validity.min_epochs", "timed epochs the medians need", "task=data"),
    ("stats.omitted", "statistics left out because the sample does not support them "
     "(`p95, p99 of latency_ms: 16 < 20, 100 samples`)", "measuring runs"),
    # the timed repeats
    ("bench.repeats", "timed repeats", _PIPELINE),
    ("bench.{warmup_calls,warmup_settled}", "warm-up calls made, and whether the time per "
     "call settled (`true`, `false`, `unchecked`)", _PIPELINE),
    ("bench.capped_by_max_repeats", "`true`: `bench.max_repeats` stopped the repeats before "
     "`bench.min_time_s`", _PIPELINE),
    ("bench.{loops,batched}", "calls per timed sample; `true` when samples are batches of "
     "calls timed by one outer clock (sub-millisecond calls)", _PIPELINE),
    ("bench.{unstable,throttled,gpu_bottleneck_elsewhere}", "flags: CV over "
     "`validity.max_cv` (also a reason for INVALID), GPU clock slowdowns, a GPU left waiting",
     "measuring runs (throttled, bottleneck: CUDA)"),
    ("monitor.samples", "background monitor samples taken while timing", _PIPELINE),
    ("monitor.{gpu,gpu_fields,gpu_unavailable,error}", "how the GPU telemetry was read (NVML "
     "or not), the fields it could read, why not, the monitor's failed readings",
     "when the monitor has something to say"),
    ("memory.method", "how `memory_peak_mb` was measured: `cuda_max_allocated`, or "
     "`rss_hwm_per_run` (the process's peak RSS, reset per run) / `rss_sampled` on the CPU",
     _PIPELINE),
    # the figures' provenance
    ("pitch.labels", "where the pitch figures' reference F0 came from: `synthetic score "
     "(exact)` for a generated song, or the labels given with a file", "runs with F0 labels"),
    ("{pitch_frames_voiced,pitch_frames_both_voiced}", "counts behind the pitch figures: "
     "voiced reference frames, frames voiced in both", "runs with F0 labels"),
    ("f0_clean.{pitch_frames_voiced,pitch_frames_both_voiced}", "the same for the clean "
     "vocal stem", "synthetic songs"),
    ("grading.<key>", "`graded`, or `not graded (seeded: <components>)`: whether a quality "
     "figure rests on real weights only; analysis shows ungraded figures apart",
     "each quality figure logged"),
    ("quality.<evaluator>.skipped", "an evaluator that could not run, and why "
     "(`bench.skip_evaluators`: left out on request)", _PIPELINE),
    ("model.weights.<component>", "`pretrained:<package>/<file>` or `seeded`: where each "
     "component's weights came from", _PIPELINE),
    ("model.<key>", "what the pipeline's `describe()` says identifies what ran: "
     "`model.parameters.<component>` (parameter counts), `model.checkpoint_components`, a "
     "packaged model's version; values a `pipeline.*` param already holds are left out",
     _PIPELINE),
    ("parity.{pass,failures,reference_cache}", "the gate's verdict, the stages beyond "
     "thresholds, whether the fp32 reference came from the cache", "runs the gate judges"),
    ("parity.method", "`by_stage` (each stage fed the reference's inputs) or `chained` (a "
     "pipeline whose stages do not read named state keys)", "runs the gate judges"),
    ("gate.<stage>", "`numeric` or `quality`: which gate judged the stage "
     "(docs/measurement.md)", "runs the gate judges"),
    # load scenarios
    ("load.{requests,errors}", "requests sent and failed (warm-up excluded)", _LOAD),
    ("load.failures", "the commonest reasons requests failed, e.g. `3x timeout after 30 s`",
     _LOAD),
    ("load.{result,invalid_reasons}", "VALID, or INVALID with its reasons: a bound, a LoadGen "
     "condition, failed requests", _LOAD),
    ("load.bound_failed", "`none`, `latency`, `ttfa` or `latency,ttfa`", "scenario=server"),
    ("load.latency_source", "`loadgen` (its percentiles), `records` (some requests failed: "
     "the successful ones' own), `none`", _LOAD),
    ("load.workers", "the worker (client) pool's size", "LoadGen scenarios"),
    ("loadgen.{scenario,result}", "LoadGen's scenario and its own `result_validity`",
     "LoadGen scenarios"),
    ("loadgen.{performance_constraints,min_duration,min_queries,early_stopping}", "LoadGen's "
     "conditions: `Yes`/`NO`", "LoadGen scenarios"),
    ("server.{peak_bound,peak_steps}", "the bounds and the steps tried",
     "scenario=server find_peak=true"),
    ("http.{url,server,model,voice}", "the server driven (`ours` or `external`) and the "
     "model and voice the requests named, as resolved", "scenario=http"),
    ("stream.chunks", "chunks streamed", "scenario=streaming"),
    ("concurrency.levels", "the closed-loop levels run", "scenario=concurrency"),
    ("scenario.concurrency", "this child run's level (one child run per level)",
     "scenario=concurrency"),
    # task=data
    ("data.{clips,skipped}", "clips in the corpus, and files skipped", "task=data"),
    ("data.{cache_shards_built,cache_shards_reused,cache_shards_corrupt}", "the feature "
     "cache's shards", "task=data"),
    ("data.device_prefetch", "whether batches were copied to the GPU during the step",
     "task=data"),
    ("data.{bottleneck,recommendation}", "the loader or the step, and what to change",
     "task=data"),
    # sweeps
    ("avbench.{sweep.name,job_num,cell,cell_config,cell_key,replica,attempt,cell_inputs}",
     "the cell's sweep, job number, overrides, config hash, identity for resume, replica, "
     "attempt and input file hashes (docs/sweeps.md)", _CELL),
    ("avbench.resumed_from", "a resumed sweep's reused cell: the run that measured it", _CELL),
    ("bench.{concurrent_cells,slot,pinned,cpu_affinity}", "the cell's placement: cells at "
     "once, its slot, whether pinned, its cores", _CELL),
    ("gpu.{visible_devices,placement}", "the GPU a cell was placed on, and a note when shared",
     _CELL),
    ("avbench.{sweep,sweep.name,sweep.dir,sweep.overrides}", "marks a sweep's parent, its "
     "name, folder and command-line overrides", _PARENT),
    ("sweep.{lost,skipped,retried,core_overlap}", "counts: cells lost with their worker, "
     "reused, rerun; whether parallel cells shared a core", _PARENT),
    ("sweep.{lost_cells,failed_cells,invalid_cells,notes}", "the cells lost, failed or "
     "INVALID (with reasons), and the launcher's notes", _PARENT),
    ("sweep.{best_cell,best_run_id}", "the fastest VALID cell", _PARENT),
    ("sweep.cpu_vs_gpu_cell.<index>", "a cell run on both the CPU and a GPU", _PARENT),
)

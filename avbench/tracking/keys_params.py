"""The param names of the record (avbench.tracking.keys): name, meaning, when logged.

Params are the settings a run read, each once, under its config path with its resolved
value (avbench.params decides which); the meaning of each config key is in
docs/configuration.md. ``<key>`` stands for a config path below the node.
"""

from __future__ import annotations

_TRACKED = "task=pipeline, kernels, data"

PARAMS: tuple[tuple[str, str, str], ...] = (
    ("task.name", "the task", "every tracked run"),
    ("task.<key>", "the task's own options (a task module lists them in `TASK_OPTIONS`)",
     "task=kernels"),
    ("pipeline.{_target_,name,input}", "the pipeline class, its name, its input kind "
     "(`audio` or `text`)", "task=pipeline"),
    ("pipeline.<key>", "the pipeline's constructor arguments (matched by name); "
     "`max_chars` for a text pipeline", "task=pipeline, each key the class takes"),
    ("preset.name", "the preset", "pipelines whose settings are a preset's (`settings: "
     "${preset.svc}`)"),
    ("preset.svc.<key>", "the SVC algorithm settings (F0 method, hop, flows, vocoder...)",
     "pipelines whose settings are a preset's"),
    ("weights.name", "`pretrained` or `seeded`", "task=pipeline"),
    ("precision.{name,dtype}", "the precision and the dtype of neural stages",
     "task=pipeline, kernels"),
    ("precision.tf32", "float32 math may use TF32 tensor cores", "CUDA runs"),
    ("precision.quantize", "post-training quantisation (`int8`)", "precision=int8"),
    ("precision.{keep_float,hold_margin}", "int8: components left in float32; the share of "
     "the log-mel limit NNCF's accuracy control holds the vocoder to", "precision=int8"),
    ("precision.parity.<key>", "the numeric gate's thresholds (seeded stages)",
     "runs the gate judges (all but the fp32 eager reference)"),
    ("precision.quality.<key>", "the quality gate's thresholds (real-weight stages)",
     "runs the gate judges"),
    ("backend.{name,strict}", "the backend, and error vs recorded fallback", "task=pipeline"),
    ("backend.parity.{enabled,enforce}", "whether the gate runs, and whether its failure "
     "fails the run", "task=pipeline"),
    ("backend.{compile_mode,compile_dynamic}", "torch.compile's mode and `dynamic`",
     "backend=compile"),
    ("backend.opset", "ONNX opset of exported graphs",
     "backend=onnxruntime, openvino, tensorrt"),
    ("backend.{providers,ort_spinning}", "ONNX Runtime's providers in priority order, and "
     "its workers' spin-wait", "backend=onnxruntime"),
    ("backend.workspace_mb", "TensorRT's builder workspace", "backend=tensorrt"),
    ("kernel.name", "`auto`, `torch` or `triton`", "task=pipeline, kernels"),
    ("gpu.{name,device}", "the hardware profile and the device asked for", _TRACKED),
    ("gpu.<key>", "the profile's figures when it has them (memory, bandwidth, peak TFLOP/s "
     "per dtype, compute capability, name pattern)", "GPU profiles"),
    ("audio.{name,duration_s,sample_rate,seed}", "the input: a synthetic song's length, rate "
     "and seed; for a file, its stem and length", "audio input"),
    ("audio.{path,vocals_path}", "a real input file and its reference vocal stem",
     "when given"),
    ("audio.{profile_min_s,profile_max_s}", "the lengths an exported graph or engine accepts",
     "backend=onnxruntime, openvino, tensorrt"),
    ("text.{name,corpus,path}", "the utterances: a built-in corpus or a file", "text input"),
    ("scenario.name", "the load shape (`repeats`: the timed repeats)", "task=pipeline"),
    ("scenario.<key>", "the settings the load scenario reads (docs/load.md)",
     "load scenarios"),
    ("serve.{host,port}", "where our server listens", "scenario=http on our server"),
    ("bench.<key>", "warm-up, repeats, threads, telemetry (`min_gpu_util_pct`: CUDA only)",
     _TRACKED),
    ("loader.name", "the training-input loader", "task=data"),
    ("data.<key>", "the corpus, feature cache, DataLoader and train-step probe", "task=data"),
    ("sweep.axis.<key>", "a swept key and its values", "a sweep's parent run"),
    ("sweep.{launcher,parallel}", "the Hydra launcher, and cells run at once",
     "a sweep's parent run"),
)

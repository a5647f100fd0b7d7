"""The phases of one benchmark run, one module each, sequenced by ``tasks/pipeline.py``:

    context   device, dtype, kernel, caches, threads: what every phase shares
    input     the input audio (a synthetic song with labels, or a file)
    build     the pipeline, with its weights
    prepare   backends: export / compile / engines (cached)
    measure   a scenario drives the pipeline and returns its measurements
    evaluate  evaluators, after timing and never inside it
    judge     VALID or INVALID, with a reason per broken rule (tags validity, validity.reasons)
    record    metrics, params, artifacts, the console summary (its first line the verdict)
"""

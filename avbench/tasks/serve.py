"""task=serve: the OpenAI-compatible speech server over the configured TTS pipeline,
until interrupted (``python -m avbench task=serve pipeline=tts serve.port=8000``)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from omegaconf import DictConfig

from avbench.console import print_line
from avbench.phases.build import build
from avbench.phases.context import open_run
from avbench.phases.input import load_input
from avbench.phases.prepare import prepare
from avbench.runtime import ConfigError, fp32_math, resolve_device
from avbench.serve.app import create_app
from avbench.serve.server import listen, serve_forever
from avbench.tracking import RunLogger

TRACKED = False  # a server is not a measurement; scenario=http measures it


def run_name(cfg: DictConfig) -> str:
    return f"serve-{cfg.pipeline.name}"


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    if cfg.pipeline.input != "text":
        raise ConfigError(f"task=serve serves a text-to-speech pipeline; pipeline="
                          f"{cfg.pipeline.name} is not one (use pipeline=tts)")
    device = resolve_device(cfg.gpu)
    sock = listen(cfg.serve.host, int(cfg.serve.port))  # a port in use: one line, now
    with closing(sock), fp32_math(device, bool(cfg.precision.tf32)):  # as a measured run
        ctx = open_run(cfg, logger, out_dir, name, device)
        pipe = build(ctx)
        prepare(ctx, pipe, load_input(ctx))  # backend=, as for a measured run
        app = create_app(pipe, cfg.pipeline.name, int(cfg.pipeline.max_chars))
        print_line(f"  serving {cfg.pipeline.name} on http://{cfg.serve.host}:"
                   f"{cfg.serve.port} (POST /v1/audio/speech, GET /v1/models, GET /health); "
                   "Ctrl-C stops")
        serve_forever(app, sock)
    return {}

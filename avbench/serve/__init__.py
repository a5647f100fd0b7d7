"""The HTTP server: OpenAI-compatible ``POST /v1/audio/speech`` and ``GET /health`` over a
TTS pipeline (FastAPI + uvicorn), run by ``task=serve`` and by ``scenario=http``."""

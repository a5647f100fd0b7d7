"""The served tiny TTS of tests/serve, for the load client's tests."""

from tests.serve.conftest import served, tiny_tts  # noqa: F401 (fixtures)

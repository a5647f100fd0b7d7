"""Task tests that read a store share the analysis tests' tiny sweep (made once per session)."""

from tests.analysis.conftest import store, tiny_sweep  # noqa: F401

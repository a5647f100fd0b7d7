"""The tiny real sweep store, shared by every analysis test (and tests/tasks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.tiny_sweep import TinySweep, make_tiny_sweep


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
               asset_cache: Path) -> TinySweep:
    return make_tiny_sweep(tmp_path_factory.getbasetemp() / "tiny-sweep", mlflow_template_db,
                           asset_cache)


@pytest.fixture
def store(tiny_sweep: TinySweep):
    """A read client on the tiny store."""
    from avbench.analysis.runs import open_store

    return open_store(tiny_sweep.uri)

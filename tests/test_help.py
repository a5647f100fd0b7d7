"""`python -m avbench --help`: avbench's own short help; --hydra-help and completion stay Hydra's."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, run_cli

CONF = REPO / "conf"


def groups() -> dict[str, list[str]]:
    """Every config group with its options, as conf/ holds them."""
    return {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in sorted(CONF.iterdir())
            if d.is_dir() and d.name not in ("hydra", "local") and any(d.glob("*.yaml"))}


def test_help_lists_tasks_groups_and_examples(tmp_path: Path) -> None:
    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert len(text.splitlines()) < 60
    assert "== Tasks (task=) ==" in text and "== Examples ==" in text
    for group, options in groups().items():
        line = next(line for line in text.splitlines() if line.startswith(f"{group}: "))
        assert set(line.removeprefix(f"{group}: ").split(", ")) == set(options), group
    assert "python -m avbench -m preset=fast,quality" in text
    assert "--hydra-help" in text and "-sc install=bash" in text
    assert "Powered by Hydra" not in text and "== Config ==" not in text  # no config dump


def test_hydra_help_is_hydras_own(tmp_path: Path) -> None:
    done = run_cli("--hydra-help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "== Flags ==" in done.stdout and "--shell-completion" in done.stdout


def test_shell_completion_offers_group_options(tmp_path: Path) -> None:
    env = {"COMP_LINE": "avbench preset=", "COMP_POINT": str(len("avbench preset="))}
    done = run_cli("-sc", "query=bash", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"preset=balanced", "preset=fast", "preset=quality"}

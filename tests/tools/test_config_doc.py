"""docs/configuration.md's groups and options cannot drift from conf/: the generated part
is what conf/ makes now, and it lists every group folder with every option file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from avbench.tasks import TASKS
from avbench.tools.config_doc import read_groups, render, updated
from tests.conftest import REPO

CONF = REPO / "conf"
PAGE = REPO / "docs" / "configuration.md"


def doc_tables(page: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The "Groups" section's groups table (group -> options, "(default)" dropped) and
    options table (``group=option`` -> description), read as a user reads them."""
    groups, options = {}, {}
    section = page.split("\n## Groups\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) == 3 and cells[0] not in ("group", "---|---|---"):
            groups[cells[0]] = [o.removesuffix(" (default)") for o in cells[1].split(", ")]
        match = re.match(r"\| `(\w+)=(\w+)`(?: \(default\))? \| (.*) \|$", line)
        if match:
            options[f"{match.group(1)}={match.group(2)}"] = match.group(3)
    return groups, options


def test_the_page_is_what_conf_makes_now() -> None:
    page = PAGE.read_text()
    assert updated(page, render(read_groups(CONF))) == page, (
        "docs/configuration.md differs from conf/: run python -m avbench.tools.config_doc")


def test_every_group_folder_and_option_file_is_on_the_page() -> None:
    groups, options = doc_tables(PAGE.read_text())
    folders = {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in CONF.iterdir()
               if d.is_dir() and d.name not in ("hydra", "__pycache__")}
    assert set(groups) == set(folders)
    for group, files in folders.items():
        if files:
            assert sorted(groups[group]) == files, group
        assert {k.split("=")[1] for k in options if k.startswith(f"{group}=")} == set(files)
    assert {"data", "serve"} <= set(groups["task"]) and {"tts", "hibari"} <= set(groups["pipeline"])
    for name, description in TASKS.items():
        assert options[f"task={name}"] == description.replace("|", "\\|")


def test_an_option_without_a_one_line_description_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    path = conf / "backend" / "onnxruntime.yaml"
    body = path.read_text()
    path.write_text("# ONNX Runtime: each component exported to ONNX (dynamic time axis,\n"
                    + body)
    with pytest.raises(ValueError, match="must end a sentence"):
        read_groups(conf)
    path.write_text("name: onnxruntime\n")
    with pytest.raises(ValueError, match="no leading comment"):
        read_groups(conf)


def test_a_group_needs_its_line_in_the_defaults_list(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "vocoder").mkdir()
    (conf / "vocoder" / "hifigan.yaml").write_text("# HiFi-GAN.\nname: hifigan\n")
    with pytest.raises(ValueError, match="vocoder"):
        read_groups(conf)
    root = (conf / "config.yaml").read_text()
    (conf / "config.yaml").write_text(root.replace("  - _self_", "  - vocoder: hifigan\n  - _self_"))
    with pytest.raises(ValueError, match="vocoder"):  # a line, but no comment on it
        read_groups(conf)
    (conf / "config.yaml").write_text(root.replace(
        "  - _self_", "  - vocoder: hifigan  # which vocoder\n  - _self_"))
    groups = {g.name: g for g in read_groups(conf)}
    assert groups["vocoder"].options == {"hifigan": "HiFi-GAN."}
    assert "| `vocoder=hifigan` | HiFi-GAN. |" in render(list(groups.values()))

"""docs/configuration.md's groups and options, made from conf/ (``python -m
avbench.tools.config_doc``; ``--check`` exits 1 when the page is out of date).

Where each part comes from:

- the groups, their order and default option: ``conf/config.yaml``'s defaults list, and
  what a group chooses: the comment on its line there;
- a group's options: the ``*.yaml`` files of its folder under ``conf/``;
- an option's description: the first line of its file's leading comment (after
  ``# @package``), a sentence of its own; a task's: the ``TASKS`` registry, which
  ``--help`` prints too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from avbench.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]
BEGIN = ("<!-- generated from conf/ by `python -m avbench.tools.config_doc`: edit conf/ "
         "(or TASKS), then rerun -->")
END = "<!-- end of generated groups -->"
NOT_GROUPS = ("hydra",)  # Hydra's own settings, not a choice of the run
DEFAULTS_LINE = re.compile(r"^\s*-\s+(?:optional\s+)?(\w+):\s*(\S+)\s*(?:#\s*(.*))?$")


@dataclass(frozen=True)
class Group:
    name: str
    meaning: str
    default: str | None
    options: dict[str, str]  # option -> its one-line description


def defaults_list(config_yaml: Path) -> dict[str, tuple[str | None, str]]:
    """``{group: (default option or None, what the group chooses)}`` in the defaults
    list's order."""
    found: dict[str, tuple[str | None, str]] = {}
    for line in config_yaml.read_text().splitlines():
        match = DEFAULTS_LINE.match(line)
        if match and match.group(1) not in NOT_GROUPS:
            group, option, meaning = match.groups()
            found[group] = (None if option == "null" else option, (meaning or "").strip())
    return found


def option_description(path: Path) -> str:
    """The first line of the file's leading comment; it must be a sentence of its own."""
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text and not text.startswith("@package"):
            if not text.endswith((".", "?", ")")):
                raise ValueError(f"{path}: the first comment line is the option's one-line "
                                 f"description and must end a sentence: {text!r}")
            return text
    raise ValueError(f"{path}: no leading comment; its first line describes the option")


def _natural(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_groups(conf: Path) -> list[Group]:
    """Every group folder of ``conf`` with its options, in the defaults list's order."""
    listed = defaults_list(conf / "config.yaml")
    folders = {d.name for d in conf.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
               and d.name not in NOT_GROUPS}
    missing = sorted(folders - set(listed)) + sorted(g for g in listed if g not in folders)
    if missing or any(not meaning for _, meaning in listed.values()):
        raise ValueError(f"every group folder needs a line with a comment in {conf}/config.yaml's "
                         f"defaults list (missing or without a comment: "
                         f"{missing or [g for g, (_, m) in listed.items() if not m]})")
    groups = []
    for name, (default, meaning) in listed.items():
        files = sorted((conf / name).glob("*.yaml"), key=lambda p: _natural(p.stem))
        if name == "task":
            if {p.stem for p in files} != set(TASKS):
                raise ValueError(f"conf/task/ and avbench/tasks TASKS differ: "
                                 f"{sorted(p.stem for p in files)} vs {sorted(TASKS)}")
            options = dict(TASKS)
        else:
            options = {p.stem: option_description(p) for p in files}
        groups.append(Group(name, meaning, default, options))
    return groups


def _cell(text: str) -> str:
    """A table cell: pipes escaped, ``docs/<page>.md`` a link from docs/ itself."""
    return re.sub(r"docs/([\w-]+\.md)", r"[\1](\1)", text.replace("|", "\\|"))


def render(groups: list[Group]) -> str:
    """The groups table and the options table, between the generated-part markers."""
    lines = [BEGIN, "", "| group | options | what it chooses |", "|---|---|---|"]
    for g in groups:
        names = [f"{o} (default)" if o == g.default and len(g.options) > 1 else o
                 for o in g.options] or ["(your own files, git-ignored)"]
        lines.append(f"| {g.name} | {', '.join(names)} | {_cell(g.meaning)} |")
    lines += ["", "Every option, with the first line of its file's comment (`conf/<group>/"
              "<option>.yaml`; a task's from `avbench/tasks/__init__.py`):", "",
              "| option | what it is |", "|---|---|"]
    for g in groups:
        for option, description in g.options.items():
            default = " (default)" if option == g.default and len(g.options) > 1 else ""
            lines.append(f"| `{g.name}={option}`{default} | {_cell(description)} |")
    return "\n".join([*lines, "", END])


def updated(page: str, generated: str) -> str:
    """``page`` with its generated part replaced by ``generated``."""
    if page.count(BEGIN) != 1 or page.count(END) != 1:
        raise ValueError("the page needs one pair of generated-part markers:\n"
                         f"{BEGIN}\n{END}")
    head, rest = page.split(BEGIN)
    return head + generated + rest.split(END, 1)[1]


def main(argv: list[str]) -> int:
    page_path = REPO / "docs" / "configuration.md"
    page = page_path.read_text()
    new = updated(page, render(read_groups(REPO / "conf")))
    if "--check" in argv:
        if new != page:
            print(f"{page_path} is out of date: python -m avbench.tools.config_doc",
                  file=sys.stderr)
        return int(new != page)
    if new != page:
        page_path.write_text(new)
    print(f"{page_path}: {'updated' if new != page else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

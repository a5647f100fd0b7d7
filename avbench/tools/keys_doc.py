"""docs/metrics.md's tables from the registry (avbench.tracking.keys) and the params of a
default run (avbench.params on the default config).

    python -m avbench.tools.keys_doc            # rewrite the generated parts of docs/metrics.md
    python -m avbench.tools.keys_doc --check    # exit 1 when they differ from the registry

Each generated part sits between ``<!-- generated: <part> -->`` and ``<!-- end -->``;
the text around them is written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from avbench.tracking.keys import Key, registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
PARTS = ("metrics", "params", "default-params", "tags")
_SECTION = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- end -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(kinds: tuple[str, ...], header: str, columns: int) -> str:
    rows = [header, "|" + "---|" * columns]
    for key in registry():
        if key.kind in kinds:
            rows.append(_row(key, columns))
    return "\n".join(rows) + "\n"


def _row(key: Key, columns: int) -> str:
    cells = [f"`{_cell(key.name)}`"]
    if columns == 5:
        cells += [key.kind, key.unit]
    cells += [_cell(key.meaning), _cell(key.when)]
    return "| " + " | ".join(cells) + " |"


def default_params() -> dict[str, object]:
    """The params of ``python -m avbench`` on a CPU (the default config, composed)."""
    from hydra import compose, initialize_config_dir, initialize_config_module

    from avbench.cli import config_path
    from avbench.config import register_configs
    from avbench.params import settings_params
    from avbench.tasks import task_module

    register_configs()
    path = config_path()
    init = (initialize_config_module("avbench.conf", version_base="1.3")
            if path.startswith("pkg://") else
            initialize_config_dir(config_dir=path, version_base="1.3"))
    with init:
        cfg = compose("config", overrides=["paths.output_dir=unused"])
    options = getattr(task_module(cfg.task.name), "TASK_OPTIONS", None)
    return settings_params(cfg, options, device_type="cpu")


def _default_params() -> str:
    params = default_params()
    lines = [f"A default `python -m avbench` run on a CPU logs these {len(params)} params:", ""]
    lines += [f"`{key}={value}`" + (", " if i < len(params) - 1 else ".")
              for i, (key, value) in enumerate(params.items())]
    return "\n".join(lines) + "\n"


def generated(part: str) -> str:
    """The text of one generated part."""
    if part == "metrics":
        return _table(("metric", "series"),
                      "| metric | kind | unit | meaning | logged when |", 5)
    if part == "params":
        return _table(("param",), "| param | meaning | logged when |", 3)
    if part == "default-params":
        return _default_params()
    if part == "tags":
        return _table(("tag",), "| tag | meaning | logged when |", 3)
    raise ValueError(f"no generated part {part!r}; parts: {', '.join(PARTS)}")


def regenerate(text: str) -> str:
    """``text`` with every generated part rewritten."""
    found = {m[2] for m in _SECTION.finditer(text)}
    missing = set(PARTS) - found
    if missing:
        raise ValueError(f"docs/metrics.md lacks the generated part(s) {sorted(missing)}")
    return _SECTION.sub(lambda m: m[1] + generated(m[2]) + m[4], text)


def stale(text: str) -> list[str]:
    """The generated parts of ``text`` that differ from what the registry generates."""
    return [m[2] for m in _SECTION.finditer(text) if m[3] != generated(m[2])]


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    if "--check" in argv:
        differ = stale(text)
        if differ:
            print(f"{DOC}: out of date ({', '.join(differ)}); run python -m avbench.tools.keys_doc")
            return 1
        return 0
    DOC.write_text(regenerate(text))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

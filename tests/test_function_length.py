"""No function in avbench, its kernels or its benchmarks is longer than 60 lines (the house
rule of docs/extending.md: a longer one is a sign to split)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 60


def long_functions(source: str, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in ``source`` longer than ``limit`` lines,
    its decorators excluded, its docstring included."""
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_the_rule_counts_a_long_function_and_passes_a_short_one() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"def long():\n{body}\n") == [("long", MAX_LINES + 1)]
    assert long_functions("def short():\n    return 1\n") == []


def test_no_function_is_longer_than_60_lines() -> None:
    found = [f"{path.relative_to(REPO)}:{name} ({lines} lines)"
             for root in ("avbench", "kernels_triton", "benchmarks")
             for path in sorted((REPO / root).rglob("*.py"))
             for name, lines in long_functions(path.read_text())]
    assert not found, "split these functions: " + ", ".join(found)

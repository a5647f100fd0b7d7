"""The import graph: no circles, and every import points down the layers of DESIGN.md.

Every import counts, at module level or inside a function: a lazy import hides a cycle
from Python, not from a reader. ``from avbench import journal`` is an import of
``avbench.journal``; the package root ``avbench`` (whose ``__getattr__`` loads the public
``api`` on first use) is the facade on top and imports nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("avbench", "kernels_triton")

# Bottom to top. A module may import modules of its own layer or of a lower one.
LAYERS: list[tuple[str, ...]] = [
    ("avbench.errors", "avbench.version", "avbench.journal", "avbench.interrupt",
     "avbench.console", "avbench.runtime", "avbench.run_dir", "avbench.install_hints",
     "avbench.openvino_core"),
    ("kernels_triton", "avbench.dsp", "avbench.audio", "avbench.measure", "avbench.metrics"),
    ("avbench.models",),
    ("avbench.pipelines",),
    ("avbench.backends",),
    ("avbench.tracking",),
    ("avbench.run_types", "avbench.validation", "avbench.params"),
    ("avbench.evaluators", "avbench.serve", "avbench.data", "avbench.analysis",
     "avbench.sweeps"),
    ("avbench.load",),
    ("avbench.phases",),
    ("avbench.tasks",),
    ("avbench.runner",),
    ("avbench.config", "avbench.config_data", "avbench.api", "avbench.cli", "avbench.__main__",
     "avbench.pytest_plugin", "avbench.tools"),
]


def modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> int | None:
    best = None
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if module == prefix or module.startswith(prefix + "."):
                best = index
    return best


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules() if m != "avbench" and layer_of(m) is None]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_no_import_circles() -> None:
    edges = {m: t - {"avbench"} for m, t in graph().items() if m != "avbench"}
    assert cycles(edges) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted(f"{source} -> {target}" for source, targets in graph().items()
                    if source != "avbench" for target in targets
                    if target != "avbench" and layer_of(target) > layer_of(source))
    assert upward == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checks can fail: a planted circle and a planted upward arrow are caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("avbench.pipelines.svc") > layer_of("avbench.models.flow")
    assert layer_of("avbench.phases.timing") > layer_of("avbench.load.http")


def long_functions(limit: int = 60) -> list[str]:
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{name}.{node.name}: {lines} lines")
    return found


def test_no_function_over_sixty_lines() -> None:
    assert long_functions() == []

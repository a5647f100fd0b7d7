"""README.md's "What a run prints", from a real run: ``python -m avbench.tools.readme_sample
[override ...]`` runs ``python -m avbench`` (what ``make bench`` runs; the overrides are
passed on) in a fresh folder with its own store, and writes its summary as printed, with
the machine and the time the run took, between the README's markers.

``structure`` is what a test holds the README's sample to against a run of today's code:
the verdict line, the stage table's rows and each detail line's label, in order.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEGIN = ("<!-- made by `python -m avbench.tools.readme_sample` from a real run; "
         "rerun it rather than editing -->")
END = "<!-- end of the readme sample -->"
VERDICT = "avbench · "


def run(overrides: list[str], cwd: Path) -> tuple[str, float, float]:
    """``python -m avbench <overrides>`` in ``cwd`` on this checkout's code, tracked in the
    default store there: (its stdout, wall seconds, CPU seconds)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "avbench", *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"python -m avbench {' '.join(overrides)} failed "
                           f"({done.returncode}):\n{done.stderr[-2000:]}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, wall_s, cpu_s


def summary_block(stdout: str) -> list[str]:
    """The run's summary as printed: from its verdict line to its last indented line."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(VERDICT)]
    if not starts:
        raise ValueError("no run summary (a line starting 'avbench · ') in the output")
    block = []
    for line in lines[starts[-1]:]:
        if block and not line.startswith(("  ", "┏", "┃", "┡", "│", "└")):
            break
        block.append(line.rstrip())
    return block


def structure(block: list[str]) -> list[str]:
    """What a sample shares with any run of the same pipeline: the verdict line, the stage
    table's header and rows (stage names), and each detail line's label."""
    shape = []
    for line in block:
        if line.startswith(VERDICT):
            shape.append("verdict")
        elif line.startswith(("┃", "│")):
            shape.append("row " + line.strip("┃│ ").split()[0])
        elif line.startswith("  "):
            shape.append("line " + re.split(r"\s{2,}", line.strip(), maxsplit=1)[0])
    return shape


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.0f} s"


def render(block: list[str], overrides: list[str], wall_s: float, cpu_s: float,
           machine: str) -> str:
    """The README's generated part: what was run, where, how long, and its summary."""
    command = " ".join(["python -m avbench", *overrides])
    name = block[0].removeprefix(VERDICT).split(" · ")[0]
    what = (f"`make bench` (`{command}`, the defaults: `{name}`)" if not overrides
            else f"`{command}`")
    text = (f"{what} on {machine} took {minutes(wall_s)} of wall time ({minutes(cpu_s)} of "
            "CPU) and ended with this summary. Its first line is the run's verdict: VALID, or "
            "INVALID with the reasons (every figure is recorded all the same).")
    return "\n".join([BEGIN, "", textwrap.fill(text, 92), "", "```", *block, "```", "", END])


def updated(readme: str, generated: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md needs one pair of markers:\n{BEGIN}\n{END}")
    head, rest = readme.split(BEGIN)
    return head + generated + rest.split(END, 1)[1]


def sample_in(readme: str) -> list[str]:
    """The summary lines of the README's sample (its code block between the markers)."""
    part = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    return part.split("```", 2)[1].strip("\n").splitlines()


def main(overrides: list[str]) -> int:
    from avbench.measure.env import cpu_model

    with tempfile.TemporaryDirectory(prefix="avbench-readme-") as folder:
        stdout, wall_s, cpu_s = run(overrides, Path(folder))
    machine = f"{cpu_model()} ({os.cpu_count()} logical CPUs)"
    readme_path = REPO / "README.md"
    generated = render(summary_block(stdout), overrides, wall_s, cpu_s, machine)
    readme_path.write_text(updated(readme_path.read_text(), generated))
    print(f"{readme_path}: sample written ({minutes(wall_s)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

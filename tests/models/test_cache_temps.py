"""A weights-cache write killed midway (SIGKILL) leaves a temporary file; the next write
of that entry, or the next read of the cache, removes it. A live writer's file is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from avbench.models.pretrained import remove_stale_temps, temp_prefix

WRITER = """
import sys, time
from pathlib import Path
from avbench.models.pretrained import _atomic_write

def write(tmp):
    tmp.write_bytes(b"half a converted checkpoint")
    print("writing", flush=True)
    time.sleep(600)

_atomic_write(Path(sys.argv[1]), write)
"""


def test_a_killed_conversion_leaves_no_temporary_file_for_ever(tmp_path: Path) -> None:
    target = tmp_path / "weights" / "converted" / "hifigan-0123-v1.pt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        (left,) = target.parent.glob(f".{target.name}.*.tmp")
        assert left.name.startswith(f".{target.name}.{writer.pid}.")
        assert remove_stale_temps(target) == []  # its writer is alive: not stale
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert left.exists() and not target.exists()
    live = target.parent / f"{temp_prefix(target)}abc.tmp"  # this process: alive
    live.write_bytes(b"")
    old = target.parent / f".{target.name}.no-pid.tmp"  # an older layout, long abandoned
    old.write_bytes(b"")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert sorted(remove_stale_temps(target)) == sorted([left, old])
    assert live.exists()

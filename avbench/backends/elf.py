"""The libraries a shared object names as its dependencies (ELF ``DT_NEEDED`` entries).

Which TensorRT major ONNX Runtime's TensorRT provider needs is fixed when its wheel is
built: the provider library's ``DT_NEEDED`` names ``libnvinfer.so.<major>``. Read from
the file, without loading it (loading fails exactly when the pair is wrong).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB = 0, 1, 5


def _file_offset(address: int, loads: list[tuple[int, int, int]]) -> int:
    """The file offset of virtual ``address`` within a PT_LOAD segment (offset, vaddr, size)."""
    for offset, vaddr, size in loads:
        if vaddr <= address < vaddr + size:
            return offset + address - vaddr
    raise ValueError(f"address {address:#x} is in no loaded segment")


def _cstring(handle: BinaryIO, offset: int) -> str:
    handle.seek(offset)
    return handle.read(256).split(b"\0", 1)[0].decode()


def elf_needed(path: Path) -> list[str]:
    """The ``DT_NEEDED`` names of the 64-bit ELF file ``path``, in order (ValueError when it
    is not one)."""
    with Path(path).open("rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            raise ValueError(f"{path} is not a 64-bit ELF file")
        order = "<" if header[5] == 1 else ">"
        (phoff,) = struct.unpack_from(order + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        loads, dynamic = [], None
        for index in range(phnum):
            handle.seek(phoff + index * phentsize)
            kind, _, offset, vaddr, _, size = struct.unpack(order + "IIQQQQ", handle.read(40))
            if kind == PT_LOAD:
                loads.append((offset, vaddr, size))
            elif kind == PT_DYNAMIC:
                dynamic = (offset, size)
        if dynamic is None:
            return []
        handle.seek(dynamic[0])
        raw = handle.read(dynamic[1])
        entries = [struct.unpack_from(order + "qQ", raw, i) for i in range(0, len(raw) - 15, 16)]
        entries = entries[:next((i for i, (tag, _) in enumerate(entries) if tag == DT_NULL),
                                len(entries))]
        strtab = _file_offset(next(value for tag, value in entries if tag == DT_STRTAB), loads)
        return [_cstring(handle, strtab + value) for tag, value in entries if tag == DT_NEEDED]


def soname_major(needed: list[str], library: str) -> int | None:
    """The major version in ``lib<library>.so.<major>`` among ``needed``, or None."""
    for name in needed:
        if match := re.fullmatch(rf"lib{re.escape(library)}\.so\.(\d+)", name):
            return int(match.group(1))
    return None

"""A TensorFlow-free reader of TensorFlow's checkpoint (tensor bundle) format.

A checkpoint ``model`` is ``model.index`` plus ``model.data-00000-of-00001``. The index is a
LevelDB-style SSTable (uncompressed blocks of prefix-compressed key/value entries, an index
block, and a 48-byte footer ending in a magic number) whose keys are tensor names and whose
values are serialised ``BundleEntryProto`` messages (dtype, shape, shard, offset, size); the
empty key holds the ``BundleHeaderProto``. The data file holds each tensor's raw
little-endian bytes at its offset. Only what a checkpoint of plain float/int tensors needs
is read: no slices, no string tensors, one shard.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avbench.models.checkpoint import CheckpointError

_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked CRC-32C (4 bytes)
# tensorflow/core/framework/types.proto DataType -> numpy dtype
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 14: np.uint16, 17: np.uint16, 19: np.float16}


class TFCheckpointError(CheckpointError):
    """The files are not a readable tensor bundle (or use a feature this reader lacks)."""


@dataclass(frozen=True)
class BundleEntry:
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as ints, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(message):
        key, pos = _varint(message, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 2:
            length, pos = _varint(message, pos)
            value, pos = message[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(message[pos : pos + 4], "little"), pos + 4
        elif wire == 1:
            value, pos = int.from_bytes(message[pos : pos + 8], "little"), pos + 8
        else:
            raise TFCheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _entry(message: bytes) -> BundleEntry:
    fields = _fields(message)
    if any(number == 7 for number, _ in fields):
        raise TFCheckpointError("sliced (partitioned) tensors are not supported")
    values = {number: value for number, value in fields if number != 2}
    dims: list[int] = []
    for number, value in fields:
        if number == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
            for dim_number, dim in _fields(value):  # type: ignore[arg-type]
                if dim_number == 2:
                    dims.append(dict(_fields(dim)).get(1, 0))  # type: ignore[arg-type]
    return BundleEntry(int(values.get(1, 0)), tuple(int(d) for d in dims),
                       int(values.get(3, 0)), int(values.get(4, 0)), int(values.get(5, 0)))


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Entries of one SSTable block (keys restored from their shared prefixes)."""
    if data[offset + size] != 0:
        raise TFCheckpointError("compressed SSTable blocks are not supported")
    block = data[offset : offset + size]
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    entries: list[tuple[bytes, bytes]] = []
    key, pos = b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def read_index(index_path: str | Path) -> dict[str, BundleEntry]:
    """Tensor name -> :class:`BundleEntry` from a ``.index`` file."""
    data = Path(index_path).read_bytes()
    if len(data) < _FOOTER_BYTES or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise TFCheckpointError(f"{index_path} is not a TensorFlow checkpoint index (bad magic)")
    footer = data[len(data) - _FOOTER_BYTES :]
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries: dict[str, BundleEntry] = {}
    for _, handle in _block(data, index_offset, index_size):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        for key, value in _block(data, offset, size):
            if key:  # the empty key is the BundleHeaderProto
                entries[key.decode()] = _entry(value)
    return entries


def read_checkpoint(prefix: str | Path, data_path: str | Path | None = None
                    ) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (``prefix.index`` + its one data shard)."""
    prefix = Path(prefix)
    index = read_index(prefix.with_name(prefix.name + ".index") if data_path is None else prefix)
    data_file = Path(data_path) if data_path else prefix.with_name(
        prefix.name + ".data-00000-of-00001")
    blob = np.memmap(data_file, dtype=np.uint8, mode="r")
    tensors: dict[str, np.ndarray] = {}
    for name, entry in index.items():
        if entry.shard_id != 0:
            raise TFCheckpointError(f"tensor {name} is in shard {entry.shard_id}; one shard only")
        if entry.dtype not in _DTYPES:
            raise TFCheckpointError(f"tensor {name} has unsupported TF dtype {entry.dtype}")
        dtype = np.dtype(_DTYPES[entry.dtype]).newbyteorder("<")
        raw = blob[entry.offset : entry.offset + entry.size]
        if raw.size != entry.size or entry.size != dtype.itemsize * int(np.prod(entry.shape)):
            raise TFCheckpointError(f"tensor {name}: {entry.size} bytes do not hold "
                                    f"{entry.shape} of {dtype}")
        tensors[name] = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(entry.shape)
    return tensors

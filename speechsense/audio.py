"""Audio in: raw PCM bytes or encoded files to float32 mono at a target rate.

Decoding uses libsndfile (soundfile) and resampling uses soxr, a real band-limited
resampler; both are used incrementally by the streaming path, so a stream and the same
audio sent whole give the same samples.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000


class AudioError(ValueError):
    """Audio that cannot be used: bad format, bad bytes, undecodable file."""


class Encoding(Enum):
    LINEAR16 = "linear16"
    FLOAT32 = "float32"

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample; AudioError for an encoding given no width here."""
        match self:
            case Encoding.LINEAR16:
                return 2
            case Encoding.FLOAT32:
                return 4
        raise AudioError(f"no sample width is known for encoding {self.value!r}")


def check_layout(sample_rate: int, channels: int, what: str = "") -> None:
    """The rates and channel counts the service accepts, raw or encoded; AudioError names what is outside."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{what}sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if channels not in (1, 2):
        raise AudioError(f"{what}{channels} channels; only 1 (mono) or 2 (stereo) are supported")


@dataclass(frozen=True)
class EncodedInfo:
    """What an encoded file's header says."""

    sample_rate: int
    channels: int
    seconds: float


@dataclass(frozen=True)
class PcmFormat:
    """Layout of raw interleaved samples."""

    encoding: Encoding
    sample_rate: int
    channels: int = 1

    def __post_init__(self) -> None:
        check_layout(self.sample_rate, self.channels)

    @property
    def frame_bytes(self) -> int:
        return self.encoding.sample_bytes * self.channels


def pcm_to_mono(data: bytes, fmt: PcmFormat) -> np.ndarray:
    """Interleaved PCM bytes to float32 mono at the source rate; rejects partial frames and NaN/inf."""
    if len(data) % fmt.frame_bytes:
        raise AudioError(
            f"audio chunk of {len(data)} bytes is not a whole number of {fmt.frame_bytes}-byte sample frames "
            f"({fmt.encoding.value}, {fmt.channels} channel(s))"
        )
    if fmt.encoding is Encoding.LINEAR16:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if not np.isfinite(samples).all():
            raise AudioError("FLOAT32 audio contains NaN or infinite samples")
    if fmt.channels == 2:
        samples = samples.reshape(-1, 2).mean(axis=1, dtype=np.float32)
    return samples


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) float array to float32 mono by averaging channels."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Whole-signal resampling with soxr (high quality); a no-op when the rates match."""
    if source_rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


class StreamResampler:
    """Incremental soxr resampler for a stream; agrees with whole-signal resampling to within 1e-3 (tested)."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self._passthrough = source_rate == target_rate
        self._stream = None if self._passthrough else soxr.ResampleStream(
            source_rate, target_rate, 1, dtype="float32", quality="HQ"
        )

    def push(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if self._passthrough:
            return samples
        return self._stream.resample_chunk(samples, last=last)


def encoded_info(data: bytes) -> EncodedInfo:
    """Rate, channels and length from an encoded file's header, before any samples are decoded; AudioError
    for an unreadable header, or a rate or channel count outside what raw audio may have."""
    if not data:
        raise AudioError("encoded clip is empty")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"cannot decode clip ({len(data)} bytes): {_reason(exc)}") from None
    check_layout(info.samplerate, info.channels, "clip: ")
    return EncodedInfo(info.samplerate, info.channels, info.frames / info.samplerate)


def decode_bytes(data: bytes, target_rate: int) -> np.ndarray:
    """An encoded file (WAV, FLAC, OGG, AIFF, ...) held in memory to float32 mono at target_rate; its header
    is checked first (encoded_info), so a file of a refused rate or channel count is never decoded."""
    encoded_info(data)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"cannot decode clip ({len(data)} bytes): {_reason(exc)}") from None
    return _finish(samples, rate, target_rate, "clip")


def load_file(path: str | Path, target_rate: int) -> np.ndarray:
    """An audio file to float32 mono at target_rate; the format is read from the content, not the name."""
    if not Path(path).exists():
        raise AudioError(f"{path}: no such file")
    if Path(path).is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"cannot decode {path}: {_reason(exc)}") from None
    return _finish(samples, rate, target_rate, str(path))


def _reason(exc: Exception) -> str:
    """libsndfile's own words, without soundfile's prefix (which holds the repr of an in-memory file)."""
    return getattr(exc, "error_string", None) or str(exc)


def _finish(samples: np.ndarray, rate: int, target_rate: int, what: str) -> np.ndarray:
    if samples.size == 0:
        raise AudioError(f"{what} holds no samples")
    if not np.isfinite(samples).all():
        raise AudioError(f"{what} contains NaN or infinite samples")
    return resample(to_mono(samples), rate, target_rate)

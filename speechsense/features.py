"""Window preprocessing and per-frame features, the one copy used by training and serving.

A FeatureConfig describes everything: it is serialised into the exported model, so the
server computes exactly what the model was trained on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import librosa
import numpy as np

from speechsense.frontend import mfcc_features, power_to_db


@dataclass(frozen=True)
class FeatureConfig:
    """How a window of audio becomes a (frames, features) matrix."""

    sample_rate: int = 16_000
    window_seconds: float = 3.0
    # "mfcc": MFCCs and the extras below (the hybrid family); "whisper_logmel": Whisper's 80-band
    # log-mel front-end (the encoder family), which uses only n_mels, n_fft, hop_length and the
    # window preprocessing flags.
    kind: str = "mfcc"
    n_mfcc: int = 13
    n_mels: int = 40
    n_fft: int = 512  # 32 ms analysis frame
    hop_length: int = 160  # 10 ms
    # Per-frame extras beside the MFCCs; the study used rms and zcr.
    rms: bool = True
    zcr: bool = True
    deltas: bool = False  # first-order MFCC deltas
    # Added after the first models shipped: off by default and left out of to_json() when off, so
    # older models' metadata and the feature cache keys stay valid.
    contrast_bands: int = 0  # spectral contrast (peak-valley in dB) in this many octave bands + 1 rows
    # The study's window preprocessing, a flag each.
    peak_normalize: bool = True
    trim_silence: bool = True
    trim_top_db: float = 30.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.window_seconds <= 0:
            raise ValueError("sample_rate and window_seconds must be positive")
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FEATURE_KINDS)}, got {self.kind!r}")
        if self.kind == "whisper_logmel" and (self.rms or self.zcr or self.deltas or self.contrast_bands):
            raise ValueError("whisper_logmel features have no MFCC extras: set rms, zcr, deltas and "
                             "contrast_bands off")
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")
        if self.hop_length <= 0 or self.n_fft < self.hop_length:
            raise ValueError("need 0 < hop_length <= n_fft")
        # librosa's contrast bands are octaves up from 200 Hz; the top one must stay below Nyquist.
        if self.contrast_bands < 0 or 200 * 2 ** self.contrast_bands >= self.sample_rate / 2:
            raise ValueError(f"contrast_bands must be 0 or a count of octaves from 200 Hz below Nyquist, "
                             f"got {self.contrast_bands}")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @classmethod
    def whisper(cls, **overrides) -> FeatureConfig:
        """Whisper's front-end: 80 mel bands from a 25 ms Hann frame every 10 ms."""
        return cls(**({"kind": "whisper_logmel", "n_mels": 80, "n_mfcc": 13, "n_fft": 400, "hop_length": 160,
                       "rms": False, "zcr": False} | overrides))

    @property
    def frames(self) -> int:
        # Centred framing gives one frame per hop plus one; Whisper drops the last.
        return self.window_samples // self.hop_length + (self.kind == "mfcc")

    @property
    def n_features(self) -> int:
        if self.kind == "whisper_logmel":
            return self.n_mels
        contrast = self.contrast_bands + 1 if self.contrast_bands else 0
        return self.n_mfcc * (2 if self.deltas else 1) + int(self.rms) + int(self.zcr) + contrast

    @property
    def feature_set(self) -> str:
        if self.kind == "whisper_logmel":
            return f"whisper-logmel{self.n_mels}"
        parts = [f"mfcc{self.n_mfcc}"] + (["delta"] if self.deltas else [])
        parts += (["rms"] if self.rms else []) + (["zcr"] if self.zcr else [])
        parts += ([f"contrast{self.contrast_bands}"] if self.contrast_bands else [])
        return "+".join(parts)

    def column_names(self) -> list[str]:
        """The feature columns in matrix order, named so that equal names mean equal values."""
        if self.kind == "whisper_logmel":
            return [f"logmel{i}" for i in range(self.n_mels)]
        names = [f"mfcc{i}" for i in range(self.n_mfcc)]
        names += [f"delta{i}" for i in range(self.n_mfcc)] if self.deltas else []
        names += (["rms"] if self.rms else []) + (["zcr"] if self.zcr else [])
        # Contrast bands depend on the band count (the top band always ends at Nyquist).
        if self.contrast_bands:
            names += [f"contrast{self.contrast_bands}_{i}" for i in range(self.contrast_bands + 1)]
        return names

    def columns_of(self, other: FeatureConfig) -> list[int]:
        """Where each of other's columns sits in this config's matrix, so a model trained on other's
        features can be fed from these; ValueError unless other is a column subset computed identically."""
        mine, theirs = asdict(self), asdict(other)
        differ = [k for k in mine if k not in _COLUMN_FIELDS and mine[k] != theirs[k]]
        if differ:
            raise ValueError(f"feature configs differ in {', '.join(differ)}: columns are not comparable")
        names = self.column_names()
        missing = [n for n in other.column_names() if n not in names]
        if missing:
            raise ValueError(f"{other.feature_set} is not a column subset of {self.feature_set}: "
                             f"{', '.join(missing[:4])} missing")
        return [names.index(n) for n in other.column_names()]

    def to_json(self) -> str:
        data = asdict(self)
        for name in _OPTIONAL_OFF:
            if data[name] == _OPTIONAL_OFF[name]:
                del data[name]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"feature config has unknown keys: {', '.join(sorted(unknown))}")
        return cls(**data)


FEATURE_KINDS = ("mfcc", "whisper_logmel")
_WHISPER_CHUNK = 4  # windows per whisper_log_mel call
_OPTIONAL_OFF = {"contrast_bands": 0, "kind": "mfcc"}
# Which columns exist; every other field changes how each column is computed. MFCC k is the same
# for any n_mfcc > k (an orthonormal DCT truncated), and each delta row depends only on its MFCC row.
_COLUMN_FIELDS = {"n_mfcc", "deltas", "rms", "zcr", "contrast_bands"}


def prepare_window(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Peak-normalise, trim leading/trailing silence, then zero-pad or cut to exactly one window."""
    y = np.asarray(samples, dtype=np.float32)
    if config.peak_normalize:
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak > 1e-6:
            y = y / peak
    if config.trim_silence and y.size:
        trimmed, _ = librosa.effects.trim(y, top_db=config.trim_top_db, frame_length=config.n_fft,
                                          hop_length=config.hop_length)
        if trimmed.size:
            y = trimmed
    n = config.window_samples
    if y.size >= n:
        return np.ascontiguousarray(y[:n])
    return np.pad(y, (0, n - y.size))


def _spectral_contrast(magnitude: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """librosa's spectral contrast, one window at a time: its dB conversion floors at the maximum
    of the whole array, so a batch would leak one window's loudness into another's features."""
    flat = magnitude.reshape(-1, *magnitude.shape[-2:])
    out = np.stack([librosa.feature.spectral_contrast(S=m, sr=config.sample_rate, n_bands=config.contrast_bands)
                    for m in flat])
    return out.reshape(*magnitude.shape[:-2], *out.shape[-2:])


@lru_cache(maxsize=8)
def _whisper_matrices(sample_rate: int, n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """The periodic Hann window and the Slaney mel filterbank (transposed, (bins, mels)) Whisper uses."""
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    return window, np.ascontiguousarray(mel.T)


def whisper_log_mel(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Whisper's log-mel of (..., samples) audio as (..., frames, n_mels): centred reflect-padded STFT,
    last frame dropped, log10 floored at 1e-10, clamped to 8 below each input's maximum, (x + 4) / 4.

    Array operations over the whole batch (one FFT and one matmul), so batches cost no per-call overhead.
    """
    window, mel_t = _whisper_matrices(config.sample_rate, config.n_fft, config.n_mels)
    half = config.n_fft // 2
    padded = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(half, half)], mode="reflect")
    n_frames = y.shape[-1] // config.hop_length  # centred framing's 1 + len // hop, less the dropped last one
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft, axis=-1)[..., :n_frames * config.hop_length:
                                                                                     config.hop_length, :]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    log_spec = np.log10(np.maximum(power @ mel_t, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max(axis=(-2, -1), keepdims=True) - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def compute_features(window: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """One prepared window (window_samples,) to float32 features of shape (frames, n_features).

    Also accepts a batch (n, window_samples) and returns (n, frames, n_features); a batch costs far
    less per window than single calls (array operations over the whole batch, see frontend.py).
    """
    y = np.asarray(window, dtype=np.float32)
    if y.shape[-1] != config.window_samples:
        raise ValueError(f"window has {y.shape[-1]} samples; the config needs {config.window_samples}")
    batch = y.reshape(-1, y.shape[-1])
    if config.kind == "whisper_logmel":
        # In chunks: a 32-window call measured about 1.8 ms a window against 0.9 in chunks of 1-8 (its
        # intermediates outgrow the caches); each window's values are the same either way.
        chunks = [whisper_log_mel(batch[i:i + _WHISPER_CHUNK], config) for i in range(0, len(batch), _WHISPER_CHUNK)]
        out = np.concatenate(chunks) if chunks else np.zeros((0, config.frames, config.n_features), np.float32)
        return out.reshape(*y.shape[:-1], config.frames, config.n_features)
    return mfcc_features(batch, config).reshape(*y.shape[:-1], config.frames, config.n_features)


def librosa_features(window: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The "mfcc" features through librosa's own functions, one call per feature: the reference that
    compute_features (frontend.mfcc_features) is tested against, and the path it replaced.

    Same shapes as compute_features; the MFCCs are bit-identical to librosa.feature.mfcc(y=...).
    """
    y = np.asarray(window, dtype=np.float32)
    if config.kind != "mfcc" or y.shape[-1] != config.window_samples:
        raise ValueError(f"librosa_features computes the mfcc kind of {config.window_samples}-sample windows")
    magnitude = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length))
    mel = librosa.feature.melspectrogram(S=magnitude ** 2, sr=config.sample_rate, n_fft=config.n_fft,
                                         n_mels=config.n_mels)
    mfcc = librosa.feature.mfcc(S=power_to_db(mel), n_mfcc=config.n_mfcc)
    parts = [mfcc]
    if config.deltas:
        parts.append(librosa.feature.delta(mfcc, mode="nearest"))
    if config.rms:
        parts.append(librosa.feature.rms(y=y, frame_length=config.n_fft, hop_length=config.hop_length))
    if config.zcr:
        parts.append(librosa.feature.zero_crossing_rate(y, frame_length=config.n_fft,
                                                        hop_length=config.hop_length))
    if config.contrast_bands:
        parts.append(_spectral_contrast(magnitude, config))
    feats = np.concatenate(parts, axis=-2)  # (..., features, frames)
    return np.ascontiguousarray(np.swapaxes(feats, -1, -2), dtype=np.float32)


def window_features(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """prepare_window then compute_features: raw window audio to the model's input matrix."""
    return compute_features(prepare_window(samples, config), config)


@dataclass(frozen=True)
class Normalizer:
    """Per-feature standardisation learnt from training windows."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Normalizer:
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        return cls(flat.mean(axis=0).astype(np.float32), np.maximum(flat.std(axis=0), 1e-6).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32, copy=False)

    def apply_inplace(self, features: np.ndarray) -> None:
        """apply() into a float32 array itself, for training sets too large to copy."""
        if features.dtype != np.float32:
            raise TypeError(f"apply_inplace needs float32 features, got {features.dtype}")
        features -= self.mean
        features /= self.std

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean.tolist(), "std": self.std.tolist()})

    @classmethod
    def from_json(cls, text: str, n_features: int | None = None) -> Normalizer:
        data = json.loads(text)
        mean = np.asarray(data["mean"], dtype=np.float32)
        std = np.asarray(data["std"], dtype=np.float32)
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError("normaliser mean and std must be equal-length lists")
        if n_features is not None and mean.shape[0] != n_features:
            raise ValueError(f"normaliser has {mean.shape[0]} features; the feature config has {n_features}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("normaliser statistics must be finite with positive std")
        return cls(mean, std)

"""Batched "mfcc" front-end: librosa's per-window features for a whole (n, samples) batch at once.

The per-window librosa path (features.librosa_features) costs about as much CPU as the network
itself, mostly in per-call overhead. Here one framing, one rfft and a few matmuls over the whole
batch compute the same values: librosa's centred, zero-padded Hann STFT (in float64, as librosa
computes it, then rounded to complex64), its Slaney mel filterbank, the per-window power_to_db,
an orthonormal DCT-II, Savitzky-Golay deltas, RMS and ZCR with librosa's framings, and spectral
contrast with librosa's bands, quantiles and dB step, each per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import librosa
import numpy as np
import scipy.fft

if TYPE_CHECKING:  # features.py imports this module
    from speechsense.features import FeatureConfig

# Windows per rfft call: keeps the float64 intermediates (about 1.2 MB a window) inside the caches.
_CHUNK = 8


@dataclass(frozen=True)
class _Matrices:
    window: np.ndarray  # (n_fft,) float64 periodic Hann, as librosa.stft uses
    mel_t: np.ndarray  # (bins, n_mels) float32 Slaney filterbank, transposed
    dct_t: np.ndarray  # (n_mels, n_mfcc) float32 orthonormal DCT-II, truncated and transposed


@lru_cache(maxsize=8)
def _matrices(sample_rate: int, n_fft: int, n_mels: int, n_mfcc: int) -> _Matrices:
    """The constant matrices of one config, built once."""
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float64)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)  # float32, as melspectrogram uses
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]  # row k: DCT basis k
    return _Matrices(window, np.ascontiguousarray(mel.T), np.ascontiguousarray(dct.T.astype(np.float32)))


@lru_cache(maxsize=8)
def _contrast_bands(sample_rate: int, n_fft: int, n_bands: int, fmin: float = 200.0,
                    quantile: float = 0.02) -> tuple[tuple[int, int, int], ...]:
    """(first bin, end bin, bins averaged) of each of librosa.feature.spectral_contrast's bands.

    Reproduces librosa's selection: octaves up from fmin, each band also takes the bin below it,
    drops its top bin unless it is the last band (which runs to Nyquist), and averages
    max(1, rint(quantile * bins selected)) bins at each end, counting the dropped bin.
    """
    freq = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    bands = []
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        current = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(current)
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1:] = True
        selected = np.flatnonzero(current)
        lo, hi = int(selected[0]), int(selected[-1]) + 1
        if not np.array_equal(selected, np.arange(lo, hi)):  # librosa's bands are contiguous by construction
            raise AssertionError("spectral contrast band is not contiguous")
        count = max(int(np.rint(quantile * selected.size)), 1)
        bands.append((lo, hi - 1 if k < n_bands else hi, count))
    return tuple(bands)


def _frames(y: np.ndarray, n_fft: int, hop: int, mode: str) -> np.ndarray:
    """Centred framing as librosa's: pad n_fft // 2 each side, (n, frames, n_fft) strided view."""
    padded = np.pad(y, [(0, 0), (n_fft // 2, n_fft // 2)], mode=mode)
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop, :]


def _magnitude(frames: np.ndarray, window: np.ndarray) -> np.ndarray:
    """|STFT| (n, frames, bins) float32: float64 rfft of the windowed frames, rounded to complex64
    before the magnitude, which is what librosa.stft on float32 audio returns."""
    out = np.empty((*frames.shape[:2], frames.shape[-1] // 2 + 1), dtype=np.float32)
    for i in range(0, frames.shape[0], _CHUNK):
        spectrum = np.fft.rfft(frames[i:i + _CHUNK] * window, axis=-1).astype(np.complex64)
        np.abs(spectrum, out=out[i:i + _CHUNK])
    return out


def limit_blas_threads() -> None:
    """Run numpy's BLAS on one thread in this process, for processes that parallelise themselves (the
    server's feature and inference threads, training's worker processes). The front-end's products are
    small, and OpenBLAS's own threads made them about 10x slower on a busy 2-core machine."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def power_to_db(power: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db (ref 1, amin 1e-10, top_db 80) with the floor set per window (last two axes).

    librosa takes the top_db floor from the maximum of the whole array, so in a batch one loud
    window would change the features of the others.
    """
    db = 10.0 * np.log10(np.maximum(1e-10, power))
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - top_db)


def _spectral_contrast(magnitude: np.ndarray, sample_rate: int, n_bands: int) -> np.ndarray:
    """librosa.feature.spectral_contrast(S=magnitude) per window: (n, frames, n_bands + 1) float64."""
    n_fft = 2 * (magnitude.shape[-1] - 1)
    peak = np.empty((*magnitude.shape[:2], n_bands + 1))
    valley = np.empty_like(peak)
    for k, (lo, hi, count) in enumerate(_contrast_bands(sample_rate, n_fft, n_bands)):
        band = magnitude[..., lo:hi]
        if count == 1:
            valley[..., k], peak[..., k] = band.min(axis=-1), band.max(axis=-1)
        else:
            ordered = np.sort(band, axis=-1)
            valley[..., k] = ordered[..., :count].mean(axis=-1)
            peak[..., k] = ordered[..., -count:].mean(axis=-1)
    # librosa applies power_to_db to these magnitudes (not powers), each with its own per-window floor.
    return power_to_db(peak) - power_to_db(valley)


def _zero_crossing_rate(y: np.ndarray, n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """librosa.feature.zero_crossing_rate: edge-padded frames, sign changes between neighbours inside
    each frame (|x| <= 1e-10 counts as +0), divided by the frame length. Integer counts, so exact."""
    padded = np.pad(y, [(0, 0), (n_fft // 2, n_fft // 2)], mode="edge")
    signs = np.signbit(padded) & (np.abs(padded) > 1e-10)
    crossings = np.zeros(padded.shape, dtype=np.int32)
    np.cumsum(signs[:, 1:] != signs[:, :-1], axis=-1, dtype=np.int32, out=crossings[:, 1:])
    starts = np.arange(n_frames) * hop
    # Crossings at positions start + 1 .. start + n_fft - 1 of each frame (librosa's first is never one).
    return (crossings[:, starts + n_fft - 1] - crossings[:, starts]) / np.float32(n_fft)


def _per_window_matmul(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(n, frames, k) @ (k, j), one 2-D BLAS call per window: the same shapes whatever the batch, so a
    window's features are bit-identical alone or in any batch (BLAS rounding depends on the shapes), and
    about 30x faster here than numpy's stacked matmul with a 2-D operand."""
    out = np.empty((*x.shape[:-1], m.shape[-1]), dtype=np.result_type(x, m))
    for i in range(x.shape[0]):
        np.matmul(x[i], m, out=out[i])
    return out


def mfcc_features(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Prepared windows (n, window_samples) float32 to (n, frames, n_features) float32 for the
    "mfcc" kind, in the column order of FeatureConfig.column_names()."""
    if y.ndim != 2:
        raise ValueError(f"expected a (windows, samples) batch, got shape {y.shape}")
    if y.shape[0] == 0:
        return np.zeros((0, config.frames, config.n_features), dtype=np.float32)
    n_fft, hop = config.n_fft, config.hop_length
    mats = _matrices(config.sample_rate, n_fft, config.n_mels, config.n_mfcc)
    frames = _frames(y, n_fft, hop, "constant")
    magnitude = _magnitude(frames, mats.window)
    mfcc = _per_window_matmul(power_to_db(_per_window_matmul(magnitude ** 2, mats.mel_t)), mats.dct_t)
    parts = [mfcc]
    if config.deltas:
        parts.append(librosa.feature.delta(mfcc, axis=-2, mode="nearest"))
    if config.rms:
        parts.append(np.sqrt(np.einsum("ntk,ntk->nt", frames, frames) / np.float32(n_fft))[..., None])
    if config.zcr:
        parts.append(_zero_crossing_rate(y, n_fft, hop, frames.shape[1])[..., None])
    if config.contrast_bands:
        parts.append(_spectral_contrast(magnitude, config.sample_rate, config.contrast_bands))
    return np.concatenate([p.astype(np.float32, copy=False) for p in parts], axis=-1)

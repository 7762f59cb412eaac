"""Data augmentation: waveform copies (noise, speed) made before features, and SpecAugment-style masks.

Waveform copies are deterministic per (clip, copy, seed), so a clip's copies are the same
whichever split it lands in; which clips get copies is decided by the split (train only).
Gain and time shift are deliberately absent: prepare_window peak-normalises and trims every
window, which undoes both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import soxr


@dataclass(frozen=True)
class Variant:
    """One feature variant of a clip: clean, or one augmented copy."""

    kind: str = "clean"  # clean | noise | speed
    copy: int = 0
    snr_db: tuple[float, float] = (15.0, 30.0)
    speeds: tuple[float, ...] = ()
    noise_with_speed: bool = False
    seed: int = 0

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmented copies every training clip gets, and how many are used per epoch."""

    noise_copies: int = 0
    snr_db: tuple[float, float] = (15.0, 30.0)
    speed_copies: int = 0
    speeds: tuple[float, ...] = (0.9, 1.1)
    noise_with_speed: bool = True
    copies_per_epoch: int = 0  # 0 = every copy every epoch; k = k copies per clip drawn each epoch
    time_masks: int = 0
    time_mask_frames: int = 0
    freq_masks: int = 0
    freq_mask_bins: int = 0
    seed: int = 0

    def variants(self) -> list[Variant]:
        """The augmented variants (clean excluded), in a fixed order."""
        out = [Variant("noise", i, self.snr_db, (), False, self.seed) for i in range(self.noise_copies)]
        out += [Variant("speed", i, self.snr_db, self.speeds, self.noise_with_speed, self.seed)
                for i in range(self.speed_copies)]
        return out


def clip_rng(path: str, variant: Variant) -> np.random.Generator:
    """A generator seeded by the clip's file name and the variant, independent of split and order."""
    name = path.replace("\\", "/").rsplit("/", 2)
    digest = hashlib.sha256(("/".join(name[-2:]) + variant.key()).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise at snr_db relative to the clip's mean power."""
    power = float(np.mean(samples.astype(np.float64) ** 2))
    if power <= 0:
        return samples
    noise = rng.standard_normal(samples.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def change_speed(samples: np.ndarray, factor: float, rate: int) -> np.ndarray:
    """Speed perturbation (tempo and pitch together, as in Kaldi's 0.9/1.1) by resampling."""
    return soxr.resample(samples, rate, int(round(rate / factor)), quality="HQ").astype(np.float32)


def apply_variant(samples: np.ndarray, path: str, variant: Variant, rate: int) -> np.ndarray:
    """The waveform of one variant of a clip."""
    if variant.kind == "clean":
        return samples
    rng = clip_rng(path, variant)
    y = samples
    if variant.kind == "speed":
        y = change_speed(y, float(variant.speeds[variant.copy % len(variant.speeds)]), rate)
        if not variant.noise_with_speed:
            return y
    return add_noise(y, float(rng.uniform(*variant.snr_db)), rng)


def spec_mask(batch: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment-style time and feature masks on standardised features (masked values become 0 = mean)."""
    out = batch.copy()
    n, frames, feats = out.shape
    for i in range(n):
        for _ in range(config.time_masks):
            w = int(rng.integers(0, config.time_mask_frames + 1))
            t0 = int(rng.integers(0, max(1, frames - w)))
            out[i, t0:t0 + w, :] = 0.0
        for _ in range(config.freq_masks):
            w = int(rng.integers(0, config.freq_mask_bins + 1))
            f0 = int(rng.integers(0, max(1, feats - w)))
            out[i, :, f0:f0 + w] = 0.0
    return out

"""Data augmentation: waveform copies (noise, speed, rooms) made before features, and SpecAugment-style masks.

Waveform copies are deterministic per (clip, copy, seed), so a clip's copies are the same
whichever split it lands in; which clips get copies is decided by the split (train only).
Kinds: noise (white), speed, and the rooms people speak in (rooms.py): babble (neutral speech of
other corpora's talkers), coloured (1/f^beta noise, white to brown), reverb (simulated rooms, RT60
drawn), telephone (8 kHz, 300-3400 Hz, mu-law half the time), gain (quantised to 16 bits), and
room: a random chain of all of these, as a real call would be. prepare_window peak-normalises
every window, so gain acts through clipping and quantisation only; time shift stays absent (the
trim undoes it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

import numpy as np
import soxr

from speechsense.training import rooms

ROOM_KINDS = ("babble", "coloured", "reverb", "telephone", "gain", "room")
KINDS = ("clean", "noise", "speed", *ROOM_KINDS)


@dataclass(frozen=True)
class Variant:
    """One feature variant of a clip: clean, or one augmented copy."""

    kind: str = "clean"  # one of KINDS
    copy: int = 0
    snr_db: tuple[float, float] = (15.0, 30.0)
    speeds: tuple[float, ...] = ()
    noise_with_speed: bool = False
    seed: int = 0
    # The room kinds' ranges; babble needs babble_root (a data root with neutral clips of babble_corpora).
    rt60: tuple[float, float] = (0.2, 1.0)
    gain_db: tuple[float, float] = (-30.0, 6.0)
    babble_talkers: tuple[int, int] = (3, 8)
    babble_root: str = ""
    babble_corpora: tuple[str, ...] = ("ravdess", "tess", "emodb")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown variant kind {self.kind!r}; expected one of {', '.join(KINDS)}")

    def apply(self, samples: np.ndarray, path: str, rate: int) -> np.ndarray:
        """The waveform of this variant of the clip at path."""
        return apply_variant(samples, path, self, rate)

    def key(self) -> str:
        """Identity of the variant for caches; room fields only when changed, so older keys still hold."""
        d = asdict(self)
        for f in fields(self)[_BASE_FIELDS:]:
            if d[f.name] == f.default:
                del d[f.name]
        return json.dumps(d, sort_keys=True)


_BASE_FIELDS = 6  # Variant's fields before the room kinds came; key() keeps their keys as they were


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
    room_copies: int = 0  # "room" variants: reverb, babble or coloured noise, phone line, gain, drawn per copy
    room_kinds: tuple[str, ...] = ()  # one copy of each named room kind (babble, coloured, reverb, ...)
    room_snr_db: tuple[float, float] = (0.0, 30.0)
    rt60: tuple[float, float] = (0.2, 1.0)
    gain_db: tuple[float, float] = (-30.0, 6.0)
    babble_root: str = ""  # data root holding the neutral clips babble is made of ("" = no babble)
    babble_corpora: tuple[str, ...] = ("ravdess", "tess", "emodb")

    def variants(self) -> list[Variant]:
        """The augmented variants (clean excluded), in a fixed order."""
        out = [Variant("noise", i, self.snr_db, (), False, self.seed) for i in range(self.noise_copies)]
        out += [Variant("speed", i, self.snr_db, self.speeds, self.noise_with_speed, self.seed)
                for i in range(self.speed_copies)]
        out += [Variant("room", i, self.room_snr_db, (), False, self.seed, self.rt60, self.gain_db,
                        babble_root=self.babble_root, babble_corpora=self.babble_corpora)
                for i in range(self.room_copies)]
        out += [Variant(kind, 0, self.room_snr_db, (), False, self.seed, self.rt60, self.gain_db,
                        babble_root=self.babble_root, babble_corpora=self.babble_corpora)
                for kind in self.room_kinds]
        return out

    def __post_init__(self) -> None:
        unknown = set(self.room_kinds) - set(ROOM_KINDS)
        if unknown:
            raise ValueError(f"unknown room kinds {sorted(unknown)}; expected some of {', '.join(ROOM_KINDS)}")

    @property
    def needs_babble(self) -> bool:
        """Whether some copy may draw babble (it then needs babble_root)."""
        return bool(self.room_copies) or bool({"babble", "room"} & set(self.room_kinds))


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
    if variant.kind in ROOM_KINDS:
        return _room_variant(samples, path, variant, rate, rng)
    if variant.kind == "speed":
        y = change_speed(y, float(variant.speeds[variant.copy % len(variant.speeds)]), rate)
        if not variant.noise_with_speed:
            return y
    return add_noise(y, float(rng.uniform(*variant.snr_db)), rng)


def _babble(samples: np.ndarray, path: str, variant: Variant, rate: int, rng: np.random.Generator) -> np.ndarray:
    if not variant.babble_root:
        raise ValueError("babble variants need babble_root: a data root holding neutral clips")
    pool = rooms.pool_at(variant.babble_root, rate, variant.babble_corpora)
    corpus = rooms.corpus_of(path)
    talkers = int(rng.integers(variant.babble_talkers[0], variant.babble_talkers[1] + 1))
    return pool.babble(samples.size, min(talkers, pool.talkers_outside(corpus)), rng, corpus)


def _room_variant(samples: np.ndarray, path: str, variant: Variant, rate: int,
                  rng: np.random.Generator) -> np.ndarray:
    """One of the room kinds; "room" chains reverb (half the time), babble or coloured noise (babble
    only with a pool), a phone line (a quarter of the time) and gain, each drawn from the clip's rng."""
    kind, y = variant.kind, samples
    if kind == "room":
        steps = {"reverb": rng.random() < 0.5, "telephone": rng.random() < 0.25}
        noise = rng.choice(["babble", "coloured", "none"] if variant.babble_root else ["coloured", "none"])
    else:
        steps, noise = {kind: True}, kind if kind in ("babble", "coloured") else "none"
    if steps.get("reverb"):  # RT60 in 0.05 s steps, 8 rooms (not the benchmark's): a bounded set, each cached
        y = rooms.reverberate(y, round(float(rng.uniform(*variant.rt60)) * 20) / 20, rate,
                              int(rng.integers(*rooms.TRAINING_ROOMS)))
    if noise != "none":
        snr = float(rng.uniform(*variant.snr_db))
        n = (_babble(y, path, variant, rate, rng) if noise == "babble"
             else rooms.coloured_noise(y.size, float(rng.uniform(0.0, 2.0)), rng))
        y = rooms.mix_at_snr(y, n, snr)
    if steps.get("telephone"):
        y = rooms.telephone(y, rate, codec=bool(rng.random() < 0.5))
    if kind in ("gain", "room"):
        y = rooms.apply_gain(y, float(rng.uniform(*variant.gain_db)))
    return y


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

"""The robustness benchmark's listening conditions, as clip transforms shared by the benchmark and training.

benchmarks/robustness.py scores the serving path on them; training/linear/room_eval.py scores a preset's
speaker-fold heads on the same audio (through the same model file's statistics), so a recipe's robustness
is known before it is exported. Each clip's noise is seeded by its folder/name and the condition: the same
audio whatever the run, order or process. Reverberation uses rooms.BENCHMARK_ROOM, which training copies
never draw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from speechsense.training import rooms

BABBLE_TALKERS = 4
BABBLE_CORPORA = ("ravdess", "tess", "emodb")  # a clip hears babble of the other corpora only
# name -> (kind, parameter): noise kinds take an SNR in dB, reverb an RT60 in s, gain dB
CONDITIONS = {
    "clean": ("clean", 0.0),
    "white 10 dB": ("white", 10.0),
    "pink 10 dB": ("pink", 10.0),
    "babble 10 dB": ("babble", 10.0),
    "babble 5 dB": ("babble", 5.0),
    "telephone band": ("telephone", 0.0),
    "reverb RT60 0.3 s": ("reverb", 0.3),
    "reverb RT60 0.6 s": ("reverb", 0.6),
    "reverb RT60 1.0 s": ("reverb", 1.0),
    "gain -20 dB": ("gain", -20.0),
}


def clip_seed(path: str, condition: str, seed: int) -> np.random.Generator:
    """A generator from the clip's folder/name and the condition: the same noise whatever the run or order."""
    name = "/".join(path.replace("\\", "/").rsplit("/", 2)[-2:])
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{name}|{condition}|{seed}".encode()).digest()[:8],
                                                "little"))


def degrade(x: np.ndarray, path: str, condition: str, pool: rooms.BabblePool | None, rate: int,
            seed: int = 0) -> np.ndarray:
    """The clip at `path` (samples x at `rate`) as heard in one condition; babble needs the pool."""
    kind, value = CONDITIONS[condition]
    rng = clip_seed(path, condition, seed)
    if kind == "clean":
        return x
    if kind in ("white", "pink"):
        return rooms.mix_at_snr(x, rooms.coloured_noise(x.size, 0.0 if kind == "white" else 1.0, rng), value)
    if kind == "babble":
        if pool is None:
            raise ValueError("the babble conditions need a pool of neutral talkers")
        return rooms.mix_at_snr(x, pool.babble(x.size, BABBLE_TALKERS, rng, rooms.corpus_of(path)), value)
    if kind == "telephone":
        return rooms.telephone(x, rate)
    if kind == "reverb":
        return rooms.reverberate(x, value, rate, room=rooms.BENCHMARK_ROOM)
    return rooms.apply_gain(x, value)


@dataclass(frozen=True)
class Condition:
    """One benchmark condition as a clip transform for training/headstats.HeadStats (key() names its cache)."""

    name: str
    babble_root: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in CONDITIONS:
            raise ValueError(f"unknown condition {self.name!r}; expected one of {', '.join(CONDITIONS)}")

    def key(self) -> str:
        return json.dumps({"condition": self.name, "seed": self.seed, "babble_talkers": BABBLE_TALKERS})

    def apply(self, samples: np.ndarray, path: str, rate: int) -> np.ndarray:
        pool = rooms.pool_at(self.babble_root, rate, BABBLE_CORPORA) if self.babble_root else None
        return degrade(samples, path, self.name, pool, rate, self.seed)

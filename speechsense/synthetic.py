"""Synthetic speech-like audio, for tests, benchmarks and demos that must run without a corpus.

Deterministic per seed; nothing here recognises or imitates emotion, it only gives the feature code
and the voice detector something with pitch, formants and syllable rhythm to work on.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

RATE = 16_000


def speech_like(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Voiced syllables: a glottal pulse train with a gliding pitch through two formant resonators."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + rng.uniform(-5, 5)
    pulses = (np.diff(np.floor(np.cumsum(f0) / rate), prepend=0) > 0).astype(np.float64)
    y = pulses
    for formant, bw in ((700, 130), (1220, 70), (2600, 160)):
        r = np.exp(-np.pi * bw / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    syllable = 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 0.25) / 0.2, 0, 1)))  # 200 ms on, 50 ms off
    # the noise comes after the resonators' output is scaled, so the syllables stand out of it by about
    # 50 dB as speech does (the speech gate turns away steady noise, which this once mostly was)
    y = y / np.max(np.abs(y)) * syllable + 0.002 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def syllables(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """speech_like's voice with its syllable envelope audible: the resonators' output is scaled up before
    the envelope and a faint noise (-66 dB) are applied, so the level swings like speech does.

    (speech_like, which once added its noise before scaling, now does the same with its own seeding.)"""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + rng.uniform(-5, 5)
    y = (np.diff(np.floor(np.cumsum(f0) / rate), prepend=0) > 0).astype(np.float64)
    for formant, bw in ((700, 130), (1220, 70), (2600, 160)):
        r = np.exp(-np.pi * bw / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    syllable = 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 0.25) / 0.2, 0, 1)))  # 200 ms on, 50 ms off
    y = y / np.max(np.abs(y)) * syllable + 0.001 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def silence(seconds: float, rate: int = RATE, level: float = 1e-4, seed: int = 1) -> np.ndarray:
    """Near-silence: white noise at `level` (default -80 dBFS)."""
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)

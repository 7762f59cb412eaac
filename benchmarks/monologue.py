"""Long monologues made of real RAVDESS clips joined by known gaps, for utterance tests and benchmarks.

Each clip keeps its own ~1 s of near-silence at each end, so the silence between two clips' speech
is the gap plus those edges. One gap holds pink background noise instead of near-silence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from speechsense.audio import load_file
from speechsense.labels import RAVDESS_EMOTIONS
from speechsense.v1 import emotion_pb2 as pb

RATE = 16_000
NOISE_DBFS = -40.0  # the noisy gap: steady pink noise, like a fan or a busy room's hum
ROOM_DBFS = -75.0  # the other gaps: faint white noise, near RAVDESS's own near-silence


@dataclass(frozen=True)
class Placed:
    """One clip placed in a monologue: where it begins, in monologue seconds."""

    path: Path
    emotion: str
    offset_seconds: float
    seconds: float


@dataclass(frozen=True)
class Monologue:
    samples: np.ndarray  # mono float32 at RATE
    clips: list[Placed]
    noise_span: tuple[float, float]  # seconds of the noisy gap


def pick_clips(root: Path, actor: int, count: int = 10, seed: int = 0) -> list[Path]:
    """`count` speech clips of one actor cycling through the eight emotions, chosen by seed."""
    rng = np.random.default_rng(seed)
    files = sorted((root / "ravdess" / f"Actor_{actor:02d}").glob("03-01-*.flac"))
    by_emotion: dict[str, list[Path]] = {}
    for f in files:
        by_emotion.setdefault(f.name.split("-")[2], []).append(f)
    codes = sorted(by_emotion)
    chosen = []
    for i in range(count):
        pool = [f for f in by_emotion[codes[i % len(codes)]] if f not in chosen]
        chosen.append(pool[int(rng.integers(len(pool)))])
    order = rng.permutation(count)
    return [chosen[i] for i in order]


def pink_noise(n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """1/f noise from 50 Hz up (below it, 1/f power would make the level drift like footsteps, not hum)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    hz = np.fft.rfftfreq(n, 1 / RATE)
    spectrum *= np.where(hz >= 50, 1 / np.sqrt(np.maximum(hz, 50)), 0.0)
    y = np.fft.irfft(spectrum, n)
    return (y / np.sqrt(np.mean(y ** 2)) * 10 ** (dbfs / 20)).astype(np.float32)


# Backgrounds of benchmarks/segment_eval.py's gaps and of the utterance noise tests.
BACKGROUNDS = ("room", "pink-40", "lowpass-50", "brown-50", "hum-50", "swell-50")


def peak_scaled(y: np.ndarray, peak_dbfs: float) -> np.ndarray:
    return (y / np.max(np.abs(y)) * 10 ** (peak_dbfs / 20)).astype(np.float32)


def background(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "room":
        return (white * 10 ** (-75 / 20)).astype(np.float32)
    if kind == "pink-40":
        return pink_noise(n, -40.0, rng)
    if kind == "lowpass-50":  # quiet low-pass noise: traffic or a distant engine through a wall
        return peak_scaled(sosfilt(butter(4, 300, "low", fs=RATE, output="sos"), white), -50)
    if kind == "brown-50":
        brown = np.cumsum(white)
        return peak_scaled(sosfilt(butter(2, 20, "high", fs=RATE, output="sos"), brown), -50)
    if kind == "hum-50":
        t = np.arange(n) / RATE
        hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        return peak_scaled(hum + 0.05 * white, -50)
    if kind == "swell-50":  # ventilation: band noise whose level swells 4 times a second
        band = sosfilt(butter(2, (150, 1500), "band", fs=RATE, output="sos"), white)
        t = np.arange(n) / RATE
        return peak_scaled(band * (1.0 + 0.8 * np.sin(2 * np.pi * 4 * t)), -50)
    raise ValueError(kind)


def build(paths: list[Path], seed: int = 0, noisy_gap: int = 4) -> Monologue:
    """Join clips with gaps of 0.5-2 s (gap `noisy_gap` holds pink noise); a short lead-in first."""
    rng = np.random.default_rng(seed)
    parts, clips, pos = [], [], 0
    noise_span = (0.0, 0.0)

    def add(y: np.ndarray) -> None:
        nonlocal pos
        parts.append(y.astype(np.float32))
        pos += y.size

    add(rng.standard_normal(RATE // 2) * 10 ** (ROOM_DBFS / 20))
    for i, path in enumerate(paths):
        y = load_file(path, RATE)
        clips.append(Placed(path, RAVDESS_EMOTIONS[path.name.split("-")[2]], pos / RATE, y.size / RATE))
        add(y)
        gap = int(rng.uniform(0.5, 2.0) * RATE)
        if i == noisy_gap:
            noise_span = (pos / RATE, (pos + gap) / RATE)
            add(pink_noise(gap, NOISE_DBFS, rng))
        else:
            add(rng.standard_normal(gap) * 10 ** (ROOM_DBFS / 20))
    return Monologue(np.concatenate(parts), clips, noise_span)


def energy_span(samples: np.ndarray, rate: int = RATE, top_db: float = 30.0) -> tuple[float, float]:
    """Seconds of a clip's speech by an energy trim alone: librosa's trim at the features' 30 dB."""
    import librosa

    _, (start, end) = librosa.effects.trim(samples, top_db=top_db, frame_length=512, hop_length=128)
    return start / rate, end / rate


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def utterance_clip(samples: np.ndarray) -> pb.AnalyzeClipRequest:
    """AnalyzeClip of 16 kHz samples in utterance mode with default thresholds."""
    fmt = pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE)
    return pb.AnalyzeClipRequest(raw=pb.RawAudio(format=fmt, data=pcm16(samples)),
                                 segmentation=pb.SEGMENTATION_UTTERANCES)


def paced_requests(samples: np.ndarray, speed: float, sent: list[tuple[float, float]], chunk: float = 0.1):
    """An utterance-mode stream of 100 ms chunks at `speed` x real time; appends (audio seconds sent, time)."""
    yield pb.StreamEmotionsRequest(config=pb.StreamConfig(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE),
        segmentation=pb.SEGMENTATION_UTTERANCES))
    data, step = pcm16(samples), int(chunk * RATE) * 2
    start = time.perf_counter()
    for i in range(0, len(data), step):
        delay = start + (i / 2 / RATE) / speed - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent.append((min(i + step, len(data)) / 2 / RATE, time.perf_counter()))
        yield pb.StreamEmotionsRequest(audio=data[i:i + step])

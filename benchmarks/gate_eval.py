"""The speech gate on soft speech and on noise: fraction of windows flagged speech, per gate and condition.

Speech: the first 3 s (zero-padded) of every k-th RAVDESS clip (actors 1-20) and EmoDB clip, at gain 0,
-20 and -30 dB (16-bit, as a microphone stream arrives). Noise only: digital silence, white, pink and
brown noise at -70/-50/-30/-10 dBFS, mains hum, breath-like bursts (band-passed noise with an envelope,
over a -75 dBFS room floor) and each RAVDESS clip's own leading room tone tiled to 3 s, as recorded and
20 dB louder. Each gate is run stateless (SpeechDetector, one window at a time, as the server does
today) and with a stream's memory (SpeechGate, the windows of a condition as one stream).
    python benchmarks/gate_eval.py [--every 6] [--json runs/gate.json]
Target: speech at -20 dB >= 99% flagged speech, every noise-only condition <= 2%.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from pathlib import Path

import numpy as np
from scipy import signal

from speechsense.audio import load_file
from speechsense.server.config import EngineOptions
from speechsense.server.vad import FLOOR_PERCENTILE, SpeechDetector
from speechsense.training import rooms
from speechsense.training.corpora import default_data_root

RATE = 16_000
WINDOW = 3 * RATE
NOISE_LEVELS = (-70.0, -50.0, -30.0, -10.0)
GATE_MEMORY_WINDOWS = 10  # SpeechGate: windows its floor and level remember


class SpeechGate:
    """One stream's gate: the detector's rule against the stream's own noise floor and speech level.

    The floor is the lowest window floor of the last GATE_MEMORY_WINDOWS windows (a window filled with
    speech has no pause of its own to measure); the level, the loudest speech frame of as many speech
    windows. Not thread-safe: one per stream, called in window order."""

    def __init__(self, detector: SpeechDetector, memory: int = GATE_MEMORY_WINDOWS) -> None:
        self.detector = detector
        self._floors: deque[float] = deque(maxlen=memory)
        self._levels: deque[float] = deque(maxlen=memory)

    @property
    def floor_db(self) -> float | None:
        return min(self._floors) if self._floors else None

    @property
    def level_db(self) -> float | None:
        return max(self._levels) if self._levels else None

    def is_speech(self, samples: np.ndarray) -> bool:
        d = self.detector
        if d.gate == "absolute":
            return d.is_speech(samples)
        levels = d.frame_dbfs(samples)
        if levels.size == 0:
            return False
        self._floors.append(float(np.percentile(levels, FLOOR_PERCENTILE)))
        flags = d.speech_frames(samples, self.floor_db, self.level_db)
        speech = d.decide(samples, flags)
        if speech:
            self._levels.append(float(levels[flags].max()))
        return speech


def at_dbfs(x: np.ndarray, level: float) -> np.ndarray:
    """x scaled to an RMS of `level` dBFS, on the 16-bit grid."""
    return rooms.apply_gain(x / np.sqrt(np.mean(np.square(x, dtype=np.float64))), level)


def window(x: np.ndarray) -> np.ndarray:
    return np.pad(x[:WINDOW], (0, max(0, WINDOW - x.size))).astype(np.float32)


def breath(rng: np.random.Generator, peak_dbfs: float) -> np.ndarray:
    """Breath-like: 300-2500 Hz noise in 0.4-0.9 s Hann bursts, 0.8-2 s apart, over a -75 dBFS floor."""
    x = signal.sosfilt(signal.butter(4, (300, 2500), "bandpass", fs=RATE, output="sos"),
                       rooms.coloured_noise(WINDOW, 0.5, rng))
    env, t = np.zeros(WINDOW), int(rng.uniform(0, 0.5) * RATE)
    while t < WINDOW:
        n = int(rng.uniform(0.4, 0.9) * RATE)
        e = np.hanning(n)[:WINDOW - t]
        env[t:t + e.size] = e
        t += n + int(rng.uniform(0.8, 2.0) * RATE)
    burst = x * env / np.sqrt(np.mean(x ** 2)) * 10 ** (peak_dbfs / 20)
    return rooms.apply_gain(burst + rooms.coloured_noise(WINDOW, 1.0, rng) * 10 ** (-75 / 20), 0.0)


def noise_conditions(tones: list[np.ndarray], per: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    out: dict[str, list[np.ndarray]] = {"digital silence": [rooms.apply_gain(np.zeros(WINDOW), 0.0)] * per}
    for name, beta in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        for level in NOISE_LEVELS:
            out[f"{name} {level:g} dBFS"] = [at_dbfs(rooms.coloured_noise(WINDOW, beta, rng), level)
                                             for _ in range(per)]
    t = np.arange(WINDOW) / RATE
    for level in (-40.0, -20.0):
        out[f"hum {level:g} dBFS"] = [at_dbfs(np.sin(2 * np.pi * 50 * t + p) + 0.3 * np.sin(2 * np.pi * 150 * t)
                                              + 1e-3 * rng.standard_normal(WINDOW), level)
                                      for p in rng.uniform(0, np.pi, per)]
    for peak in (-60.0, -40.0, -20.0):
        out[f"breath {peak:g} dBFS"] = [breath(rng, peak) for _ in range(per)]
    out["room tone"] = tones
    out["room tone +20 dB"] = [rooms.apply_gain(x, 20.0) for x in tones]
    return out


def rates(detector: SpeechDetector, windows: list[np.ndarray]) -> tuple[float, float]:
    """(stateless, stream) fractions flagged speech."""
    gate = SpeechGate(detector)
    return (float(np.mean([detector.is_speech(w) for w in windows])),
            float(np.mean([gate.is_speech(w) for w in windows])))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--every", type=int, default=6, help="every k-th clip (default 6: 200 RAVDESS + 76 EmoDB)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.data_root or default_data_root()
    rav = sorted((root / "ravdess").glob("Actor_*/*.flac"))[::args.every]
    emodb = sorted((root / "emodb" / "wav").glob("*.flac"))[::args.every]
    clips = [load_file(f, RATE) for f in rav + emodb]
    speech = {f"speech {g:g} dB": [rooms.apply_gain(window(x), g) for x in clips] for g in (0.0, -20.0, -30.0)}
    tones = [window(np.resize(x[:int(0.3 * RATE)], WINDOW)) for x in clips[:len(rav)]]
    conditions = {**speech, **noise_conditions(tones, per=len(tones) // 4)}
    default = EngineOptions()
    gates = {"adaptive (default)": SpeechDetector.from_options(RATE, default),
             "absolute -50 dBFS (old)": SpeechDetector(RATE, default.vad_aggressiveness, default.speech_threshold,
                                                        -50.0, gate="absolute")}
    rows, t0 = [], time.time()
    print(f"{len(rav)} RAVDESS + {len(emodb)} EmoDB clips\n")
    print(f"| condition | windows | {' | '.join(f'{g} stateless | {g} stream' for g in gates)} |")
    print("|" + " --- |" * (2 + 2 * len(gates)))
    for name, windows in conditions.items():
        row = {"condition": name, "windows": len(windows), "speech": name.startswith("speech")}
        for g, d in gates.items():
            row[g] = rates(d, windows)
        rows.append(row)
        cells = " | ".join(f"{row[g][0]:.1%} | {row[g][1]:.1%}" for g in gates)
        print(f"| {name} | {len(windows)} | {cells} |", flush=True)
    for g in gates:
        worst = max(max(r[g]) for r in rows if not r["speech"])
        soft = min(next(r for r in rows if r["condition"] == "speech -20 dB")[g])
        print(f"\n{g}: speech at -20 dB flagged {soft:.1%} (target >= 99%), worst noise-only condition "
              f"{worst:.1%} (target <= 2%)", end="")
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"every": args.every, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

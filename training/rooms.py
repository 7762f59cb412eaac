"""The rooms people speak in, as waveform transforms: coloured noise, babble, reverberation, phone lines, gain.

Every function is deterministic given its arguments (the randomness comes in as a Generator), so the
training copies (augment.py) and the robustness benchmark build the same audio every run.
No noise or impulse-response collection ships inside a package we can install (the package lists were
searched for noise, babble, impulse-response and RIR sets: only downloaders and simulators), so noise is
synthesised, babble is made from the corpora's own neutral clips, and rooms are simulated
(pyroomacoustics' image-source model for the early reflections, an exponentially decaying noise tail
for the late reverberation, which keeps RT60 exact and the result reproducible: its ray tracer is not).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
from scipy import signal

from speechsense.audio import load_file

TELEPHONE_RATE = 8000
TELEPHONE_BAND = (300.0, 3400.0)
MU = 255.0
EARLY_SECONDS = 0.05  # image-source reflections up to here, the statistical tail after
ROOM_ORDER = 10  # image-source order for the early part (enough for 50 ms in rooms of a few metres)
BENCHMARK_ROOM = 0  # the robustness benchmark's room; training copies draw from TRAINING_ROOMS, never it
TRAINING_ROOMS = (1, 9)  # [low, high) of the room numbers training copies draw


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_at_snr(samples: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """samples + noise scaled so that mean power(samples) / power(added noise) is snr_db.

    Power is the whole clip's mean, as in the benchmark tables and the white-noise copies before."""
    power, noise_power = _power(samples), _power(noise)
    if power <= 0 or noise_power <= 0:
        return np.asarray(samples, np.float32)
    scale = np.sqrt(power / (noise_power * 10 ** (snr_db / 10)))
    return (samples + scale * noise[:samples.size]).astype(np.float32)


def coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of unit-power noise with power spectrum 1/f^beta: 0 white, 1 pink, 2 brown (no DC)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    spectrum /= f ** (beta / 2)
    spectrum[0] = 0.0  # no DC: brown noise would otherwise wander off as a slow offset
    x = np.fft.irfft(spectrum, n)
    return x / max(np.sqrt(_power(x)), 1e-12)


def trim(samples: np.ndarray, rate: int, top_db: float = 30.0) -> np.ndarray:
    """samples without the leading and trailing 25 ms frames more than top_db below the loudest."""
    frame = max(1, int(0.025 * rate))
    n = samples.size // frame
    if n == 0:
        return samples.astype(np.float32)
    level = 10 * np.log10(np.mean(np.square(samples[:n * frame].reshape(n, frame), dtype=np.float64), axis=1) + 1e-20)
    keep = np.flatnonzero(level >= level.max() - top_db)
    return samples[keep[0] * frame:(keep[-1] + 1) * frame].astype(np.float32)


@dataclass(frozen=True)
class Talker:
    """One neutral clip usable as babble: its corpus and speaker (to keep a clip's own voice out) and audio."""

    corpus: str
    speaker: str
    samples: np.ndarray


class BabblePool:
    """Neutral speech of many talkers, for babble; a clip only ever hears other corpora's speakers.

    Neutral only, so the babble carries no emotion label of its own. Clips are loaded at first use,
    trimmed of leading and trailing silence (babble is continuous chatter, not pauses)."""

    def __init__(self, clips: list, rate: int, label: str = "neutral") -> None:
        self.rate = rate
        self._clips = [c for c in clips if c.label == label]
        if not self._clips:
            raise ValueError(f"no {label} clips for babble")
        self._cache: dict[int, Talker] = {}

    def corpora(self) -> set[str]:
        return {c.corpus for c in self._clips}

    def _talker(self, i: int) -> Talker:
        if i not in self._cache:
            clip = self._clips[i]
            self._cache[i] = Talker(clip.corpus, clip.speaker, trim(load_file(clip.path, self.rate), self.rate))
        return self._cache[i]

    def _others(self, corpus: str, speaker: str = "") -> list[int]:
        return [i for i, c in enumerate(self._clips) if c.corpus != corpus and c.speaker != speaker]

    def talkers_outside(self, corpus: str) -> int:
        """How many clips babble for a clip of `corpus` can draw on."""
        return len(self._others(corpus))

    def babble(self, n: int, talkers: int, rng: np.random.Generator, corpus: str, speaker: str = "") -> np.ndarray:
        """n samples of unit-power babble: `talkers` clips of corpora other than `corpus` (so never the
        clip's own speaker), each at unit power, tiled from a random offset, summed."""
        allowed = self._others(corpus, speaker)
        if len(allowed) < talkers:
            raise ValueError(f"babble needs {talkers} talkers outside {corpus!r}; the pool has {len(allowed)}")
        x = np.zeros(n)
        for i in rng.choice(allowed, talkers, replace=False):
            y = self._talker(int(i)).samples
            y = np.roll(np.resize(y, max(n, y.size)), -int(rng.integers(0, y.size)))[:n]
            x += y / max(np.sqrt(_power(y)), 1e-9)
        return x / max(np.sqrt(_power(x)), 1e-12)


def corpus_of(path: str) -> str:
    """The corpus folder a clip's path lies in (ravdess, tess, emodb), or '' when none is named."""
    parts = path.replace("\\", "/").lower().split("/")
    return next((p for p in ("ravdess", "tess", "emodb") if p in parts), "")


@functools.lru_cache(maxsize=256)
def room_impulse_response(rt60: float, rate: int, room: int = 0) -> np.ndarray:
    """A room's impulse response with reverberation time rt60 (s), from microphone to talker.

    `room` picks one of a fixed family of rooms and positions (seeded by room and rt60), so a given
    (rt60, rate, room) is the same response in every process. The direct sound is at sample 0."""
    import pyroomacoustics as pra

    rng = np.random.default_rng([room, int(round(rt60 * 1000)), rate])
    dim = rng.uniform([3.0, 3.0, 2.4], [9.0, 7.0, 3.5])
    src = rng.uniform([0.5, 0.5, 1.2], dim - [0.5, 0.5, 1.0])
    mic = rng.uniform([0.5, 0.5, 0.8], dim - [0.5, 0.5, 1.0])
    absorption, order = pra.inverse_sabine(rt60, dim)
    shoebox = pra.ShoeBox(dim, fs=rate, materials=pra.Material(absorption), max_order=min(order, ROOM_ORDER))
    shoebox.add_source(src)
    shoebox.add_microphone(mic)
    shoebox.compute_rir()
    early = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    early = early[int(np.argmax(np.abs(early))):]  # direct sound first: the speech keeps its timing
    junction = int(EARLY_SECONDS * rate)
    t = np.arange(int(rt60 * 1.2 * rate)) / rate
    tail = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60)  # -60 dB at t = rt60
    # the tail takes over at the junction at the early part's own level there
    level = np.sqrt(np.mean(early[junction // 2:junction] ** 2)) if early.size > junction else np.abs(early).max()
    tail *= level / max(np.sqrt(np.mean(tail[junction // 2:junction] ** 2)), 1e-12)
    h = tail
    h[:junction] = 0.0
    n = min(early.size, junction)
    h[:n] += early[:n]
    return (h / np.abs(h).max()).astype(np.float32)


def reverberate(samples: np.ndarray, rt60: float, rate: int, room: int = 0) -> np.ndarray:
    """The clip as heard across a room with reverberation time rt60; same length, same RMS."""
    h = room_impulse_response(float(rt60), rate, room)
    wet = signal.fftconvolve(samples.astype(np.float64), h)[:samples.size]
    return (wet * np.sqrt(_power(samples) / max(_power(wet), 1e-20))).astype(np.float32)


def mu_law(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """Encode and decode with G.711-style mu-law companding at `bits` bits (the codec's quantisation)."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    levels = 2 ** (bits - 1) - 1
    y = np.round(y * levels) / levels
    return np.sign(y) * ((1 + MU) ** np.abs(y) - 1) / MU


@functools.lru_cache(maxsize=4)
def _telephone_filter(order: int = 8) -> np.ndarray:
    return signal.butter(order, TELEPHONE_BAND, btype="bandpass", fs=TELEPHONE_RATE, output="sos")


def telephone(samples: np.ndarray, rate: int, codec: bool = False) -> np.ndarray:
    """A phone line: down to 8 kHz, 300-3400 Hz band-pass, optionally mu-law, back to `rate`.

    Level is kept (RMS in = RMS out) before the codec: a phone line does not make speech quieter."""
    narrow = soxr.resample(samples.astype(np.float64), rate, TELEPHONE_RATE, quality="HQ")
    narrow = signal.sosfiltfilt(_telephone_filter(), narrow)
    narrow *= np.sqrt(_power(samples) / max(_power(narrow), 1e-20))
    if codec:
        narrow = mu_law(narrow)
    out = soxr.resample(narrow, TELEPHONE_RATE, rate, quality="HQ")
    # soxr's output length can differ by a sample; the clip keeps its length
    out = np.pad(out, (0, max(0, samples.size - out.size)))[:samples.size]
    return out.astype(np.float32)


def apply_gain(samples: np.ndarray, gain_db: float, pcm16: bool = True) -> np.ndarray:
    """Level changed by gain_db, clipped at full scale and (pcm16) rounded to the 16-bit grid, as a
    microphone stream arrives: soft input keeps its quantisation noise, loud input its clipping."""
    y = np.clip(samples.astype(np.float64) * 10 ** (gain_db / 20), -1.0, 1.0)
    if pcm16:
        y = np.round(y * 32767) / 32767
    return y.astype(np.float32)


def neutral_clips(root, corpora: tuple[str, ...] = ("ravdess", "tess", "emodb")) -> list:
    """The neutral clips under a data root, by file name alone (no decoding): babble material."""
    from speechsense.training.corpora import _PARSERS, AUDIO_SUFFIXES, Clip

    root = Path(root)
    folders = {"ravdess": root / "ravdess", "tess": root / "tess", "emodb": root / "emodb" / "wav"}
    out = []
    for corpus in corpora:
        for f in sorted(folders[corpus].rglob("*")) if folders[corpus].is_dir() else ():
            if f.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            try:
                speaker, gender, label = _PARSERS[corpus](f)
            except ValueError:
                continue
            if label == "neutral":
                out.append(Clip(str(f), corpus, speaker, gender, label, 0.0))
    return out


@functools.lru_cache(maxsize=4)
def pool_at(root: str, rate: int, corpora: tuple[str, ...]) -> BabblePool:
    """One BabblePool per (data root, rate, corpora) per process: worker processes build their own."""
    return BabblePool(neutral_clips(root, corpora), rate)

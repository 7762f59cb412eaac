"""Speech detection per window: webrtcvad's voiced frames, judged against the input's own floor and level.

The adaptive gate (the default) calls a 30 ms frame speech when webrtcvad, fed the window brought to a
normal level, calls it voiced, and it stands margin_db above the window's noise floor (its 10th
percentile frame level) and above min_dbfs (digital near-silence). A window is speech when at least
`threshold` of its frames are, and at least min_periodic_frames of those are periodic (a pitch between
62 and 400 Hz in the voice's low band) in runs of 90 ms or more (a vowel): a soft voice is speech at any
level, and so is speech in noise, while silence, steady noise (no frame clears the floor), breath (no
pitch) and clicks over hum (too short) are not. speech_frames can also judge against a stream's own floor and
speech level (benchmarks/gate_eval.py's SpeechGate keeps them), so a window filled with speech, or a breath far
below the talker, is judged too; the server judges each window alone.
The absolute gate ("absolute", the old rule) is a fixed loudness floor: it calls a quiet microphone or a
soft speaker silence (a clip played 20 dB quieter came back 26 times in 40 as no speech).

Measured by benchmarks/gate_eval.py (290 windows of RAVDESS and EmoDB speech): adaptive flags 100.0%,
100.0% and 99.7% of them at 0, -20 and -30 dB gain, and at most 1.5% of noise-only windows (clips'
own room tone; 0.0% of white, pink, brown noise at -70..-10 dBFS, hum and breath-like bursts); absolute
(-50 dBFS) 96.6%, 45.2%, 28.6%, and up to 100% of loud noise.
"""

from __future__ import annotations

import numpy as np
import webrtcvad
from scipy import signal

FRAME_SECONDS = 0.03
VAD_RATES = (8000, 16000, 32000, 48000)
GATES = ("adaptive", "absolute")
VAD_TARGET_DBFS = -20.0  # webrtcvad hears the window's loudest frame at this level
VAD_MAX_GAIN_DB = 60.0  # ... raised by at most this much (16-bit near-silence is not speech)
FLOOR_PERCENTILE = 10
PITCH_HZ = (62.5, 400.0)
PITCH_BAND_HZ = (80.0, 900.0)
PITCH_RUN_FRAMES = 3
GATE_RANGE_DB = 40.0  # with a stream's level: frames this far below it are not its talker
UTTERANCE_PITCH_HZ = (50.0, 400.0)  # voice pitch range searched by periodic_fraction
MAX_PERIODIC_FRAMES = 160  # frames periodic_fraction looks at, evenly spread: bounded cost per utterance
PERIODIC_DIP = 0.2  # the self-similarity must fall below this before a pitch peak counts (see periodic_fraction)


class SpeechDetector:
    """Decides whether a window of float32 mono audio holds speech (stateless: one window at a time)."""

    def __init__(self, sample_rate: int, aggressiveness: int, threshold: float, min_dbfs: float,
                 gate: str = "adaptive", margin_db: float = 6.0, min_periodic_frames: int = 3,
                 periodicity: float = 0.6) -> None:
        if sample_rate not in VAD_RATES:
            raise ValueError(f"webrtcvad needs one of {VAD_RATES} Hz, the model runs at {sample_rate}")
        if gate not in GATES:
            raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
        self.sample_rate, self.threshold, self.min_dbfs = sample_rate, threshold, min_dbfs
        self.gate, self.margin_db = gate, margin_db
        self.min_periodic_frames, self.periodicity = min_periodic_frames, periodicity
        self._aggressiveness = aggressiveness
        self._frame = int(sample_rate * FRAME_SECONDS)
        self._lags = (int(sample_rate / PITCH_HZ[1]), int(sample_rate / PITCH_HZ[0]))
        self._band = signal.butter(4, PITCH_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")

    @classmethod
    def from_options(cls, sample_rate: int, options) -> SpeechDetector:
        """The detector an EngineOptions describes (vad_* and gate_* fields)."""
        return cls(sample_rate, options.vad_aggressiveness, options.speech_threshold, options.min_speech_dbfs,
                   options.gate, options.gate_margin_db, options.gate_periodic_frames, options.gate_periodicity)

    def new_vad(self) -> webrtcvad.Vad:
        """A webrtcvad instance for one thread's use (they are cheap and not safe to share)."""
        return webrtcvad.Vad(self._aggressiveness)

    @property
    def frame_samples(self) -> int:
        return self._frame

    def frame_dbfs(self, samples: np.ndarray) -> np.ndarray:
        """Level in dBFS of each whole 30 ms frame."""
        n = samples.size // self._frame
        frames = samples[:n * self._frame].reshape(n, self._frame)
        return 20 * np.log10(np.maximum(np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)), 1e-10))

    def frame_periodicity(self, samples: np.ndarray) -> np.ndarray:
        """Per whole frame: the normalised autocorrelation's peak over pitch lags (1 = perfectly periodic).

        On the voice's low band (PITCH_BAND_HZ, where its first harmonics are and broadband noise has
        little of its power), and only where the peak is a true peak inside the pitch range: noise
        weighted to low frequencies (brown, rumble) correlates at every short lag without a pitch."""
        n = samples.size // self._frame
        x = signal.sosfilt(self._band, np.asarray(samples[:n * self._frame], dtype=np.float64))
        frames = x.reshape(n, self._frame)
        frames -= frames.mean(axis=1, keepdims=True)
        size = 1 << int(np.ceil(np.log2(2 * self._frame)))
        ac = np.fft.irfft(np.abs(np.fft.rfft(frames, size, axis=1)) ** 2, size, axis=1)
        low, high = self._lags
        lags = np.arange(low, high + 1)
        # unbiased: each lag's sum has frame - lag terms
        ac = ac[:, low:high + 1] / np.maximum(ac[:, :1], 1e-30) * self._frame / (self._frame - lags)
        if not n:
            return np.zeros(0)
        best = ac.argmax(axis=1)
        interior = (best > 0) & (best < lags.size - 1)
        return np.where(interior, ac[np.arange(n), best], 0.0)

    def speech_frames(self, samples: np.ndarray, floor_db: float | None = None,
                      level_db: float | None = None) -> np.ndarray:
        """Per whole 30 ms frame: speech by the gate's rule. floor_db / level_db: a stream's own noise
        floor and speech level (benchmarks/gate_eval.py's SpeechGate), else the window's floor and loudest frame."""
        levels = self.frame_dbfs(samples)
        if self.gate == "absolute":
            return self._voiced(samples, levels >= self.min_dbfs, 0.0)
        if levels.size == 0:
            return np.zeros(0, dtype=bool)
        floor = np.percentile(levels, FLOOR_PERCENTILE) if floor_db is None else floor_db
        loud = (levels >= floor + self.margin_db) & (levels >= self.min_dbfs)
        if level_db is not None:  # far below the talker's level: breath, a distant sound
            loud &= levels >= level_db - GATE_RANGE_DB
        gain = min(VAD_MAX_GAIN_DB, VAD_TARGET_DBFS - float(levels.max()))
        return self._voiced(samples, loud, gain)

    def _voiced(self, samples: np.ndarray, candidates: np.ndarray, gain_db: float) -> np.ndarray:
        """webrtcvad's verdict on the candidate frames (a fresh instance), the window raised by gain_db."""
        flags = np.zeros(candidates.size, dtype=bool)
        if candidates.any():
            vad = self.new_vad()
            pcm = self._pcm(samples * np.float32(10 ** (gain_db / 20)), candidates.size)
            for i in np.flatnonzero(candidates):
                flags[i] = vad.is_speech(pcm[i].tobytes(), self.sample_rate)
        return flags

    def voiced_stream(self, samples: np.ndarray, vad: webrtcvad.Vad) -> np.ndarray:
        """webrtcvad's verdict on every whole frame, in order: a stream's own vad keeps adapting to its noise."""
        pcm = self._pcm(samples, samples.size // self._frame)
        return np.array([vad.is_speech(frame.tobytes(), self.sample_rate) for frame in pcm], dtype=bool)

    def _pcm(self, samples: np.ndarray, n: int) -> np.ndarray:
        return (np.clip(samples[:n * self._frame], -1.0, 1.0) * 32767).astype("<i2").reshape(n, self._frame)

    def speech_fraction(self, samples: np.ndarray) -> float:
        """Fraction of 30 ms frames that are speech by the gate's rule."""
        flags = self.speech_frames(samples)
        return float(flags.sum()) / flags.size if flags.size else 0.0

    def decide(self, samples: np.ndarray, flags: np.ndarray) -> bool:
        """Enough speech frames, and (adaptive) enough of them periodic: a voice, not noise."""
        if not flags.size or flags.sum() < self.threshold * flags.size:
            return False
        if self.gate == "absolute" or self.min_periodic_frames == 0:
            return True
        voiced = (self.frame_periodicity(samples) >= self.periodicity) & flags
        # only runs of PITCH_RUN_FRAMES or more count: a vowel lasts that long, a click over hum does not
        k = PITCH_RUN_FRAMES
        run = np.all([voiced[i:voiced.size - k + 1 + i] for i in range(k)], axis=0) if voiced.size >= k else []
        in_run = np.zeros(voiced.size, dtype=bool)
        for i in range(k):
            in_run[i:i + len(run)] |= run
        return int(in_run.sum()) >= self.min_periodic_frames

    def is_speech(self, samples: np.ndarray) -> bool:
        return self.decide(samples, self.speech_frames(samples))


def periodic_fraction(samples: np.ndarray, rate: int, threshold: float) -> float:
    """Fraction of 60 ms frames (30 ms hop) that repeat at a voice pitch: normalised autocorrelation of at
    least `threshold` at a lag of 2.5-20 ms, after it first fell below PERIODIC_DIP.

    Voiced speech repeats at its pitch period; noise does not. The dip keeps out low-frequency noise
    (brown, rumble), whose self-similarity decays slowly from lag 0 without ever coming back."""
    hop = int(rate * FRAME_SECONDS)
    n = samples.size // hop - 1
    if n < 1:
        return 0.0
    starts = np.unique(np.linspace(0, n - 1, min(n, MAX_PERIODIC_FRAMES)).astype(int)) * hop  # a fraction: a sample
    x = samples.astype(np.float64)[starts[:, None] + np.arange(2 * hop)[None, :]]
    x -= x.mean(axis=1, keepdims=True)
    lo, hi = int(rate / UTTERANCE_PITCH_HZ[1]), int(rate / UTTERANCE_PITCH_HZ[0])
    size = 1 << int(np.ceil(np.log2(x.shape[1] + hi + 1)))  # padded: no circular wrap up to lag hi
    r = np.fft.irfft(np.abs(np.fft.rfft(x, size, axis=1)) ** 2, size, axis=1)[:, :hi + 1]
    tail = np.cumsum((x ** 2)[:, ::-1], axis=1)[:, ::-1][:, :hi + 1]  # energy of x[lag:]
    c = r / (np.sqrt(tail[:, :1] * tail) + 1e-20)
    dipped = np.minimum.accumulate(c, axis=1) < PERIODIC_DIP
    best = np.where(dipped[:, lo:], c[:, lo:], 0.0).max(axis=1)
    return float((best >= threshold).mean())

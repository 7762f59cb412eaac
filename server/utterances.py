"""Utterance segmentation: the VAD's speech frames grouped into utterances, each scored over its windows.

A 30 ms frame is speech when the stream's own webrtcvad calls it voiced, it is louder than a fixed
floor, it stands NOISE_MARGIN_DB above the noise floor (the quietest frame of the last
NOISE_FLOOR_SECONDS) and the level moved by MIN_MODULATION_DB within STEADY_SECONDS: steady noise
(fans, hum) is not speech. An utterance starts once min_speech_seconds of speech frames have come
(gaps shorter than the closing silence allowed), ends at its last speech frame once
closing_silence_seconds of silence follow, and is cut at max_utterance_seconds. Its edges are trimmed
of frames more than edge_top_db below its loudest (breaths, room tails: the model's feature trim drops
them too) or near the noise floor; one whose level barely moves, or with too few frames periodic at a
voice pitch (low-level noise swelling like syllables), is noise and dropped. Memory is bounded by one
utterance plus its silence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from speechsense.audio import AudioError
from speechsense.server.vad import SpeechDetector, periodic_fraction
from speechsense.v1 import emotion_pb2 as pb

NOISE_FLOOR_SECONDS = 1.5
NOISE_MARGIN_DB = 4.0
STEADY_SECONDS = 0.3
MIN_MODULATION_DB = 6.0  # speech swings 15-30 dB between syllables; fans, hum and pink noise 2-4 dB
# An utterance needs this fraction of its frames periodic at a voice pitch (vad.periodic_fraction, at
# PERIODIC_THRESHOLD): low-level noise that swells like syllables (ventilation, brown rumble) is not.
MIN_PERIODIC_FRACTION = 0.1
PERIODIC_THRESHOLD = 0.6

# (default, low, high) seconds per UtteranceSpec field; 0 in the request means the default.
RANGES = {
    "min_speech_seconds": (0.3, 0.03, 2.0),
    "closing_silence_seconds": (0.5, 0.1, 5.0),
    "max_utterance_seconds": (15.0, 1.0, 60.0),
}


@dataclass(frozen=True)
class UtteranceOptions:
    """Thresholds of the utterance segmenter, in seconds (see RANGES)."""

    min_speech_seconds: float = RANGES["min_speech_seconds"][0]
    closing_silence_seconds: float = RANGES["closing_silence_seconds"][0]
    max_utterance_seconds: float = RANGES["max_utterance_seconds"][0]

    def __post_init__(self) -> None:
        for f in fields(self):
            value, (_, low, high) = getattr(self, f.name), RANGES[f.name]
            if not (math.isfinite(value) and low - 1e-6 <= value <= high + 1e-6):
                raise AudioError(f"utterance.{f.name} {value:g} is outside {low:g}..{high:g}")
        if self.max_utterance_seconds <= self.min_speech_seconds:
            raise AudioError(f"utterance.max_utterance_seconds {self.max_utterance_seconds:g} must exceed "
                             f"utterance.min_speech_seconds {self.min_speech_seconds:g}")

    @classmethod
    def resolve(cls, spec: pb.UtteranceSpec) -> UtteranceOptions:
        """The API's UtteranceSpec with 0 as each field's default; AudioError names a field out of range."""
        return cls(**{name: getattr(spec, name) or default for name, (default, _, _) in RANGES.items()})


def wants_utterances(segmentation: int) -> bool:
    """True for SEGMENTATION_UTTERANCES, False for fixed windows (the default); AudioError otherwise."""
    if segmentation in (pb.SEGMENTATION_UNSPECIFIED, pb.SEGMENTATION_FIXED_WINDOWS):
        return False
    if segmentation == pb.SEGMENTATION_UTTERANCES:
        return True
    raise AudioError(f"unsupported segmentation {segmentation}; use SEGMENTATION_FIXED_WINDOWS or "
                     "SEGMENTATION_UTTERANCES")


@dataclass(frozen=True)
class Utterance:
    index: int
    start: int  # first sample of the first speech frame, in stream samples at the model's rate
    end: int  # one past the last sample of the last speech frame (or the cut)
    samples: np.ndarray
    cut: bool  # reached the maximum length; the speech goes on in the next utterance


class _Tape:
    """Recent samples addressed by absolute stream position, trimmed from the front."""

    def __init__(self) -> None:
        self._chunks: list[tuple[int, np.ndarray]] = []
        self.end = 0

    def append(self, samples: np.ndarray) -> None:
        if samples.size:
            self._chunks.append((self.end, samples))
            self.end += samples.size

    def slice(self, start: int, end: int) -> np.ndarray:
        parts = [c[max(start - s, 0):max(end - s, 0)] for s, c in self._chunks if s < end and s + c.size > start]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def trim(self, before: int) -> None:
        """Forget whole chunks that end at or before `before`."""
        while self._chunks and self._chunks[0][0] + self._chunks[0][1].size <= before:
            self._chunks.pop(0)


class Segmenter:
    """Samples at the model's rate in, each utterance out as soon as it has ended."""

    def __init__(self, options: UtteranceOptions, detector: SpeechDetector, rate: int, min_dbfs: float,
                 edge_top_db: float) -> None:
        self.options, self.detector, self.rate = options, detector, rate
        self.min_dbfs, self.edge_top_db = min_dbfs, edge_top_db
        self._frame = detector.frame_samples
        frame_seconds = self._frame / rate
        self._min_speech = max(1, round(options.min_speech_seconds / frame_seconds))
        self._closing = max(1, round(options.closing_silence_seconds / frame_seconds))
        self._max_samples = int(round(options.max_utterance_seconds * rate))
        self._vad = detector.new_vad()  # one per stream: it adapts to the stream's noise
        self._tape = _Tape()
        self._steady = max(2, round(STEADY_SECONDS / frame_seconds))
        self._recent: deque[float] = deque(maxlen=max(1, round(NOISE_FLOOR_SECONDS / frame_seconds)))
        self._next = 0  # stream position of the next frame to classify
        self.emitted = 0
        self._reset(None)

    def _reset(self, start: int | None, continued: bool = False) -> None:
        self._start = start  # first sample of the candidate or utterance; None while idle
        self._continued = continued  # starts where the previous utterance was cut
        self._levels: list[float] = []  # dBFS of every frame since _start
        self._speech = 0  # speech frames since _start
        self._silence = 0  # silent frames since the last speech frame
        self._last_speech = start or 0  # end of the last speech frame
        self._confirmed = False

    def push(self, samples: np.ndarray) -> list[Utterance]:
        """Add samples; return every utterance they end."""
        self._tape.append(np.asarray(samples, dtype=np.float32))
        whole = (self._tape.end - self._next) // self._frame
        if whole == 0:
            return []
        frames = self._tape.slice(self._next, self._next + whole * self._frame)
        levels = self.detector.frame_dbfs(frames)
        voiced = self.detector.voiced_stream(frames, self._vad) & (levels >= self.min_dbfs)
        out = []
        for flag, level in zip(voiced.tolist(), levels.tolist(), strict=True):
            self._recent.append(level)
            done = self._step(flag and self._above_noise(level), level, self._next)
            self._next += self._frame
            if done is not None:
                out.append(done)
        self._tape.trim(self._next if self._start is None else self._start)
        return out

    def finish(self) -> list[Utterance]:
        """End of audio: an utterance still open ends at its last speech frame."""
        done = self._close() if self._start is not None else None
        return [done] if done is not None else []

    def _noise_floor(self) -> float:
        return min(self._recent)

    def _above_noise(self, level: float) -> bool:
        """Clear of the noise floor, and the level moved by MIN_MODULATION_DB in the last STEADY_SECONDS."""
        recent = list(self._recent)[-self._steady:]
        return level >= self._noise_floor() + NOISE_MARGIN_DB and max(recent) - min(recent) >= MIN_MODULATION_DB

    def _step(self, speech: bool, level: float, frame_start: int) -> Utterance | None:
        frame_end = frame_start + self._frame
        if speech and self._start is None:
            self._reset(frame_start)
        if self._start is None:
            return None
        self._levels.append(level)
        if speech:
            self._speech += 1
            self._silence = 0
            self._last_speech = frame_end
            self._confirmed = self._confirmed or self._speech >= self._min_speech
        else:
            self._silence += 1
            if self._silence >= self._closing:
                return self._close()
        if frame_end - self._start >= self._max_samples:
            if self._confirmed:
                return self._cut(frame_end)
            self._reset(None)  # sparse speech frames never reaching min_speech: not an utterance
        return None

    def _close(self) -> Utterance | None:
        """End the utterance at its last speech frame; a candidate that never had enough speech is dropped."""
        done = None
        if self._confirmed:
            closing = self._levels[len(self._levels) - self._silence:]  # the silence that ended it
            done = self._emit(self._last_speech, cut=False, tail_db=float(np.median(closing)) if closing else None)
        self._reset(None)
        return done

    def _cut(self, at: int) -> Utterance | None:
        """Maximum length: emit up to `at`; the speech goes on as a new candidate starting there."""
        done = self._emit(at, cut=True)
        silence = self._silence
        self._reset(at, continued=done is not None)
        self._silence = silence
        return done

    def _emit(self, end: int, cut: bool, tail_db: float | None = None) -> Utterance | None:
        """The utterance from _start to end with its edges trimmed (not at a cut); None for steady noise.

        tail_db, the level of the closing silence, also bounds the end: noise that began before the
        speech ended is not speech."""
        levels = np.asarray(self._levels[:(end - self._start) // self._frame])
        if np.percentile(levels, 90) - np.percentile(levels, 10) < MIN_MODULATION_DB:
            return None
        floor = max(levels.max() - self.edge_top_db, self._noise_floor() + NOISE_MARGIN_DB)
        keep = np.flatnonzero(levels >= floor)
        ends = np.flatnonzero(levels >= max(floor, (tail_db if tail_db is not None else -np.inf) + NOISE_MARGIN_DB))
        if keep.size == 0 or ends.size == 0:
            return None
        start = self._start if self._continued else self._start + int(keep[0]) * self._frame
        if not cut:
            end = self._start + (int(ends[-1]) + 1) * self._frame
        samples = self._tape.slice(start, end)
        if periodic_fraction(samples, self.rate, PERIODIC_THRESHOLD) < MIN_PERIODIC_FRACTION:
            return None  # no voice in it: noise
        utterance = Utterance(self.emitted, start, end, samples, cut)
        self.emitted += 1
        return utterance


def utterance_windows(samples: np.ndarray, window: int, hop: int) -> list[tuple[np.ndarray, int]]:
    """(window samples, real samples) covering an utterance: at the hop, the last one ending at its end."""
    n = samples.size
    if n <= window:
        padded = np.zeros(window, np.float32)
        padded[:n] = samples
        return [(padded, n)]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    return [(samples[s:s + window], window) for s in starts]

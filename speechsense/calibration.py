"""Speaker calibration's rules, in one place for the server that applies them and the training that measures them.

A calibrated model (speechsense.modelmeta's file contract) outputs its standardised head input z for every
window and takes a baseline b: zeros read the voice as the training speakers' average, a speaker's b reads
z - b with a head trained that way. A baseline is a profile (the mean z of an enrolment's speech windows) or,
in session mode, the session's own earlier windows: after n of them, min(n / (n + prior), cap) times their
mean. The prior starts the session uncalibrated; the cap keeps a long session of one mood from being read as
that speaker's neutral. training/linear/calibration_eval.py measures rules with session_baselines; the server's
Calibrator applies one with SessionMean, window by window; tests/training/test_calibration_rule.py ties them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from speechsense.modelmeta import PROFILE_VERSIONS_KEY, SESSION_RULE_KEY

# Standardised head-input means of real speech stay within a few units; far beyond is not a baseline.
MAX_BASELINE_MAGNITUDE = 50.0


class ProfileError(ValueError):
    """A SpeakerProfile or calibration request that is malformed (INVALID_ARGUMENT)."""


class CalibrationUnavailable(Exception):
    """Calibration the model cannot give: no support, or a profile of another model (FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class SessionRule:
    """Session mode: shrinkage prior (in speech windows) and cap on the baseline's weight."""

    prior_windows: float = 40.0
    max_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.prior_windows < 1 or not 0 < self.max_weight <= 1:
            raise ValueError("session calibration needs prior_windows >= 1 and max_weight in (0, 1]")

    @property
    def name(self) -> str:
        """The rule's name in calibration tables and metadata, e.g. prior40-cap0.1."""
        return f"prior{self.prior_windows:g}-cap{self.max_weight:g}"

    def weight(self, n: int) -> float:
        """The baseline's weight after n speech windows."""
        return min(n / (n + self.prior_windows), self.max_weight)

    def weights(self, n: np.ndarray) -> np.ndarray:
        """weight() of each count in n, for whole simulated sessions at once."""
        return np.minimum(n / (n + self.prior_windows), self.max_weight)


def session_rule(calibration: dict) -> SessionRule | None:
    """The measured rule in a model's `calibration` metadata, None where session mode is not offered."""
    rule = calibration.get(SESSION_RULE_KEY)
    return SessionRule(float(rule["prior_windows"]), float(rule["max_weight"])) if rule else None


def session_baselines(z: np.ndarray, rule: SessionRule) -> np.ndarray:
    """The baseline of each window of one session (rows of z in stream order), from the windows before it."""
    n = np.arange(len(z), dtype=np.float64)
    before = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)[:-1]])
    mean = before / np.maximum(n, 1)[:, None]
    return mean * rule.weights(n)[:, None]


class SessionMean:
    """session_baselines one window at a time, as a live stream needs it."""

    def __init__(self, size: int, rule: SessionRule) -> None:
        self.rule = rule
        self._sum = np.zeros(size, np.float64)
        self._n = 0

    def baseline(self) -> np.ndarray | None:
        """The next window's baseline; None before the first window (the uncalibrated reading)."""
        if not self._n:
            return None
        return (self._sum * (self.rule.weight(self._n) / self._n)).astype(np.float32)

    def observe(self, head_input: np.ndarray) -> None:
        self._sum += head_input
        self._n += 1


def profile_baseline(head_inputs: list[np.ndarray]) -> np.ndarray:
    """A profile's baseline: the mean head input of an enrolment's speech windows."""
    return np.mean(np.stack(head_inputs), axis=0).astype(np.float32)


def accepted_versions(model_version: str, calibration: dict) -> set[str]:
    """Model versions whose profiles a file reads: its own, and those a re-export of the same head inputs
    (a waveform file of the same weights) lists in its metadata."""
    return {model_version, *calibration.get(PROFILE_VERSIONS_KEY, [])}


def check_baseline(values: np.ndarray, size: int, speech_seconds: float, window_count: int) -> np.ndarray:
    """A profile's baseline as float32 after every check on its numbers; ProfileError when one fails (a
    profile is untrusted input)."""
    values = np.asarray(values, dtype=np.float32)
    if values.size != size:
        raise ProfileError(f"profile baseline has {values.size} values, the model needs {size}")
    if not np.all(np.isfinite(values)):
        raise ProfileError("profile baseline holds NaN or infinite values")
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak > MAX_BASELINE_MAGNITUDE:
        raise ProfileError(f"profile baseline values reach {peak:.3g}, beyond the plausible "
                           f"{MAX_BASELINE_MAGNITUDE:g}: not a profile of this model")
    if not math.isfinite(speech_seconds) or speech_seconds < 0 or window_count < 0:
        raise ProfileError("profile speech_seconds and window_count must be finite and >= 0")
    if not values.any():
        raise ProfileError("profile baseline is all zeros: not a profile of this model")
    return values


def check_enrolment(speech_seconds: float, min_seconds: float, windows: int) -> None:
    """ProfileError when an enrolment holds too little speech for a profile."""
    if speech_seconds + 1e-6 < min_seconds or not windows:
        raise ProfileError(f"the enrolment holds {speech_seconds:.1f} s of speech; a profile needs "
                           f"{min_seconds:g} s: send {max(min_seconds - speech_seconds, 0.1):.1f} s more of "
                           "the speaker's ordinary voice")

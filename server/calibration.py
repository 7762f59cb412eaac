"""Speaker calibration: reading a voice against a baseline of the model's head input.

A calibrated model (export/calibrated.py) outputs its standardised head input z for every window and
takes a baseline b: with b = 0 it reads the voice as its training speakers' average, with a speaker's
b it reads z - b with a head trained that way. A baseline comes from a SpeakerProfile (the client's
enrolment, kept by the client) or, in session mode, from the session's own speech windows.

Session mode's rule, measured by benchmarks/calibration_eval.py: the baseline after n speech windows
is min(n / (n + prior), cap) times their mean. The prior starts it at none (the uncalibrated reading)
and the cap keeps a long session of one mood from being read as that speaker's neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from speechsense.server.engine import Baseline
from speechsense.v1 import emotion_pb2 as pb

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

    def weight(self, n: int) -> float:
        return min(n / (n + self.prior_windows), self.max_weight)


class Calibrator:
    """One stream's or clip's calibration: the baseline to score the next window with, and what it learns."""

    def __init__(self, mode: int, size: int, baseline: np.ndarray | None = None,
                 rule: SessionRule | None = None) -> None:
        self.mode, self.size, self.rule = mode, size, rule or SessionRule()
        self._fixed = baseline
        self._sum = np.zeros(size, np.float64) if mode == pb.CALIBRATION_SESSION else None
        self._n = 0

    @property
    def active(self) -> bool:
        return self.mode in (pb.CALIBRATION_PROFILE, pb.CALIBRATION_SESSION)

    @property
    def adapts(self) -> bool:
        """Session mode: each window's baseline depends on the windows before it."""
        return self.mode == pb.CALIBRATION_SESSION

    def baseline(self) -> Baseline | None:
        """The baseline for the next window, None for an uncalibrated reading."""
        if self.mode == pb.CALIBRATION_PROFILE:
            return Baseline(self._fixed, profile_head=True)
        if self.mode == pb.CALIBRATION_SESSION and self._n:
            return Baseline((self._sum * (self.rule.weight(self._n) / self._n)).astype(np.float32), False)
        return None

    def observe(self, head_input: np.ndarray) -> None:
        """Session mode: a speech window's head input joins the running mean."""
        if self._sum is not None:
            self._sum += head_input
            self._n += 1


def session_rule(meta) -> SessionRule | None:
    """The model's measured session rule (its metadata), None where session mode is not offered."""
    rule = meta.calibration.get("session")
    return SessionRule(float(rule["prior_windows"]), float(rule["max_weight"])) if rule else None


def resolve(mode: int, profile: pb.SpeakerProfile | None, model) -> Calibrator:
    """The Calibrator a request asks for; ProfileError or CalibrationUnavailable when it cannot have it."""
    known = (pb.CALIBRATION_UNSPECIFIED, pb.CALIBRATION_NONE, pb.CALIBRATION_PROFILE, pb.CALIBRATION_SESSION)
    if mode not in known:
        raise ProfileError(f"unknown calibration {mode}")
    if mode == pb.CALIBRATION_UNSPECIFIED:
        mode = pb.CALIBRATION_PROFILE if profile is not None else pb.CALIBRATION_NONE
    if mode == pb.CALIBRATION_NONE:
        if profile is not None:
            raise ProfileError("a profile was sent with CALIBRATION_NONE; drop one or the other")
        return Calibrator(mode, model.calibration_size)
    meta = model.meta
    if not model.calibration_size:
        raise CalibrationUnavailable(f"model {meta.model_name} {meta.model_version} does not support calibration "
                                     "(GetModelInfo.supports_calibration is false)")
    if mode == pb.CALIBRATION_SESSION:
        if profile is not None:
            raise ProfileError("CALIBRATION_SESSION builds its own baseline; do not send a profile with it")
        rule = session_rule(meta)
        if rule is None:
            raise CalibrationUnavailable(f"model {meta.model_name} {meta.model_version} offers no session "
                                         "calibration (no measured rule is safe for it); use a profile")
        return Calibrator(mode, model.calibration_size, rule=rule)
    if profile is None:
        raise ProfileError("CALIBRATION_PROFILE needs a profile (CreateSpeakerProfile makes one)")
    return Calibrator(mode, model.calibration_size, check_profile(profile, model))


def check_profile(profile: pb.SpeakerProfile, model) -> np.ndarray:
    """A profile's baseline as float32 after every check; it is untrusted input."""
    meta = model.meta
    # A re-export that computes the same head inputs (a waveform file of the same weights) lists the versions
    # whose profiles it reads in its metadata.
    versions = {meta.model_version, *meta.calibration.get("profile_versions", [])}
    if profile.model_name != meta.model_name or profile.model_version not in versions:
        raise CalibrationUnavailable(
            f"the profile was made for model {profile.model_name!r} {profile.model_version!r}, the server runs "
            f"{meta.model_name!r} {meta.model_version!r}: enrol again with CreateSpeakerProfile")
    values = np.asarray(profile.baseline, dtype=np.float32)
    if values.size != model.calibration_size:
        raise ProfileError(f"profile baseline has {values.size} values, the model needs {model.calibration_size}")
    if not np.all(np.isfinite(values)):
        raise ProfileError("profile baseline holds NaN or infinite values")
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak > MAX_BASELINE_MAGNITUDE:
        raise ProfileError(f"profile baseline values reach {peak:.3g}, beyond the plausible "
                           f"{MAX_BASELINE_MAGNITUDE:g}: not a profile of this model")
    if not math.isfinite(profile.speech_seconds) or profile.speech_seconds < 0 or profile.window_count < 0:
        raise ProfileError("profile speech_seconds and window_count must be finite and >= 0")
    if not values.any():
        raise ProfileError("profile baseline is all zeros: not a profile of this model")
    return values


def make_profile(head_inputs: list[np.ndarray], speech_seconds: float, min_seconds: float,
                 model) -> pb.SpeakerProfile:
    """A profile from an enrolment's speech windows; ProfileError when there is too little speech."""
    if speech_seconds + 1e-6 < min_seconds or not head_inputs:
        raise ProfileError(f"the enrolment holds {speech_seconds:.1f} s of speech; a profile needs "
                           f"{min_seconds:g} s: send {max(min_seconds - speech_seconds, 0.1):.1f} s more of "
                           "the speaker's ordinary voice")
    baseline = np.mean(np.stack(head_inputs), axis=0).astype(np.float32)
    meta = model.meta
    return pb.SpeakerProfile(model_name=meta.model_name, model_version=meta.model_version,
                             baseline=baseline.tolist(), speech_seconds=round(speech_seconds, 3),
                             window_count=len(head_inputs))

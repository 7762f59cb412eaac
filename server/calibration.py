"""Speaker calibration in the server: the Calibrator a request asks for, on speechsense.calibration's rules.

A calibrated model (training/linear/graph.py) outputs its standardised head input for every window and takes a
baseline; the rule for making one (a profile's mean, or session mode's shrunk mean of the windows so far,
as benchmarks/calibration_eval.py measured it) lives in speechsense/calibration.py, shared with training.
This module maps the API's calibration modes and SpeakerProfile messages onto it.
"""

from __future__ import annotations

import numpy as np

from speechsense.calibration import (
    MAX_BASELINE_MAGNITUDE,
    CalibrationUnavailable,
    ProfileError,
    SessionMean,
    SessionRule,
    accepted_versions,
    check_baseline,
    check_enrolment,
    profile_baseline,
)
from speechsense.calibration import session_rule as rule_of
from speechsense.server.engine import Baseline
from speechsense.v1 import emotion_pb2 as pb

__all__ = ["MAX_BASELINE_MAGNITUDE", "CalibrationUnavailable", "Calibrator", "ProfileError", "SessionRule",
           "check_profile", "make_profile", "resolve", "session_rule"]


class Calibrator:
    """One stream's or clip's calibration: the baseline to score the next window with, and what it learns."""

    def __init__(self, mode: int, size: int, baseline: np.ndarray | None = None,
                 rule: SessionRule | None = None) -> None:
        self.mode, self.size, self.rule = mode, size, rule or SessionRule()
        self._fixed = baseline
        self._session = SessionMean(size, self.rule) if mode == pb.CALIBRATION_SESSION else None

    @property
    def adapts(self) -> bool:
        """Session mode: each window's baseline depends on the windows before it."""
        return self.mode == pb.CALIBRATION_SESSION

    def baseline(self) -> Baseline | None:
        """The baseline for the next window, None for an uncalibrated reading."""
        if self.mode == pb.CALIBRATION_PROFILE:
            return Baseline(self._fixed, profile_head=True)
        if self._session is not None:
            values = self._session.baseline()
            return None if values is None else Baseline(values, False)
        return None

    def observe(self, head_input: np.ndarray) -> None:
        """Session mode: a speech window's head input joins the running mean."""
        if self._session is not None:
            self._session.observe(head_input)


def session_rule(meta) -> SessionRule | None:
    """The model's measured session rule (its metadata), None where session mode is not offered."""
    return rule_of(meta.calibration)


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
    if (profile.model_name != meta.model_name
            or profile.model_version not in accepted_versions(meta.model_version, meta.calibration)):
        raise CalibrationUnavailable(
            f"the profile was made for model {profile.model_name!r} {profile.model_version!r}, the server runs "
            f"{meta.model_name!r} {meta.model_version!r}: enrol again with CreateSpeakerProfile")
    return check_baseline(profile.baseline, model.calibration_size, profile.speech_seconds, profile.window_count)


def make_profile(head_inputs: list[np.ndarray], speech_seconds: float, min_seconds: float,
                 model) -> pb.SpeakerProfile:
    """A profile from an enrolment's speech windows; ProfileError when there is too little speech."""
    check_enrolment(speech_seconds, min_seconds, len(head_inputs))
    meta = model.meta
    return pb.SpeakerProfile(model_name=meta.model_name, model_version=meta.model_version,
                             baseline=profile_baseline(head_inputs).tolist(), speech_seconds=round(speech_seconds, 3),
                             window_count=len(head_inputs))

"""Speaker profiles on the client: enrolment (`speechsense-client enrol`), the profile file, calibration choice.

The server keeps nothing: the profile is a file the client writes once (the SpeakerProfile message in
protobuf's JSON mapping, so any language reads it) and sends with every later stream or clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from google.protobuf import json_format

from speechsense.client.options import ClientError
from speechsense.v1 import emotion_pb2 as pb

CALIBRATIONS = {"none": pb.CALIBRATION_NONE, "profile": pb.CALIBRATION_PROFILE, "session": pb.CALIBRATION_SESSION}
NAMES = {v: k for k, v in CALIBRATIONS.items()}


def write_profile(profile: pb.SpeakerProfile, path: Path) -> None:
    """The profile as JSON (protobuf's mapping), written atomically."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ClientError(f"cannot write the profile to {path}: folder {path.parent} does not exist")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json_format.MessageToJson(profile, indent=1))
    tmp.replace(path)


def read_profile(path: Path) -> pb.SpeakerProfile:
    """A profile file back; ClientError naming the file when it is missing or not a profile."""
    path = Path(path)
    try:
        return json_format.Parse(path.read_text(), pb.SpeakerProfile())
    except FileNotFoundError:
        raise ClientError(f"profile file {path} does not exist (make one with `speechsense-client enrol`)") from None
    except (json_format.ParseError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClientError(f"{path} is not a SpeechSense profile: {exc}") from None


def calibration_of(calibrate: str, profile: pb.SpeakerProfile | None) -> int:
    """The Calibration enum for --calibrate (empty: profile when --profile is given, else none)."""
    if not calibrate:
        return pb.CALIBRATION_PROFILE if profile is not None else pb.CALIBRATION_NONE
    return CALIBRATIONS[calibrate]


def enrol(stub, samples: np.ndarray, rate: int, metadata, timeout: float | None) -> pb.SpeakerProfile:
    """CreateSpeakerProfile on float32 mono samples, sent as LINEAR16."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    request = pb.CreateSpeakerProfileRequest(raw=pb.RawAudio(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=rate, channels=1), data=pcm))
    return stub.CreateSpeakerProfile(request, metadata=metadata, timeout=timeout).profile

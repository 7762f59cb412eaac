"""The client's settings in one typed object, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from speechsense.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

DEFAULT_SERVER = "localhost:50051"
SERVER_ENV = "SPEECHSENSE_SERVER"
TOKEN_ENV = "SPEECHSENSE_TOKEN"


class ClientError(RuntimeError):
    """A failure the client reports to the user as one line, without a traceback."""


class OptionsError(ClientError, ValueError):
    """Settings that cannot work together or are out of range."""


@dataclass(frozen=True)
class ClientOptions:
    """Everything one client run needs; filled from flags and environment by main() only."""

    server: str = DEFAULT_SERVER
    tls: bool = False
    ca_cert: Path | None = None
    token: str | None = None
    deadline: float | None = None  # seconds for the whole session, reconnects included
    retries: int = 5  # reconnect attempts after UNAVAILABLE before giving up
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    file: Path | None = None  # None: capture from the microphone
    fast: bool = False  # send a file as fast as the server takes it
    device: int | None = None
    list_devices: bool = False
    rate: int = 16_000  # microphone capture rate; files are always sent at 16 kHz
    chunk_seconds: float = 0.1
    window_seconds: float = 0.0  # 0: the model's window
    hop_seconds: float = 0.0  # 0: the API default (1 s, or the window if shorter)
    utterances: bool = False  # one result per spoken utterance instead of per window
    min_speech_seconds: float = 0.0  # utterance thresholds; 0: the server's defaults
    closing_silence_seconds: float = 0.0
    max_utterance_seconds: float = 0.0
    duration: float | None = None  # stop after this many seconds of audio
    json: bool = False
    plot: Path | None = None
    session_tag: str = ""
    lag_warning_seconds: float = 2.0
    profile: Path | None = None  # a speaker profile file (speechsense-client enrol) to calibrate with
    calibrate: str = ""  # none | profile | session; empty: profile when a profile is given, else none

    def __post_init__(self) -> None:
        self._check_connection()
        self._check_audio()

    def _check_connection(self) -> None:
        host, sep, port = self.server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise OptionsError(f"--server must be host:port, got {self.server!r}")
        if self.ca_cert is not None and not self.tls:
            raise OptionsError("--ca-cert needs --tls")
        if self.ca_cert is not None and not self.ca_cert.is_file():
            raise OptionsError(f"CA certificate {self.ca_cert} does not exist")
        if self.deadline is not None and self.deadline <= 0:
            raise OptionsError(f"--deadline must be positive, got {self.deadline}")
        if self.retries < 0:
            raise OptionsError(f"--retries must be 0 or more, got {self.retries}")
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise OptionsError("backoff needs 0 < initial <= max")

    def _check_audio(self) -> None:
        if not MIN_SAMPLE_RATE <= self.rate <= MAX_SAMPLE_RATE:
            raise OptionsError(f"--rate must be {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {self.rate}")
        if not 0.01 <= self.chunk_seconds <= 1.0:
            raise OptionsError(f"chunk length must be 0.01..1 s, got {self.chunk_seconds}")
        if self.window_seconds < 0 or self.hop_seconds < 0:
            raise OptionsError("--window and --hop must not be negative")
        if self.window_seconds and self.hop_seconds > self.window_seconds:
            raise OptionsError(f"--hop {self.hop_seconds} exceeds --window {self.window_seconds}")
        thresholds = (self.min_speech_seconds, self.closing_silence_seconds, self.max_utterance_seconds)
        if any(t < 0 for t in thresholds):
            raise OptionsError("--min-speech, --closing-silence and --max-utterance must not be negative")
        if any(thresholds) and not self.utterances:
            raise OptionsError("--min-speech, --closing-silence and --max-utterance need --utterances")
        if self.duration is not None and self.duration <= 0:
            raise OptionsError(f"--duration must be positive, got {self.duration}")
        if self.file is not None and self.device is not None:
            raise OptionsError("--device selects a microphone; it cannot be used with --file")
        if self.fast and self.file is None:
            raise OptionsError("--fast only applies to --file")
        if len(self.session_tag) > 128:
            raise OptionsError("--tag must be at most 128 characters")
        if self.plot is not None:  # checked now: the plot is written only after the whole session
            if self.plot.is_dir():
                raise OptionsError(f"--plot {self.plot} is a folder; give a file name such as session.png")
            if not self.plot.parent.is_dir():
                raise OptionsError(f"--plot folder {self.plot.parent} does not exist")
        self._check_calibration()

    def _check_calibration(self) -> None:
        if self.calibrate not in ("", "none", "profile", "session"):
            raise OptionsError(f"--calibrate must be none, profile or session, got {self.calibrate!r}")
        if self.calibrate == "profile" and self.profile is None:
            raise OptionsError("--calibrate profile needs --profile FILE (make one with `speechsense-client enrol`)")
        if self.profile is not None and self.calibrate in ("none", "session"):
            raise OptionsError(f"--profile cannot be used with --calibrate {self.calibrate}")
        if self.profile is not None and not self.profile.is_file():
            raise OptionsError(f"profile file {self.profile} does not exist (make one with `speechsense-client "
                               "enrol`)")


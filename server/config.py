"""Server options: one typed dataclass, validated on construction, filled in main() only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class OptionsError(ValueError):
    """An option value is out of range."""


@dataclass(frozen=True)
class EngineOptions:
    """Inference and feature extraction."""

    # ONNX Runtime threads per inference call; 0 = auto (engine.py: chosen at warm-up from the model's
    # inference cost per window against the features'). For the hybrid 1 measured best on 2 cores with
    # the batched front-end (throughput.py, while other work ran: 85 and 91 windows/s against 76 with 2
    # threads), as inference already overlaps the feature thread; an encoder model, inference-bound,
    # gains from every core (benchmarks/capacity.py).
    intra_op_threads: int = 0
    # Whether ONNX Runtime's intra-op threads spin while waiting for work. Off: with 2 threads, spinning
    # cost the waveform hybrid 15.9 against 12.5 ms of CPU a window at batch 32 for no faster a call
    # (python benchmarks/frontend_graph_speed.py), cores the server's other threads need.
    intra_op_spinning: bool = False
    inter_op_threads: int = 1
    graph_optimization: str = "all"  # disable | basic | extended | all
    max_batch: int = 32  # windows per inference call
    max_wait_ms: float = 0.0  # extra wait for a feature batch to fill; 0: batches form while a stage is busy
    # Threads for per-window work (VAD, trim, noise reduction) and clip decoding; features and inference
    # have one thread each beside these. 1, 2 and 3 measured alike (87, 85-91, 87 windows/s): 2 keeps
    # clip decoding and VAD on both cores.
    feature_workers: int = 2
    # Feature batches computed at once, a thread each (numpy's FFT and matmuls release the GIL). On the
    # hybrid, flat-out AnalyzeClip measured 119 and 152 windows/s with 1, 149 and 137 with 2 (alternating
    # runs, one session): no clear gain, so 1.
    feature_threads: int = 1
    # Inference calls run at once, a thread each; 0 = auto: one per core for a waveform model (its only
    # stage: one call of 2 intra-op threads held 55 streams of the waveform hybrid against 75, benchmarks/
    # capacity.py --server-args "--inference-threads 1 --intra-op-threads 2"), 1 for a feature-input model.
    inference_threads: int = 0
    speech_threshold: float = 0.1  # fraction of 30 ms frames that must be speech (see vad.py)
    vad_aggressiveness: int = 1  # webrtcvad mode 0..3
    # The speech gate (vad.py): "adaptive" judges frames against the window's (or stream's) own noise
    # floor and level; "absolute" is the old fixed loudness floor (min_speech_dbfs -50 was its setting).
    gate: str = "adaptive"
    min_speech_dbfs: float = -85.0  # frames quieter than this are never speech (adaptive: near-silence)
    gate_margin_db: float = 6.0  # adaptive: a speech frame stands this far above the noise floor
    gate_periodic_frames: int = 3  # adaptive: speech frames with a pitch a window needs (0: no pitch check)
    gate_periodicity: float = 0.6  # adaptive: normalised autocorrelation that counts as a pitch
    utterance_min_dbfs: float = -70.0  # utterance mode: 30 ms frames quieter than this are silence
    noise_reduction: bool = False  # spectral gating (noisereduce) on each window

    def __post_init__(self) -> None:
        if self.graph_optimization not in ("disable", "basic", "extended", "all"):
            raise OptionsError(f"graph optimization must be disable|basic|extended|all, "
                               f"got {self.graph_optimization!r}")
        if self.intra_op_threads < 0:
            raise OptionsError("intra_op_threads must be >= 0 (0: auto)")
        if self.inference_threads < 0:
            raise OptionsError("inference_threads must be >= 0 (0: auto)")
        for name in ("inter_op_threads", "max_batch", "feature_workers", "feature_threads"):
            if getattr(self, name) < 1:
                raise OptionsError(f"{name} must be >= 1")
        if not 0 <= self.max_wait_ms <= 1000:
            raise OptionsError("max_wait_ms must be in 0..1000")
        if not 0 <= self.speech_threshold <= 1:
            raise OptionsError("speech_threshold must be in 0..1")
        if not -100 <= self.utterance_min_dbfs <= 0:
            raise OptionsError("utterance_min_dbfs must be in -100..0")
        if self.vad_aggressiveness not in (0, 1, 2, 3):
            raise OptionsError("vad_aggressiveness must be 0..3")
        if self.gate not in ("adaptive", "absolute"):
            raise OptionsError(f"gate must be adaptive|absolute, got {self.gate!r}")
        if not -120 <= self.min_speech_dbfs <= 0:
            raise OptionsError("min_speech_dbfs must be in -120..0")
        if not 0 <= self.gate_margin_db <= 60:
            raise OptionsError("gate_margin_db must be in 0..60")
        if not 0 <= self.gate_periodic_frames <= 100:
            raise OptionsError("gate_periodic_frames must be in 0..100")
        if not 0 < self.gate_periodicity <= 1:
            raise OptionsError("gate_periodicity must be in (0, 1]")


@dataclass(frozen=True)
class WebOptions:
    """The browser front end (server/web.py): WebSocket streams, HTTP JSON calls and the page, on its own port."""

    port: int | None = None  # None: off; 0 picks a free port
    # Origins allowed besides the page's own (scheme://host[:port]); "*" allows any. Requests without an Origin
    # header (not from a browser) are not subject to it.
    origins: tuple[str, ...] = ()
    # Largest WebSocket message; 100 ms of 16 kHz LINEAR16 is 3.2 kB. A message over it gets RESOURCE_EXHAUSTED;
    # one over twice it is cut off unread by the socket reader (close code 1009).
    max_frame_bytes: int = 1024 * 1024
    config_timeout_seconds: float = 10.0  # a socket must send its config (and token) within this
    body_timeout_seconds: float = 30.0  # an HTTP request must send its whole body within this
    heartbeat_seconds: float = 20.0  # ping interval; a peer that stops answering is dropped as vanished

    def __post_init__(self) -> None:
        if self.port is not None and not 0 <= self.port <= 65535:
            raise OptionsError("web port must be in 0..65535")
        if self.max_frame_bytes < 1024:
            raise OptionsError("web max_frame_bytes must be >= 1024")
        if min(self.config_timeout_seconds, self.heartbeat_seconds, self.body_timeout_seconds) <= 0:
            raise OptionsError("web timeouts must be positive")
        for origin in self.origins:
            if origin != "*" and "://" not in origin:
                raise OptionsError(f"web origin {origin!r} must be scheme://host[:port] or *")


@dataclass(frozen=True)
class ServerOptions:
    """Everything the server needs; main() fills it from flags and SPEECHSENSE_* variables."""

    model_path: Path
    host: str = "[::]"
    port: int = 50051
    metrics_port: int = 0  # 0 disables the Prometheus endpoint
    max_streams: int = 256  # concurrent StreamEmotions calls
    max_message_bytes: int = 16 * 1024 * 1024  # largest request message (a 5-minute 16 kHz clip is 9.6 MB)
    max_stream_seconds: float = 3600.0  # audio per stream
    max_clip_seconds: float = 300.0  # audio per AnalyzeClip
    pending_windows: int = 8  # windows in flight per stream before reading pauses
    # A stream (or socket) that sends no message for this long is ended with DEADLINE_EXCEEDED (after its summary,
    # if windows were scored); a stream whose client reads no result for this long is ended as a slow reader.
    idle_seconds: float = 30.0
    max_streams_per_peer: int = 0  # concurrent streams and sockets per client address; 0: only max_streams
    grace_seconds: float = 10.0  # shutdown: time open streams get to finish
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key turns TLS on
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # require client certificates signed by this CA (mutual TLS)
    tokens: tuple[str, ...] = ()  # bearer tokens; empty means no token is required
    # Speech an enrolment (CreateSpeakerProfile) must hold; benchmarks/calibration_eval.py measures how the
    # profile's gain grows with its length.
    min_profile_seconds: float = 6.0
    engine: EngineOptions = field(default_factory=EngineOptions)
    web: WebOptions = field(default_factory=WebOptions)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535 or not 0 <= self.metrics_port <= 65535:
            raise OptionsError("ports must be in 0..65535")
        if self.max_streams < 1 or self.pending_windows < 1:
            raise OptionsError("max_streams and pending_windows must be >= 1")
        if self.max_streams_per_peer < 0:
            raise OptionsError("max_streams_per_peer must be >= 0 (0: no limit per peer)")
        if not 0 < self.idle_seconds <= 86400:
            raise OptionsError("idle_seconds must be in (0, 86400]")
        if self.max_message_bytes < 1024:
            raise OptionsError("max_message_bytes must be >= 1024")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise OptionsError("TLS needs both a certificate and a key")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise OptionsError("mutual TLS (a client CA) needs the server's own certificate and key")
        if not 1 <= self.min_profile_seconds <= 120:
            raise OptionsError("min_profile_seconds must be in 1..120")
        if self.max_stream_seconds <= 0 or self.max_clip_seconds <= 0 or self.grace_seconds < 0:
            raise OptionsError("durations must be positive")

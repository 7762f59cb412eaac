"""`speechsense-server`: flags and SPEECHSENSE_* environment variables to ServerOptions, then serve."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

from speechsense.server.auth import read_tokens
from speechsense.server.config import EngineOptions, OptionsError, ServerOptions, WebOptions
from speechsense.server.model import ModelLoadError

# (flag, options field, type, help); every flag also reads SPEECHSENSE_<FLAG> from the environment.
SERVER_FLAGS = [
    ("host", "host", str, "address to listen on"),
    ("port", "port", int, "gRPC port (0 picks a free one)"),
    ("metrics-port", "metrics_port", int, "Prometheus /metrics HTTP port; 0 turns it off"),
    ("max-streams", "max_streams", int, "concurrent StreamEmotions calls before RESOURCE_EXHAUSTED"),
    ("max-message-bytes", "max_message_bytes", int, "largest request message accepted"),
    ("max-stream-seconds", "max_stream_seconds", float, "audio seconds allowed per stream"),
    ("max-clip-seconds", "max_clip_seconds", float, "audio seconds allowed per AnalyzeClip"),
    ("pending-windows", "pending_windows", int, "windows in flight per stream before reading pauses"),
    ("idle-seconds", "idle_seconds", float, "a stream or socket that sends nothing (or reads no result) this long "
     "is ended: DEADLINE_EXCEEDED, close code 4004"),
    ("max-streams-per-peer", "max_streams_per_peer", int,
     "concurrent streams and sockets one client address may hold (0: no limit besides --max-streams)"),
    ("grace-seconds", "grace_seconds", float, "on SIGTERM/SIGINT, time open streams get to finish"),
    ("min-profile-seconds", "min_profile_seconds", float, "speech a CreateSpeakerProfile enrolment must hold"),
]
ENGINE_FLAGS = [
    ("intra-op-threads", "intra_op_threads", int, "ONNX Runtime intra-op threads (0: auto, by a warm-up timing)"),
    ("inter-op-threads", "inter_op_threads", int, "ONNX Runtime inter-op threads"),
    ("graph-optimization", "graph_optimization", str, "ONNX Runtime graph optimisation: disable|basic|extended|all"),
    ("max-batch", "max_batch", int, "most windows per inference call"),
    ("max-wait-ms", "max_wait_ms", float, "how long a feature batch waits for more windows"),
    ("feature-workers", "feature_workers", int,
     "threads for per-window VAD, trim and noise reduction (features and inference have their own)"),
    ("feature-threads", "feature_threads", int, "feature batches computed at once, one thread each"),
    ("inference-threads", "inference_threads", int,
     "inference calls run at once, one thread each (0: auto, one per core for a waveform model, else 1)"),
    ("speech-threshold", "speech_threshold", float, "fraction of voiced 30 ms frames that makes a window speech"),
    ("vad-aggressiveness", "vad_aggressiveness", int, "webrtcvad mode, 0 (least) to 3 (most aggressive)"),
    ("gate", "gate", str, "speech gate: adaptive (to the input's own noise floor and level) or absolute (a fixed "
     "loudness floor, --min-speech-dbfs -50)"),
    ("min-speech-dbfs", "min_speech_dbfs", float, "frames quieter than this (dBFS) never count as speech"),
    ("gate-margin-db", "gate_margin_db", float, "adaptive gate: dB a speech frame stands above the noise floor"),
    ("gate-periodic-frames", "gate_periodic_frames", int,
     "adaptive gate: voiced frames with a pitch a window needs to be speech (0: no pitch check)"),
    ("gate-periodicity", "gate_periodicity", float,
     "adaptive gate: normalised autocorrelation (0..1] that counts as a pitch"),
    ("utterance-min-dbfs", "utterance_min_dbfs", float,
     "utterance mode: 30 ms frames quieter than this (dBFS) never count as speech"),
]


WEB_FLAGS = [
    ("web-port", "port", int, "browser front end (page, WebSocket /v1/stream, HTTP JSON /v1/*) port; 0 turns it off"),
    ("web-origins", "origins", str, "comma-separated origins allowed besides the page's own (* allows any)"),
    ("web-max-frame-bytes", "max_frame_bytes", int, "largest WebSocket message accepted"),
    ("web-config-timeout", "config_timeout_seconds", float, "seconds a new socket has to send its config"),
    ("web-body-timeout", "body_timeout_seconds", float, "seconds an HTTP request has to send its whole body"),
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def env_name(flag: str) -> str:
    return "SPEECHSENSE_" + flag.upper().replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    server_defaults = {f.name: f.default for f in fields(ServerOptions)}
    engine_defaults = {f.name: f.default for f in fields(EngineOptions)}
    p = argparse.ArgumentParser(
        prog="speechsense-server",
        description="SpeechSense gRPC server: streaming speech emotion recognition on an ONNX model. "
                    "Every flag can also be set by the environment variable shown; bearer tokens can also come "
                    "comma-separated in SPEECHSENSE_TOKENS.",
        formatter_class=HelpFormatter)
    p.add_argument("--model", default=os.environ.get("SPEECHSENSE_MODEL"),
                   help="ONNX model exported by speechsense-export, or a bundled one by family: 'hybrid' (CNN + "
                        "attention-LSTM, fast) or 'encoder' (Whisper encoder + head, better on new voices) "
                        "[SPEECHSENSE_MODEL]; default: the bundled default model")
    for group, table, defaults in (("server", SERVER_FLAGS, server_defaults),
                                   ("engine", ENGINE_FLAGS, engine_defaults)):
        g = p.add_argument_group(group)
        for flag, field, kind, text in table:
            env = env_name(flag)
            g.add_argument(f"--{flag}", dest=field, type=kind, default=kind(os.environ.get(env, defaults[field])),
                           help=f"{text} [{env}]")
    p.add_argument("--intra-op-spinning", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("SPEECHSENSE_INTRA_OP_SPINNING", "0") in ("1", "true", "yes"),
                   help="let ONNX Runtime's intra-op threads spin between operators (more CPU for each "
                        "window, taken from the server's other threads) [SPEECHSENSE_INTRA_OP_SPINNING]")
    p.add_argument("--noise-reduction", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("SPEECHSENSE_NOISE_REDUCTION", "0") in ("1", "true", "yes"),
                   help="spectral-gating noise reduction on each window [SPEECHSENSE_NOISE_REDUCTION]")
    web_defaults = {f.name: f.default for f in fields(WebOptions)} | {"port": 0, "origins": ""}
    g = p.add_argument_group("web")
    for flag, field, kind, text in WEB_FLAGS:
        env = env_name(flag)
        g.add_argument(f"--{flag}", dest="web_" + field, type=kind,
                       default=kind(os.environ.get(env, web_defaults[field])), help=f"{text} [{env}]")
    sec = p.add_argument_group("security")
    for flag, text in (("tls-cert", "PEM certificate chain; with --tls-key serves TLS"),
                       ("tls-key", "PEM private key of --tls-cert"),
                       ("tls-client-ca", "require client certificates signed by this CA (mutual TLS)"),
                       ("token-file", "file of bearer tokens, one per line; calls without one get UNAUTHENTICATED")):
        env = env_name(flag)
        sec.add_argument(f"--{flag}", type=Path, default=os.environ.get(env), help=f"{text} [{env}]")
    p.add_argument("--log-level", default=os.environ.get("SPEECHSENSE_LOG_LEVEL", "INFO"),
                   help="DEBUG, INFO, WARNING or ERROR [SPEECHSENSE_LOG_LEVEL]")
    return p


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    """The one place flags and environment become typed options."""
    from speechsense.models import resolve_model

    engine = EngineOptions(noise_reduction=args.noise_reduction, intra_op_spinning=args.intra_op_spinning,
                           **{field: getattr(args, field) for _, field, _, _ in ENGINE_FLAGS})
    tokens = read_tokens(args.token_file, os.environ.get("SPEECHSENSE_TOKENS"))
    web = WebOptions(port=args.web_port or None,
                     origins=tuple(o.strip() for o in args.web_origins.split(",") if o.strip()),
                     max_frame_bytes=args.web_max_frame_bytes, config_timeout_seconds=args.web_config_timeout_seconds,
                     body_timeout_seconds=args.web_body_timeout_seconds)
    return ServerOptions(model_path=resolve_model(args.model), engine=engine, tokens=tokens, web=web,
                         tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
                         **{field: getattr(args, field) for _, field, _, _ in SERVER_FLAGS})


def main(argv: list[str] | None = None) -> None:
    from speechsense.server.app import serve

    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
        options = options_from_args(args)
        asyncio.run(serve(options))
    except ModelLoadError as exc:  # the file --model names (or the bundled one it defaults to)
        sys.exit(f"speechsense-server: --model: {exc}")
    except (OptionsError, ValueError, OSError) as exc:
        sys.exit(f"speechsense-server: {exc}")


if __name__ == "__main__":
    main()

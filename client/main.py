"""speechsense-client: stream a microphone or a file to SpeechSense and show emotions per window."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from speechsense.audio import AudioError
from speechsense.client.display import JsonLinesSink, RecordingSink, RichSink, console_for
from speechsense.client.library import Client
from speechsense.client.options import SERVER_ENV, TOKEN_ENV, ClientError, ClientOptions
from speechsense.client.plot import save_plot
from speechsense.client.session import SessionResult
from speechsense.client.sources import FileSource, MicrophoneSource, list_input_devices, load_pyaudio

EPILOG = """examples:
  speechsense-client --file examples/03-01-05-02-01-01-02.flac
  speechsense-client --file clip.wav --fast --json > windows.jsonl
  speechsense-client --file talk.flac --utterances --plot talk.png   (one reading per utterance)
  speechsense-client --duration 30 --plot session.png        (microphone; Enter or Ctrl-C ends early)
  SPEECHSENSE_TOKEN=... speechsense-client --server host:443 --tls --ca-cert ca.pem --file clip.flac
  speechsense-client enrol --file my-voice.flac --out me.profile.json   (a speaker profile; see enrol --help)
  speechsense-client --profile me.profile.json                  (read the microphone against that profile)
  speechsense-client --profile me.profile.json --file call.flac   (a recording read against that profile)
  (--calibrate session reads against the session's own speech: only models whose card says it is safe)
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags."""
    p = argparse.ArgumentParser(prog="speechsense-client", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("audio")
    src.add_argument("--file", type=Path, help="stream this audio file (any format the core decodes) "
                     "instead of the microphone")
    src.add_argument("--fast", action="store_true", help="send --file as fast as the server takes it")
    src.add_argument("--list-devices", action="store_true", help="list capture devices and exit")
    src.add_argument("--device", type=int, help="capture device index (see --list-devices)")
    src.add_argument("--rate", type=int, default=16_000, help="microphone sample rate in Hz (default 16000)")
    src.add_argument("--duration", type=float, help="stop after this many seconds of audio")
    win = p.add_argument_group("windows")
    win.add_argument("--window", type=float, default=0.0, help="window seconds (default: the model's)")
    win.add_argument("--hop", type=float, default=0.0, help="hop seconds (default: the model's, else 1)")
    utt = p.add_argument_group("utterances")
    utt.add_argument("--utterances", action="store_true",
                     help="one result per spoken utterance (found by the server's VAD) instead of per window")
    utt.add_argument("--min-speech", type=float, default=0.0,
                     help="seconds of speech that start an utterance (default: the server's, 0.3)")
    utt.add_argument("--closing-silence", type=float, default=0.0,
                     help="seconds of silence that end an utterance (default: the server's, 0.5)")
    utt.add_argument("--max-utterance", type=float, default=0.0,
                     help="longest utterance in seconds before it is cut (default: the server's, 15)")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="JSON Lines on stdout: one per window (or utterance), then the summary")
    out.add_argument("--plot", type=Path, help="save a PNG of each label's score over the session "
                     "(with --utterances: each utterance's span)")
    out.add_argument("--tag", default="", help="session tag echoed by the server")
    cal = p.add_argument_group("calibration to the speaker")
    cal.add_argument("--profile", type=Path, help="speaker profile file made by `speechsense-client enrol`: read "
                     "the voice against the speaker's own baseline")
    cal.add_argument("--calibrate", choices=("none", "profile", "session"), default="",
                     help="none; profile (needs --profile; the default when one is given); session: a baseline "
                     "built from this session's own speech (if the model offers it)")
    net = p.add_argument_group("connection")
    net.add_argument("--server", help=f"host:port (default ${SERVER_ENV} or localhost:50051)")
    net.add_argument("--tls", action="store_true", help="connect with TLS")
    net.add_argument("--ca-cert", type=Path, help="PEM CA certificate to verify the server (with --tls)")
    net.add_argument("--token", help=f"bearer token sent as metadata (default ${TOKEN_ENV}; "
                     "prefer the variable: flags show in the process list)")
    net.add_argument("--deadline", type=float, help="seconds the whole session may take")
    net.add_argument("--retries", type=int, default=5, help="reconnect attempts on UNAVAILABLE (default 5)")
    return p


def options_from(args: argparse.Namespace, env: Mapping[str, str]) -> ClientOptions:
    """Flags first, then the environment, then defaults."""
    server = args.server or env.get(SERVER_ENV) or ClientOptions.server
    return ClientOptions(
        server=server, tls=args.tls, ca_cert=args.ca_cert, token=args.token or env.get(TOKEN_ENV) or None,
        deadline=args.deadline, retries=args.retries, file=args.file, fast=args.fast, device=args.device,
        list_devices=args.list_devices, rate=args.rate, window_seconds=args.window, hop_seconds=args.hop,
        duration=args.duration, json=args.json, plot=args.plot, session_tag=args.tag,
        utterances=args.utterances, min_speech_seconds=args.min_speech,
        closing_silence_seconds=args.closing_silence, max_utterance_seconds=args.max_utterance,
        profile=args.profile, calibrate=args.calibrate,
    )


def print_devices(pyaudio_module: Any, console: Console) -> int:
    """--list-devices: one line per capture device."""
    devices = list_input_devices(pyaudio_module)
    if not devices:
        console.print("no capture devices found (use --file to stream a file)")
        return 1
    for d in devices:
        console.print(f"{d.index:3d}  {d.name}  ({d.channels} ch, default {d.default_rate:.0f} Hz)")
    return 0


def make_source(opts: ClientOptions, sink: Any, pyaudio_module: Any) -> FileSource | MicrophoneSource:
    """The file or microphone source the options ask for."""
    if opts.file is not None:
        try:
            return FileSource(opts.file, opts.chunk_seconds, speed=None if opts.fast else 1.0)
        except AudioError as exc:
            raise ClientError(str(exc)) from None
    return MicrophoneSource(pyaudio_module, opts.device, opts.rate, opts.chunk_seconds, report=sink.status)


@contextlib.contextmanager
def stop_controls(stop: threading.Event, sink: Any, stdin: TextIO | None) -> Iterator[None]:
    """Enter (on a terminal) and a first Ctrl-C end the session gracefully; a second Ctrl-C aborts."""
    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sink.status("stopping: waiting for the last windows and the summary (Ctrl-C again to quit)")

    def wait_enter() -> None:
        stdin.readline()
        stop.set()

    if stdin is not None and stdin.isatty():
        threading.Thread(target=wait_enter, name="speechsense-enter", daemon=True).start()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def run_client(opts: ClientOptions, stdout: TextIO, stderr: TextIO, pyaudio_module: Any = None,
               stdin: TextIO | None = None) -> SessionResult:
    """Run one session with the given options; raises ClientError on failure."""
    err = console_for(stderr)
    inner = JsonLinesSink(stdout, err) if opts.json else RichSink(console_for(stdout), err)
    sink = RecordingSink(inner)
    if opts.file is None and pyaudio_module is None:
        pyaudio_module = load_pyaudio()
    source = make_source(opts, sink, pyaudio_module)
    if opts.file is None and stdin is not None and stdin.isatty():
        err.print("listening: press Enter or Ctrl-C to stop")
    stop = threading.Event()
    with stop_controls(stop, sink, stdin), source, Client(options=opts) as client:
        result = client.session(source, sink, stop).run()
    if opts.plot is not None:
        save_plot(result.windows, opts.plot, utterances=result.utterances if opts.utterances else None)
        err.print(f"plot saved to {opts.plot}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: parse flags and environment, run, map failures to exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["enrol"]:
        from speechsense.client.enrol import main as enrol_main

        return enrol_main(argv[1:])
    args = build_parser().parse_args(argv)
    err = console_for(sys.stderr)
    try:
        opts = options_from(args, os.environ)
        if opts.list_devices:
            return print_devices(load_pyaudio(), console_for(sys.stdout))
        run_client(opts, sys.stdout, sys.stderr, stdin=sys.stdin)
    except (ClientError, OSError) as exc:  # OSError: PortAudio and file-system failures
        err.print(Text.assemble(("error: ", "red"), str(exc)))
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

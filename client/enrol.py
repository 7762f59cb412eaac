"""`speechsense-client enrol`: record (or read) a few seconds of a speaker's ordinary voice and write a profile.

The server turns the audio into a SpeakerProfile (CreateSpeakerProfile) and keeps nothing; the profile file
is then passed with `--profile` to later sessions of the same speaker on the same model version.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.text import Text

from speechsense.audio import AudioError, load_file
from speechsense.client.library import Client
from speechsense.client.options import SERVER_ENV, TOKEN_ENV, ClientError, ClientOptions
from speechsense.client.profile import write_profile
from speechsense.client.sources import MicrophoneSource, load_pyaudio

RATE = 16_000
DEFAULT_SECONDS = 15.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechsense-client enrol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="profile file to write (JSON)")
    p.add_argument("--file", type=Path, help="enrol from this audio file instead of the microphone")
    p.add_argument("--duration", type=float, default=DEFAULT_SECONDS,
                   help=f"microphone: seconds to record (default {DEFAULT_SECONDS:g}; speak calmly, as usual)")
    p.add_argument("--device", type=int, help="capture device index (speechsense-client --list-devices)")
    p.add_argument("--server", help=f"host:port (default ${SERVER_ENV} or localhost:50051)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-cert", type=Path, help="PEM CA certificate to verify the server (with --tls)")
    p.add_argument("--token", help=f"bearer token (default ${TOKEN_ENV})")
    return p


def record(seconds: float, device: int | None, console: Console) -> np.ndarray:
    """seconds of microphone audio at 16 kHz, float32 mono."""
    pcm = bytearray()
    with MicrophoneSource(load_pyaudio(), device, RATE, 0.1, report=console.print) as mic:
        console.print(f"recording {seconds:g} s: speak as you usually do")
        for chunk in mic:
            pcm += chunk
            if len(pcm) >= seconds * RATE * 2:
                break
    return np.frombuffer(bytes(pcm), "<i2").astype(np.float32) / 32768.0


def run_enrol(args: argparse.Namespace, console: Console) -> int:
    opts = ClientOptions(server=args.server or os.environ.get(SERVER_ENV) or ClientOptions.server, tls=args.tls,
                         ca_cert=args.ca_cert, token=args.token or os.environ.get(TOKEN_ENV) or None)
    if not args.out.parent.is_dir():
        raise ClientError(f"cannot write the profile to {args.out}: folder {args.out.parent} does not exist")
    if args.file is not None:
        try:
            samples = load_file(args.file, RATE)
        except AudioError as exc:
            raise ClientError(str(exc)) from None
    else:
        samples = record(args.duration, args.device, console)
    with Client(options=replace(opts, retries=0)) as client:
        try:
            profile = client.enrol(samples, RATE)
        except ClientError as exc:
            raise ClientError(f"enrolment refused: {exc}") from None
    write_profile(profile, args.out)
    console.print(f"profile for {profile.model_name} {profile.model_version} written to {args.out} "
                  f"({profile.speech_seconds:.1f} s of speech, {profile.window_count} windows)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True, highlight=False)
    try:
        return run_enrol(args, console)
    except (ClientError, OSError) as exc:
        console.print(Text.assemble(("error: ", "red"), str(exc)))
        return 1


if __name__ == "__main__":
    sys.exit(main())

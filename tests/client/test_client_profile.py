"""`speechsense-client enrol` and `--profile` against a real server on the bundled calibrated model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechsense.audio import load_file
from speechsense.client.main import main, run_client
from speechsense.client.options import OptionsError
from speechsense.client.profile import read_profile

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.flac"))


@pytest.fixture(scope="module")
def enrolment_file(tmp_path_factory) -> Path:
    """The example clips (real RAVDESS speech) joined into one file of the speaker's voice."""
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    sf.write(path, np.concatenate([load_file(c, 16_000) for c in EXAMPLES]), 16_000)
    return path


def test_enrol_writes_a_profile_and_a_session_reads_against_it(bundled_server, enrolment_file, client_options,
                                                              tmp_path, capsys):
    profile = tmp_path / "me.profile.json"
    code = main(["enrol", "--file", str(enrolment_file), "--out", str(profile), "--server", bundled_server.address])
    assert code == 0, capsys.readouterr().err
    assert "profile for speechsense-encoder" in capsys.readouterr().err
    assert read_profile(profile).window_count > 0
    out = io.StringIO()
    result = run_client(client_options(bundled_server.address, file=EXAMPLES[0], fast=True, json=True,
                                       profile=profile), out, io.StringIO())
    assert result.summary.calibration == "profile"
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["calibration"] == "profile"


def test_enrol_with_too_little_speech_says_how_much_more(bundled_server, tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, load_file(EXAMPLES[0], 16_000)[:16_000], 16_000)
    code = main(["enrol", "--file", str(short), "--out", str(tmp_path / "p.json"), "--server", bundled_server.address])
    err = capsys.readouterr().err
    assert code == 1 and "INVALID_ARGUMENT" in err and "more" in err
    assert not (tmp_path / "p.json").exists()


def test_profile_flags_are_checked_before_anything_is_sent(client_options, tmp_path):
    with pytest.raises(OptionsError, match="does not exist"):
        client_options("localhost:1", file=EXAMPLES[0], profile=tmp_path / "missing.json")
    with pytest.raises(OptionsError, match="needs --profile"):
        client_options("localhost:1", file=EXAMPLES[0], calibrate="profile")

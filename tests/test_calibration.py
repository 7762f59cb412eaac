"""Speaker calibration through a real server: enrolment from real speech, profiles in streams and clips,
every way a profile can be wrong, session calibration's order and determinism, and the client's profile file."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import onnx
import pytest
from harness import ServerHandle

from speechsense.audio import load_file
from speechsense.client.profile import read_profile, write_profile
from speechsense.models import bundled_model
from speechsense.server.config import EngineOptions, ServerOptions
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.slow  # servers on calibrated models of the module's own
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.flac"))
RATE = 16_000


def raw(samples: np.ndarray) -> pb.RawAudio:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return pb.RawAudio(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE), data=pcm)


def speech(clips: list[Path]) -> np.ndarray:
    """Real RAVDESS speech (the example clips), joined."""
    return np.concatenate([load_file(c, RATE) for c in clips])


def calibrated_file(tmp: Path, session: dict | None) -> Path:
    """The bundled encoder model, with its metadata's session rule replaced (the graph is unchanged)."""
    model = onnx.load(str(bundled_model("encoder")))
    props = {p.key: p.value for p in model.metadata_props}
    if "calibration" not in props and not any(i.name == "baseline" for i in model.graph.input):
        pytest.skip("the bundled encoder model has no calibration inputs")
    calibration = {k: v for k, v in json.loads(props.get("calibration", "{}")).items() if k != "session"}
    props["calibration"] = json.dumps(calibration | ({"session": session} if session else {}))
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=k, value=v) for k, v in props.items())
    path = tmp / "calibrated.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def cal_stub(tmp_path_factory):
    """A real server on the bundled calibrated model, offering session calibration (prior 4, cap 0.5).

    One window per inference call: the int8 encoder quantises each call's activations with one scale, so a
    window's scores move slightly with the batch it shares; batches of one make readings comparable exactly."""
    path = calibrated_file(tmp_path_factory.mktemp("cal"), {"prior_windows": 4, "max_weight": 0.5})
    handle = ServerHandle(ServerOptions(model_path=path, host="127.0.0.1", port=0,
                                        engine=EngineOptions(max_batch=1)))
    with grpc.insecure_channel(handle.address) as channel:
        yield emotion_pb2_grpc.EmotionServiceStub(channel)
    handle.stop()


@pytest.fixture(scope="module")
def profile(cal_stub) -> pb.SpeakerProfile:
    return cal_stub.CreateSpeakerProfile(pb.CreateSpeakerProfileRequest(raw=raw(speech(EXAMPLES)))).profile


def stream(stub, config: pb.StreamConfig, samples: np.ndarray) -> list[pb.StreamEmotionsResponse]:
    pcm = raw(samples).data
    config.format.CopyFrom(pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE))
    requests = [pb.StreamEmotionsRequest(config=config)]
    requests += [pb.StreamEmotionsRequest(audio=pcm[i:i + 3200]) for i in range(0, len(pcm), 3200)]
    return list(stub.StreamEmotions(iter(requests), timeout=60))


def scores(window: pb.WindowResult) -> np.ndarray:
    return np.array([s.score for s in window.scores])


def test_model_info_says_calibration_is_supported(cal_stub):
    info = cal_stub.GetModelInfo(pb.GetModelInfoRequest())
    assert info.supports_calibration and info.calibration_size > 0
    assert info.min_profile_speech_seconds > 0


def test_a_profile_is_made_from_real_speech(cal_stub, profile):
    info = cal_stub.GetModelInfo(pb.GetModelInfoRequest())
    assert (profile.model_name, profile.model_version) == (info.model_name, info.model_version)
    assert len(profile.baseline) == info.calibration_size
    assert np.all(np.isfinite(profile.baseline)) and np.any(np.asarray(profile.baseline) != 0)
    assert profile.speech_seconds >= info.min_profile_speech_seconds and profile.window_count >= 3


def test_too_little_speech_is_refused_with_the_seconds_still_needed(cal_stub):
    with pytest.raises(grpc.RpcError) as err:
        cal_stub.CreateSpeakerProfile(pb.CreateSpeakerProfileRequest(raw=raw(speech(EXAMPLES[:1])[:RATE * 2])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more" in err.value.details() and " s " in err.value.details()


def test_a_profile_changes_the_reading_of_a_clip(cal_stub, profile):
    clip = EXAMPLES[0].read_bytes()
    plain = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip))
    calibrated = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip, profile=profile))
    assert plain.summary.calibration == pb.CALIBRATION_NONE
    assert calibrated.summary.calibration == pb.CALIBRATION_PROFILE
    assert len(plain.windows) == len(calibrated.windows)
    for a, b in zip(plain.windows, calibrated.windows, strict=True):
        assert scores(b).sum() == pytest.approx(1.0, abs=1e-4)
        assert not np.allclose(scores(a), scores(b), atol=1e-4)


def test_a_profile_is_used_in_a_stream(cal_stub, profile):
    clip = load_file(EXAMPLES[1], RATE)
    replies = stream(cal_stub, pb.StreamConfig(profile=profile), clip)
    clip_reply = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=raw(clip), profile=profile))
    windows = [r.window for r in replies if r.WhichOneof("result") == "window"]
    assert replies[-1].summary.calibration == pb.CALIBRATION_PROFILE
    assert len(windows) == len(clip_reply.windows)
    for a, b in zip(windows, clip_reply.windows, strict=True):
        np.testing.assert_allclose(scores(a), scores(b), atol=1e-5)  # the same reading either way


def _spoilt(profile: pb.SpeakerProfile, how: str) -> pb.SpeakerProfile:
    bad = pb.SpeakerProfile()
    bad.CopyFrom(profile)
    values = list(profile.baseline)
    if how == "version":
        bad.model_version = "0.0.1"
    elif how == "model":
        bad.model_name = "someone-else"
    else:
        changed = {"truncated": values[:-7], "oversized": values + [0.1] * 100,
                   "nan": [float("nan")] + values[1:], "inf": values[:-1] + [float("inf")],
                   "huge": [1e6] + values[1:], "zeros": [0.0] * len(values)}[how]
        del bad.baseline[:]
        bad.baseline.extend(changed)
    return bad


@pytest.mark.parametrize(("how", "code"), [
    ("version", grpc.StatusCode.FAILED_PRECONDITION), ("model", grpc.StatusCode.FAILED_PRECONDITION),
    ("truncated", grpc.StatusCode.INVALID_ARGUMENT), ("oversized", grpc.StatusCode.INVALID_ARGUMENT),
    ("nan", grpc.StatusCode.INVALID_ARGUMENT), ("inf", grpc.StatusCode.INVALID_ARGUMENT),
    ("huge", grpc.StatusCode.INVALID_ARGUMENT), ("zeros", grpc.StatusCode.INVALID_ARGUMENT),
])
def test_a_wrong_profile_gets_the_right_status_in_clips_and_streams(cal_stub, profile, how, code):
    bad = _spoilt(profile, how)
    clip = EXAMPLES[0].read_bytes()
    with pytest.raises(grpc.RpcError) as err:
        cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip, profile=bad))
    assert err.value.code() == code
    with pytest.raises(grpc.RpcError) as err:
        stream(cal_stub, pb.StreamConfig(profile=bad), load_file(EXAMPLES[0], RATE))
    assert err.value.code() == code
    assert cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip)).windows  # the server is fine


def test_a_profile_of_a_version_with_the_same_head_inputs_reads_alike(cal_stub, profile):
    """A waveform re-export lists the versions whose profiles it reads (the feature file it was made from)."""
    info = cal_stub.GetModelInfo(pb.GetModelInfoRequest())
    model = onnx.load(str(bundled_model("encoder")))
    props = {p.key: p.value for p in model.metadata_props}
    listed = json.loads(props.get("calibration", "{}")).get("profile_versions", [])
    older = [v for v in listed if v != info.model_version]
    if not older:
        pytest.skip("the bundled encoder accepts profiles of its own version only")
    clip = EXAMPLES[0].read_bytes()
    mine = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip, profile=profile))
    old = pb.SpeakerProfile()
    old.CopyFrom(profile)
    old.model_version = older[0]
    theirs = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip, profile=old))
    assert [scores(w).tolist() for w in theirs.windows] == [scores(w).tolist() for w in mine.windows]


@pytest.mark.parametrize("config", [
    pb.StreamConfig(calibration=pb.CALIBRATION_PROFILE),
    pb.StreamConfig(calibration=99),
], ids=["profile-mode-without-profile", "unknown-mode"])
def test_a_calibration_request_that_cannot_work_is_invalid(cal_stub, config):
    with pytest.raises(grpc.RpcError) as err:
        stream(cal_stub, config, load_file(EXAMPLES[0], RATE))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_profile_with_another_mode_is_invalid(cal_stub, profile):
    for mode in (pb.CALIBRATION_NONE, pb.CALIBRATION_SESSION):
        with pytest.raises(grpc.RpcError) as err:
            cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=EXAMPLES[0].read_bytes(), profile=profile,
                                                       calibration=mode))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_session_calibration_reads_each_window_against_the_speech_before_it(cal_stub):
    audio = speech(EXAMPLES)
    plain = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=raw(audio)))
    first = cal_stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=raw(audio), calibration=pb.CALIBRATION_SESSION))
    again = stream(cal_stub, pb.StreamConfig(calibration=pb.CALIBRATION_SESSION), audio)
    assert first.summary.calibration == pb.CALIBRATION_SESSION
    assert again[-1].summary.calibration == pb.CALIBRATION_SESSION
    speech_windows = [i for i, w in enumerate(plain.windows) if w.is_speech]
    a, b = plain.windows[speech_windows[0]], first.windows[speech_windows[0]]
    np.testing.assert_allclose(scores(a), scores(b), atol=1e-5)  # nothing before the first speech window
    assert all(not np.allclose(scores(plain.windows[i]), scores(first.windows[i]), atol=1e-4)
               for i in speech_windows[1:])
    streamed = [r.window for r in again if r.WhichOneof("result") == "window"]
    for x, y in zip(first.windows, streamed, strict=True):  # causal and deterministic: clip == stream
        np.testing.assert_allclose(scores(x), scores(y), atol=1e-5)


def test_a_model_without_session_rule_refuses_session_mode(tmp_path):
    path = calibrated_file(tmp_path, None)
    handle = ServerHandle(ServerOptions(model_path=path, host="127.0.0.1", port=0))
    try:
        with grpc.insecure_channel(handle.address) as channel:
            stub = emotion_pb2_grpc.EmotionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=EXAMPLES[0].read_bytes(),
                                                       calibration=pb.CALIBRATION_SESSION))
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        handle.stop()


def test_a_model_without_calibration_refuses_profiles_clearly(stub, profile):
    """The tiny test model has no calibration inputs (like the hybrid)."""
    info = stub.GetModelInfo(pb.GetModelInfoRequest())
    assert not info.supports_calibration and info.calibration_size == 0
    for call in (lambda: stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=EXAMPLES[0].read_bytes(), profile=profile)),
                 lambda: stub.CreateSpeakerProfile(pb.CreateSpeakerProfileRequest(raw=raw(speech(EXAMPLES))))):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "calibration" in err.value.details()


def test_the_profile_round_trips_through_the_client_file(profile, tmp_path):
    path = tmp_path / "me.profile.json"
    write_profile(profile, path)
    assert read_profile(path) == profile

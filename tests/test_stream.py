"""StreamEmotions end to end over a real socket, with a real ONNX model and the real feature code."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from synth import silence, speech_like, tiny_model

from speechsense.features import FeatureConfig
from speechsense.labels import LABELS
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc
from speechsense.windowing import expected_windows


def stream_requests(samples: np.ndarray, rate: int, chunk_seconds: float = 0.1, hop: float = 1.0,
                    encoding=pb.AUDIO_ENCODING_LINEAR16, tag: str = "test"):
    yield pb.StreamEmotionsRequest(config=pb.StreamConfig(
        format=pb.AudioFormat(encoding=encoding, sample_rate_hz=rate, channels=1),
        window=pb.WindowSpec(hop_seconds=hop), session_tag=tag))
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes() if encoding == pb.AUDIO_ENCODING_LINEAR16 \
        else samples.astype("<f4").tobytes()
    step = int(chunk_seconds * rate) * (2 if encoding == pb.AUDIO_ENCODING_LINEAR16 else 4)
    for i in range(0, len(data), step):
        yield pb.StreamEmotionsRequest(audio=data[i:i + step])


def test_stream_gives_consistent_windows_and_summary(stub, speech_clip):
    samples, rate = speech_clip
    responses = list(stub.StreamEmotions(stream_requests(samples, rate, tag="abc")))
    windows = [r.window for r in responses if r.WhichOneof("result") == "window"]
    summaries = [r.summary for r in responses if r.WhichOneof("result") == "summary"]
    assert responses[-1].WhichOneof("result") == "summary" and len(summaries) == 1
    assert all(r.session_tag == "abc" for r in responses)
    assert len(windows) == expected_windows(samples.size, 3 * rate, rate, rate) == 5
    for i, w in enumerate(windows):
        assert w.index == i
        assert w.start_seconds == pytest.approx(i * 1.0) and w.end_seconds == pytest.approx(i + 3.0)
        assert [s.label for s in w.scores] == list(LABELS)
        assert w.is_speech
        assert sum(s.score for s in w.scores) == pytest.approx(1.0, abs=1e-5)
        assert w.top_label == max(w.scores, key=lambda s: s.score).label
    s = summaries[0]
    assert s.windows_analyzed == 5 and s.windows_skipped_silence == 0
    assert s.audio_seconds == pytest.approx(7.0)
    mean = np.mean([[x.score for x in w.scores] for w in windows], axis=0)
    assert [m.score for m in s.mean_scores] == pytest.approx(mean.tolist(), abs=1e-5)
    assert s.dominant_label == LABELS[int(np.argmax(mean))]
    assert sum(s.top_label_counts.values()) == 5
    assert s.end_reason == pb.END_REASON_CLIENT_CLOSED


def test_silence_is_reported_and_left_out_of_summary(stub):
    samples = np.concatenate([silence(4.0), speech_like(4.0)])
    responses = list(stub.StreamEmotions(stream_requests(samples, 16000, hop=2.0)))
    windows = [r.window for r in responses[:-1]]
    assert [w.is_speech for w in windows] == [False, True, True]
    assert windows[0].top_label == "" and sum(x.score for x in windows[0].scores) == 0
    summary = responses[-1].summary
    assert summary.windows_analyzed == 3 and summary.windows_skipped_silence == 1
    assert sum(summary.top_label_counts.values()) == 2


def test_resampled_stereo_float_stream(stub):
    rate = 44_100
    mono = speech_like(4.0, rate=rate)
    stereo = np.stack([mono, mono], axis=1).reshape(-1)
    reqs = list(stream_requests(stereo, rate, encoding=pb.AUDIO_ENCODING_FLOAT32))
    reqs[0].config.format.channels = 2
    responses = list(stub.StreamEmotions(iter(reqs)))
    assert len(responses) == 3  # 2 windows at hop 1 s, then the summary
    assert responses[-1].summary.audio_seconds == pytest.approx(4.0, abs=1e-3)


def test_empty_stream_gets_empty_summary(stub):
    responses = list(stub.StreamEmotions(iter(list(stream_requests(np.zeros(0, np.float32), 16000)))))
    assert len(responses) == 1
    s = responses[0].summary
    assert s.windows_analyzed == 0 and s.audio_seconds == 0 and s.dominant_label == ""


def test_analyze_clip_matches_stream(stub, speech_clip):
    samples, rate = speech_clip
    streamed = [r.window for r in stub.StreamEmotions(stream_requests(samples, rate, chunk_seconds=0.37))][:-1]
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC")
    clip = stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=buf.getvalue(), session_tag="clip"))
    assert len(clip.windows) == len(streamed)
    for a, b in zip(clip.windows, streamed, strict=True):
        assert [x.score for x in a.scores] == pytest.approx([x.score for x in b.scores], abs=1e-3)
    assert clip.summary.windows_analyzed == len(streamed)


def test_short_clip_gets_one_padded_window(stub):
    clip = stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=pb.RawAudio(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=16000),
        data=speech_like(2.0).astype("<f4").tobytes())))
    assert len(clip.windows) == 1
    assert clip.windows[0].end_seconds == pytest.approx(2.0)
    assert clip.windows[0].is_speech


def test_model_info(stub):
    info = stub.GetModelInfo(pb.GetModelInfoRequest())
    assert list(info.labels) == list(LABELS)
    assert info.sample_rate_hz == 16000 and info.window_seconds == pytest.approx(3.0)
    assert info.feature_set == "mfcc13+rms+zcr"
    assert info.metrics.random_accuracy == pytest.approx(0.125)


def test_server_computes_the_features_its_model_declares(server_factory, tmp_path):
    config = FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5)
    server = server_factory(model_path=tiny_model(tmp_path / "contrast.onnx", config))
    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        assert stub.GetModelInfo(pb.GetModelInfoRequest()).feature_set == "mfcc40+delta+rms+zcr+contrast5"
        clip = stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=pb.RawAudio(
            format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=16000),
            data=speech_like(4.0).astype("<f4").tobytes())))
    assert len(clip.windows) == 2
    for w in clip.windows:
        assert sum(s.score for s in w.scores) == pytest.approx(1.0, abs=1e-4)

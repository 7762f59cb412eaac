"""Utterance mode over a real socket: segmentation, scoring, summary and argument checks (synthetic audio)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from synth import RATE, silence, syllables

from speechsense.v1 import emotion_pb2 as pb

UTTERANCES = pb.SEGMENTATION_UTTERANCES


def f32(samples: np.ndarray) -> bytes:
    return samples.astype("<f4").tobytes()


def utterance_stream(samples: np.ndarray, chunk_seconds: float = 0.1, **spec):
    yield pb.StreamEmotionsRequest(config=pb.StreamConfig(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=RATE),
        segmentation=UTTERANCES, utterance=pb.UtteranceSpec(**spec), session_tag="utt"))
    data, step = f32(samples), int(chunk_seconds * RATE) * 4
    for i in range(0, len(data), step):
        yield pb.StreamEmotionsRequest(audio=data[i:i + step])


def clip(samples: np.ndarray, segmentation=UTTERANCES, **spec) -> pb.AnalyzeClipRequest:
    return pb.AnalyzeClipRequest(
        raw=pb.RawAudio(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=RATE),
                        data=f32(samples)),
        segmentation=segmentation, utterance=pb.UtteranceSpec(**spec))


@pytest.fixture(scope="module")
def three_utterances() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech of 2 s, 4.5 s and 1 s between silences of 1.5 s, 0.8 s and 2 s, and where each is."""
    parts, spans, pos = [silence(1.0)], [], 1.0
    for seconds, gap in ((2.0, 1.5), (4.5, 0.8), (1.0, 2.0)):
        parts += [syllables(seconds, seed=int(pos)), silence(gap, seed=int(pos))]
        spans.append((pos, pos + seconds))
        pos += seconds + gap
    return np.concatenate(parts), spans


def test_stream_sends_one_result_per_utterance(stub, three_utterances):
    samples, spans = three_utterances
    responses = list(stub.StreamEmotions(utterance_stream(samples)))
    kinds = [r.WhichOneof("result") for r in responses]
    assert kinds == ["utterance"] * 3 + ["summary"]
    utterances = [r.utterance for r in responses[:-1]]
    for i, (u, (start, end)) in enumerate(zip(utterances, spans, strict=True)):
        assert u.index == i and not u.cut_at_max_length
        assert u.start_seconds == pytest.approx(start, abs=0.1) and u.end_seconds == pytest.approx(end, abs=0.1)
        assert sum(s.score for s in u.scores) == pytest.approx(1.0, abs=1e-5)
        assert u.top_label == max(u.scores, key=lambda s: s.score).label
    # 2 s: one padded window; 4.5 s: windows at 0 and 1 s, then one ending at its end; 1 s: one.
    assert [u.window_count for u in utterances] == [1, 3, 1]
    s = responses[-1].summary
    assert s.utterances_analyzed == 3 and s.windows_analyzed == 5 and s.windows_skipped_silence == 0
    mean = np.mean([[x.score for x in u.scores] for u in utterances], axis=0)
    assert [m.score for m in s.mean_scores] == pytest.approx(mean.tolist(), abs=1e-5)
    assert sum(s.top_label_counts.values()) == 3
    assert s.audio_seconds == pytest.approx(samples.size / RATE)


def test_utterance_score_is_the_model_on_its_audio(stub, three_utterances):
    """A short utterance is one padded window: its scores are the fixed-window scores of its audio alone."""
    samples, _ = three_utterances
    u = stub.AnalyzeClip(clip(samples)).utterances[0]
    alone = stub.AnalyzeClip(clip(samples[round(u.start_seconds * RATE):round(u.end_seconds * RATE)],
                                  pb.SEGMENTATION_FIXED_WINDOWS))
    assert len(alone.windows) == 1
    assert [x.score for x in u.scores] == pytest.approx([x.score for x in alone.windows[0].scores], abs=1e-4)


def test_clip_matches_stream(stub, three_utterances):
    samples, _ = three_utterances
    streamed = [r.utterance for r in stub.StreamEmotions(utterance_stream(samples, chunk_seconds=0.37))][:-1]
    reply = stub.AnalyzeClip(clip(samples))
    assert not reply.windows and len(reply.utterances) == len(streamed) == 3
    for a, b in zip(reply.utterances, streamed, strict=True):
        assert (a.start_seconds, a.end_seconds, a.window_count) == (b.start_seconds, b.end_seconds, b.window_count)
        assert [x.score for x in a.scores] == pytest.approx([x.score for x in b.scores], abs=1e-4)
    assert reply.summary.utterances_analyzed == 3


def test_long_speech_is_cut_at_max_length(stub):
    samples = np.concatenate([silence(0.5), syllables(7.0), silence(1.0)])
    utterances = stub.AnalyzeClip(clip(samples, max_utterance_seconds=3)).utterances
    assert [u.cut_at_max_length for u in utterances] == [True, True, False]
    assert 2.9 <= utterances[0].end_seconds - utterances[0].start_seconds <= 3.0 + 1e-6
    for a, b in zip(utterances, utterances[1:], strict=False):
        assert b.start_seconds == pytest.approx(a.end_seconds)  # contiguous: nothing lost at a cut
    assert utterances[-1].end_seconds == pytest.approx(7.5, abs=0.1)


def test_bursts_shorter_than_min_speech_are_not_utterances(stub):
    burst = np.concatenate([silence(1.0), syllables(0.15), silence(1.0)])
    assert not stub.AnalyzeClip(clip(burst)).utterances
    assert len(stub.AnalyzeClip(clip(burst, min_speech_seconds=0.06)).utterances) == 1


def test_closing_silence_decides_where_an_utterance_ends(stub):
    samples = np.concatenate([silence(0.5), syllables(1.0), silence(0.6), syllables(1.0), silence(1.0)])
    assert len(stub.AnalyzeClip(clip(samples)).utterances) == 2  # default 0.5 s: the 0.6 s pause ends it
    joined = stub.AnalyzeClip(clip(samples, closing_silence_seconds=1.0)).utterances
    assert len(joined) == 1 and joined[0].end_seconds - joined[0].start_seconds == pytest.approx(2.6, abs=0.1)


def test_silence_only_gives_an_empty_utterance_summary(stub):
    reply = stub.AnalyzeClip(clip(silence(3.0)))
    assert not reply.utterances and reply.summary.utterances_analyzed == 0 and reply.summary.dominant_label == ""


@pytest.mark.parametrize(("spec", "words"), [
    ({"min_speech_seconds": 0.01}, "utterance.min_speech_seconds 0.01 is outside 0.03..2"),
    ({"min_speech_seconds": -1}, "utterance.min_speech_seconds"),
    ({"closing_silence_seconds": 9}, "utterance.closing_silence_seconds 9 is outside 0.1..5"),
    ({"max_utterance_seconds": 0.5}, "utterance.max_utterance_seconds 0.5 is outside 1..60"),
    ({"max_utterance_seconds": 120}, "utterance.max_utterance_seconds"),
    ({"max_utterance_seconds": 1.5, "min_speech_seconds": 2}, "must exceed utterance.min_speech_seconds"),
    ({"closing_silence_seconds": float("nan")}, "utterance.closing_silence_seconds nan"),
])
def test_thresholds_out_of_range_are_invalid_argument(stub, spec, words):
    with pytest.raises(grpc.RpcError) as err:
        list(stub.StreamEmotions(utterance_stream(syllables(1.0), **spec), timeout=30))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeClip(clip(syllables(1.0), **spec), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in err.value.details()


def test_unknown_segmentation_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeClip(clip(syllables(1.0), segmentation=7), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unsupported segmentation 7" in err.value.details()


def test_steady_noise_is_not_an_utterance(stub):
    from monologue import pink_noise

    noise = pink_noise(2 * RATE, -40.0, np.random.default_rng(0))
    samples = np.concatenate([silence(1.0), noise, silence(1.0), syllables(1.5), silence(0.3), noise, silence(1.0)])
    utterances = stub.AnalyzeClip(clip(samples)).utterances
    assert len(utterances) == 1
    assert utterances[0].start_seconds == pytest.approx(4.0, abs=0.1)
    assert utterances[0].end_seconds == pytest.approx(5.5, abs=0.3)  # noise 0.3 s after speech is not speech


def test_shutdown_sends_the_open_utterance_and_summary(server_factory):
    """Draining: the utterance still open when the server stops reading is sent, then the summary."""
    import threading
    import time

    from speechsense.v1 import emotion_pb2_grpc

    server = server_factory(grace_seconds=5)
    samples = np.concatenate([silence(0.5), syllables(1.5), silence(1.0), syllables(2.0)])  # second one open
    sent = threading.Event()

    def requests():
        yield from utterance_stream(samples, chunk_seconds=5.0)
        sent.set()
        time.sleep(30)  # a live microphone that never half-closes

    with grpc.insecure_channel(server.address) as channel:
        call = emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(requests(), timeout=20)
        first = next(call)
        assert first.utterance.index == 0 and sent.wait(5)
        rest = server.read_rest_while_stopping(call, grace=5)
    assert [r.WhichOneof("result") for r in rest] == ["utterance", "summary"]
    assert rest[0].utterance.index == 1 and rest[0].utterance.start_seconds == pytest.approx(3.0, abs=0.1)
    assert rest[-1].summary.utterances_analyzed == 2
    assert rest[-1].summary.end_reason == pb.END_REASON_SERVER_SHUTDOWN


@pytest.mark.parametrize("kind", ["swell-50", "brown-50", "lowpass-50"])
def test_low_level_noise_between_sentences_is_not_an_utterance(stub, kind, monkeypatch):
    """Quiet noise (peak -50 dBFS) in a pause: band noise swelling like syllables, rumble, low-pass noise."""
    from monologue import background

    from speechsense.server import utterances

    noise = background(kind, int(1.2 * RATE), np.random.default_rng(3))
    samples = np.concatenate([silence(1.0), syllables(1.5, seed=1), silence(1.0), noise, silence(1.0),
                              syllables(1.5, seed=2), silence(1.0)])
    found = [(u.start_seconds, u.end_seconds) for u in stub.AnalyzeClip(clip(samples)).utterances]
    assert len(found) == 2, found
    assert found[0][0] == pytest.approx(1.0, abs=0.1) and found[1][0] == pytest.approx(5.7, abs=0.1)
    if kind == "swell-50":  # an utterance of its own before the periodicity check: the test can tell
        monkeypatch.setattr(utterances, "MIN_PERIODIC_FRACTION", 0.0)
        assert len(stub.AnalyzeClip(clip(samples)).utterances) == 3

"""A long monologue of real RAVDESS clips streamed to a real server: one utterance per clip, where it is.

Truth per clip: the utterance the same server finds in that clip sent alone (AnalyzeClip), shifted by
where the clip sits in the monologue; so this checks that context (gaps of 0.5-2 s, one of them steady
pink noise at -40 dBFS, streaming in 100 ms chunks, the VAD adapting across clips) changes neither the
boundaries (0.3 s) nor the label. Against an energy trim of each clip alone it checks the median only:
benchmarks/utterance_eval.py reports the full distribution. The stream is paced at 4x real time: the
server's segmentation depends on the audio only, not on when it arrives (100 ms chunks, same samples).
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from monologue import RATE, build, energy_span, paced_requests, pick_clips, utterance_clip

from speechsense.audio import load_file
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.corpus
SPEED = 4.0
ACTOR = 12


def test_monologue_finds_each_clip_as_one_utterance(bundled_server, datasets):
    mono = build(pick_clips(datasets, ACTOR, seed=ACTOR), seed=ACTOR)
    assert len({c.emotion for c in mono.clips}) == 8
    clips = [load_file(c.path, RATE) for c in mono.clips]
    sent: list[tuple[float, float]] = []
    with grpc.insecure_channel(bundled_server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        alone = [stub.AnalyzeClip(utterance_clip(y)).utterances for y in clips]
        assert [len(a) for a in alone] == [1] * 10, "each clip alone is one utterance"
        got = []
        for r in stub.StreamEmotions(paced_requests(mono.samples, SPEED, sent)):
            if r.WhichOneof("result") == "utterance":
                got.append((r.utterance, sent[-1][0]))  # with the audio seconds sent when it arrived
            else:
                summary = r.summary
    assert len(got) == 10, [(u.start_seconds, u.end_seconds) for u, _ in got]  # none split, none from the noise
    energy_errors, flips = [], []
    for k, ((u, _), c, a, y) in enumerate(zip(got, mono.clips, alone, clips, strict=True)):
        start, end = a[0].start_seconds + c.offset_seconds, a[0].end_seconds + c.offset_seconds
        assert u.index == k
        assert abs(u.start_seconds - start) <= 0.3 and abs(u.end_seconds - end) <= 0.3, (c.path.name, u, a[0])
        if u.top_label != a[0].top_label:  # a near tie may flip (the window grid and int8 batches differ)
            alone_scores = {s.label: s.score for s in a[0].scores}
            flips.append((c.path.name, a[0].top_label, u.top_label,
                          a[0].top_score - alone_scores[u.top_label]))
        e0, e1 = energy_span(y)
        energy_errors += [u.start_seconds - c.offset_seconds - e0, u.end_seconds - c.offset_seconds - e1]
    assert len(flips) <= 1 and all(gap <= 0.2 for *_, gap in flips), flips
    assert np.median(np.abs(energy_errors)) <= 0.1
    # Results come while the monologue is still being sent, each before the next clip's speech ends.
    for (u, sent_seconds), nxt in zip(got, got[1:], strict=False):
        assert sent_seconds < nxt[0].end_seconds, (u.end_seconds, sent_seconds)
    assert summary.utterances_analyzed == 10 and sum(summary.top_label_counts.values()) == 10

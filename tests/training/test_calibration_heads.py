"""Linear heads and calibration: enrolment selection, the graph's arithmetic against numpy, and the protocol's
figures on synthetic speakers whose offsets a baseline can remove."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from speechsense.models import bundled_model
from speechsense.training.corpora import Clip
from speechsense.training.linear.calibration_eval import SessionRule, score_speakers, session_predictions
from speechsense.training.linear.graph import LinearHeads, build_calibrated
from speechsense.training.linear.heads import enrolment_mask, fit_heads
from speechsense.training.linear.headstats import find_head_input, model_meta


def clip(path: str, corpus: str, speaker: str, label: str) -> Clip:
    return Clip(path, corpus, speaker, "female", label, 3.0)


def test_enrolment_is_calm_and_neutral_of_one_statement_or_the_first_neutral_clips():
    clips = [clip("a/03-01-01-01-01-01-02.flac", "ravdess", "ravdess_02", "neutral"),
             clip("a/03-01-02-02-01-02-02.flac", "ravdess", "ravdess_02", "calm"),
             clip("a/03-01-02-02-02-02-02.flac", "ravdess", "ravdess_02", "calm"),  # statement 02
             clip("a/03-01-05-02-01-02-02.flac", "ravdess", "ravdess_02", "angry"),
             *[clip(f"e/03a0{i}Nc.flac", "emodb", "emodb_03", "neutral") for i in range(6, 0, -1)],
             clip("e/03a01Wa.flac", "emodb", "emodb_03", "angry")]
    mask = enrolment_mask(clips)
    assert mask[:4].tolist() == [True, True, False, False]
    emodb = {c.path.split("/")[1][:5] for c, m in zip(clips[4:10], mask[4:10], strict=True) if m}
    assert emodb == {"03a01", "03a02", "03a03", "03a04"} and not mask[10]


@pytest.fixture(scope="module")
def random_heads():
    source = onnx.load(str(bundled_model("encoder")))
    rng = np.random.default_rng(0)
    n = 5 * 1024
    f32 = np.float32
    heads = LinearHeads(rng.standard_normal(n).astype(f32), rng.uniform(0.5, 2, n).astype(f32),
                        rng.standard_normal((n, 8)).astype(f32) * 0.02, rng.standard_normal(8).astype(f32),
                        rng.standard_normal((n, 8)).astype(f32) * 0.02, rng.standard_normal(8).astype(f32))
    model = build_calibrated(source, heads, model_meta(bundled_model("encoder")))
    return heads, ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), model


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_the_graph_computes_both_heads_on_the_baseline_relative_input(random_heads):
    heads, sess, model = random_heads
    assert find_head_input(model)  # the statistics tensor is named in the metadata
    rng = np.random.default_rng(1)
    first = sess.get_inputs()[0]  # the bundled file's: "waveform" (batch, samples), or "features"
    shape = [4] + [d for d in first.shape[1:]]
    feats = (rng.standard_normal(shape) * (0.1 if first.name == "waveform" else 1)).astype(np.float32)
    base = (rng.standard_normal((4, heads.size)) * 0.5).astype(np.float32)
    base[0] = 0
    flags = np.array([[0], [1], [0], [1]], np.float32)
    probs, z = sess.run(None, {first.name: feats, "baseline": base, "profile_head": flags})
    r = z - base
    expected = np.where(flags > 0.5, softmax(r @ heads.w_calibrated + heads.b_calibrated),
                        softmax(r @ heads.w_uncalibrated + heads.b_uncalibrated))
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_rebuilding_from_a_calibrated_file_keeps_one_set_of_inputs(random_heads):
    heads, _, model = random_heads
    again = build_calibrated(model, heads, model_meta(bundled_model("encoder")))
    assert [i.name for i in again.graph.input] == [model.graph.input[0].name, "baseline", "profile_head"]


def synthetic_speakers(seed: int = 0, speakers: int = 12, per_class: int = 12):
    """Each speaker's statistics are the class signal plus a large speaker offset: what calibration removes."""
    rng = np.random.default_rng(seed)
    d, classes = 40, 4
    centres = rng.standard_normal((classes, d))
    x, y, spk, enrol = [], [], [], []
    for s in range(speakers):
        offset = rng.standard_normal(d) * 3
        for c in range(classes):
            for k in range(per_class):
                x.append(centres[c] + offset + rng.standard_normal(d) * 1.5)
                y.append(c)
                spk.append(f"s{s}")
                enrol.append(c == 0 and k < 4)  # class 0 plays "neutral"
    return np.array(x), np.array(y), np.array(spk), np.array(enrol)


def test_a_profile_removes_a_speaker_offset_and_a_one_mood_session_is_guarded():
    x, y, spk, enrol = synthetic_speakers()
    train = np.isin(spk, [f"s{i}" for i in range(8)])
    heads = fit_heads(x[train], y[train], spk[train], enrol[train], c=0.05)
    z = heads.standardise(x)
    test = np.flatnonzero(~train)
    rules = {"cap0.3": SessionRule(10, 0.3), "cap1": SessionRule(1, 1.0)}
    out = score_speakers(z, y, spk, enrol, test, heads, rules, session_windows=120)
    assert out["profile"] > out["uncalibrated"] + 0.1
    assert out["session_mixed@cap1"] > out["uncalibrated"]
    # a full-weight running mean of one mood reads that mood as the speaker's baseline: it collapses
    assert out["session_one_emotion@cap1"] < out["session_one_emotion@cap0.3"]


def test_session_predictions_are_causal():
    x, y, spk, enrol = synthetic_speakers(seed=3, speakers=4)
    heads = fit_heads(x, y, spk, enrol, c=0.05)
    z = heads.standardise(x[:50])
    rule = SessionRule(5, 0.5)
    full = session_predictions(z, heads, rule)
    part = session_predictions(z[:20], heads, rule)
    np.testing.assert_allclose(full[:20], part)  # later windows never change earlier readings
    np.testing.assert_allclose(full[0], heads.logits(z[:1])[0])  # the first window is read uncalibrated


def test_averaged_heads_are_one_linear_head_with_the_mean_logits():
    from speechsense.training.linear.heads import Heads, average, speaker_means

    rng = np.random.default_rng(3)
    d, f32 = 6, np.float32

    def random_heads(scale):
        return Heads((rng.standard_normal(d) * scale).astype(f32), rng.uniform(0.5, 3, d).astype(f32),
                     rng.standard_normal((d, 8)).astype(f32), rng.standard_normal(8).astype(f32),
                     rng.standard_normal((d, 8)).astype(f32), rng.standard_normal(8).astype(f32))

    members = [random_heads(1.0), random_heads(4.0)]
    both = average(members)
    x = rng.standard_normal((20, d)).astype(np.float64) * 3
    spk, enrol = np.repeat(["a", "b"], 10), np.tile([True, False, False, False, False], 4)
    mean_u = np.mean([h.logits(h.standardise(x)) for h in members], axis=0)
    np.testing.assert_allclose(both.logits(both.standardise(x)), mean_u, rtol=1e-4, atol=1e-4)
    mean_c = np.mean([h.logits(z, speaker_means(z, spk, enrol), profile=True)
                      for h in members for z in [h.standardise(x)]], axis=0)
    z = both.standardise(x)
    np.testing.assert_allclose(both.logits(z, speaker_means(z, spk, enrol), profile=True), mean_c, rtol=1e-4,
                               atol=1e-4)
    assert not np.allclose(mean_u, members[0].logits(members[0].standardise(x)))


def test_a_gated_mixture_in_the_graph_matches_its_numpy_heads():
    from speechsense.training.linear.export import numpy_heads
    from speechsense.training.linear.heads import RoomGate

    source = onnx.load(str(bundled_model("encoder")))
    rng = np.random.default_rng(4)
    n, f32 = 5 * 1024, np.float32

    def weights():
        return (rng.standard_normal((n, 8)) * 0.02).astype(f32), rng.standard_normal(8).astype(f32)

    gate = RoomGate(*weights(), *weights(), (rng.standard_normal(n) * 0.02).astype(f32), 0.3)
    heads = LinearHeads(rng.standard_normal(n).astype(f32), rng.uniform(0.5, 2, n).astype(f32), *weights(),
                        *weights(), gate)
    model = build_calibrated(source, heads, model_meta(bundled_model("encoder")))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0]
    shape = [3] + [d for d in first.shape[1:]]
    x = (rng.standard_normal(shape) * (0.1 if first.name == "waveform" else 1)).astype(f32)
    base = (rng.standard_normal((3, n)) * 0.5).astype(f32)
    flags = np.array([[0], [1], [0]], f32)
    probs, z = sess.run(None, {first.name: x, "baseline": base, "profile_head": flags})
    ref = numpy_heads(heads)
    expected = np.where(flags > 0.5, softmax(ref.logits(z, base, profile=True)), softmax(ref.logits(z, base)))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    p = ref.gate.room_probability(z)
    assert np.all((p > 0.01) & (p < 0.99))  # both experts take part, so the check covers the mixing
    plain = softmax((z - base) @ heads.w_uncalibrated + heads.b_uncalibrated)
    assert not np.allclose(probs[[0, 2]], plain[[0, 2]], atol=1e-3)


def test_a_gated_recipe_sends_room_copies_to_the_room_expert():
    from speechsense.training.linear.calibration_eval import fit_recipe

    x, y, spk, enrol = synthetic_speakers(seed=2)
    rng = np.random.default_rng(5)
    noisy = x + rng.standard_normal(x.shape) * 0.3  # a copy like the clean clips: the clean expert's domain
    room = x * 0.5 + 4.0  # a copy that moves every statistic: a room
    rows = np.arange(len(x))
    heads = fit_recipe(x, [noisy, room], rows, y, spk, enrol, 0.05, clean_copies=(0,))
    assert heads.gate is not None
    p_clean = heads.gate.room_probability(heads.standardise(x))
    p_room = heads.gate.room_probability(heads.standardise(room))
    assert p_clean.mean() < 0.1 and p_room.mean() > 0.9
    plain = fit_recipe(x, [noisy, room], rows, y, spk, enrol, 0.05)
    assert plain.gate is None

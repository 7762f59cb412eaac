"""The benchmark's conditions as training transforms, one copy per room kind, the per-condition table of fold
heads, and per-fold model files built from a run's heads."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import make_tone

from speechsense.models import bundled_model
from speechsense.training import rooms
from speechsense.training.augment import AugmentConfig, Variant
from speechsense.training.conditions import CONDITIONS, Condition, degrade
from speechsense.training.corpora import Clip
from speechsense.training.linear.export import export_fold_models
from speechsense.training.linear.heads import Heads
from speechsense.training.linear.headstats import model_meta
from speechsense.training.linear.room_eval import ravdess_rows, room_table

RATE = 16_000


def _speech(seconds: float = 2.0) -> np.ndarray:
    return np.concatenate([np.concatenate([make_tone(RATE, 0.25, 140 + 20 * k, k), np.zeros(1200, np.float32)])
                           for k in range(int(seconds / 0.325))])


def test_conditions_are_seeded_per_clip_and_need_a_pool_for_babble():
    x = _speech()
    a, b = "/d/ravdess/Actor_01/03-01-05-01-01-01-01.flac", "/d/ravdess/Actor_02/03-01-05-01-01-01-02.flac"
    pink = degrade(x, a, "pink 10 dB", None, RATE)
    assert np.array_equal(pink, degrade(x, a, "pink 10 dB", None, RATE))
    assert not np.array_equal(pink, degrade(x, b, "pink 10 dB", None, RATE))
    assert not np.array_equal(pink, degrade(x, a, "pink 10 dB", None, RATE, seed=1))
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((pink - x).astype(np.float64) ** 2))
    assert abs(snr - 10.0) < 0.5
    assert degrade(x, a, "clean", None, RATE) is x
    with pytest.raises(ValueError, match="pool"):
        degrade(x, a, "babble 10 dB", None, RATE)
    with pytest.raises(ValueError, match="unknown condition"):
        Condition("underwater")
    cond = Condition("reverb RT60 0.6 s")
    assert np.array_equal(cond.apply(x, a, RATE), rooms.reverberate(x, 0.6, RATE, room=rooms.BENCHMARK_ROOM))
    assert len({Condition(n).key() for n in CONDITIONS}) == len(CONDITIONS)  # one cache per condition


def test_one_copy_per_room_kind_and_unknown_kinds_refused():
    config = AugmentConfig(noise_copies=1, room_kinds=("babble", "reverb", "telephone"), babble_root="/data")
    assert [v.kind for v in config.variants()] == ["noise", "babble", "reverb", "telephone"]
    assert config.needs_babble and not AugmentConfig(room_kinds=("reverb",)).needs_babble
    assert len({v.key() for v in config.variants()}) == 4
    with pytest.raises(ValueError, match="unknown room kinds"):
        AugmentConfig(room_kinds=("underwater",))


def test_training_reverb_never_draws_the_benchmark_room(monkeypatch):
    assert not rooms.TRAINING_ROOMS[0] <= rooms.BENCHMARK_ROOM < rooms.TRAINING_ROOMS[1]
    used = []
    monkeypatch.setattr(rooms, "reverberate", lambda y, rt60, rate, room: used.append(room) or y)
    x = _speech(0.7)
    for i in range(60):
        Variant("reverb").apply(x, f"/d/tess/OAF_x/OAF_{i}_angry.flac", RATE)
    assert len(used) == 60 and rooms.BENCHMARK_ROOM not in used and len(set(used)) > 4


def _clips() -> list[Clip]:
    """TESS first, then two RAVDESS actors: the table must find RAVDESS rows by position, not index."""
    out = [Clip(f"/d/tess/OAF_{i}.flac", "tess", "tess_OAF", "female", "angry", 2.0) for i in range(3)]
    for actor in (1, 2):
        for k, label in enumerate(("angry", "sad", "angry", "sad")):
            out.append(Clip(f"/d/ravdess/Actor_0{actor}/{k}.flac", "ravdess", f"ravdess_0{actor}", "male", label, 3.0))
    return out


def test_room_table_reads_each_fold_with_its_heads_in_every_condition():
    clips = _clips()
    # two features: feature 0 says angry (label index 4), feature 1 sad (3); heads read them directly
    w = np.zeros((2, 8), np.float32)
    w[0, 4] = w[1, 3] = 5.0
    heads = Heads(np.zeros(2, np.float32), np.ones(2, np.float32), w, np.zeros(8, np.float32), w,
                  np.zeros(8, np.float32))
    truth = np.array([[1.0, 0.0] if c.label == "angry" else [0.0, 1.0] for c in clips])
    rav = ravdess_rows(clips)
    assert rav.tolist() == list(range(3, 11))
    flipped = truth[rav][:, ::-1]  # every answer wrong
    stats = {name: truth[rav] for name in CONDITIONS if name != "clean"} | {"babble 5 dB": flipped}
    folds = [(heads, rav[:4]), (heads, rav[4:])]
    table = room_table(folds, None, clips, truth, stats, None, None, {})
    assert table["clean"]["speaker"]["mean"] == 1.0 and table["pink 10 dB"]["speaker"]["per_fold"] == [1.0, 1.0]
    assert table["babble 5 dB"]["speaker"]["mean"] == 0.0
    half = stats | {"telephone band": np.concatenate([truth[rav][:4], flipped[4:]])}  # fold 1 only wrong
    assert room_table(folds, None, clips, truth, half, None, None, {})["telephone band"]["speaker"]["per_fold"] == [
        1.0, 0.0]
    assert "emodb" not in table["clean"]
    # EmoDB: read by the heads trained on every speaker, in each condition's own statistics
    emodb = [Clip(f"/d/emodb/wav/03a0{i}.flac", "emodb", "emodb_03", "male", lab, 2.0)
             for i, lab in enumerate(("angry", "sad"))]
    emodb_stats = {name: truth[3:5] for name in CONDITIONS if name != "clean"} | {"pink 10 dB": truth[3:5, ::-1]}
    both = room_table(folds, heads, clips, truth, stats, emodb, truth[3:5], emodb_stats)
    assert both["clean"]["emodb"] == 1.0 and both["pink 10 dB"]["emodb"] == 0.0


def test_fold_models_are_the_runs_fold_heads_on_the_source_encoder(tmp_path):
    source = bundled_model("encoder")
    meta = model_meta(source)
    rng = np.random.default_rng(0)
    n, f32 = 5 * 1024, np.float32
    run = tmp_path / "run"
    run.mkdir()
    for k in range(2):
        np.savez(run / f"heads-fold{k}.npz", mean=rng.standard_normal(n).astype(f32),
                 std=rng.uniform(0.5, 2, n).astype(f32), w_u=(rng.standard_normal((n, 8)) * 0.02).astype(f32),
                 b_u=rng.standard_normal(8).astype(f32), w_c=np.zeros((n, 8), f32), b_c=np.zeros(8, f32))
    spk = {"mean": 0.5, "std": 0.1, "per_fold": [0.5]}
    (run / "metrics.json").write_text(json.dumps({
        "random": {"accuracy": 0.9, "uar": 0.9, "n": 400}, "session_offered": False,
        "calibration": {"speaker": {"uncalibrated": spk, "accuracy_uncalibrated": spk, "profile": spk}}}))
    (run / "preset.json").write_text(json.dumps({"name": "whisper-base4-linear-multiroom"}))
    files = export_fold_models(run, source, tmp_path / "folds", "speechsense-encoder", "9.9.9", 1.0)
    assert [f.name for f in files] == ["fold0.onnx", "fold1.onnx"]
    window = (make_tone(RATE, 3.0, 180, 1) * 0.5)[None, :]
    outputs = []
    for k, f in enumerate(files):
        m = model_meta(f)
        assert m.protocol == f"speaker-fold{k}" and m.model_input == meta.model_input
        sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        first = sess.get_inputs()[0]
        x = window if first.name == "waveform" else pytest.skip("the bundled encoder takes features")
        probs, z = sess.run(None, {first.name: x.astype(f32), "baseline": np.zeros((1, n), f32),
                                   "profile_head": np.zeros((1, 1), f32)})
        with np.load(run / f"heads-fold{k}.npz") as h:
            logits = z @ h["w_u"] + h["b_u"]
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(probs, expected, atol=1e-5)
        outputs.append(probs)
    assert not np.allclose(outputs[0], outputs[1])  # each file carries its own fold's heads
    assert onnx.load(str(files[0]), load_external_data=False).graph.input[0].name == "waveform"


def test_the_cards_robustness_section_shows_its_own_rows_and_its_recipes_folds(tmp_path):
    from types import SimpleNamespace

    from speechsense.training.robustness_card import robustness_section

    def row(model, version, preset, folds, s, cond, uar, independent):
        return {"model": model, "version": version, "preset": preset, "folds": folds, "set": s, "condition": cond,
                "uar": uar, "gated": 0.0, "speaker_independent": independent}

    rows = [row("enc", "2.0.0", "p", False, "ravdess", "clean", 0.91, False),
            row("enc", "2.0.0", "p", False, "ravdess", "babble 10 dB", 0.61, False),
            row("enc", "1.0.0", "old", False, "ravdess", "clean", 0.11, False),  # another version: not shown
            row("enc x5 folds", "2.0.0", "p", True, "ravdess", "clean", 0.71, True),
            row("hyb", "1.0.0", "h", False, "ravdess", "clean", 0.22, False)]
    (tmp_path / "robustness.json").write_text(json.dumps({"rows": rows, "seed": 0, "gate": "adaptive",
                                                          "babble_talkers": 4}))
    (tmp_path / "references.json").write_text(json.dumps({"robustness_targets": {
        "encoder": {"babble 10 dB": 0.55}, "source": "the issue"}}))
    meta = SimpleNamespace(model_name="enc", model_version="2.0.0", training_preset="p", model_family="encoder")
    text = "\n".join(robustness_section(meta, tmp_path))
    assert "| clean | 0.910 | 0.710 | - |" in text and "| babble 10 dB | 0.610 | - | 0.55 |" in text
    assert "heard in training" in text and "never heard" in text and "0.110" not in text and "0.220" not in text
    other = SimpleNamespace(model_name="none", model_version="1", training_preset="x", model_family="hybrid")
    assert robustness_section(other, tmp_path) == []

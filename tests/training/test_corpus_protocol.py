"""The corpus protocol (leave one corpus out) on tiny synthetic statistics: its split, its scoring on shared labels
and EmoBox's 4 classes, and a run that writes its report folder and resumes; no corpora, no encoder. One test reads
the real corpora's file names (no audio) for the labels each held-out corpus shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speechsense.labels import LABELS, label_index
from speechsense.training.corpora import Clip, default_data_root, emodb_clip, ravdess_clip, tess_clip
from speechsense.training.families import TrainJob, families
from speechsense.training.linear import corpus
from speechsense.training.linear.corpus_eval import (
    corpus_folds,
    fit_fold,
    reading,
    restricted_argmax,
    score_fold,
)
from speechsense.training.linear.heads import Heads, enrolment_mask
from speechsense.training.presets import PRESETS

RAV = {"neutral": "01", "calm": "02", "happy": "03", "sad": "04", "angry": "05", "fearful": "06"}
TESS = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "fearful": "fear"}
EMODB = {"neutral": "N", "happy": "F", "sad": "T", "angry": "W", "disgust": "E"}


def synthetic_clips(per_label: int = 12) -> list[Clip]:
    """Three small corpora: RAVDESS with calm (no one else has it), EmoDB with disgust (no one else either)."""
    clips = []
    for k in range(per_label):
        actor = 1 + k % 2
        for label, code in RAV.items():
            name = f"03-01-{code}-01-0{k // 2 % 2 + 1}-0{k // 4 + 1}-{actor:02d}"
            clips.append(Clip(f"r/{name}.flac", "ravdess", f"ravdess_{actor:02d}", "male", label, 3.0))
        for label, token in TESS.items():
            clips.append(Clip(f"t/OAF_w{k:02d}_{token}.flac", "tess", "tess_OAF", "female", label, 2.0))
        for label, letter in EMODB.items():
            clips.append(Clip(f"e/03a{k:02d}{letter}a.flac", "emodb", "emodb_03", "male", label, 2.5))
    return clips


def synthetic_stats(clips: list[Clip], d: int = 12, seed: int = 0) -> np.ndarray:
    """Each label one direction, each corpus one offset, a little noise: separable across corpora."""
    rng = np.random.default_rng(seed)
    y = np.array([label_index(c.label) for c in clips])
    offset = {"ravdess": 0.3, "tess": -0.3, "emodb": 0.1}
    x = np.zeros((len(clips), d))
    x[np.arange(len(clips)), y] = 3.0
    x += np.array([offset[c.corpus] for c in clips])[:, None] + 0.2 * rng.standard_normal(x.shape)
    return x


def arrays(clips: list[Clip]):
    return (np.array([c.corpus for c in clips]), np.array([label_index(c.label) for c in clips]),
            np.array([c.speaker for c in clips]), enrolment_mask(clips))


def test_each_corpus_is_held_out_once_and_scored_on_the_labels_training_shares():
    clips = synthetic_clips()
    corpora, y, _, enrol = arrays(clips)
    folds = {f.held_out: f for f in corpus_folds(corpora, y, enrol)}
    assert list(folds) == ["ravdess", "tess", "emodb"]
    for name, fold in folds.items():
        assert set(corpora[fold.train]) == {"ravdess", "tess", "emodb"} - {name}
        assert set(corpora[fold.test]) == {name} and not enrol[fold.test].any()
        assert set(fold.enrol) == set(np.flatnonzero((corpora == name) & enrol))
        assert set(y[fold.test]) == set(fold.labels)
    names = {k: [LABELS[c] for c in f.labels] for k, f in folds.items()}
    assert "calm" not in names["ravdess"] and "disgust" not in names["emodb"]  # only there: never scored
    assert names["tess"] == ["neutral", "happy", "sad", "angry", "fearful"]
    assert all(tuple(LABELS[c] for c in f.four) == ("neutral", "happy", "sad", "angry") for f in folds.values())


def test_one_corpus_is_not_a_corpus_protocol():
    with pytest.raises(ValueError, match="at least two corpora"):
        corpus_folds(np.array(["tess"] * 3), np.array([0, 2, 3]), np.zeros(3, bool))


def test_a_reading_gives_recall_per_class_and_a_confusion_matrix_over_its_classes():
    y = np.array([0, 0, 2, 2, 3, 3])
    pred = np.array([0, 2, 2, 2, 0, 3])
    r = reading(y, pred, (0, 2, 3))
    assert r["labels"] == ["neutral", "happy", "sad"]
    assert r["per_class_recall"] == {"neutral": 0.5, "happy": 1.0, "sad": 0.5}
    assert r["uar"] == pytest.approx(2 / 3) and r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_the_argmax_never_picks_a_label_outside_the_reading():
    logits = np.array([[9.0, 5.0, 1.0, 0.0], [0.0, 9.0, 0.0, 2.0]])
    assert restricted_argmax(logits, (2, 3)).tolist() == [2, 3]


def identity_heads(d: int) -> Heads:
    """Heads whose logits are the first 8 statistics (population) and their distance from the profile."""
    w = np.eye(d, len(LABELS), dtype=np.float32)
    zero = np.zeros(len(LABELS), np.float32)
    return Heads(np.zeros(d, np.float32), np.ones(d, np.float32), w, zero, w, zero)


def test_scoring_reads_own_labels_and_emobox_four_and_a_profile_from_enrolment_rows():
    clips = synthetic_clips()
    corpora, y, spk, enrol = arrays(clips)
    x = synthetic_stats(clips)
    fold = next(f for f in corpus_folds(corpora, y, enrol) if f.held_out == "emodb")
    r = score_fold(identity_heads(x.shape[1]), x, y, spk, fold)
    assert r["labels"] == ["neutral", "happy", "sad", "angry"] and r["four_classes"] == r["labels"]
    assert r["uncalibrated"]["uar"] == 1.0 and r["uncalibrated"]["n"] == len(fold.test)
    assert r["uncalibrated_4class"]["n"] == len(fold.test) and r["n_enrol"] == 4
    profiled = (x[fold.test] - x[fold.enrol].mean(axis=0))[:, : len(LABELS)]  # one speaker, one baseline
    assert r["profile"] == reading(y[fold.test], restricted_argmax(profiled, fold.labels), fold.labels)


def test_fitted_heads_read_a_held_out_corpus_they_never_trained_on():
    clips = synthetic_clips()
    corpora, y, spk, enrol = arrays(clips)
    x = synthetic_stats(clips)
    for fold in corpus_folds(corpora, y, enrol):
        heads = fit_fold(x, [x + 0.01], y, spk, enrol, fold, 1.0, None)
        r = score_fold(heads, x, y, spk, fold)
        assert r["uncalibrated"]["uar"] > 0.9 and r["uncalibrated_4class"]["uar"] > 0.9, fold.held_out


def test_the_linear_family_declares_the_protocol_and_a_run_writes_its_report_and_resumes(tmp_path: Path,
                                                                                         monkeypatch):
    clips = synthetic_clips()
    x = synthetic_stats(clips)
    data = corpus.CorpusData(clips, x, [x + 0.01])
    monkeypatch.setattr(corpus, "load_corpus_stats", lambda *a, **k: data)
    monkeypatch.setattr(corpus, "stats_source", lambda preset: Path("encoder-test.onnx"))
    preset = PRESETS["whisper-base4-linear-gated"]
    out, reports = tmp_path / "runs" / "corpus", tmp_path / "reports" / preset.name / "corpus"
    job = TrainJob("corpus", out, tmp_path, tmp_path / "cache", reports)
    assert "corpus" in families()["linear"].protocols
    preset = preset.with_recipe(gate_clean_copies=())  # one copy: no room expert
    metrics = families()["linear"].train(preset, job)
    assert metrics["protocol"] == "corpus" and set(metrics["corpus"]["held_out"]) == {"ravdess", "tess", "emodb"}
    assert json.loads((reports / "metrics.json").read_text()) == metrics
    assert metrics["corpus"]["summary"]["uncalibrated"]["min"] > 0.9
    (out / "metrics.json").unlink()  # an interrupted run: finished corpora are read back, not refitted
    monkeypatch.setattr(corpus, "fit_fold", lambda *a, **k: pytest.fail("refitted a finished corpus"))
    assert corpus.run_corpus(preset, out, tmp_path, tmp_path / "cache") == metrics


def real_file_clips(root: Path) -> list[Clip]:
    """The corpora's clips from their file names alone (labels and speakers; no audio decoded)."""
    found = [(p, "ravdess", ravdess_clip) for p in sorted(root.glob("ravdess/Actor_*/*.flac"))]
    found += [(p, "tess", tess_clip) for p in sorted(root.glob("tess/*/*.flac"))]
    found += [(p, "emodb", emodb_clip) for p in sorted(root.glob("emodb/wav/*.flac")) if p.stem[5] != "L"]
    return [Clip(str(p), name, *parse(p), 0.0) for p, name, parse in found]


def test_the_shared_corpora_hold_out_to_the_label_sets_the_protocol_reports():
    root = default_data_root()
    if not (root / "emodb" / "wav").is_dir():
        pytest.skip(f"corpora not found at {root} (set SPEECHSENSE_DATA, or keep them in ../shared/datasets)")
    clips = real_file_clips(root)
    corpora, y, _, enrol = arrays(clips)
    folds = {f.held_out: [LABELS[c] for c in f.labels] for f in corpus_folds(corpora, y, enrol)}
    assert folds == {"ravdess": [lab for lab in LABELS if lab != "calm"],
                     "tess": [lab for lab in LABELS if lab != "calm"],
                     "emodb": ["neutral", "happy", "sad", "angry", "fearful", "disgust"]}

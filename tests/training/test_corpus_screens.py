"""The corpus protocol's screen recipes on tiny synthetic statistics: per-corpus balancing of the training rows
(its weights, that they reach both heads' fits, and their effect on a small corpus), and that screens stay out of
the card's preset table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechsense.training.cards import preset_rows
from speechsense.training.linear import heads as heads_module
from speechsense.training.linear.corpus_eval import corpus_folds, corpus_weights, fit_fold
from speechsense.training.linear.heads import fit_heads
from speechsense.training.linear.train import run_linear
from speechsense.training.presets import PRESETS, SCREENS, get_preset
from tests.training.test_corpus_protocol import arrays, synthetic_clips, synthetic_stats


def test_balanced_weights_give_each_corpus_and_each_class_within_it_the_same_weight():
    corpora = np.array(["a"] * 6 + ["b"] * 3 + ["c"] * 2)
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 2, 2])
    rows = np.arange(9)  # corpus c is held out
    w = corpus_weights(corpora, y, rows)
    assert np.all(w[9:] == 0) and w[rows].mean() == pytest.approx(1.0)
    assert w[corpora == "a"].sum() == pytest.approx(w[corpora == "b"].sum())
    assert w[:4].sum() == pytest.approx(w[4:6].sum())  # corpus a: 4 neutral rows weigh as its 2 happy rows
    assert w[6] == pytest.approx(2 * w[7])


def test_a_balanced_fold_weighs_every_copy_as_its_clip_in_both_heads(monkeypatch):
    clips = synthetic_clips()
    corpora, y, spk, enrol = arrays(clips)
    x = synthetic_stats(clips)
    fold = next(f for f in corpus_folds(corpora, y, enrol) if f.held_out == "ravdess")
    seen = []
    real = heads_module.fit_logistic
    monkeypatch.setattr(heads_module, "fit_logistic", lambda z, t, c, w=None: seen.append(w) or real(z, t, c, w))
    fit_fold(x, [x + 0.01], y, spk, enrol, fold, 1.0, None, corpora)
    fit_fold(x, [x + 0.01], y, spk, enrol, fold, 1.0, None)
    balanced, plain = seen[:2], seen[2:]
    assert plain == [None, None] and np.array_equal(balanced[0], balanced[1])
    tiled = np.tile(corpora[fold.train], 2)
    assert len(balanced[0]) == 2 * len(fold.train)
    assert balanced[0][tiled == "tess"].sum() == pytest.approx(balanced[0][tiled == "emodb"].sum())


def test_balancing_lowers_the_small_corpus_loss_where_the_corpora_disagree():
    """Two corpora put a class boundary in different places; the small one's rows fit better balanced (a third
    class, placed alike in both, keeps the fit multinomial)."""
    rng = np.random.default_rng(0)
    centres = {"tess": (-1.0, 1.0, 5.0), "emodb": (0.5, 2.5, 5.0)}
    corpora, y, x = [], [], []
    for corpus, n in (("tess", 200), ("emodb", 10)):
        for label, centre in zip((0, 2, 3), centres[corpus], strict=True):
            corpora += [corpus] * n
            y += [label] * n
            x.append(rng.normal(centre, 0.5, n))
    corpora, y, x = np.array(corpora), np.array(y), np.concatenate(x)[:, None]
    small = corpora == "emodb"

    def small_loss(weights):
        h = fit_heads(x, y, corpora, np.zeros(len(y), bool), 1.0, weights)
        logits = h.logits(h.standardise(x[small]))
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -np.mean(log_p[np.arange(small.sum()), y[small]])

    assert small_loss(corpus_weights(corpora, y, np.arange(len(y)))) < small_loss(None) - 0.05


def test_screens_run_by_name_but_stay_out_of_the_card_table(tmp_path: Path):
    assert not set(SCREENS) & set(PRESETS)
    descriptions = [p.description for p in (*PRESETS.values(), *SCREENS.values())]
    assert len(set(descriptions)) == len(descriptions)
    assert "each training corpus" in get_preset("whisper-base4-linear-gated-balanced").description
    (tmp_path / "whisper-base4-linear-gated-c01" / "corpus").mkdir(parents=True)
    assert not any("gated-c01" in row for row in preset_rows(tmp_path))


def test_the_calibration_protocol_refuses_a_balanced_recipe(tmp_path: Path):
    with pytest.raises(ValueError, match="corpus protocol only"):
        run_linear(SCREENS["whisper-base4-linear-gated-balanced"], tmp_path, tmp_path, tmp_path)

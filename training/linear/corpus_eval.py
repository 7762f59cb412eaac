"""The corpus protocol: leave one corpus out, fit on the others, read the held-out corpus on the labels it shares.

For each corpus in the data (RAVDESS actors, TESS, EmoDB, in the order the rows hold them), the recipe's heads are
fitted on every row of the other corpora (their augmented copies included) and read the held-out corpus's rows whose
label training also has, argmax over those shared labels only; a second reading keeps EmoBox's 4 classes (angry,
happy, neutral, sad) and argmaxes over those 4. As in the calibration table, each held-out speaker's enrolment rows
make their profile and are never scored, so every reading of a corpus scores the same rows.

Everything here works on arrays (flattened statistics, label indices, corpus and speaker names), so the split and
the scoring are tested without corpora or an encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechsense.labels import LABELS
from speechsense.training.linear.calibration_eval import fit_recipe
from speechsense.training.linear.heads import Heads, speaker_means

EMOBOX4 = ("angry", "happy", "neutral", "sad")  # EmoBox's cross-corpus classes
READINGS = ("uncalibrated", "profile")


@dataclass(frozen=True)
class CorpusFold:
    """One held-out corpus: training rows (every other corpus), scored rows and the labels they share."""

    held_out: str
    train: np.ndarray
    test: np.ndarray  # held-out rows with a shared label, enrolment rows left out
    enrol: np.ndarray  # the held-out corpus's enrolment rows (its speakers' profiles)
    labels: tuple[int, ...]  # label indices shared by the held-out corpus and training, in LABELS order

    @property
    def four(self) -> tuple[int, ...]:
        """EmoBox's 4 classes among the shared labels."""
        return tuple(c for c in self.labels if LABELS[c] in EMOBOX4)


def corpus_folds(corpora: np.ndarray, y: np.ndarray, enrol: np.ndarray) -> list[CorpusFold]:
    """One fold per corpus in corpora (row order); ValueError with fewer than two corpora."""
    names = list(dict.fromkeys(corpora.tolist()))
    if len(names) < 2:
        raise ValueError(f"the corpus protocol needs at least two corpora, found {names or 'none'}")
    folds = []
    for name in names:
        held = corpora == name
        train = np.flatnonzero(~held)
        shared = tuple(sorted(set(y[held & ~enrol].tolist()) & set(y[train].tolist())))
        test = np.flatnonzero(held & ~enrol & np.isin(y, shared))
        folds.append(CorpusFold(name, train, test, np.flatnonzero(held & enrol), shared))
    return folds


def restricted_argmax(logits: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Argmax over the given label indices only."""
    masked = np.full_like(logits, -np.inf)
    masked[:, list(classes)] = logits[:, list(classes)]
    return masked.argmax(axis=1)


def reading(y: np.ndarray, pred: np.ndarray, classes: tuple[int, ...]) -> dict:
    """UAR, accuracy, per-class recall and the confusion matrix (rows true, columns predicted) over classes."""
    names = [LABELS[c] for c in classes]
    recall = {LABELS[c]: float(np.mean(pred[y == c] == c)) for c in classes if np.any(y == c)}
    matrix = [[int(np.sum((y == t) & (pred == p))) for p in classes] for t in classes]
    return {"n": int(len(y)), "uar": float(np.mean(list(recall.values()))) if recall else float("nan"),
            "accuracy": float(np.mean(pred == y)) if len(y) else float("nan"), "labels": names,
            "per_class_recall": recall, "confusion": matrix}


def score_fold(heads: Heads, stats: np.ndarray, y: np.ndarray, speakers: np.ndarray, fold: CorpusFold) -> dict:
    """Every reading of one held-out corpus: own shared labels and EmoBox's 4, uncalibrated and with a profile."""
    rows = np.concatenate([fold.test, fold.enrol])
    z = heads.standardise(stats[rows])
    mask = np.zeros(len(rows), bool)
    mask[len(fold.test):] = True
    profile = speaker_means(z, speakers[rows], mask)[: len(fold.test)]
    zt, yt = z[: len(fold.test)], y[fold.test]
    logits = {"uncalibrated": heads.logits(zt), "profile": heads.logits(zt, profile, profile=True)}
    keep4 = np.isin(yt, fold.four)
    out: dict = {"held_out": fold.held_out, "n_train": int(len(fold.train)), "n_enrol": int(len(fold.enrol)),
                 "labels": [LABELS[c] for c in fold.labels], "four_classes": [LABELS[c] for c in fold.four]}
    for name in READINGS:
        out[name] = reading(yt, restricted_argmax(logits[name], fold.labels), fold.labels)
        out[f"{name}_4class"] = reading(yt[keep4], restricted_argmax(logits[name][keep4], fold.four), fold.four)
    return out


def corpus_weights(corpora: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One weight per row (zero outside rows): each corpus among the rows weighs the same and, within a corpus,
    each of its classes; the rows' weights average 1, so C means what it means unweighted."""
    w = np.zeros(len(y))
    names = np.unique(corpora[rows])
    for name in names:
        inside = rows[corpora[rows] == name]
        classes = np.unique(y[inside])
        for label in classes:
            cell = inside[y[inside] == label]
            w[cell] = 1.0 / (len(names) * len(classes) * len(cell))
    return w * len(rows) / w.sum()


def fit_fold(stats: np.ndarray, copies: list[np.ndarray], y: np.ndarray, speakers: np.ndarray,
             enrol: np.ndarray, fold: CorpusFold, c: float, clean_copies: tuple[int, ...] | None,
             corpora: np.ndarray | None = None) -> Heads:
    """The recipe's heads (training/linear/calibration_eval.py fit_recipe) on the fold's training rows; with
    corpora, those rows balanced by corpus and class (corpus_weights)."""
    weights = None if corpora is None else corpus_weights(corpora, y, fold.train)
    return fit_recipe(stats, copies, fold.train, y, speakers, enrol, c, clean_copies, weights)


def summary(results: list[dict]) -> dict:
    """Headline figures per held-out corpus, and the mean and the worst over them, per reading."""
    out: dict = {"held_out": [r["held_out"] for r in results]}
    for key in (*READINGS, *(f"{r}_4class" for r in READINGS)):
        per = {r["held_out"]: r[key]["uar"] for r in results}
        out[key] = {"per_corpus": per, "mean": float(np.mean(list(per.values()))),
                    "min": float(min(per.values()))}
    return out


def format_table(results: list[dict]) -> str:
    """One line per held-out corpus: classes, UARs and per-class recall of the uncalibrated reading."""
    lines = ["held out | classes | UAR own | UAR 4-class | profile own | profile 4-class | n scored"]
    for r in results:
        lines.append(f"{r['held_out']} | {len(r['labels'])} | {r['uncalibrated']['uar']:.3f} | "
                     f"{r['uncalibrated_4class']['uar']:.3f} | {r['profile']['uar']:.3f} | "
                     f"{r['profile_4class']['uar']:.3f} | {r['uncalibrated']['n']}")
        recall = ", ".join(f"{k} {v:.2f}" for k, v in r["uncalibrated"]["per_class_recall"].items())
        lines.append(f"  recall (uncalibrated, own labels): {recall}")
    return "\n".join(lines)

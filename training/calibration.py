"""Linear heads on an encoder's statistics, with and without a speaker baseline, and how they are scored.

Protocol (what "profile" means in every figure): each speaker's enrolment clips are their calm and
neutral clips of one statement (RAVDESS statement 01; TESS: the first 10 neutral words; EmoDB: the first
4 neutral clips by text). Enrolment clips make the speaker's baseline (the mean of their standardised
statistics) and are never scored. Training speakers are centred on their own enrolment baseline for the
calibrated head, exactly as a new speaker is at test time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechsense.labels import EMODB_EMOTIONS, LABELS, label_index
from speechsense.training.corpora import Clip

ENROL_LABELS = ("neutral", "calm")
RAVDESS_ENROL_STATEMENT = "01"
ENROL_CLIPS = {"tess": 10, "emodb": 4}  # neutral clips per speaker, in name order, where a corpus has no statements
DEFAULT_C = 0.05


def enrolment_mask(clips: list[Clip]) -> np.ndarray:
    """True for the clips each speaker enrols with (never scored)."""
    mask = np.zeros(len(clips), bool)
    neutral: dict[str, list[tuple[str, int]]] = {}
    for i, c in enumerate(clips):
        name = Path(c.path).stem
        if c.corpus == "ravdess":
            mask[i] = name.split("-")[4] == RAVDESS_ENROL_STATEMENT and c.label in ENROL_LABELS
        elif c.label == "neutral":
            neutral.setdefault(c.speaker, []).append((name, i))
    for speaker, items in neutral.items():
        for _, i in sorted(items)[:ENROL_CLIPS[speaker.split("_", 1)[0]]]:
            mask[i] = True
    return mask


def speaker_means(z: np.ndarray, speakers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the mean of z over that row's speaker's rows where mask is true (zeros where none)."""
    out = np.zeros_like(z)
    for s in np.unique(speakers):
        rows = speakers == s
        chosen = rows & mask
        if chosen.any():
            out[rows] = z[chosen].mean(axis=0)
    return out


@dataclass(frozen=True)
class Heads:
    """Standardisation and two multinomial logistic heads (weights as (n, labels))."""

    mean: np.ndarray
    std: np.ndarray
    w_u: np.ndarray
    b_u: np.ndarray
    w_c: np.ndarray
    b_c: np.ndarray

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def logits(self, z: np.ndarray, baseline: np.ndarray | None = None, profile: bool = False) -> np.ndarray:
        """Scores of standardised inputs z read against a baseline (None: none) by the profile head (trained
        on enrolment-relative input) or the population head (profile=False: no calibration, or a session's)."""
        r = z if baseline is None else z - baseline
        return r @ self.w_c + self.b_c if profile else r @ self.w_u + self.b_u


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on all LABELS (absent classes get weights that never win)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=3000).fit(x, y, sample_weight=sample_weight)
    w = np.zeros((x.shape[1], len(LABELS)), np.float32)
    b = np.full(len(LABELS), -30.0, np.float32)
    w[:, clf.classes_] = clf.coef_.T
    b[clf.classes_] = clf.intercept_
    return w, b


def fit_heads(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, enrol: np.ndarray, c: float = DEFAULT_C) -> Heads:
    """Both heads on flattened statistics x (n, d): standardised by these rows; the calibrated one on each
    speaker's rows minus their enrolment baseline."""
    x = x.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    w_u, b_u = fit_logistic(z, y, c)
    w_c, b_c = fit_logistic(z - speaker_means(z, speakers, enrol), y, c)
    return Heads(mean.astype(np.float32), std.astype(np.float32), w_u, b_u, w_c, b_c)


def emodb_restricted(logits: np.ndarray) -> np.ndarray:
    """Argmax over the labels EmoDB shares with ours (it has no calm and no surprise)."""
    shared = sorted({label_index(lab) for lab in EMODB_EMOTIONS.values()})
    masked = np.full_like(logits, -np.inf)
    masked[:, shared] = logits[:, shared]
    return masked.argmax(axis=1)


def uar(y: np.ndarray, pred: np.ndarray) -> float:
    """Unweighted average recall over the classes present in y."""
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))

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
    """Standardisation and two multinomial logistic heads (weights as (n, labels)); with a gate, a mixture."""

    mean: np.ndarray
    std: np.ndarray
    w_u: np.ndarray
    b_u: np.ndarray
    w_c: np.ndarray
    b_c: np.ndarray
    gate: RoomGate | None = None

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def logits(self, z: np.ndarray, baseline: np.ndarray | None = None, profile: bool = False) -> np.ndarray:
        """Scores of standardised inputs z read against a baseline (None: none) by the profile head (trained
        on enrolment-relative input) or the population head (profile=False: no calibration, or a session's)."""
        r = z if baseline is None else z - baseline
        out = r @ self.w_c + self.b_c if profile else r @ self.w_u + self.b_u
        if self.gate is None:
            return out
        g = self.gate
        room = r @ g.w_c + g.b_c if profile else r @ g.w_u + g.b_u
        p = g.room_probability(z)[:, None]
        return (1 - p) * out + p * room


@dataclass(frozen=True)
class RoomGate:
    """The room expert of a gated mixture (heads trained on every room copy, in the mixture's standardisation)
    and its detector: p = sigmoid(z @ w + b) on the absolute statistics (a baseline would remove the room),
    logits = (1 - p) x the clean expert's + p x the room expert's."""

    w_u: np.ndarray
    b_u: np.ndarray
    w_c: np.ndarray
    b_c: np.ndarray
    w: np.ndarray  # (n,)
    b: float

    def room_probability(self, z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(z @ self.w + self.b)))


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


def fit_heads(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, enrol: np.ndarray, c: float = DEFAULT_C,
              weights: np.ndarray | None = None) -> Heads:
    """Both heads on flattened statistics x (n, d): standardised by these rows; the calibrated one on each
    speaker's rows minus their enrolment baseline; weights, when given, weigh the rows in both fits (not in the
    standardisation)."""
    x = x.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    w_u, b_u = fit_logistic(z, y, c, weights)
    w_c, b_c = fit_logistic(z - speaker_means(z, speakers, enrol), y, c, weights)
    return Heads(mean.astype(np.float32), std.astype(np.float32), w_u, b_u, w_c, b_c)


def restandardised(h: Heads, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, ...]:
    """(w_u, b_u, w_c, b_c) of h's linear heads on inputs standardised by mean and std instead, exactly:
    z_h = z * ratio + shift. A baseline in the new standardisation maps to h's by the same ratio, so the profile
    head, which reads z - baseline, takes the ratio and no shift."""
    ratio = (std / h.std).astype(np.float64)[:, None]
    shift = ((mean - h.mean) / h.std).astype(np.float64)
    return ratio * h.w_u, h.b_u + shift @ h.w_u, ratio * h.w_c, h.b_c.astype(np.float64)


def average(members: list[Heads]) -> Heads:
    """One pair of heads whose logits are the mean of the members' logits, exactly (all are linear in the
    statistics), in the first member's standardisation."""
    first = members[0]
    parts = [restandardised(h, first.mean, first.std) for h in members]
    w_u, b_u, w_c, b_c = (np.mean([p[k] for p in parts], axis=0).astype(np.float32) for k in range(4))
    return Heads(first.mean, first.std, w_u, b_u, w_c, b_c)


def gated(clean: Heads, room: Heads, w: np.ndarray, b: float) -> Heads:
    """The mixture of a clean expert and a room expert whose detector (w, b) reads room's standardisation."""
    f32 = np.float32
    w_u, b_u, w_c, b_c = (a.astype(f32) for a in restandardised(clean, room.mean, room.std))
    gate = RoomGate(room.w_u, room.b_u, room.w_c, room.b_c, np.asarray(w, f32), float(b))
    return Heads(room.mean, room.std, w_u, b_u, w_c, b_c, gate)


def fit_detector(z: np.ndarray, is_room: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Logistic weights telling rows of room copies (is_room) from the rest, classes balanced."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(z, is_room.astype(int))
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


def emodb_restricted(logits: np.ndarray) -> np.ndarray:
    """Argmax over the labels EmoDB shares with ours (it has no calm and no surprise)."""
    shared = sorted({label_index(lab) for lab in EMODB_EMOTIONS.values()})
    masked = np.full_like(logits, -np.inf)
    masked[:, shared] = logits[:, shared]
    return masked.argmax(axis=1)


def uar(y: np.ndarray, pred: np.ndarray) -> float:
    """Unweighted average recall over the classes present in y."""
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))

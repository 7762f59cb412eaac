"""The calibration table: uncalibrated, profile and session readings of new voices, on speaker folds and EmoDB.

Every row scores the same clips: each test speaker's clips except their enrolment clips (which make the
profile and are never scored). Sessions are simulated per test speaker from one window per clip, in a
seeded order, `session_windows` long (clips repeat to fill it): "mixed" draws from all the speaker's
scored clips, "one emotion" from one emotion's clips at a time (an angry caller; the worst case), and each
window is read against the shrunk mean of the windows before it, as the server does.
"""

from __future__ import annotations

import numpy as np

from speechsense.calibration import SessionRule, session_baselines
from speechsense.labels import label_index
from speechsense.training.corpora import Clip
from speechsense.training.linear.heads import (
    DEFAULT_C,
    Heads,
    emodb_restricted,
    enrolment_mask,
    fit_detector,
    fit_heads,
    gated,
    speaker_means,
    uar,
)
from speechsense.training.splits import SPEAKER_FOLDS, make_split

__all__ = ["SAFE_MAX_LOSS", "SessionRule", "evaluate", "fit_recipe", "random_split_figures", "safe_rules",
           "score_speakers", "session_predictions"]


def session_predictions(z: np.ndarray, heads: Heads, rule: SessionRule) -> np.ndarray:
    """Logits per window of one session (rows of z in stream order), each read causally as the server does."""
    return heads.logits(z, session_baselines(z, rule))


def _sessions(rows: np.ndarray, y: np.ndarray, length: int, one_emotion: bool, rng) -> list[np.ndarray]:
    """Row orders of a speaker's sessions: one mixed session, or one session per emotion."""
    groups = [rows[y[rows] == c] for c in np.unique(y[rows])] if one_emotion else [rows]
    return [rng.choice(g, size=length, replace=len(g) < length) if len(g) else g for g in groups]


def score_speakers(z: np.ndarray, y: np.ndarray, speakers: np.ndarray, enrol: np.ndarray, test: np.ndarray,
                   heads: Heads, rules: dict[str, SessionRule], session_windows: int, restrict: bool = False,
                   seed: int = 0) -> dict[str, float]:
    """UAR per mode over the test rows (enrolment rows excluded from scoring); session rows per rule name."""
    pick = emodb_restricted if restrict else (lambda lg: lg.argmax(axis=1))
    scored = test[~enrol[test]]
    profile = speaker_means(z, speakers, enrol)
    plain = pick(heads.logits(z[scored]))
    out = {"uncalibrated": uar(y[scored], plain), "accuracy_uncalibrated": float(np.mean(plain == y[scored])),
           "profile": uar(y[scored], pick(heads.logits(z[scored], profile[scored], profile=True)))}
    for name, rule in rules.items():
        rng = np.random.default_rng(seed)  # the same sessions for every rule
        for mode, one in (("session_mixed", False), ("session_one_emotion", True)):
            truth, preds = [], []
            for s in np.unique(speakers[scored]):
                for order in _sessions(scored[speakers[scored] == s], y, session_windows, one, rng):
                    truth.append(y[order])
                    preds.append(pick(session_predictions(z[order], heads, rule)))
            out[f"{mode}@{name}"] = uar(np.concatenate(truth), np.concatenate(preds))
    return out


def _summary(folds: list[dict[str, float]]) -> dict:
    return {m: {"mean": float(np.mean([f[m] for f in folds])), "std": float(np.std([f[m] for f in folds])),
                "per_fold": [f[m] for f in folds]} for m in folds[0]}


def _with_copies(stats: np.ndarray, copies: list[np.ndarray], rows: np.ndarray, y: np.ndarray, spk: np.ndarray,
                 enrol: np.ndarray) -> tuple[np.ndarray, ...]:
    """Training rows plus each augmented copy of them; a copy's clips form their own speaker groups (a speaker
    in that room), so the profile head centres them on that copy's enrolment clips."""
    parts = [stats[rows], *(c[rows] for c in copies)]
    speakers = [spk[rows], *(np.char.add(spk[rows], f"#{k}") for k in range(len(copies)))]
    n = 1 + len(copies)
    return np.concatenate(parts), np.tile(y[rows], n), np.concatenate(speakers), np.tile(enrol[rows], n)


def _tiled(weights: np.ndarray | None, rows: np.ndarray, copies: int) -> np.ndarray | None:
    """The rows' weights as _with_copies lays the rows out: a copy weighs as its clip."""
    return None if weights is None else np.tile(weights[rows], 1 + copies)


def fit_recipe(stats: np.ndarray, copies: list[np.ndarray], rows: np.ndarray, y: np.ndarray, spk: np.ndarray,
               enrol: np.ndarray, c: float, clean_copies: tuple[int, ...] | None = None,
               weights: np.ndarray | None = None) -> Heads:
    """Heads on the rows and their copies; with clean_copies, the gated mixture of a clean expert (the rows
    and those copies) and a room expert (every copy), mixed by a detector of the other copies' rows. weights
    (one per row of stats), when given, weigh the heads' fits (not the detector's)."""
    room = fit_heads(*_with_copies(stats, copies, rows, y, spk, enrol), c, _tiled(weights, rows, len(copies)))
    if clean_copies is None:
        return room
    chosen = [copies[k] for k in clean_copies]
    clean = fit_heads(*_with_copies(stats, chosen, rows, y, spk, enrol), c, _tiled(weights, rows, len(chosen)))
    x = np.concatenate([stats[rows], *(cp[rows] for cp in copies)])
    is_room = np.repeat([k > 0 and k - 1 not in clean_copies for k in range(1 + len(copies))], len(rows))
    return gated(clean, room, *fit_detector(room.standardise(x), is_room, c))


def evaluate(stats: np.ndarray, clips: list[Clip], emodb_stats: np.ndarray | None, emodb: list[Clip] | None,
             rules: list[SessionRule], session_windows: int = 300, c: float = DEFAULT_C,
             copies: list[np.ndarray] = (), heads_out: dict | None = None,
             clean_copies: tuple[int, ...] | None = None) -> dict:
    """The whole table: speaker folds (RAVDESS actors 1-20, TESS always training) and EmoDB cross-corpus
    (heads trained on every RAVDESS + TESS clip), session rows for each candidate rule. stats are flattened
    head inputs (n, d); copies, augmented versions of them that join training only. heads_out, when given,
    receives "folds": [(heads, scored test rows)] and "emodb": the heads EmoDB was read with."""
    named = {r.name: r for r in rules}
    y = np.array([label_index(cl.label) for cl in clips])
    spk = np.array([cl.speaker for cl in clips])
    enrol = enrolment_mask(clips)
    folds = []
    for fold in range(SPEAKER_FOLDS):
        split = make_split(clips, "speaker", fold)
        train, test = np.array(split.train + split.val), np.array(split.test)
        heads = fit_recipe(stats, copies, train, y, spk, enrol, c, clean_copies)
        folds.append(score_speakers(heads.standardise(stats), y, spk, enrol, test, heads, named, session_windows,
                                    seed=fold))
        if heads_out is not None:
            heads_out.setdefault("folds", []).append((heads, test[~enrol[test]]))
    table = {"speaker": _summary(folds), "rules": {k: vars(r) for k, r in named.items()},
             "session_windows": session_windows, "C": c}
    if emodb_stats is not None:
        heads = fit_recipe(stats, copies, np.arange(len(clips)), y, spk, enrol, c, clean_copies)
        if heads_out is not None:
            heads_out["emodb"] = heads
        ye = np.array([label_index(cl.label) for cl in emodb])
        se = np.array([cl.speaker for cl in emodb])
        table["emodb"] = score_speakers(heads.standardise(emodb_stats), ye, se, enrolment_mask(emodb),
                                        np.arange(len(emodb)), heads, named, session_windows, restrict=True)
    return table


SAFE_MAX_LOSS = 0.03  # the most a one-emotion session may lose against uncalibrated


def safe_rules(table: dict, max_loss: float = SAFE_MAX_LOSS) -> list[str]:
    """Rules whose sessions are at least as good as uncalibrated when mixed and lose at most max_loss on one
    emotion at a time, on the speaker folds and on EmoDB alike."""
    def ok(row: dict, name: str) -> bool:
        def get(key):
            v = row[key]
            return v["mean"] if isinstance(v, dict) else v
        base = get("uncalibrated")
        return get(f"session_mixed@{name}") >= base and get(f"session_one_emotion@{name}") >= base - max_loss

    return [n for n in table["rules"] if all(ok(table[part], n) for part in ("speaker", "emodb") if part in table)]


def random_split_figures(stats: np.ndarray, clips: list[Clip], c: float = DEFAULT_C,
                         copies: list[np.ndarray] = (), clean_copies: tuple[int, ...] | None = None
                         ) -> tuple[Heads, dict]:
    """Heads trained on the `random` split's train + validation clips, and their test accuracy/UAR
    (uncalibrated: the random split shares speakers between train and test)."""
    y = np.array([label_index(cl.label) for cl in clips])
    spk = np.array([cl.speaker for cl in clips])
    split = make_split(clips, "random")
    train, test = np.array(split.train + split.val), np.array(split.test)
    heads = fit_recipe(stats, copies, train, y, spk, enrolment_mask(clips), c, clean_copies)
    pred = heads.logits(heads.standardise(stats[test])).argmax(axis=1)
    return heads, {"accuracy": float(np.mean(pred == y[test])), "uar": uar(y[test], pred), "n": int(len(test))}

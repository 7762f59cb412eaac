"""Evaluation protocols as named, seeded, reproducible splits of the manifest.

- `random`: the study's protocol, stratified 80/10/10 over all clips (speakers shared).
- `random-full`: the same split with the validation clips moved into training, for refitting a recipe
  whose epoch count `random` chose; its test clips are `random`'s, its "validation" is training data.
- `speaker`: 5 folds over RAVDESS actors 1-20, each test fold 2 male + 2 female actors;
  validation actors (1 male + 1 female) drawn from the remaining training actors; TESS
  always in training. Augmented copies are chosen from the train part only, after the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from speechsense.training.corpora import Clip

PROTOCOLS = ("random", "random-full", "speaker")
SPEAKER_FOLDS = 5
SPEAKER_ACTORS = range(1, 21)


@dataclass(frozen=True)
class Split:
    """Indices into the manifest for train, validation and test."""

    name: str
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    test_speakers: tuple[str, ...] = ()
    val_speakers: tuple[str, ...] = ()


def random_split(clips: list[Clip], seed: int = 42) -> Split:
    """Stratified (by corpus and label) seeded 80/10/10 over all clips."""
    idx = np.arange(len(clips))
    strata = np.array([f"{c.corpus}:{c.label}" for c in clips])
    train, rest = train_test_split(idx, test_size=0.2, random_state=seed, stratify=strata)
    val, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=strata[rest])
    return Split("random", tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def speaker_folds(seed: int = 42) -> list[tuple[int, ...]]:
    """Five test folds of RAVDESS actor numbers, each two male (odd) and two female (even)."""
    rng = np.random.default_rng(seed)
    males = rng.permutation([a for a in SPEAKER_ACTORS if a % 2 == 1])
    females = rng.permutation([a for a in SPEAKER_ACTORS if a % 2 == 0])
    return [tuple(sorted(int(a) for a in (*males[2 * k:2 * k + 2], *females[2 * k:2 * k + 2])))
            for k in range(SPEAKER_FOLDS)]


def speaker_split(clips: list[Clip], fold: int, seed: int = 42) -> Split:
    """Fold `fold` of the speaker-independent protocol."""
    if not 0 <= fold < SPEAKER_FOLDS:
        raise ValueError(f"fold must be in 0..{SPEAKER_FOLDS - 1}, got {fold}")
    test_actors = speaker_folds(seed)[fold]
    rest = [a for a in SPEAKER_ACTORS if a not in test_actors]
    rng = np.random.default_rng(seed + 1 + fold)
    val_actors = (int(rng.choice([a for a in rest if a % 2 == 1])),
                  int(rng.choice([a for a in rest if a % 2 == 0])))
    test_spk = {f"ravdess_{a:02d}" for a in test_actors}
    val_spk = {f"ravdess_{a:02d}" for a in val_actors}
    train, val, test = [], [], []
    for i, c in enumerate(clips):
        if c.speaker in test_spk:
            test.append(i)
        elif c.speaker in val_spk:
            val.append(i)
        elif c.corpus == "tess" or _actor(c) in SPEAKER_ACTORS:
            train.append(i)
    return Split(f"speaker-fold{fold}", tuple(train), tuple(val), tuple(test),
                 tuple(sorted(test_spk)), tuple(sorted(val_spk)))


def _actor(clip: Clip) -> int:
    return int(clip.speaker.rsplit("_", 1)[-1]) if clip.corpus == "ravdess" else -1


def make_split(clips: list[Clip], protocol: str, fold: int = 0, seed: int = 42) -> Split:
    """The split for a protocol name."""
    if protocol == "random":
        return random_split(clips, seed)
    if protocol == "random-full":
        rnd = random_split(clips, seed)
        return Split("random-full", tuple(sorted(rnd.train + rnd.val)), rnd.val, rnd.test)
    if protocol == "speaker":
        return speaker_split(clips, fold, seed)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")

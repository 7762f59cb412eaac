"""A run's data: cached features of one protocol split, standardised, and each epoch's augmented windows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechsense.features import Normalizer
from speechsense.labels import label_index
from speechsense.training.augment import Variant, spec_mask
from speechsense.training.corpora import load_manifest
from speechsense.training.featstore import FeatureStore
from speechsense.training.presets import Preset
from speechsense.training.splits import Split, make_split


@dataclass
class Data:
    """Standardised arrays of one split; aug holds (copies, n_train, T, F) or None."""

    x_train: np.ndarray
    y_train: np.ndarray
    aug: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normalizer: Normalizer
    split: Split
    skipped: int


def prepare_data(preset: Preset, protocol: str, fold: int, data_root: Path, cache_dir: Path,
                 workers: int = 2, augmented: bool = True) -> Data:
    """Manifest, split, then features (augmented copies for the training clips only, when asked)."""
    manifest = load_manifest(data_root, cache_dir / "manifest.json")
    if manifest.skipped:
        print(f"skipped {len(manifest.skipped)} unreadable file(s): "
              + ", ".join(Path(p).name for p, _ in manifest.skipped), flush=True)
    clips = manifest.clips
    split = make_split(clips, protocol, fold, preset.seed)
    store = FeatureStore(cache_dir / "features", preset.features, workers)
    paths = {part: [clips[i].path for i in getattr(split, part)] for part in ("train", "val", "test")}
    labels = {part: np.array([label_index(clips[i].label) for i in getattr(split, part)], np.int64)
              for part in ("train", "val", "test")}
    t0 = time.time()
    store.ensure(paths["train"] + paths["val"] + paths["test"], [Variant()])
    variants = preset.augment.variants() if augmented else []
    store.ensure(paths["train"], variants)  # after the split: train clips only
    # One cache table in memory at a time, standardised in place: a speaker fold of 88 features would
    # otherwise peak at 2.7x what it keeps (5.5 GB for 2 GB).
    x = {part: store.get(p, Variant()) for part, p in paths.items()}
    store.forget(Variant())
    norm = Normalizer.fit(x["train"])
    for arr in x.values():
        norm.apply_inplace(arr)
    aug = None
    if variants:
        aug = np.empty((len(variants), *x["train"].shape), np.float32)
        for k, v in enumerate(variants):
            aug[k] = store.get(paths["train"], v)
            store.forget(v)
            norm.apply_inplace(aug[k])
    print(f"features ready in {time.time() - t0:.0f} s: train {len(paths['train'])} clips "
          f"(+{len(variants)} augmented copies each), val {len(paths['val'])}, test {len(paths['test'])}",
          flush=True)
    return Data(x["train"], labels["train"], aug, x["val"], labels["val"], x["test"], labels["test"], norm,
                split, len(manifest.skipped))


# Member k of an ensemble offsets its seeds by k strides; member 0 keeps a single model's seeds, so
# a finished single run of the same recipe is that ensemble's member 0.
MEMBER_SEED_STRIDE = 7919


def epoch_data(data: Data, preset: Preset, epoch: int, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """This epoch's training windows: clean clips plus augmented copies (all, or k drawn per clip)."""
    aug_cfg = preset.augment
    rng = np.random.default_rng(preset.seed * 1000 + epoch + MEMBER_SEED_STRIDE * member)
    xs, ys = [data.x_train], [data.y_train]
    if data.aug is not None:
        n_copies, n = data.aug.shape[:2]
        k = aug_cfg.copies_per_epoch or n_copies
        picks = np.argsort(rng.random((n_copies, n)), axis=0)[:k]  # k distinct copies per clip
        for row in picks:
            xs.append(data.aug[row, np.arange(n)])
            ys.append(data.y_train)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if aug_cfg.time_masks or aug_cfg.freq_masks:
        x = spec_mask(x, aug_cfg, rng)
    return x, y

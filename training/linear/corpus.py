"""Training a linear preset under `--protocol corpus`: leave one corpus out (training/linear/corpus_eval.py).

The statistics are the calibration protocol's own cache (training/linear/headstats.py, one file per model file and
copy), read for every corpus in the data root; EmoDB's augmented copies join the cache the first time a fold trains
on EmoDB. Each held-out corpus is written to <out>/heldout-<corpus>.json as it finishes, so a rerun resumes at the
next corpus; metrics.json gathers them and is copied to the report folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from speechsense.labels import label_index
from speechsense.training.corpora import Clip, load_manifest, scan_emodb
from speechsense.training.linear.corpus_eval import CorpusFold, corpus_folds, fit_fold, format_table, score_fold
from speechsense.training.linear.corpus_eval import summary as corpus_summary
from speechsense.training.linear.heads import enrolment_mask
from speechsense.training.linear.headstats import HeadStats
from speechsense.training.linear.train import _flat, stats_source
from speechsense.training.presets import Preset
from speechsense.training.report import publish, write_json

log = logging.getLogger(__name__)
PROTOCOL = "corpus"


@dataclass(frozen=True)
class CorpusData:
    """Every clip of the data root with its flattened statistics and those of each augmented copy."""

    clips: list[Clip]
    stats: np.ndarray  # (clips, d)
    copies: list[np.ndarray]  # one (clips, d) per copy, in augment.variants() order

    @property
    def labels(self) -> np.ndarray:
        return np.array([label_index(c.label) for c in self.clips])

    @property
    def speakers(self) -> np.ndarray:
        return np.array([c.speaker for c in self.clips])

    @property
    def corpora(self) -> np.ndarray:
        return np.array([c.corpus for c in self.clips])


def data_root_clips(data_root: Path, cache: Path) -> list[Clip]:
    """RAVDESS + TESS (the manifest) and EmoDB where the data root holds it."""
    clips = load_manifest(data_root, cache / "manifest.json").clips
    if (Path(data_root) / "emodb" / "wav").is_dir():
        clips = clips + scan_emodb(data_root).clips
    return clips


def copy_variants(preset: Preset, data_root: Path) -> list:
    """The preset's augmented copies, their babble drawn from data_root (as the calibration protocol draws it)."""
    augment = replace(preset.augment, babble_root=str(data_root)) if preset.augment.needs_babble else preset.augment
    return augment.variants()


def load_corpus_stats(preset: Preset, data_root: Path, cache: Path, threads: int = 2) -> CorpusData:
    """Statistics of every clip and copy from the head-input cache, computing only what it lacks."""
    clips = data_root_clips(data_root, cache)
    paths = [c.path for c in clips]
    source, root = stats_source(preset), cache / "headstats"
    stats = _flat(preset, HeadStats(source, root, threads).get(paths))
    copies = [_flat(preset, HeadStats(source, root, threads, variant=v).get(paths))
              for v in copy_variants(preset, data_root)]
    return CorpusData(clips, stats, copies)


def _held_out(data: CorpusData, fold: CorpusFold, preset: Preset, enrol: np.ndarray, out: Path) -> dict:
    """One held-out corpus's readings, from its file when an earlier run finished it."""
    path = out / f"heldout-{fold.held_out}.json"
    if path.exists():
        return json.loads(path.read_text())
    log.info("corpus protocol: fitting without %s (%d training rows, %d copies)", fold.held_out, len(fold.train),
             len(data.copies))
    heads = fit_fold(data.stats, data.copies, data.labels, data.speakers, enrol, fold, preset.recipe.linear_c,
                     preset.recipe.gate_clean_copies or None,
                     data.corpora if preset.recipe.balance_corpora else None)
    result = score_fold(heads, data.stats, data.labels, data.speakers, fold)
    write_json(path, result)
    log.info("held out %s: UAR %.3f on %d classes, %.3f on 4", fold.held_out, result["uncalibrated"]["uar"],
             len(fold.labels), result["uncalibrated_4class"]["uar"])
    return result


def run_corpus(preset: Preset, out: Path, data_root: Path, cache: Path, reports: Path | None = None,
               threads: int = 2) -> dict:
    """Leave each corpus of the data root out in turn; a finished folder is kept."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "metrics.json").exists():
        print(f"{out} is complete; metrics.json kept (delete the folder to retrain)", flush=True)
        return json.loads((out / "metrics.json").read_text())
    data = load_corpus_stats(preset, data_root, cache, threads)
    enrol = enrolment_mask(data.clips)
    folds = corpus_folds(data.corpora, data.labels, enrol)
    results = [_held_out(data, fold, preset, enrol, out) for fold in folds]
    metrics = {"preset": preset.name, "family": "encoder", "head": "linear", "protocol": PROTOCOL,
               "stats_model": str(stats_source(preset).name), "C": preset.recipe.linear_c,
               "corpus": {"held_out": {r["held_out"]: r for r in results}, "summary": corpus_summary(results)}}
    write_json(out / "metrics.json", metrics)
    write_json(out / "preset.json", preset.to_dict())
    print("corpus protocol (leave one corpus out; training/linear/corpus_eval.py):\n" + format_table(results),
          flush=True)
    if reports is not None:
        publish(out, reports)
    return metrics

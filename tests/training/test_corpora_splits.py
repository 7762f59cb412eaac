"""Corpus loaders on the release quirks, manifest caching, and the protocol splits."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest

from speechsense.training.corpora import Clip, load_manifest, scan_corpora
from speechsense.training.splits import make_split, random_split, speaker_folds, speaker_split


def test_quirky_files_load_and_unreadable_is_skipped(quirky_corpus: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        report = scan_corpora(quirky_corpus)
    by_name = {Path(c.path).name: c for c in report.clips}
    assert len(report.clips) == 7
    assert [Path(p).name for p, _ in report.skipped] == ["OAF_bad_angry.wav"]
    assert "OAF_bad_angry.wav" in caplog.text
    stereo = by_name["03-01-05-01-01-01-01.wav"]
    assert (stereo.speaker, stereo.gender, stereo.label) == ("ravdess_01", "male", "angry")
    assert by_name["03-01-03-02-01-01-02.wav"].gender == "female"
    assert by_name["OAF_back_fear.wav"].label == "fearful"  # 96 kHz, folder OAF_Fear
    assert abs(by_name["OAF_back_fear.wav"].duration - 0.6) < 1e-3
    assert by_name["YAF_back_fear.wav"].speaker == "tess_YAF"  # AIFF named .wav
    assert by_name["OA_bite_neutral.wav"].speaker == "tess_OAF"  # truncated prefix: folder decides
    assert by_name["YAF_dog_ps.flac"].label == "surprised"


def test_manifest_is_cached(quirky_corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "manifest.json"
    first = load_manifest(quirky_corpus, cache)
    assert cache.exists()
    shutil.rmtree(quirky_corpus / "ravdess" / "Actor_02")  # a cache hit must not rescan...
    (quirky_corpus / "ravdess" / "Actor_02").mkdir()
    second = load_manifest(quirky_corpus, cache)  # ...but a missing file invalidates it
    assert len(second.clips) == len(first.clips) - 2
    assert len(second.skipped) == 1


def test_real_clips_load(real_clips: list[Path], tmp_path: Path) -> None:
    for clip in real_clips:  # same layout, linked (never copied) into a temporary root
        dest = tmp_path / clip.parent.parent.name / clip.parent.name / clip.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(clip)
    report = scan_corpora(tmp_path)
    assert len(report.clips) == len(real_clips) and not report.skipped
    assert {c.corpus for c in report.clips} == {"ravdess", "tess"}


def fake_manifest() -> list[Clip]:
    labels = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    clips = [Clip(f"r/Actor_{a:02d}/{a}_{i}.flac", "ravdess", f"ravdess_{a:02d}", "male" if a % 2 else "female",
                  labels[i % 8], 3.0) for a in range(1, 21) for i in range(16)]
    tess_labels = [x for x in labels if x != "calm"]
    clips += [Clip(f"t/{s}_{i}.flac", "tess", f"tess_{s}", "female", tess_labels[i % 7], 2.0)
              for s in ("OAF", "YAF") for i in range(70)]
    return clips


def test_random_split_is_disjoint_stratified_and_seeded() -> None:
    clips = fake_manifest()
    split = random_split(clips, seed=42)
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(clips) and set().union(*parts) == set(range(len(clips)))
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert abs(len(split.test) / len(clips) - 0.1) < 0.02
    test_labels = Counter(clips[i].label for i in split.test)
    assert set(test_labels) == {c.label for c in clips}
    assert random_split(clips, seed=42) == split


def test_speaker_folds_are_balanced_and_cover_actors() -> None:
    folds = speaker_folds(42)
    assert sorted(a for f in folds for a in f) == list(range(1, 21))
    for fold in folds:
        assert sum(a % 2 for a in fold) == 2 and len(fold) == 4


@pytest.mark.parametrize("fold", range(5))
def test_speaker_split_is_disjoint_by_speaker(fold: int) -> None:
    clips = fake_manifest()
    split = speaker_split(clips, fold)
    spk = {part: {clips[i].speaker for i in getattr(split, part)} for part in ("train", "val", "test")}
    assert not (spk["train"] & spk["test"] or spk["train"] & spk["val"] or spk["val"] & spk["test"])
    assert {"tess_OAF", "tess_YAF"} <= spk["train"]
    assert len(spk["test"]) == 4 and len(spk["val"]) == 2
    assert {clips[i].gender for i in split.val} == {"male", "female"}
    assert len(split.train) + len(split.val) + len(split.test) == len(clips)


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        make_split(fake_manifest(), "leaky")


def test_random_full_moves_validation_into_training_and_keeps_the_test_clips() -> None:
    clips = fake_manifest()
    rnd, full = random_split(clips, seed=42), make_split(clips, "random-full", seed=42)
    assert set(full.train) == set(rnd.train) | set(rnd.val) and full.test == rnd.test
    assert not set(full.train) & set(full.test)

"""Corpus loaders: RAVDESS and TESS release layouts to one manifest of labelled clips.

A clip that cannot be read is logged by name, skipped and counted; it never aborts a run
and never changes another clip's label. The manifest is cached as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import soundfile as sf

from speechsense.audio import AudioError, load_file
from speechsense.labels import EMODB_EMOTIONS, EMODB_UNMAPPED, RAVDESS_EMOTIONS, TESS_EMOTIONS

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac")
RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
TESS_FOLDER = re.compile(r"^(OAF|YAF)_", re.IGNORECASE)
EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")
EMODB_MALE = {"03", "10", "11", "12", "15"}
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """One labelled recording."""

    path: str
    corpus: str
    speaker: str
    gender: str
    label: str
    duration: float


@dataclass
class LoadReport:
    """What a corpus scan found: clips kept and files skipped (with reasons)."""

    clips: list[Clip]
    skipped: list[tuple[str, str]]


def default_data_root() -> Path:
    """SPEECHSENSE_DATA, else ../shared/datasets relative to the repository root."""
    env = os.environ.get("SPEECHSENSE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _duration(path: Path) -> float:
    """Duration in seconds from the header; decodes fully (load_file) only to validate content."""
    info = sf.info(str(path))
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path} holds no samples")
    return info.frames / info.samplerate


def _probe(path: Path) -> float:
    """Duration of a readable file; AudioError (or a soundfile error) when it cannot be decoded."""
    try:
        duration = _duration(path)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"cannot decode {path}: {exc}") from None
    load_file(path, 16_000)  # a header alone can lie; make sure the samples decode
    return duration


def ravdess_clip(path: Path) -> tuple[str, str, str]:
    """(speaker, gender, label) from a RAVDESS name `03-01-EE-II-SS-RR-AA`; ValueError if malformed."""
    m = RAVDESS_NAME.match(path.stem)
    if not m:
        raise ValueError(f"not a RAVDESS file name: {path.name}")
    modality, channel, emotion, *_rest, actor = m.groups()
    if channel != "01":
        raise ValueError(f"{path.name} is not speech (vocal channel {channel})")
    if emotion not in RAVDESS_EMOTIONS:
        raise ValueError(f"{path.name}: unknown emotion code {emotion}")
    gender = "male" if int(actor) % 2 == 1 else "female"
    return f"ravdess_{actor}", gender, RAVDESS_EMOTIONS[emotion]


def tess_clip(path: Path) -> tuple[str, str, str]:
    """(speaker, gender, label) for TESS; the speaker comes from the folder (one file prefix is cut short)."""
    folder = path.parent.name
    m = TESS_FOLDER.match(folder)
    if not m:
        raise ValueError(f"not a TESS folder: {folder}")
    token = path.stem.rsplit("_", 1)[-1].lower()
    if token not in TESS_EMOTIONS:
        raise ValueError(f"{path.name}: unknown TESS emotion token {token!r}")
    return f"tess_{m.group(1).upper()}", "female", TESS_EMOTIONS[token]


def emodb_clip(path: Path) -> tuple[str, str, str]:
    """(speaker, gender, label) from an EmoDB name `SSTTTEV`; ValueError if malformed or unmapped (boredom)."""
    m = EMODB_NAME.match(path.stem)
    if not m:
        raise ValueError(f"not an EmoDB file name: {path.name}")
    speaker, _text, emotion, _version = m.groups()
    if emotion in EMODB_UNMAPPED:
        raise ValueError(f"{path.name}: {EMODB_UNMAPPED[emotion]} has no counterpart in our labels")
    if emotion not in EMODB_EMOTIONS:
        raise ValueError(f"{path.name}: unknown EmoDB emotion letter {emotion!r}")
    return f"emodb_{speaker}", "male" if speaker in EMODB_MALE else "female", EMODB_EMOTIONS[emotion]


_PARSERS = {"ravdess": ravdess_clip, "tess": tess_clip, "emodb": emodb_clip}


def _scan(files: list[tuple[Path, str]], report: LoadReport) -> None:
    for path, corpus in files:
        try:
            speaker, gender, label = _PARSERS[corpus](path)
            duration = _probe(path)
        except (AudioError, ValueError) as exc:
            log.warning("skipping %s: %s", path, exc)
            report.skipped.append((str(path), str(exc)))
            continue
        report.clips.append(Clip(str(path), corpus, speaker, gender, label, round(duration, 4)))


def scan_corpora(root: Path) -> LoadReport:
    """Every clip under root/ravdess/Actor_* and root/tess/{OAF,YAF}_*; skips unreadable files."""
    root = Path(root)
    files: list[tuple[Path, str]] = []
    rav = root / "ravdess"
    if rav.is_dir():
        for actor in sorted(p for p in rav.iterdir() if p.is_dir() and p.name.lower().startswith("actor_")):
            files += [(f, "ravdess") for f in _audio_files(actor)]
    tess = root / "tess"
    if tess.is_dir():
        for folder in sorted(p for p in tess.iterdir() if p.is_dir() and TESS_FOLDER.match(p.name)):
            files += [(f, "tess") for f in _audio_files(folder)]
    if not files:
        raise FileNotFoundError(f"no RAVDESS or TESS audio under {root}")
    report = LoadReport([], [])
    _scan(files, report)
    log.info("corpora: %d clips, %d skipped", len(report.clips), len(report.skipped))
    return report


def scan_emodb(root: Path) -> LoadReport:
    """EmoDB clips under root/emodb/wav, boredom left out (listed as skipped with the reason).

    Kept apart from scan_corpora: adding clips to that manifest would reshuffle the `random` split.
    """
    folder = Path(root) / "emodb" / "wav"
    if not folder.is_dir():
        raise FileNotFoundError(f"no EmoDB audio under {folder}")
    report, files = LoadReport([], []), []
    for f in _audio_files(folder):
        m = EMODB_NAME.match(f.stem)
        if m and m.group(3) in EMODB_UNMAPPED:  # expected, so not logged as a fault
            report.skipped.append((str(f), f"{EMODB_UNMAPPED[m.group(3)]} has no counterpart in our labels"))
        else:
            files.append((f, "emodb"))
    _scan(files, report)
    log.info("emodb: %d clips, %d skipped", len(report.clips), len(report.skipped))
    return report


def load_manifest(root: Path, cache: Path | None) -> LoadReport:
    """The manifest for root, from cache when it was built for the same root and file list."""
    root = Path(root).resolve()
    if cache is not None and cache.exists():
        data = json.loads(cache.read_text())
        if data.get("version") == MANIFEST_VERSION and data.get("root") == str(root):
            clips = [Clip(**c) for c in data["clips"]]
            if all(Path(c.path).exists() for c in clips):
                return LoadReport(clips, [tuple(s) for s in data["skipped"]])
    report = scan_corpora(root)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": MANIFEST_VERSION, "root": str(root),
                   "clips": [asdict(c) for c in report.clips], "skipped": report.skipped}
        cache.write_text(json.dumps(payload, indent=1))
    return report

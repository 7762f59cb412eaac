"""Code and documents point only at things inside the repository: no outside notes or tracker numbers, and
every repository path they name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEXT = (".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".proto", ".template", ".conf")
OUTSIDE = re.compile(r"NOTES\.md|\(NOTES\)|DEPLOY\.md|\bissues? #?\d+|\bthe issue's\b|\(issue\b", re.I)
# A relative path with a folder and a known extension, not inside a longer token ($PWD/x.onnx, a URL).
PATH = re.compile(r"(?<![\w/.<$-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|sh|yaml|yml|json|proto|toml|onnx|flac|template))\b")
GENERATED = ("runs/", "cache/", "tmp/", "build/", "dist/")  # made by running the tools, never committed


def tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    files = [REPO / n for n in names if n.endswith(TEXT) or n in ("Dockerfile", ".ci/run")]
    return [f for f in files if f.is_file() and f.name != "test_references.py"]


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = tracked()
    if not found:
        pytest.skip("not a git checkout: no list of tracked files")
    return found


def test_no_reference_to_notes_or_trackers_outside_the_repository(files):
    hits = [f"{f.relative_to(REPO)}:{n}: {line.strip()[:100]}" for f in files
            for n, line in enumerate(f.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, "\n".join(hits)


def test_every_repository_path_a_document_names_exists(files):
    missing = sorted({f"{f.relative_to(REPO)}: {p}" for f in files if f.suffix == ".md"
                      for p in PATH.findall(f.read_text())
                      if not p.startswith(GENERATED) and not (REPO / p).exists()})
    assert not missing, "\n".join(missing)


def test_the_checks_see_what_they_look_for():
    assert OUTSIDE.search("as NOTES.md says") and OUTSIDE.search("(issue 17)") and not OUTSIDE.search("an issue")
    assert PATH.findall("see `tests/monologue.py` and $PWD/my.onnx") == ["tests/monologue.py"]

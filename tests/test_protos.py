"""The committed generated code matches the .proto files, and the protos pass buf lint when buf is here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # protoc and buf, as subprocesses
REPO = Path(__file__).resolve().parent.parent


def test_generated_code_is_fresh(tmp_path):
    subprocess.run([sys.executable, str(REPO / "protos" / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    generated = sorted((tmp_path / "speechsense" / "v1").iterdir())
    assert generated, "protoc produced nothing"
    for path in generated:
        committed = REPO / "speechsense" / "v1" / path.name
        assert committed.exists(), f"{committed} is missing: run python protos/generate.py"
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run python protos/generate.py"


def test_buf_lint():
    buf = shutil.which("buf") or (REPO / "node_modules" / ".bin" / "buf")
    if not Path(buf).exists():
        pytest.skip("buf is not installed (npm install @bufbuild/buf); .ci/run installs it")
    result = subprocess.run([str(buf), "lint"], cwd=REPO / "protos", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The API as it was before utterance results: later versions must stay wire compatible with it.
BASELINE_COMMIT = "5e7af71e2e392df64dfe832742fba77329ea719e"


def test_buf_breaking_against_baseline():
    buf = shutil.which("buf") or (REPO / "node_modules" / ".bin" / "buf")
    if not Path(buf).exists():
        pytest.skip("buf is not installed (npm install @bufbuild/buf); .ci/run installs it")
    known = subprocess.run(["git", "cat-file", "-e", f"{BASELINE_COMMIT}^{{commit}}"], cwd=REPO, capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"baseline commit {BASELINE_COMMIT[:7]} is not in this clone (shallow?)")
    result = subprocess.run([str(buf), "breaking", "--against", f"{REPO}/.git#ref={BASELINE_COMMIT},subdir=protos"],
                            cwd=REPO / "protos", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

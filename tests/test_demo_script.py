"""scripts/demo.sh's own logic, with stand-ins for set-up, server and client: stdout carries only the client's
output (so --json is clean JSON Lines), and --plot FILE gives each example clip a plot of its own."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIENT = """#!/usr/bin/env bash
python3 -c 'import json, sys; print(json.dumps({"type": "summary", "argv": sys.argv[1:]}))' "$@"
"""


def stub(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def demo(tmp_path) -> Path:
    """A copy of the script in a tree whose set-up, server and probe are stand-ins, with two clips."""
    shutil.copy(REPO / "scripts" / "demo.sh", tmp_path / "demo.sh")
    (tmp_path / "scripts").mkdir()
    shutil.move(tmp_path / "demo.sh", tmp_path / "scripts" / "demo.sh")
    stub(tmp_path / "scripts" / "setup.sh", "echo '== installing speechsense[server,client]'\n")
    stub(tmp_path / ".venv" / "bin" / "speechsense-server", "exec sleep 30\n")
    stub(tmp_path / ".venv" / "bin" / "python", "echo probing\n")
    stub(tmp_path / ".venv" / "bin" / "speechsense-client", CLIENT)
    (tmp_path / "examples").mkdir()
    for name in ("a.flac", "b.flac"):
        (tmp_path / "examples" / name).write_bytes(b"")
    return tmp_path / "scripts" / "demo.sh"


def run(demo: Path, *args: str) -> tuple[list[dict], str]:
    out = subprocess.run(["bash", str(demo), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()], out.stderr


def test_json_lines_only_on_stdout(demo):
    lines, err = run(demo, "--json")
    assert [line["type"] for line in lines] == ["summary", "summary"]  # json.loads would fail on a banner
    assert "== examples/a.flac" in err and "== installing" in err


@pytest.mark.parametrize(("flag", "expected"), [
    (["--plot", "out/session.png"], ["out/session-a.png", "out/session-b.png"]),
    (["--plot=session"], ["session-a", "session-b"]),
])
def test_plot_per_clip(demo, flag, expected):
    lines, _ = run(demo, "--fast", *flag)
    plots = [line["argv"][line["argv"].index("--plot") + 1] for line in lines]
    assert plots == expected
    assert all("--fast" in line["argv"] for line in lines)


def test_without_plot_no_plot_flag(demo):
    lines, _ = run(demo)
    assert all("--plot" not in line["argv"] for line in lines)

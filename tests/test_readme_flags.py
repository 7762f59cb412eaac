"""README and the tools' parsers name the same flags.

README's flags are read from its code: fenced blocks and inline code spans. A flag after one of our
commands (`speechsense-server`, `-client`, `-train`, `-export`, with any path before it) belongs to that
command and must be one of its flags. A span that is only flags (`--retries`) must be a flag of one of our
tools, unless the README last showed another program (a benchmark, a script, docker, kubectl): prose such
as "export it and point `--model` at it" names one tool's flag right after another's command. The
tools' flags come from their argparse parsers, built in-process.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from unittest import mock

import pytest

from speechsense.client.enrol import build_parser as enrol_parser
from speechsense.client.main import build_parser as client_parser
from speechsense.export.main import parse_args as export_args
from speechsense.server.main import build_parser as server_parser
from speechsense.training.main import parse_args as train_args

README = Path(__file__).resolve().parent.parent / "README.md"
TOOLS = ("server", "client", "enrol", "train", "export")
OURS = re.compile(r"speechsense-(server|client enrol|client|train|export)\b")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Programs whose flags are not ours: a segment that starts with one of them changes the current command.
OTHERS = re.compile(r"^(\S*/)?(python3?|bash|sh|docker|podman|kubectl|grpcurl|curl|pip|buf|helm|git)\b")


class _Parser(Exception):
    """Carries the parser out of a parse_args(argv) function that builds one and parses at once."""


def _parser_of(parse_args) -> argparse.ArgumentParser:
    def capture(self, *args, **kwargs):
        raise _Parser(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", capture), pytest.raises(_Parser) as got:
        parse_args([])
    return got.value.args[0]


def tool_flags() -> dict[str, set[str]]:
    parsers = {"server": server_parser(), "client": client_parser(), "enrol": enrol_parser(),
               "train": _parser_of(train_args), "export": _parser_of(export_args)}
    return {name: _flags(p) for name, p in parsers.items()}


def _flags(p: argparse.ArgumentParser) -> set[str]:
    """A parser's long flags, its subcommands' included (speechsense-export keras|linear|waveform|card)."""
    subs = [q for a in p._actions if isinstance(a, argparse._SubParsersAction) for q in a.choices.values()]
    return {o for a in p._actions for o in a.option_strings if o.startswith("--")}.union(*map(_flags, subs))


def code_pieces(text: str) -> list[str]:
    """Every fenced-block line (comments dropped, continuations joined) and inline code span, in order."""
    pieces, prose, in_block = [], [], False

    def flush() -> None:
        pieces.extend(re.findall(r"`([^`]+)`", " ".join(prose)))
        prose.clear()

    for line in re.sub(r"\\\n\s*", " ", text).split("\n"):
        if line.lstrip().startswith("```"):
            flush()
            in_block = not in_block
        elif in_block:
            pieces.append(re.sub(r"(^|\s)#.*$", "", line))
        elif not line.strip():
            flush()
        else:
            prose.append(line)
    flush()
    return pieces


def readme_flags(text: str) -> dict[str, set[str]]:
    """Tool -> the flags README gives after its command; "ours" -> bare flags shown while one of ours was last."""
    found: dict[str, set[str]] = {t: set() for t in (*TOOLS, "ours")}
    current: str | None = None
    for piece in code_pieces(text):
        for segment in re.split(r"\|\||&&|[|;&]", piece):
            segment = segment.strip()
            ours = OURS.search(segment)
            if ours:
                current = ours.group(1).replace("client enrol", "enrol")
                found[current] |= set(FLAG.findall(segment[ours.end():]))
            elif OTHERS.match(segment) or re.search(r"(benchmarks|scripts)/\S+\.(py|sh)", segment):
                current = None
            elif segment.startswith("--") and current:
                found["ours"] |= set(FLAG.findall(segment))
    return found


def test_the_readme_scan_attributes_flags_to_their_commands():
    """Guards the scan itself on a small README of each shape it must read."""
    sample = ("Run `speechsense-server --port 1` and then:\n\n```sh\n.venv/bin/speechsense-client --file a \\\n"
              "   --json   # --not-a-flag\npython benchmarks/x.py --streams 3\n```\n\nthen `--skipped`, and\n"
              "`speechsense-train --preset p` with `--retries 2`\nand `docker run img --rm`, then `--ignored`.\n")
    flags = readme_flags(sample)
    assert flags["server"] == {"--port"}
    assert flags["client"] == {"--file", "--json"}
    assert flags["train"] == {"--preset"} and not flags["export"]
    assert flags["ours"] == {"--retries"}


@pytest.mark.parametrize("tool", TOOLS)
def test_every_flag_readme_names_exists(tool):
    named = readme_flags(README.read_text())[tool]
    missing = named - tool_flags()[tool]
    assert not missing, f"README names speechsense-{tool} flags its --help lacks: {sorted(missing)}"


def test_every_bare_flag_readme_names_is_one_of_ours():
    named = readme_flags(README.read_text())["ours"]
    missing = named - set().union(*tool_flags().values())
    assert not missing, f"README names flags none of our tools has: {sorted(missing)}"


# Flags README does not name yet; the README rewrite is to name them and empty this table (the test below
# fails both on a flag missing from README and on one listed here that README has come to name).
NOT_YET_IN_README: dict[str, set[str]] = {tool: set() for tool in TOOLS}


@pytest.mark.parametrize("tool", TOOLS)
def test_readme_names_every_flag(tool):
    named = set(FLAG.findall(" ".join(code_pieces(README.read_text()))))
    unnamed = tool_flags()[tool] - named
    assert unnamed <= NOT_YET_IN_README[tool], \
        f"speechsense-{tool} flags README never names: {sorted(unnamed - NOT_YET_IN_README[tool])}"
    assert not NOT_YET_IN_README[tool] & named, \
        f"README now names {sorted(NOT_YET_IN_README[tool] & named)}: take them out of NOT_YET_IN_README"

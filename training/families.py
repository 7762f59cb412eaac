"""Model families as plugins: each is one folder under training/ (its training, export and card code) and one
line in families() below. Which family trains, exports or renders the card of a preset is decided here only.

A family is a small object meeting the Family protocol; its module imports stay lazy, so that listing the
families (speechsense-train --help) loads no TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from speechsense.training.presets import Preset


@dataclass(frozen=True)
class TrainJob:
    """One speechsense-train invocation's options beyond the preset."""

    protocol: str
    out: Path
    data_root: Path
    cache: Path
    reports: Path
    folds: tuple[int, ...] = ()
    members: list[int] | None = None
    epochs: int | None = None
    workers: int = 2
    threads: int = 2
    refit_from: Path | None = None


class Family(Protocol):
    """What the CLIs need of a family: which presets and protocols are its, how it trains, exports and
    writes a card."""

    name: str
    protocols: tuple[str, ...]  # the --protocol values its presets train with, the first the default
    export_command: str  # the speechsense-export subcommand that turns its runs into a model file

    def owns(self, preset: Preset) -> bool: ...

    def train(self, preset: Preset, job: TrainJob) -> dict | None: ...

    def export(self, options) -> int: ...

    def render_card(self, run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str: ...


@cache
def families() -> dict[str, Family]:
    """The registry: a new family is its folder and one line here."""
    from speechsense.training.encoder import EncoderFamily
    from speechsense.training.hybrid import HybridFamily
    from speechsense.training.linear import LinearFamily

    return {f.name: f for f in (HybridFamily(), EncoderFamily(), LinearFamily())}


def family_of(preset: Preset) -> Family:
    """The one family a preset belongs to; ValueError when none or several claim it."""
    found = [f for f in families().values() if f.owns(preset)]
    if len(found) != 1:
        raise ValueError(f"preset {preset.name!r} belongs to {len(found)} families, not one: "
                         f"{', '.join(f.name for f in found) or 'none'}")
    return found[0]


def protocols() -> tuple[str, ...]:
    """Every protocol some family trains with, in registry order."""
    return tuple(dict.fromkeys(p for f in families().values() for p in f.protocols))


def family_of_run(run: Path) -> Family:
    """The family of a finished run folder, by the preset its preset.json names."""
    from speechsense.training.presets import get_preset

    return family_of(get_preset(json.loads((run / "preset.json").read_text())["name"]))

"""Presets are data whose descriptions are written out, and the cards show what the presets and reports hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from speechsense.export.card import TABLE_HEADING, preset_table
from speechsense.training.presets import PRESETS

REPO = Path(__file__).resolve().parents[2]
CARDS = sorted((REPO / "models").glob("*.md"))


def test_every_preset_has_its_own_written_out_description():
    descriptions = [p.description.strip() for p in PRESETS.values()]
    assert all(len(d) > 40 for d in descriptions), "a preset description is empty or a stub"
    assert len(set(descriptions)) == len(descriptions), "two presets share one description"


def test_the_preset_table_in_the_card_is_the_one_the_reports_build():
    """Regenerated from reports/ (what `speechsense-export --refresh-card` writes), the table is the card's."""
    card = REPO / "models" / "speechsense-hybrid.md"
    lines = card.read_text().split("\n")
    start = lines.index(TABLE_HEADING)
    table = preset_table(REPO / "reports")
    assert lines[start:start + len(table)] == table
    assert all(f"| `{name}` |" in "\n".join(table) for name in PRESETS)


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_the_card_describes_its_preset_as_the_preset_table_does(card: Path):
    found = re.findall(r"^- Preset `([^`]+)`: (.*)$", card.read_text(), re.M)
    assert found, f"{card.name} names no preset"
    for name, description in found:
        assert description == PRESETS[name].description

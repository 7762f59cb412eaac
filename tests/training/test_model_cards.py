"""The model cards hold only what the files behind them hold: presets, reports/ and the models' own metadata.

Each card is regenerated here from reports/<preset>/<protocol>/ (what speechsense-train and -export copied
there), reports/references.json (the comparison figures), the bundled ONNX file's metadata and the preset
table, with the card's own Reproduce block as the commands, and must come out identical. So a figure typed
into a card, or into the generator, fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from speechsense.training import cards as cards_module
from speechsense.training.cards import TABLE_HEADING, preset_table, rerender_card
from speechsense.training.encoder import card as encoder_card
from speechsense.training.hybrid import card as card_module
from speechsense.training.linear import card as linear_card
from speechsense.training.presets import PRESETS

REPO = Path(__file__).resolve().parents[2]
CARDS = sorted((REPO / "models").glob("*.md"))
# A figure as the cards print one: a percentage with decimals, or a fraction such as a UAR.
FIGURE = re.compile(r"\d+\.\d+%|\b0\.\d{2,}\b")


def regenerate(card: Path) -> str:
    """The card as export would write it now from the committed files (the run folder rebuilt from reports/), with
    the commands stored beside its export in reports/ as its Reproduce block."""
    return rerender_card(card.with_suffix(".onnx"), REPO / "reports")


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_every_figure_in_the_card_comes_from_the_files_the_generator_reads(card: Path, tmp_path: Path):
    text = card.read_text()
    assert FIGURE.search(text), f"{card.name} has no figures: the check would prove nothing"
    assert regenerate(card) == text


@pytest.mark.parametrize("module", [cards_module, card_module, encoder_card, linear_card],
                         ids=["cards", "card", "encoder_card", "linear_card"])
def test_the_card_generators_hold_no_figures_of_their_own(module):
    found = FIGURE.findall(Path(module.__file__).read_text())
    assert not found, f"{module.__name__} types figures into the card: {found}"


def test_every_preset_has_its_own_written_out_description():
    descriptions = [p.description.strip() for p in PRESETS.values()]
    assert all(len(d) > 40 for d in descriptions), "a preset description is empty or a stub"
    assert len(set(descriptions)) == len(descriptions), "two presets share one description"


def test_the_preset_table_in_the_card_is_the_one_the_reports_build():
    """Regenerated from reports/ (what `speechsense-export card` writes), the table is the card's."""
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

"""One place decides a preset's family; the export CLI asks for every output path and exports a run only with
its family's subcommand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speechsense.export.main import build_parser, parse_args
from speechsense.export.main import main as export_main
from speechsense.training.families import families, family_of, protocols
from speechsense.training.presets import PRESETS

REPO = Path(__file__).resolve().parents[2]


def test_every_preset_belongs_to_exactly_one_registered_family():
    owners = {name: family_of(p).name for name, p in PRESETS.items()}
    assert set(owners.values()) == set(families()) == {"hybrid", "encoder", "linear"}
    assert owners["improved-mix"] == "hybrid" and owners["whisper-base4-head"] == "encoder"
    assert owners["whisper-base4-linear-gated"] == "linear"


def test_the_training_protocols_are_the_families_own():
    assert protocols() == ("random", "random-full", "speaker", "calibration", "corpus")
    assert families()["linear"].protocols == ("calibration", "corpus")


def test_a_preset_description_is_generated_from_its_fields():
    base, noisy = PRESETS["improved"], PRESETS["improved-noisy"]
    assert "AWGN 15-30 dB" in base.description and "AWGN 5-30 dB" in noisy.description
    assert base.with_recipe(patience=3).description == base.description.replace("patience 15", "patience 3")


@pytest.mark.parametrize("argv", [["keras", "--run", "r"], ["keras", "--run", "r", "--out", "m.onnx"],
                                  ["linear", "--run", "r"], ["linear", "--run", "r", "--out", "m.onnx"],
                                  ["waveform", "m.onnx"], ["--run", "r"]])
def test_export_refuses_a_command_without_its_output_paths(argv):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2


def test_no_export_output_defaults_into_models():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.choices and "keras" in a.choices).choices
    defaults = [a.default for sub in subs.values() for a in sub._actions if isinstance(a.default, Path)]
    assert defaults and not any((REPO / "models") in (d, *d.parents) for d in defaults)


def test_a_run_is_exported_only_by_its_familys_subcommand(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "preset.json").write_text(json.dumps(PRESETS["whisper-base4-linear-gated"].to_dict()))
    with pytest.raises(SystemExit, match="speechsense-export linear"):
        export_main(["keras", "--run", str(run), "--out", str(tmp_path / "m.onnx"), "--card", str(tmp_path / "m.md")])
    assert not (tmp_path / "m.onnx").exists()

"""CLI help, metrics, fold summaries, and that export refuses to invent unmeasured speaker figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speechsense.export.main import parse_args as export_args
from speechsense.training.keras_export import speaker_metrics
from speechsense.training.main import parse_args as train_args
from speechsense.training.report import evaluate, summarise_folds

REPORTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.mark.parametrize("parse", [train_args, export_args])
def test_help_explains_every_flag(parse, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["--help"] if parse is train_args else ["keras", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    flags = {"--preset", "--protocol", "--fold", "--epochs", "--out", "--data-root"} if parse is train_args \
        else {"--run", "--out", "--quantize", "--card"}
    assert all(flag in out for flag in flags)


def test_refit_flags_that_would_be_ignored_are_refused() -> None:
    from speechsense.training.main import main

    with pytest.raises(SystemExit, match="no effect on random-full"):
        main(["--protocol", "random-full", "--epochs", "3"])
    with pytest.raises(SystemExit, match="random-full only"):
        main(["--protocol", "random", "--refit-from", "runs/x/random"])


def test_evaluate_gives_fractions_and_confusion() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(8)[[0, 1, 1, 1, 2, 0]] * 0.9 + 0.1 / 8
    m = evaluate(probs, y)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["uar"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert all(0 <= m[k] <= 1 for k in ("accuracy", "uar", "macro_f1"))
    assert np.array(m["confusion"]).sum() == 6 and m["cross_entropy"] > 0


def _fold(k: int, uar: float) -> dict:
    test = {"accuracy": uar, "uar": uar, "macro_f1": uar, "cross_entropy": 1.0}
    return {"fold": k, "split": {"test_speakers": [f"ravdess_{k:02d}"]}, "test": test}


def test_fold_summary_and_no_invented_speaker_figures(tmp_path: Path) -> None:
    s = summarise_folds([_fold(0, 0.5), _fold(1, 0.7)])
    assert s["uar_mean"] == pytest.approx(0.6) and s["uar_std"] == pytest.approx(0.1)
    with pytest.raises(SystemExit, match="never invents"):
        speaker_metrics(tmp_path)
    (tmp_path / "fold3").mkdir()
    (tmp_path / "fold3" / "metrics.json").write_text(json.dumps(_fold(3, 0.6)))
    measured = speaker_metrics(tmp_path)
    assert measured["complete"] is False and measured["folds_measured"] == [3]


def _run_metrics(preset: str, acc: float, max_epochs: int, fold: int = 0) -> dict:
    test = {"accuracy": acc, "uar": acc, "macro_f1": acc, "cross_entropy": 1.0, "n": 400}
    return {"preset": preset, "protocol": "random", "fold": fold,
            "split": {"test_speakers": [f"ravdess_{fold:02d}"]}, "test": test, "epochs_run": max_epochs - 2,
            "max_epochs": max_epochs, "best_epoch": 5, "kept": "best"}


def test_card_compares_presets_and_reproduces_the_measured_commands(tmp_path: Path) -> None:
    from speechsense.training.cards import noise_section as _noise_section
    from speechsense.training.cards import preset_rows as _preset_rows
    from speechsense.training.hybrid.export import reproduce

    runs = tmp_path / "runs"
    for preset, acc in (("alpha", 0.9), ("beta", 0.8)):
        (runs / preset / "random").mkdir(parents=True)
        (runs / preset / "random" / "metrics.json").write_text(json.dumps(_run_metrics(preset, acc, 40)))
    for k in (0, 1):
        (runs / "alpha" / "speaker" / f"fold{k}").mkdir(parents=True)
        (runs / "alpha" / "speaker" / f"fold{k}" / "metrics.json").write_text(
            json.dumps(_run_metrics("alpha", 0.5 + 0.1 * k, 16, k)))
    rows = _preset_rows(runs)
    assert rows[0].startswith("| `alpha` | 90.00% | 0.900 | 38 of 40 (best 5) | 0.550 +- 0.050 | 55.00% | 2/5 |")
    assert "not run" in rows[1]
    assert any(row.startswith("| `study` | not run | - | - | not run |") for row in rows)  # known, unmeasured
    commands = reproduce(runs / "alpha" / "random", runs / "alpha" / "speaker", "1.0.0", Path("a.onnx"), Path("a.md"))
    assert commands[:3] == ["speechsense-train --preset alpha --protocol random --epochs 40",
                            "speechsense-train --preset alpha --protocol speaker --fold all --epochs 16",
                            "speechsense-export keras --run runs/alpha/random --out a.onnx --card a.md "
                            "--model-version 1.0.0 --quantize"]
    assert _noise_section(runs / "alpha" / "random") == []
    (runs / "alpha" / "random" / "noise.json").write_text(json.dumps({"rows": [
        {"snr_db": "clean", "noise_reduction": False, "clips": 400, "accuracy": 0.9},
        {"snr_db": "clean", "noise_reduction": True, "clips": 400, "accuracy": 0.8},
        {"snr_db": 10.0, "noise_reduction": False, "clips": 400, "accuracy": 0.85},
        {"snr_db": 10.0, "noise_reduction": True, "clips": 400, "accuracy": 0.7}]}))
    section = "\n".join(_noise_section(runs / "alpha" / "random"))
    assert "| clean | 90.00% | 80.00% |" in section and "| 10 dB | 85.00% | 70.00% |" in section
    assert "hurts at every level" in section
    (runs / "alpha" / "random" / "noise.json").write_text(json.dumps({"rows": [
        {"noise": "none", "snr_db": "clean", "noise_reduction": False, "clips": 400, "accuracy": 0.9},
        {"noise": "none", "snr_db": "clean", "noise_reduction": True, "clips": 400, "accuracy": 0.8},
        {"noise": "white", "snr_db": 10.0, "noise_reduction": False, "clips": 400, "accuracy": 0.85},
        {"noise": "white", "snr_db": 10.0, "noise_reduction": True, "clips": 400, "accuracy": 0.87},
        {"noise": "pink", "snr_db": 10.0, "noise_reduction": False, "clips": 400, "accuracy": 0.6},
        {"noise": "pink", "snr_db": 5.0, "noise_reduction": False, "clips": 400, "accuracy": 0.5}]}))
    section = "\n".join(_noise_section(runs / "alpha" / "random"))
    assert "| SNR | white noise | pink noise | white + `--noise-reduction` |" in section
    assert "| clean | 90.00% | 90.00% | 80.00% |" in section
    assert "| 10 dB | 85.00% | 60.00% | 87.00% |" in section and "| 5 dB | - | 50.00% | - |" in section
    assert "does not help at every level" in section
    (runs / "alpha" / "random" / "noise.json").write_text(json.dumps({"part": "val", "rows": [
        {"noise": "none", "snr_db": "clean", "noise_reduction": False, "clips": 400, "accuracy": 0.9},
        {"noise": "babble", "snr_db": 10.0, "noise_reduction": False, "clips": 400, "accuracy": 0.7}]}))
    section = "\n".join(_noise_section(runs / "alpha" / "random"))
    assert "validation clips" in section and "| clean | 90.00% |\n| 10 dB | 70.00% |" in section
    assert "Noise reduction" not in section


def test_refresh_card_rewrites_only_the_preset_table(tmp_path: Path) -> None:
    from speechsense.training.cards import refresh_table

    reports = tmp_path / "reports"
    (reports / "gamma" / "random").mkdir(parents=True)
    (reports / "gamma" / "random" / "metrics.json").write_text(json.dumps(_run_metrics("gamma", 0.75, 30)))
    card = tmp_path / "card.md"
    card.write_text("# model\n\nintro\n\n### Presets compared\n\n| old | table |\n\n## Export and parity\n\nkept\n")
    refresh_table(card, reports)
    text = card.read_text()
    assert text.startswith("# model\n\nintro\n\n### Presets compared\n")
    assert text.endswith("## Export and parity\n\nkept\n")
    assert "| old | table |" not in text and "| `gamma` | 75.00% | 0.750 | 28 of 30 (best 5) |" in text
    card.write_text("# a card without the table\n")
    with pytest.raises(ValueError, match="no '### Presets compared'"):
        refresh_table(card, reports)


def test_card_describes_an_ensemble_and_a_mixture_by_their_members(tmp_path: Path) -> None:
    from speechsense.training.cards import epochs as _epochs
    from speechsense.training.hybrid.card import _architecture, _kept

    m = _run_metrics("improved-contrast-x3", 0.93, 40) | {
        "kept": "mean of members", "best_epoch": [26, 33],
        "members": [{"member": 0, "best_epoch": 26, "test_accuracy": 0.92},
                    {"member": 1, "best_epoch": 33, "test_accuracy": 0.91}]}
    assert _epochs(m) == "38 of 40 (2 members averaged; best 26, 33)"
    assert _kept(m).startswith("each member's best epoch") and "member 1: epoch 33, test accuracy 91.00%" in _kept(m)
    assert _architecture(m, 2_000_000).startswith("The mean of 2 CNN + attention-LSTM hybrids")
    single = _run_metrics("improved", 0.9, 40)
    assert _kept(single) == "weights of epoch 5 (best) kept" and "hybrids" not in _architecture(single, 10)
    mix = _run_metrics("improved-mix", 0.94, 40) | {
        "kept": "mean of members", "best_epoch": [26, 30],
        "members": [{"member": 0, "preset": "improved-contrast", "best_epoch": 26, "test_accuracy": 0.92},
                    {"member": 1, "preset": "improved", "best_epoch": 30, "test_accuracy": 0.915}]}
    assert "of different recipes (`improved-contrast`, `improved`;" in _architecture(mix, 2_000_000)
    assert "member 1 (`improved`): epoch 30, test accuracy 91.50%" in _kept(mix)
    assert "(`" not in _kept(m)  # copies of one recipe are not named per member


def test_card_of_a_refit_names_its_protocol_and_the_run_that_chose_its_epochs(tmp_path: Path) -> None:
    from speechsense.training.hybrid.card import _chosen_row, _kept, _protocol_line
    from speechsense.training.hybrid.export import reproduce
    from speechsense.training.keras_export import random_metrics

    runs = tmp_path / "runs" / "mix"
    chosen = _run_metrics("mix", 0.93, 40) | {"protocol": "random"}
    refit = _run_metrics("mix", 0.95, 40) | {
        "protocol": "random-full", "val_in_training": True, "kept": "mean of members", "training_seconds": 600,
        "split": {"n_train": 3600, "n_val": 400, "n_test": 400},
        "members": [{"member": 0, "preset": "a", "best_epoch": 9, "epochs_run": 26, "test_accuracy": 0.9},
                    {"member": 1, "preset": "b", "best_epoch": 3, "epochs_run": 22, "test_accuracy": 0.9}]}
    for protocol, m in (("random", chosen), ("random-full", refit)):
        (runs / protocol).mkdir(parents=True)
        (runs / protocol / "metrics.json").write_text(json.dumps(m))
    # The random run's networks kept epochs 26 and 22, as the refit's networks ran; then one did not.
    for k, (kept, ran) in enumerate(((26, 26), (22, 22))):
        for protocol, m in (("random", {"kept": "best", "best_epoch": kept, "epochs_run": 40}),
                            ("random-full", {"kept": "last", "best_epoch": 1, "epochs_run": ran})):
            (runs / protocol / f"member{k}").mkdir()
            (runs / protocol / f"member{k}" / "metrics.json").write_text(json.dumps(m))
    figures = random_metrics(runs / "random-full", REPORTS)
    assert figures["accuracy"] == 0.95 and figures["chosen_run"]["accuracy"] == 0.93
    (runs / "random" / "member1" / "metrics.json").write_text(json.dumps({"kept": "best", "best_epoch": 30}))
    assert "chosen_run" not in random_metrics(runs / "random-full", REPORTS)  # refitted from another run: no row
    assert _chosen_row(figures)[0].startswith("| same recipe, train clips only (`random`) | 93.00% |")
    assert _chosen_row(random_metrics(runs / "random", REPORTS)) == []
    assert _kept(refit) == ("trained to the epoch its `random` run kept (member 0 (`a`): 26; member 1 (`b`): 22), "
                            "last weights kept")
    line = _protocol_line(refit, {"seed": 42})
    assert "`random-full`" in line and "3600 training clips, the same 400 test clips" in line
    assert reproduce(runs / "random-full", runs / "speaker", "2.0.0", Path("m.onnx"), Path("m.md"))[:4] == [
        "speechsense-train --preset mix --protocol random --epochs 40",
        "speechsense-train --preset mix --protocol random-full",
        "speechsense-train --preset mix --protocol speaker --fold all",
        "speechsense-export keras --run runs/mix/random-full --out m.onnx --card m.md --model-version 2.0.0 --quantize"]

"""The encoder family: a frozen pretrained Whisper encoder whose per-layer statistics feed a small trained MLP
head, one Keras graph exported through keras export, with its own card."""

from __future__ import annotations

from pathlib import Path


class EncoderFamily:
    """The Family protocol (training/families.py) for encoder + MLP head presets."""

    name = "encoder"
    protocols = ("random", "random-full", "speaker")  # random-full is refused by its training: no refits
    export_command = "keras"

    def owns(self, preset) -> bool:
        from speechsense.training.encoder.recipe import EncoderRecipe

        return isinstance(preset.recipe, EncoderRecipe)

    def train(self, preset, job) -> dict | None:
        from speechsense.training.encoder.train import run_encoder
        from speechsense.training.folds import speaker_folds

        def one(fold: int, out: Path, reports: Path | None) -> dict:
            return run_encoder(preset, job.protocol, fold, job.epochs, out, job.data_root, job.cache, reports)

        if job.protocol == "speaker":
            return speaker_folds(preset.name, list(job.folds), job.out, job.reports, one)
        return one(0, job.out, job.reports)

    def export(self, options) -> int:
        from speechsense.training.keras_export import export_run

        return export_run(options, self)

    def model_fields(self, run: Path) -> dict:
        from speechsense.training.encoder.export import encoder_metadata_fields

        return encoder_metadata_fields(run)

    def load_model(self, run: Path):
        from speechsense.training.encoder.export import load_encoder_model

        return load_encoder_model(run)

    def reproduce(self, options, speaker_dir: Path) -> list[str]:
        from speechsense.training.encoder.export import encoder_reproduce

        return encoder_reproduce(options.run, list(options.argv), options.out)

    def render_card(self, run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
        from speechsense.training.encoder.card import render_encoder_card

        return render_encoder_card(run, report, metadata, reports_root, commands)

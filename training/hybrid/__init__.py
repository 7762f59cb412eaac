"""The hybrid family: the study's CNN + attention-LSTM in Keras (and its single and ensemble variants),
trained on cached features, exported through keras export, with its own card."""

from __future__ import annotations

from pathlib import Path


class HybridFamily:
    """The Family protocol (training/families.py) for the hybrid's presets."""

    name = "hybrid"
    protocols = ("random", "random-full", "speaker")
    export_command = "keras"

    def owns(self, preset) -> bool:
        from speechsense.training.hybrid.recipe import HybridRecipe

        return isinstance(preset.recipe, HybridRecipe)

    def train(self, preset, job) -> dict | None:
        from speechsense.training.hybrid import train

        if job.protocol == "speaker":
            return train.run_speaker(preset, list(job.folds), job.epochs, job.out, job.data_root, job.cache,
                                     job.workers, job.reports, job.members)
        return train.run(preset, job.protocol, 0, job.epochs, job.out, job.data_root, job.cache, job.workers,
                         job.reports, job.members, job.refit_from)

    def export(self, options) -> int:
        from speechsense.training.keras_export import export_run

        return export_run(options, self)

    def model_fields(self, run: Path) -> dict:
        from speechsense.training.hybrid.export import model_fields

        return model_fields(run)

    def load_model(self, run: Path):
        from speechsense.training.hybrid.export import load_model

        return load_model(run)

    def reproduce(self, options, speaker_dir: Path) -> list[str]:
        from speechsense.training.hybrid.export import reproduce

        return reproduce(options.run, speaker_dir, options.model_version, options.out, options.card)

    def render_card(self, run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
        from speechsense.training.hybrid.card import render

        return render(run, report, metadata, reports_root, commands)

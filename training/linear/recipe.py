"""The linear family's recipe: the model file whose statistics the heads read, the heads' strength, the session
rule offered if measured safe, and a gated mixture's clean copies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from speechsense.training.presets import Preset


@dataclass(frozen=True)
class LinearRecipe:
    """Two multinomial logistic heads (uncalibrated, and on a speaker baseline) trained on the statistics that
    the model file `stats_model` computes (its int8 encoder included; `depth` + 1 hidden states kept), with L2
    strength 1 / linear_c. With gate_clean_copies (indices into augment.variants()), a clean expert trained on
    the clean clips and those copies, a room expert on every copy, and a detector of the other copies mixing
    them per window (training/linear/heads.py gated)."""

    stats_model: str = "encoder"
    encoder: str = "whisper-base"  # the encoder inside stats_model, for the description
    depth: int = 0
    linear_c: float = 0.05
    session_prior_windows: float = 40.0
    session_max_weight: float = 0.0  # 0: session calibration is not offered
    gate_clean_copies: tuple[int, ...] = ()
    balance_corpora: bool = False  # weigh each training corpus, and each class within it, equally

    def check(self, preset: Preset) -> None:
        if not self.stats_model:
            raise ValueError(f"preset {preset.name!r}: a linear preset needs a stats_model")
        if any(not 0 <= k < len(preset.augment.variants()) for k in self.gate_clean_copies):
            raise ValueError(f"preset {preset.name!r}: gate_clean_copies index copies the preset does not make")

    def describe(self, preset: Preset, features: str, augment: str) -> str:
        from speechsense.training.augment import AugmentConfig
        from speechsense.training.recipe import describe_copies

        blocks = f"first {self.depth} blocks" if self.depth else "all blocks"
        source = f"the int8 {self.encoder} encoder ({blocks}) of the bundled `{self.stats_model}` model file"
        heads = (f"two multinomial logistic heads (L2, C = {self.linear_c:g}): a population head, and a profile head "
                 "trained on each speaker's statistics minus their enrolment baseline")
        if self.gate_clean_copies:
            copies = describe_copies(preset.augment)
            clean = "; ".join(copies[k] for k in self.gate_clean_copies)
            heads = (f"two experts, each {heads}: a clean expert on the clean clips and {clean}, a room expert on "
                     "every copy, mixed per window by a logistic detector of the other copies")
        if self.balance_corpora:
            heads += "; each training corpus, and each class within a corpus, weighs the same in the heads' fit"
        session = ("no session calibration offered" if not self.session_max_weight else
                   f"session calibration offered if measured safe: a prior of {self.session_prior_windows:g} "
                   f"windows, the baseline's weight capped at {self.session_max_weight:g}")
        plain = preset.augment == AugmentConfig()
        return (f"{source}, its hidden states mean + std pooled over {features} exactly as that file computes them; "
                f"per-unit standardisation on the training rows; {heads}; training copies: {augment}"
                + ("" if plain else "; a copy's clips are centred on that copy's enrolment clips") + f"; {session}")

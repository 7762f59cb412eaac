"""The encoder family's recipe: which frozen encoder, how much of it, and the MLP head on its statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from speechsense.training.recipe import KerasRecipe

if TYPE_CHECKING:
    from speechsense.training.presets import Preset

MIXES = {"weighted": "a learned softmax-weighted sum over the layers",
         "concat": "the layers weighted and concatenated"}


@dataclass(frozen=True)
class EncoderRecipe(KerasRecipe):
    """A frozen pretrained encoder (a name in training/encoder/whisper.py), `depth` of its blocks kept (0: all),
    and a head mixing the hidden states `head_layers` (empty: all kept), `head_hidden` units wide."""

    encoder: str = "whisper-base"
    depth: int = 0
    head_layers: tuple[int, ...] = ()
    head_hidden: int = 256
    head_mix: str = "weighted"

    def check(self, preset: Preset) -> None:
        if preset.features.kind != "whisper_logmel":
            raise ValueError(f"preset {preset.name!r}: an encoder preset needs whisper_logmel features")

    def describe_encoder(self) -> str:
        from speechsense.training.encoder.whisper import encoder_source

        blocks = f"first {self.depth} blocks" if self.depth else "all blocks"
        return f"{self.encoder} encoder (frozen, {blocks}, from the {encoder_source(self.encoder).pip} wheels)"

    def describe(self, preset: Preset, features: str, augment: str) -> str:
        layers = (f"hidden states {', '.join(map(str, self.head_layers))}" if self.head_layers
                  else "every hidden state,")
        return (f"{self.describe_encoder()} on {features}; {layers} mean + std pooled over time; head: per-unit "
                f"standardisation, {MIXES.get(self.head_mix, self.head_mix)}, Dense {self.head_hidden} GELU, "
                f"softmax; {self.describe_fit()}; training copies: {augment}")

"""The hybrid family's recipe: which Keras network, how it is fitted, and an ensemble's members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from speechsense.training.recipe import KerasRecipe

if TYPE_CHECKING:
    from speechsense.training.presets import Preset

MODELS = {"hybrid": "CNN + attention-LSTM hybrid", "cnn": "CNN", "lstm": "LSTM", "lstm_attention": "attention LSTM"}


@dataclass(frozen=True)
class HybridRecipe(KerasRecipe):
    """A network of training/hybrid/models.py; members > 1: copies initialised and shuffled differently, their
    probabilities averaged, or with `mixture` one preset per member (each member's features must be columns
    of the ensemble's, which is what the served model computes)."""

    model: str = "hybrid"
    members: int = 1
    mixture: tuple[Preset, ...] = ()

    def check(self, preset: Preset) -> None:
        """ValueError unless the members fit the preset (one split, columns of its features)."""
        if self.members < 1:
            raise ValueError(f"preset {preset.name!r}: members must be >= 1, got {self.members}")
        if not self.mixture:
            return
        if len(self.mixture) != self.members:
            raise ValueError(f"preset {preset.name!r}: {self.members} members but {len(self.mixture)} recipes")
        for member in self.mixture:
            if not isinstance(member.recipe, HybridRecipe) or member.recipe.members != 1 or member.seed != preset.seed:
                raise ValueError(f"preset {preset.name!r}: member recipe {member.name!r} must be a single "
                                 f"model with the ensemble's seed {preset.seed} (one split for all)")
            preset.features.columns_of(member.features)  # raises unless its columns are ours

    def describe(self, preset: Preset, features: str, augment: str) -> str:
        one = f"{MODELS.get(self.model, self.model)}; {self.describe_fit()}"
        if self.mixture:
            names = ", ".join(f"`{m.name}`" for m in self.mixture)
            each = " ".join(f"`{m.name}`: {m.description}" for m in self.mixture)
            return (f"The mean of {self.members} networks in one graph, one of each recipe ({names}), each on its "
                    f"columns of {features}. {each.rstrip('.')}")
        if self.members > 1:
            return (f"The mean of {self.members} networks in one graph, one recipe initialised and shuffled with "
                    f"different seeds: {one}; {features}; training copies: {augment}")
        return f"{one}; {features}; training copies: {augment}"

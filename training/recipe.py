"""What the recipes of several families share: the Keras fitting schedule, and the words that describe a
preset's features and augmentation from their fields (so a description never restates a field by hand)."""

from __future__ import annotations

from dataclasses import dataclass

from speechsense.features import FeatureConfig
from speechsense.training.augment import AugmentConfig


@dataclass(frozen=True)
class KerasRecipe:
    """How a Keras network is fitted: optimiser, schedule, regularisation and stopping."""

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

    def describe_fit(self) -> str:
        """The fitting schedule in words."""
        opt = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[self.optimizer]
        opt += f" lr {self.learning_rate:g}" + (f" wd {self.weight_decay:g}" if self.weight_decay else "")
        if self.schedule == "cosine":
            opt += f", {self.warmup_epochs}-epoch warm-up + cosine decay"
        stop = (f"up to {self.epochs} epochs, early stopping on validation UAR (patience {self.patience}, best "
                "weights restored)" if self.early_stopping else f"{self.epochs} epochs, last epoch kept")
        return (f"{opt}, batch {self.batch_size}, dropout {self.dropout:g}, {stop}"
                + (", balanced class weights" if self.class_weights else ""))


def describe_features(cfg: FeatureConfig) -> str:
    """The feature matrix in words."""
    if cfg.kind == "whisper_logmel":
        return f"{cfg.window_seconds:g} s of Whisper log-mel ({cfg.n_mels} bands)"
    parts = [f"{cfg.n_mfcc} MFCCs (from {cfg.n_mels} mel bands)"] + (["their deltas"] if cfg.deltas else [])
    parts += (["RMS"] if cfg.rms else []) + (["ZCR"] if cfg.zcr else [])
    parts += [f"spectral contrast in {cfg.contrast_bands} octave bands"] if cfg.contrast_bands else []
    return " + ".join(parts) + f" per frame, {cfg.window_seconds:g} s windows"


def _span(lo_hi: tuple[float, float], unit: str) -> str:
    return f"{lo_hi[0]:g}-{lo_hi[1]:g}{unit}"


def describe_copies(aug: AugmentConfig) -> list[str]:
    """One phrase per augmented copy of every training clip."""
    copies = [f"AWGN {_span(aug.snr_db, ' dB')}"] * aug.noise_copies
    speed = f"speed {'/'.join(f'{s:g}' for s in aug.speeds)}" + (" + AWGN" if aug.noise_with_speed else "")
    copies += [speed] * aug.speed_copies
    room = (f"a room (reverb RT60 {_span(aug.rt60, ' s')}, babble of {'/'.join(aug.babble_corpora)} neutral talkers "
            f"or coloured noise at {_span(aug.room_snr_db, ' dB')}, phone line, gain {_span(aug.gain_db, ' dB')})")
    copies += [room] * aug.room_copies
    kinds = {"babble": f"babble of {'/'.join(aug.babble_corpora)} neutral talkers ({_span(aug.room_snr_db, ' dB')})",
             "coloured": f"coloured 1/f^b noise ({_span(aug.room_snr_db, ' dB')})",
             "reverb": f"reverberation (RT60 {_span(aug.rt60, ' s')})", "telephone": "a phone line",
             "gain": f"gain {_span(aug.gain_db, ' dB')}", "room": room}
    return copies + [kinds[k] for k in aug.room_kinds]


def describe_augment(aug: AugmentConfig) -> str:
    """The training copies and masks in words."""
    counts = dict.fromkeys(describe_copies(aug), 0)
    for copy in describe_copies(aug):
        counts[copy] += 1
    copies = [f"{n} x {c}" if n > 1 else c for c, n in counts.items()]
    text = "clean clips only" if not copies else "clean clips plus copies: " + "; ".join(copies)
    if aug.copies_per_epoch:
        text += f" ({aug.copies_per_epoch} copies drawn per clip per epoch)"
    masks = [f"{aug.time_masks} time mask(s) <= {aug.time_mask_frames} frames"] if aug.time_masks else []
    masks += [f"{aug.freq_masks} feature mask(s) <= {aug.freq_mask_bins} features"] if aug.freq_masks else []
    return text + (f"; SpecAugment-style masks: {', '.join(masks)}" if masks else "")

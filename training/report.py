"""Evaluation metrics (WA, UAR, macro-F1, cross-entropy, confusion) and the report's PNG figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
)

from speechsense.labels import LABELS  # noqa: E402


def evaluate(probs: np.ndarray, y: np.ndarray) -> dict:
    """Metrics of predicted probabilities against integer labels; every rate is a fraction in 0..1."""
    pred = probs.argmax(axis=1)
    classes = list(range(len(LABELS)))
    present = sorted(set(y.tolist()))
    clipped = np.clip(probs, 1e-7, 1.0)
    recall = {LABELS[c]: float((pred[y == c] == c).mean()) for c in present}
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        # Mean recall over the classes present (sklearn's balanced accuracy, without its warning when a
        # small split predicts a class it does not hold).
        "uar": float(np.mean(list(recall.values()))),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "cross_entropy": float(log_loss(y, clipped / clipped.sum(1, keepdims=True), labels=classes)),
        "confusion": confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class_recall": recall,
    }


def short(m: dict) -> str:
    """One line of the headline metrics."""
    return f"acc {m['accuracy']:.4f} uar {m['uar']:.4f} f1 {m['macro_f1']:.4f} ce {m['cross_entropy']:.4f}"


def plot_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy/UAR per epoch, train against validation."""
    if not history:
        return
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(ep, [h["loss"] for h in history], label="train loss")
    a.plot(ep, [h["val"]["cross_entropy"] for h in history], label="val cross-entropy")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["accuracy"] for h in history], label="train accuracy")
    b.plot(ep, [h["val"]["accuracy"] for h in history], label="val accuracy")
    b.plot(ep, [h["val"]["uar"] for h in history], label="val UAR")
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion: list[list[int]], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts."""
    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summarise_folds(fold_metrics: list[dict]) -> dict:
    """Mean and std (population) over the measured folds of the speaker protocol."""
    def stats(key: str) -> tuple[float, float]:
        vals = np.array([m["test"][key] for m in fold_metrics], dtype=float)
        return float(vals.mean()), float(vals.std())

    out: dict = {"folds_measured": [m["fold"] for m in fold_metrics], "n_folds_measured": len(fold_metrics)}
    for key in ("uar", "accuracy", "macro_f1", "cross_entropy"):
        mean, std = stats(key)
        out[f"{key}_mean"], out[f"{key}_std"] = mean, std
    out["per_fold"] = [{"fold": m["fold"], "test_speakers": m["split"]["test_speakers"],
                        **{k: m["test"][k] for k in ("accuracy", "uar", "macro_f1", "cross_entropy")}}
                       for m in fold_metrics]
    return out


PUBLISHED_FILES = ("metrics.json", "summary.json", "curves.png", "confusion_test.png", "export.json", "noise.json")


def publish(run: Path, dest: Path) -> None:
    """Copy a run's light report files (metrics, fold summary, figures, export and noise figures) to a
    committed folder.

    Run folders hold models and checkpoints and stay out of git; the copies under reports/ are the
    evidence behind the model card's preset table, so they outlive the machine that trained them.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED_FILES:
        if (run / name).exists():
            shutil.copyfile(run / name, dest / name)


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)

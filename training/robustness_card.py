"""A model card's robustness section, from the committed run of benchmarks/robustness.py.

reports/robustness.json holds one row per (model, set, condition); the card shows the rows of its own file
(matched by name and version) and of the per-fold files of its own recipe (matched by preset), and the
targets that reports/references.json sets for its family. No row for the file: no section.
"""

from __future__ import annotations

import json
from pathlib import Path

REPORT = "robustness.json"
COMMAND = "python benchmarks/robustness.py"


def _columns(rows: list[dict], metadata) -> list[tuple[str, list[dict]]]:
    """(heading, rows) per column: the file on each set, then its recipe's fold files on each set."""
    own = [r for r in rows if not r.get("folds") and r["model"].split(" ")[0] == metadata.model_name
           and r.get("version") == metadata.model_version]
    folds = [r for r in rows if r.get("folds") and r.get("preset") == metadata.training_preset]
    cols = []
    for label, group in (("this file", own), ("its recipe's 5 fold files", folds)):
        for s in dict.fromkeys(r["set"] for r in group):
            heard = any(not r["speaker_independent"] for r in group if r["set"] == s)
            name = {"ravdess": "RAVDESS actors 1-20", "emodb": "EmoDB"}.get(s, s)
            cols.append((f"{label}, {name} ({'heard in training' if heard else 'never heard'})",
                         [r for r in group if r["set"] == s]))
    return cols


def robustness_section(metadata, reports_root: Path) -> list[str]:
    """Markdown lines: the UAR per condition for this file (and its fold files), beside the family's targets."""
    path = reports_root / REPORT
    if not path.exists():
        return []
    report = json.loads(path.read_text())
    cols = _columns(report["rows"], metadata)
    if not cols:
        return []
    refs = json.loads((reports_root / "references.json").read_text()).get("robustness_targets", {})
    targets = refs.get(metadata.model_family, {})
    head = ["condition", *(c for c, _ in cols)] + (["target (held-out voices)"] if targets else [])
    lines = ["## Robustness", "",
             f"`{COMMAND}` (`reports/{REPORT}`, seed {report['seed']}, gate {report['gate']}): one window per clip "
             "through the server's Engine (gate, preparation, ONNX Runtime); babble is "
             f"{report['babble_talkers']} talkers of other corpora's neutral speech; telephone 8 kHz, 300-3400 Hz; "
             "reverberation a simulated room that training copies never use. A gated window counts as a miss."
             + (" Fold files score each fold's held-out actors with the heads that never heard them."
                if any(r.get("folds") for _, group in cols for r in group) else "") + " UAR:", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    conditions = list(dict.fromkeys(r["condition"] for _, group in cols for r in group))
    for cond in conditions:
        cells = [cond]
        for _, group in cols:
            row = next((r for r in group if r["condition"] == cond), None)
            cells.append("-" if row is None else f"{row['uar']:.3f}")
        if targets:
            cells.append(f"{targets[cond]:.2f}" if cond in targets else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if targets:
        lines += ["", f"Targets: {refs['source']}."]
    return lines + [""]

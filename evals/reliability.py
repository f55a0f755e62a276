"""Is the confidence a probability? Reliability of held-out confidences against the labels.

Confidences are grouped in bins of width 0.1; in each bin the share of (control, document) pairs that are labeled
is compared with the mean confidence. The expected calibration error (ECE) is the pair-weighted mean gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

EDGES = np.round(np.arange(0.0, 1.01, 0.1), 2)


@dataclass
class Bin:
    low: float
    high: float
    pairs: int
    mean_confidence: float
    labeled_share: float


def bins(confidence: np.ndarray, labeled: np.ndarray) -> list[Bin]:
    out = []
    which = np.clip(np.digitize(confidence, EDGES[1:-1]), 0, len(EDGES) - 2)
    for k in range(len(EDGES) - 1):
        mask = which == k
        if mask.any():
            out.append(Bin(float(EDGES[k]), float(EDGES[k + 1]), int(mask.sum()), float(confidence[mask].mean()),
                           float(labeled[mask].mean())))
    return out


def expected_calibration_error(table: list[Bin]) -> float:
    total = sum(b.pairs for b in table)
    return sum(b.pairs * abs(b.mean_confidence - b.labeled_share) for b in table) / total if total else 0.0


def plot(table: list[Bin], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="perfectly calibrated")
    ax.plot([b.mean_confidence for b in table], [b.labeled_share for b in table], marker="o", color="#1f5f8b",
            label="ctrlmap (held-out dataset)")
    for b in table:
        ax.annotate(f"{b.pairs}", (b.mean_confidence, b.labeled_share), textcoords="offset points",
                    xytext=(4, -10), fontsize=7, color="#555")
    ax.set_xlabel("confidence given by ctrlmap")
    ax.set_ylabel("share of pairs the dataset labels as satisfying")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)

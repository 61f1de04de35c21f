"""PNG figures for Markdown reports (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt
import pandas as pd


def threshold_curve_png(
    path: Path, sweep: pd.DataFrame, *, title: str, threshold: float, best: float | None = None
) -> None:
    """F1, precision and recall against the threshold (the paper's Figure 2)."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    if sweep.empty:
        ax.text(0.5, 0.5, "no labelled rows: no curve", ha="center", va="center")
    for column, style in (("f1", "-o"), ("precision", "--"), ("recall", ":")):
        ax.plot(sweep["threshold"], sweep[column], style, label=column, markersize=3)
    ax.axvline(threshold, color="grey", linewidth=1, label=f"threshold {threshold:g}")
    if best is not None:
        ax.axvline(best, color="tab:green", linewidth=1, linestyle="--", label=f"best {best:g}")
    ax.set(xlabel="threshold on p(yes)", ylabel="score", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the same figure gives the same bytes (DVC sees no change).
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def bar_chart_png(
    path: Path, values: dict[str, dict[str, float]], *, title: str, stacked: bool = False
) -> None:
    """Bars per category (e.g. language) and series (e.g. source): ``values[cat][series]``."""
    frame = pd.DataFrame(values).T.fillna(0).sort_index()
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    if frame.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center")
    else:
        frame.plot.bar(ax=ax, stacked=stacked, width=0.8, legend=frame.shape[1] > 1)
    ax.set(title=title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)

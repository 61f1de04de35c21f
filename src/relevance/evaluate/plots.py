"""PNG figures for Markdown reports (matplotlib, headless).

Figures are built on matplotlib's object API (a Figure with the Agg canvas), not
pyplot: no global figure state and no backend selection, so nothing to close and
nothing that needs a display; and it imports faster, which every evaluate and report
run pays.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd


def threshold_curve_png(
    path: Path, sweep: pd.DataFrame, *, title: str, threshold: float, best: float | None = None
) -> None:
    """F1, precision and recall against the threshold (the paper's Figure 2)."""
    fig = Figure(figsize=(6, 3.6), dpi=110)
    ax = fig.subplots()
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


def bar_chart_png(
    path: Path, values: dict[str, dict[str, float]], *, title: str, stacked: bool = False
) -> None:
    """Bars per category (e.g. language) and series (e.g. source): ``values[cat][series]``."""
    categories = sorted(values)
    series = list(dict.fromkeys(name for cat in categories for name in values[cat]))
    fig = Figure(figsize=(7, 3.2), dpi=110)
    ax = fig.subplots()
    if not categories:
        ax.text(0.5, 0.5, "no data", ha="center", va="center")
    else:
        x = np.arange(len(categories))
        width = 0.8 if stacked else 0.8 / len(series)
        bottom = np.zeros(len(categories))
        for i, name in enumerate(series):
            # A series missing from a category (or None there) draws as 0.
            heights = np.array([values[cat].get(name) or 0.0 for cat in categories], dtype=float)
            offset = 0.0 if stacked else (i - (len(series) - 1) / 2) * width
            ax.bar(x + offset, heights, width, bottom=bottom if stacked else None, label=name)
            bottom = bottom + heights
        ax.set_xticks(x, categories, rotation=90)
        if len(series) > 1:
            ax.legend()
    ax.set(title=title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})

"""The report's PNG figures, drawn with matplotlib's Agg canvas (no display, no pyplot state):
confusion matrices, |Δp| histograms and the gallery of disagreement images."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from .analysis import Analysis
from .common import FIGURE_PREFIX, GALLERY_SIZE, ReportOptions, require_matplotlib, slug

CELL_COUNTS_UP_TO = 30
"""A confusion matrix of at most this many classes shows the count in each cell."""
TICK_LABELS_UP_TO = 50
"""... and the class names along its axes up to this many (beyond, the numbers 0..N-1)."""


class Figures:
    """Draws the report's PNGs into one folder with matplotlib's Agg canvas (no display,
    no pyplot state) and remembers their file names."""

    def __init__(self, folder: Path, labels: list, options: ReportOptions, dp_range: tuple):
        require_matplotlib()
        self.folder = folder
        self.labels = labels
        self.options = options
        self.dp_range = dp_range
        self.written = []
        self.files = {}
        """(kind, artifact) -> file name; kind is confusion, histogram or gallery (a list)."""

    def _save(self, fig, name: str) -> str:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        fig.savefig(self.folder / name)
        self.written.append(self.folder / name)
        return name

    def confusion(self, artifact: str, a: Analysis, baseline: Optional[np.ndarray], title: str) -> None:
        """Counts in every cell, shaded by the share of that row's images; with a baseline,
        cells whose count differs from it are framed in red and show the difference. Not drawn
        for more classes than analysis.MAX_CONFUSION_CLASSES (a.confusion is None). Class names
        are drawn as text (parse_math=False: a `$` in one is not matplotlib's mathtext)."""
        from matplotlib.colors import PowerNorm
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        if a.confusion is None:
            return
        n = len(a.confusion)
        share = a.confusion / np.maximum(a.confusion.sum(1, keepdims=True), 1)
        fig = Figure(figsize=(5.5, 5.1), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1))
        for i in range(n if n <= CELL_COUNTS_UP_TO else 0):
            for j in range(n):
                count = int(a.confusion[i, j])
                diff = 0 if baseline is None else count - int(baseline[i, j])
                colour = "white" if share[i, j] > 0.5 else "#222222"
                if diff:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2.2))
                    ax.text(j, i, f"{count}\n{diff:+d}", ha="center", va="center", fontsize=8.5, color=colour,
                            fontweight="bold", linespacing=0.9)
                elif count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=9.5, color=colour)
        if n <= TICK_LABELS_UP_TO:
            long_names = max(len(label) for label in self.labels[:n]) > 2
            ax.set_xticks(range(n), self.labels[:n], rotation=45 if long_names else 0,
                          ha="right" if long_names else "center", parse_math=False)
            ax.set_yticks(range(n), self.labels[:n], parse_math=False)
        ax.set_xlabel("predicted class" + ("" if n <= TICK_LABELS_UP_TO else " (class number)"))
        ax.set_ylabel("true class" if a.truth is not None else "Keras's class (no labels)")
        ax.set_title(title, fontsize=9.5, parse_math=False)
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of the row's images")
        self.files["confusion", artifact] = self._save(fig, f"{FIGURE_PREFIX}confusion_{slug(artifact)}.png")

    def histogram(self, artifact: str, a: Analysis, threshold: Optional[float]) -> None:
        """|Δp| over every image and class on log-log axes; exact zeros cannot be drawn there,
        so the title counts them."""
        from matplotlib.figure import Figure

        values = a.abs_dp.ravel()
        positive = values[values > 0]
        zeros = values.size - positive.size
        low, high = self.dp_range
        fig = Figure(figsize=(5.9, 4.2), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        if positive.size:
            ax.hist(positive, bins=np.logspace(math.log10(low), math.log10(high), 61), log=True, color="#4c72b0")
            ax.axvline(positive.max(), color="#222222", linewidth=1.2, label=f"max |Δp| {positive.max():.2e}")
        else:
            ax.text(0.5, 0.5, "every |Δp| is exactly 0", transform=ax.transAxes, ha="center", va="center")
        if threshold is not None:
            ax.axvline(threshold, color="#d62728", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8.5, loc="upper left")
        ax.set_xlabel("|p(artifact) − p(Keras)|, every image × class")
        ax.set_ylabel("count (log)")
        ax.set_title(f"{artifact}: {values.size:,} values, {zeros:,} exactly 0 (not on a log axis)", fontsize=9.5,
                     parse_math=False)
        ax.grid(True, which="major", alpha=0.3)
        self.files["histogram", artifact] = self._save(fig, f"{FIGURE_PREFIX}dp_{slug(artifact)}.png")

    def gallery(self, artifact: str, a: Analysis, images: np.ndarray) -> None:
        """The first gallery_cap disagreement images, enlarged pixel for pixel, one PNG each."""
        from matplotlib.image import imsave

        names = []
        for index in a.disagreements[: self.options.gallery_cap]:
            image = images[index]
            zoom = max(1, math.ceil(GALLERY_SIZE / max(image.shape[:2])))
            big = image.repeat(zoom, axis=0).repeat(zoom, axis=1)
            if big.ndim == 3 and big.shape[2] == 1:
                big = big[..., 0]
            name = f"{FIGURE_PREFIX}gallery_{slug(artifact)}_{int(index):05d}.png"
            imsave(self.folder / name, big, cmap="gray", vmin=0, vmax=255)
            self.written.append(self.folder / name)
            names.append((int(index), name))
        self.files["gallery", artifact] = names

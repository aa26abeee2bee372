"""Grid pictures: a task's (a, b) grid as an image, rows = a, columns = b, squares outlined."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from caseray.data.tasks import Task


def pyplot():
    """``matplotlib.pyplot``, loaded at the first figure: on the Agg backend (files only, no display)
    unless the program had already loaded pyplot with a backend of its own (a notebook keeps its own)."""
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SPLIT_COLOURS = {"train": "#9ecae1", "test": "#de2d26", "unused": "#f0f0f0"}


def to_grid(task: Task, a, b, values, fill=np.nan) -> np.ndarray:
    """Values of cells (a, b) placed on the dense grid; cells not given hold ``fill``."""
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    grid = np.full((ahi - alo + 1, bhi - blo + 1), fill, dtype=float)
    grid[np.asarray(a) - alo, np.asarray(b) - blo] = values
    return grid


def outline_squares(ax, squares, colour="black") -> None:
    for a0, b0, h in squares:
        ax.add_patch(Rectangle((b0 - h - 0.5, a0 - h - 0.5), 2 * h + 1, 2 * h + 1,
                               fill=False, edgecolor=colour, linewidth=1.2))


def _frame(ax, task: Task, title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(task.axes[1])
    ax.set_ylabel(task.axes[0])
    ax.set_title(title, fontsize=9)
    ax.set_xlim(blo - 0.5, bhi + 0.5)
    ax.set_ylim(alo - 0.5, ahi + 0.5)


def _extent(task: Task):
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    return (blo - 0.5, bhi + 0.5, alo - 0.5, ahi + 0.5)


def plot_split(task: Task, a, b, split, squares, path: str | Path, title: str = "") -> Path:
    """Train / test / unused cells of a split; invalid cells (chicken & rabbit) stay white."""
    names = list(SPLIT_COLOURS)
    codes = np.array([names.index(s) for s in split], dtype=float)
    grid = to_grid(task, a, b, codes)
    fig, ax = pyplot().subplots(figsize=(5.5, 5))
    ax.imshow(np.ma.masked_invalid(grid), origin="lower", extent=_extent(task), interpolation="nearest",
              cmap=ListedColormap(list(SPLIT_COLOURS.values())), vmin=-0.5, vmax=len(names) - 0.5)
    outline_squares(ax, squares)
    counts = {n: int(np.sum(np.asarray(split) == n)) for n in names}
    ax.legend(handles=[Patch(color=c, label=f"{n} ({counts[n]})") for n, c in SPLIT_COLOURS.items()],
              loc="upper left", fontsize=8, framealpha=0.9)
    _frame(ax, task, title or f"{task.name}: split")
    return save_figure(fig, path)


def plot_accuracy(ax, task: Task, a, b, accuracy, squares, title: str = ""):
    """Per-cell accuracy heatmap on ``ax`` (0 = red, 1 = green); returns the image for a colour bar."""
    grid = to_grid(task, a, b, accuracy)
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", extent=_extent(task), cmap="RdYlGn",
                      vmin=0.0, vmax=1.0, interpolation="nearest")
    outline_squares(ax, squares)
    _frame(ax, task, title)
    return image


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path

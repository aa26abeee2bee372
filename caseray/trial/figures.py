"""A finished trial's own figure: its hole map (per-cell accuracy on the grid) or, for a length
trial, accuracy by digit count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from caseray.data.plots import plot_accuracy, pyplot, save_figure
from caseray.trial.spec import TrialSpec


def plot_holemap(spec: TrialSpec, task, cells: pa.Table, squares, metrics: dict, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    image = plot_accuracy(ax, task, cells["a"].to_numpy(), cells["b"].to_numpy(), cells["accuracy"].to_numpy(),
                          squares)
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_title("\n".join(holemap_title(spec, task, metrics, squares)), fontsize=9)
    return save_figure(fig, path)


def holemap_title(spec: TrialSpec, task, metrics: dict, squares) -> tuple[str, str]:
    """A trial's hole map's title, two lines: what it is and how it did."""
    sq = f", square {metrics['square_acc']:.0%}, centre {metrics['centre_acc']:.0%}" if squares else ""
    return (f"{task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}",
            f"train {metrics['train_acc']:.0%}, test {metrics['test_acc']:.0%}{sq}")


def several_steps(cells: pa.Table | None) -> bool:
    """Whether a trial's answers may have more than one step: a direct answer's one step makes its
    step accuracy its exact match again (unknown without ``n_steps``: drawn, as before)."""
    if cells is None or "n_steps" not in cells.column_names or cells.num_rows == 0:
        return True
    return int(np.max(cells["n_steps"].to_numpy())) > 1


def plot_lengths(spec: TrialSpec, metrics: dict, path: Path, cells: pa.Table | None = None) -> Path:
    """A length trial's figure: exact-match (and step) accuracy per length, every family together and
    each family alone, trained lengths shaded; beside it, with families in ``cells``, exact match per
    (digits of a, digits of b) of the test problems."""
    plt = pyplot()
    lengths = sorted(int(k.split("/")[1]) for k in metrics if k.startswith("len_acc/"))
    families = sorted({k.split("/")[1] for k in metrics if k.startswith("family_len_acc/")})
    pair = cells is not None and "digits_a" in cells.column_names
    fig, axes = plt.subplots(1, 2 if pair else 1, figsize=(12 if pair else 6, 4.4), squeeze=False)
    ax = axes[0, 0]
    lo, hi = spec.lengths.train_digits
    ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", label="trained lengths")
    ax.plot(lengths, [metrics[f"len_acc/{n}"] for n in lengths], "o-", color="k", label="exact match (all)")
    for f in families:
        ns = sorted(int(k.rsplit("/", 1)[1]) for k in metrics if k.startswith(f"family_len_acc/{f}/"))
        ax.plot(ns, [metrics[f"family_len_acc/{f}/{n}"] for n in ns], ".-", lw=1, alpha=0.8, label=f)
    if f"len_step_acc/{lengths[0]}" in metrics and several_steps(cells):
        ax.plot(lengths, [metrics[f"len_step_acc/{n}"] for n in lengths], "s--", label="steps right")
    step = max(1, len(lengths) // 20)
    ax.set(xlabel="length (digits of the longer operand)", ylabel="accuracy", ylim=(-0.03, 1.03),
           xticks=lengths[::step])
    ax.legend(fontsize=7)
    ax.set_title(f"{spec.task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}\n"
                 f"trained {lo}-{hi} digits: reach {metrics['reach']}, beyond {metrics['ood_acc']:.0%}", fontsize=9)
    if pair:
        _plot_digit_pairs(axes[0, 1], cells)
    return save_figure(fig, path)


def digit_pair_grid(cells: pa.Table):
    """Exact match of the test problems per (digits of a, digits of b): (grid with NaN where no
    problem, problems per entry), indexed [digits_a - 1, digits_b - 1]."""
    test = cells["split"].to_numpy(zero_copy_only=False) == "test"
    da, db = cells["digits_a"].to_numpy()[test], cells["digits_b"].to_numpy()[test]
    acc = cells["accuracy"].to_numpy()[test].astype(float)
    size = int(max(da.max(), db.max())) if len(da) else 1
    total, count = np.zeros((size, size)), np.zeros((size, size))
    np.add.at(total, (da - 1, db - 1), acc)
    np.add.at(count, (da - 1, db - 1), 1)
    with np.errstate(invalid="ignore"):
        return total / np.where(count, count, np.nan), count


def _plot_digit_pairs(ax, cells: pa.Table) -> None:
    grid, count = digit_pair_grid(cells)
    size = grid.shape[0]
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap="RdYlGn", vmin=0, vmax=1,
                      extent=(0.5, size + 0.5, 0.5, size + 0.5), interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="exact match")
    ax.set(xlabel="digits of b", ylabel="digits of a",
           title=f"test problems by operand lengths ({int(count.sum())} problems; blank: none)")
    ax.title.set_fontsize(9)

"""A finished trial's own figure: its hole map (per-cell accuracy on the grid) or, for a length
trial, accuracy by digit count."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from caseray.data.plots import plot_accuracy, pyplot, save_figure
from caseray.trial.spec import TrialSpec


def plot_holemap(spec: TrialSpec, task, cells: pa.Table, squares, metrics: dict, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.2))
    image = plot_accuracy(ax, task, cells["a"].to_numpy(), cells["b"].to_numpy(), cells["accuracy"].to_numpy(),
                          squares)
    fig.colorbar(image, ax=ax, label="accuracy")
    sq = f", square {metrics['square_acc']:.0%}, centre {metrics['centre_acc']:.0%}" if squares else ""
    ax.set_title(f"{task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}\n"
                 f"train {metrics['train_acc']:.0%}, test {metrics['test_acc']:.0%}{sq}", fontsize=9)
    return save_figure(fig, path)


def plot_lengths(spec: TrialSpec, metrics: dict, path: Path) -> Path:
    """A length trial's figure: exact-match and step accuracy per digit count, trained lengths shaded."""
    plt = pyplot()
    lengths = sorted(int(k.split("/")[1]) for k in metrics if k.startswith("len_acc/"))
    fig, ax = plt.subplots(figsize=(6, 4))
    lo, hi = spec.lengths.train_digits
    ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", label="trained lengths")
    ax.plot(lengths, [metrics[f"len_acc/{n}"] for n in lengths], "o-", label="exact match")
    if f"len_step_acc/{lengths[0]}" in metrics:
        ax.plot(lengths, [metrics[f"len_step_acc/{n}"] for n in lengths], "s--", label="steps right")
    ax.set(xlabel="digits per operand", ylabel="accuracy", ylim=(-0.03, 1.03), xticks=lengths)
    ax.legend(fontsize=8)
    ax.set_title(f"{spec.task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}\n"
                 f"trained {lo}-{hi} digits: reach {metrics['reach']}, beyond {metrics['ood_acc']:.0%}", fontsize=9)
    return save_figure(fig, path)

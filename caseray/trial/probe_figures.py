"""The figures of ``caseray analyze probe``, drawn from its probe.json alone: embedding.png (PCA and
DFT of the number embeddings), probes.png (R² per layer), attention.png (a = b against a != b at
matched sums), failures.png (error and margin against |d| and s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caseray.data.plots import pyplot, save_figure

TARGET_COLOURS = {"s": "tab:blue", "|d|": "tab:orange", "d": "tab:green", "s,|d|": "tab:purple", "s,d": "tab:brown"}
SET_STYLES = {"test": ("-", "test cells"), "train_holdout": ("--", "20% of training")}


def draw(probe: dict, out: Path) -> list[Path]:
    """Every figure the probe has data for, into ``out``."""
    paths = [] if "skipped" in probe["embedding"] else [embedding(probe, out / "embedding.png")]
    paths.append(probes(probe, out / "probes.png"))
    if "skipped" not in probe["attention"] and probe["attention"]["sums"]:
        paths.append(attention(probe, out / "attention.png"))
    paths.append(failures(probe, out / "failures.png"))
    return paths


def embedding(probe: dict, path: Path) -> Path:
    emb, plt = probe["embedding"], pyplot()
    low, high = emb["numbers"]
    n, scores = np.arange(low, high + 1), np.asarray(emb["pc_scores"])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    for i, row in enumerate(scores):
        axes[0].plot(n, row, ".-", lw=1, label=f"PC{i + 1} ({emb['pca_share'][i]:.0%})")
    axes[0].set(xlabel="number", ylabel="score", title="first principal components against the number")
    axes[0].legend(fontsize=8)
    image = axes[1].scatter(scores[0], scores[1], c=n, cmap="viridis", s=14)
    for k in range(0, len(n), max(1, len(n) // 12)):
        axes[1].annotate(str(n[k]), (scores[0][k], scores[1][k]), fontsize=7)
    fig.colorbar(image, ax=axes[1], label="number")
    axes[1].set(xlabel="PC1", ylabel="PC2", title="PC1 against PC2")
    share = np.asarray(emb["dft_share"])
    axes[2].bar(np.arange(len(share)), share, color="0.4")
    for f in emb["top_frequencies"][:3]:
        axes[2].annotate(f"k={f['k']}\nperiod {f['period']:.3g}", (f["k"], f["share"]), fontsize=7, ha="center",
                         va="bottom")
    axes[2].set(xlabel="frequency k (cycles over the numbers)", ylabel="share of energy",
                title="DFT over the number axis")
    fig.suptitle(f"{probe['label']}: number embeddings ({emb['dim']} dims)", fontsize=10)
    return save_figure(fig, path)


def probes(probe: dict, path: Path) -> Path:
    plt, r2 = pyplot(), probe["probes"]["r2"]
    layers = np.arange(len(probe["layers"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    lowest = 0.0
    for ax, group in zip(axes, (("s", "|d|", "d"), ("s,|d|", "s,d"))):
        for target in group:
            for where, (style, label) in SET_STYLES.items():
                values = np.asarray(r2[where][target], dtype=float)
                lowest = min(lowest, np.nanmin(values) if np.isfinite(values).any() else 0.0)
                ax.plot(layers, values, style, marker="o", color=TARGET_COLOURS[target], label=f"{target}, {label}")
        ax.set(xticks=layers, xlabel="layer (0: embeddings)", title=f"ridge probes at '=': {', '.join(group)}")
        ax.set_xticklabels(probe["layers"], fontsize=7)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.legend(fontsize=7)
    axes[0].set(ylabel="R² (held-out)", ylim=(max(lowest, -1.0) - 0.05, 1.05))
    fig.suptitle(f"{probe['label']}" + (" (R² below -1 not shown)" if lowest < -1 else ""), fontsize=10)
    return save_figure(fig, path)


def attention(probe: dict, path: Path) -> Path:
    att, plt = probe["attention"], pyplot()
    diff = np.asarray(att["eq_minus_neq"])
    layers, heads = diff.shape
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    bound = max(1e-6, float(np.nanmax(np.abs(diff))))
    image = axes[0].imshow(diff, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    fig.colorbar(image, ax=axes[0], label="a = b minus a != b")
    axes[0].set(xticks=range(heads), yticks=range(layers), yticklabels=range(1, layers + 1), xlabel="head",
                ylabel="layer", title="attention from '=' to a + b: a = b minus a != b")
    x = np.arange(layers * heads)
    for k, (key, label) in enumerate((("eq_to_a", "a = b: to a"), ("eq_to_b", "a = b: to b"),
                                      ("neq_to_a", "a != b: to a"), ("neq_to_b", "a != b: to b"))):
        axes[1].bar(x + (k - 1.5) * 0.2, np.asarray(att[key]).ravel(), 0.2, label=label)
    axes[1].set(xticks=x, xlabel="layer.head", ylabel="attention weight", title="mean over matched sums")
    axes[1].set_xticklabels([f"{li + 1}.{hi}" for li in range(layers) for hi in range(heads)], fontsize=6,
                            rotation=90 if layers * heads > 16 else 0)
    axes[1].legend(fontsize=7)
    li, hi = np.unravel_index(int(np.nanargmax(np.abs(diff))), diff.shape)
    for kind, label in (("eq", "a = b"), ("neq", "a != b (mean)")):
        axes[2].plot(att["sums"], np.asarray(att["by_sum"][kind])[:, li, hi], ".-", label=label)
    axes[2].set(xlabel="s = a + b", ylabel="attention to a + b",
                title=f"layer {li + 1} head {hi} (largest difference) by sum")
    axes[2].legend(fontsize=7)
    fig.suptitle(f"{probe['label']}: attention at '=' over {len(att['sums'])} matched sums", fontsize=10)
    return save_figure(fig, path)


def failures(probe: dict, path: Path) -> Path:
    f, plt = probe["failures"], pyplot()
    cells, test = f["cells"], f["test_cells"]
    a, b = np.array([c["a"] for c in cells]), np.array([c["b"] for c in cells])
    values = {"|d|": np.abs(a - b), "s": a + b}
    tests = {"|d|": np.abs(np.subtract(test["a"], test["b"])), "s": np.add(test["a"], test["b"])}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, target in enumerate(("|d|", "s")):
        axes[0, col].scatter(values[target], [c["error"] for c in cells], s=12, color="tab:red")
        axes[0, col].axhline(0, color="0.7", lw=0.8)
        axes[0, col].set(xlabel=target, ylabel="error (prediction - answer)",
                         title=f"failed cells: error against {target}")
        axes[1, col].scatter(tests[target], test["margin"], s=8, color="0.75", label="test cells")
        axes[1, col].scatter(values[target], [c["margin"] for c in cells], s=12, color="tab:red", label="failed cells")
        axes[1, col].axhline(0, color="0.4", lw=0.8)
        axes[1, col].set(xlabel=target, ylabel="logit margin at the first answer token",
                         title=f"margin against {target}")
        axes[1, col].legend(fontsize=7)
    fig.suptitle(f"{probe['label']}: {f['count']} failed cells ({f['test_count']} test)", fontsize=10)
    return save_figure(fig, path)

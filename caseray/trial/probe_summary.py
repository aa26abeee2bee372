"""What ``caseray analyze probe`` says about a trial in words and tables, from its probe.json alone (no
torch): the lines it prints, probe.md, and the one row per trial ``caseray report`` shows."""

from __future__ import annotations

import math

from caseray.core.tables import format_table

SETS = {"test": "test cells", "train_holdout": "20% of training"}
SINGLE = ("s", "|d|", "d")
PROBES_TEXT = ("Ridge regression from the residual stream at '=' (layer 0: the token and position embeddings; the "
               "last layer's state is after the final norm, as transformers returns it) to each target, fit on 80% "
               "of the training cells; R² about each set's own mean (a test square's narrow range of s and |d| "
               "makes its R² strict: below 0 is worse than that set's mean).")


def cell(value) -> str:
    """A table cell: floats to 3 places; a pipe (as in |d|) written as U+2223, which no table splits on."""
    return (f"{value:.3f}" if isinstance(value, float) else str(value)).replace("|", "\u2223")


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    return format_table([cell(c) for c in rows[0]], [[cell(v) for v in r.values()] for r in rows], "markdown")


def best_layer(probe: dict, target: str) -> tuple[int, float, float]:
    """(layer, test R², held-out training R²) of the layer whose probe of ``target`` does best on the
    held-out 20% of training cells -- chosen there, so the test cells only score it; (-1, NaN, NaN)
    where no layer has a score."""
    r2 = probe["probes"]["r2"]
    finite = [(v, i) for i, v in enumerate(r2["train_holdout"][target]) if not math.isnan(v)]
    if not finite:
        return -1, math.nan, math.nan
    layer = max(finite)[1]
    return layer, r2["test"][target][layer], r2["train_holdout"][target][layer]


def strongest_head(probe: dict) -> tuple[int, int, float]:
    """(layer, head, difference) of the head whose attention to a and b together differs most between
    a = b and a != b cells of the same sums (layers counted from 1)."""
    diff = probe["attention"]["eq_minus_neq"]
    return max(((li + 1, hi, v) for li, row in enumerate(diff) for hi, v in enumerate(row)), key=lambda t: abs(t[2]))


def embedding_line(probe: dict) -> str:
    emb = probe["embedding"]
    if "skipped" in emb:
        return f"embedding: skipped -- {emb['skipped']}"
    shares = ", ".join(f"{v:.0%}" for v in emb["pca_share"][:3])
    tops = ", ".join(f"k={f['k']} (period {f['period']:.3g}, {f['share']:.0%})" for f in emb["top_frequencies"][:3])
    low, high = emb["numbers"]
    return f"embedding of numbers {low}..{high}: PC1-3 explain {shares}; top DFT frequencies {tops}"


def probe_lines(probe: dict) -> list[str]:
    p = probe["probes"]
    lines = [f"ridge probes at '=' (fit on {p['fit_cells']} training cells, alpha {p['alpha']:g}); the layer best on "
             f"the {p['set_cells']['train_holdout']} held-out training cells, R² there / on the "
             f"{p['set_cells']['test']} test cells:"]
    for target in SINGLE + ("s,|d|", "s,d"):
        layer, test, held = best_layer(probe, target)
        lines.append(f"  {target:6} {probe['layers'][layer] if layer >= 0 else '-':>10}  {held:6.3f} / {test:6.3f}")
    return lines


def attention_line(probe: dict) -> str:
    att = probe["attention"]
    if "skipped" in att:
        return f"attention: skipped -- {att['skipped']}"
    if not att["sums"]:
        return "attention: no sum has both a = b and a != b cells"
    layer, head, diff = strongest_head(probe)
    return (f"attention at '=' to a and b, a = b minus a != b at {len(att['sums'])} matched sums: largest "
            f"L{layer}H{head} {diff:+.3f}")


def failure_line(probe: dict) -> str:
    f = probe["failures"]
    c = f["correlations"]
    return (f"failed cells: {f['count']} ({f['test_count']} test); Spearman with |d|: error "
            f"{c['error']['|d|']['spearman']:+.2f}, |error| {c['|error|']['|d|']['spearman']:+.2f}, margin "
            f"{c['margin']['|d|']['spearman']:+.2f}; "
            f"test cells' margin with |d| {f['test_margin']['|d|']['spearman']:+.2f}")


def summary_lines(probe: dict) -> list[str]:
    return [embedding_line(probe), *probe_lines(probe), attention_line(probe), failure_line(probe)]


def r2_table(probe: dict) -> str:
    rows = []
    for i, name in enumerate(probe["layers"]):
        row = {"layer": name}
        for where, label in SETS.items():
            row.update({f"R² {t} ({label})": probe["probes"]["r2"][where][t][i] for t in SINGLE + ("s,|d|", "s,d")})
        rows.append(row)
    return markdown_table(rows)


def attention_table(probe: dict) -> str:
    att = probe["attention"]
    return markdown_table([{"layer": li + 1, "head": hi, **{k: att[k][li][hi] for k in (
        "eq_to_a", "eq_to_b", "neq_to_a", "neq_to_b", "eq_minus_neq")}}
        for li in range(len(att["eq_to_a"])) for hi in range(len(att["eq_to_a"][0]))])


def failure_table(probe: dict) -> str:
    corr = probe["failures"]["correlations"]
    rows = [{"quantity": q, "against": t, **corr[q][t]} for q in corr for t in corr[q]]
    rows += [{"quantity": "margin (test cells)", "against": t, **v}
             for t, v in probe["failures"]["test_margin"].items()]
    return markdown_table(rows)


def markdown(probe: dict, figures: list) -> str:
    parts = [f"# Inside the model: {probe['label']}", f"Trial `{probe['trial']}`, {probe['cells']} cells.",
             "```\n" + "\n".join(summary_lines(probe)) + "\n```", "## Linear probes at '=' (R²)", PROBES_TEXT,
             r2_table(probe)]
    if "skipped" not in probe["attention"] and probe["attention"]["sums"]:
        parts += ["## Attention at '=' (a = b against a != b cells of the same sums)", attention_table(probe)]
    parts += ["## Failed cells: correlations with |d| and s", failure_table(probe)]
    parts += [f"![{f.stem}]({f.name})" for f in figures]
    return "\n\n".join(parts) + "\n"


def report_row(probe: dict) -> dict:
    """One row of ``caseray report``'s "Inside the model" table."""
    emb = probe["embedding"]
    top = emb["top_frequencies"][0] if "top_frequencies" in emb else None
    row = {"trial": probe["label"], "PC1+2": sum(emb["pca_share"][:2]) if top else math.nan,
           "top frequency": f"k={top['k']} ({top['share']:.0%})" if top else "-"}
    row.update({f"R² {t} (test)": best_layer(probe, t)[1] for t in SINGLE})
    if probe["attention"].get("sums"):
        layer, head, diff = strongest_head(probe)
        row["a=b minus a≠b attention"] = f"L{layer}H{head} {diff:+.3f}"
    else:
        row["a=b minus a≠b attention"] = "-"
    row["failed"] = probe["failures"]["count"]
    row["margin~|d| (failed)"] = probe["failures"]["correlations"]["margin"]["|d|"]["spearman"]
    return row

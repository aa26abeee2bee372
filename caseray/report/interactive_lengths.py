"""report.html's interactive length figures: length.png's curves and families.png's (family curves,
the (digits of a, digits of b) maps), drawn again with plotly, each point's hover telling its group,
length, mean ± std over trials and how many trials."""

from __future__ import annotations

import html
import warnings

import numpy as np

from caseray.core.stats import column_std
from caseray.data.length_families import FAMILIES
from caseray.report.aggregate import curve, group, label, train_digits
from caseray.report.figures import length_panels, mean_pair_grid
from caseray.report.interactive import PAGE_PX
from caseray.sweep.results import TrialRecord
from caseray.trial.figures import digit_pair_grid
from caseray.trial.interactive import COLOURS, PANEL_PX, TEMPLATE, figure_div


def palette(i: int) -> str:
    from plotly.colors import qualitative

    return qualitative.D3[i % len(qualitative.D3)]


def spread(std: np.ndarray) -> list[str]:
    """Per point, "± std" for a hover ("" where one trial gives no std)."""
    return [f" ± {s:.1%}" if np.isfinite(s) else "" for s in std]


def _line(go, x, mean, std, n, name: str, colour: str, first: bool, what: str):
    text = html.escape(name)
    return go.Scatter(x=x, y=mean, mode="lines+markers", name=text, legendgroup=text, showlegend=first,
                      line=dict(color=colour), error_y=dict(array=np.nan_to_num(std), thickness=1, width=2),
                      customdata=np.array([spread(std), n], dtype=object).T.tolist(),
                      hovertemplate=f"{text}<br>%{{x}} {what}: %{{y:.1%}}%{{customdata[0]}} (n=%{{customdata[1]}})"
                                    "<extra></extra>")


def _shade_trained(fig, records, n_panels: int) -> None:
    ranges = [train_digits(r) for r in records if train_digits(r)]
    if ranges:
        for j in range(n_panels):
            fig.add_vrect(x0=min(r[0] for r in ranges) - 0.5, x1=max(r[1] for r in ranges) + 0.5, row=1, col=j + 1,
                          fillcolor="lightgrey", opacity=0.4, line_width=0, layer="below")


def length_figure(records: list[TrialRecord], by: list[str]):
    """length.png's panels (``figures.length_panels``: exact match; for traces steps right and where the
    first wrong step falls), vs digits, a line per group of ``by`` (mean ± std over its trials), the
    training lengths shaded."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = length_panels(records)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for j, (value, _) in enumerate(panels):
        for g, (key, members) in enumerate(group(records, by).items()):
            x, mean, std, n = curve(members, "digits", value)
            if len(x):
                fig.add_trace(_line(go, x, mean, std, n, label(by, key), palette(g), j == 0, "digits"), row=1,
                              col=j + 1)
    return _accuracy_axes(fig, records, len(panels), "digits", 460, -0.2)


def family_figure(records: list[TrialRecord], by: list[str]):
    """families.png's top row: exact match by length per problem family, a line per group of ``by``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    families = sorted({k.split("/")[1] for r in records for k in r.metrics if k.startswith("family_len_acc/")},
                      key=lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES))
    fig = make_subplots(rows=1, cols=len(families), subplot_titles=families)
    for j, family in enumerate(families):
        prefix = f"family_len_acc/{family}/"
        for g, (key, members) in enumerate(group(records, by).items()):
            lengths = sorted({int(k[len(prefix):]) for r in members for k in r.metrics if k.startswith(prefix)})
            values = np.array([[r.metrics.get(f"{prefix}{n}", np.nan) for n in lengths] for r in members])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # (a length no trial of the group has: NaN)
                mean = np.nanmean(values, 0)
            std, n = column_std(values), (~np.isnan(values)).sum(0)
            fig.add_trace(_line(go, lengths, mean, std, n, label(by, key), palette(g), j == 0, "digits"),
                          row=1, col=j + 1)
    return _accuracy_axes(fig, records, len(families), "digits of the longer operand", 420, -0.25)


def _accuracy_axes(fig, records, n_panels: int, x_title: str, height: int, legend_y: float):
    """A length figure's finish: trained lengths shaded, accuracy in percent, the legend below."""
    _shade_trained(fig, records, n_panels)
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    fig.update_xaxes(title=x_title)
    fig.update_layout(height=height, legend=dict(orientation="h", y=legend_y), margin=dict(t=50), template=TEMPLATE)
    return fig


def digit_pairs_figure(records: list[TrialRecord], by: list[str]):
    """families.png's bottom row: per group, exact match by (digits of a, digits of b), averaged over its
    trials, with each pair's problem count; None when no trial has operand lengths."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = [(key, members, mean_pair_grid(members)) for key, members in group(records, by).items()]
    groups = [g for g in groups if g[2] is not None]
    if not groups:
        return None
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[html.escape(label(by, k)) for k, *_ in groups])
    for j, (_, members, mean) in enumerate(groups):
        size = mean.shape[0]
        count = np.zeros((size, size), dtype=int)
        for r in members:
            if "digits_a" in r.cells.column_names:
                c = digit_pair_grid(r.cells)[1]
                count[:c.shape[0], :c.shape[1]] += c.astype(int)
        digits = np.arange(1, size + 1)
        fig.add_trace(go.Heatmap(z=mean, x=digits, y=digits, customdata=count, coloraxis="coloraxis",
                                 hoverongaps=False, hovertemplate="a: %{y} digits, b: %{x} digits<br>exact %{z:.0%} "
                                 "of %{customdata} problems<extra></extra>"), row=1, col=j + 1)
        axis = "" if j == 0 else str(j + 1)
        edge = dict(range=[0.5, size + 0.5], dtick=1, constrain="domain")
        fig.layout[f"xaxis{axis}"].update(title="digits of b", **edge)
        fig.layout[f"yaxis{axis}"].update(title="digits of a", scaleanchor=f"x{axis}", **edge)
    fig.update_layout(coloraxis=dict(**COLOURS, colorbar=dict(title="exact")), margin=dict(t=60), template=TEMPLATE,
                      height=min(PANEL_PX, PAGE_PX // len(groups)) + 120)
    return fig


def length_html(records: list[TrialRecord], by: list[str]) -> str:
    return figure_div(length_figure(records, by), "length")


def families_html(records: list[TrialRecord], by: list[str]) -> str:
    pairs = digit_pairs_figure(records, by)
    return "\n".join([figure_div(family_figure(records, by), "families")] +
                     ([figure_div(pairs, "digit-pairs")] if pairs is not None else []))

"""Charts of ``gridsim analyze`` (``sim.sensitivity``): Sobol' indices, Morris effects and
replication adequacy; bare Matplotlib figures in the Okabe–Ito palette of :mod:`sim.charts`."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.analysis import metric_label, metric_unit
from sim.charts import BLACK, OKABE_ITO, _figure, _no_data
from sim.experiment_charts import colours
from sim.i18n import tr


def _title(outcome: str) -> str:
    return tr("{label} ({unit})", label=metric_label(outcome), unit=metric_unit(outcome))


def sobol_chart(rows: pd.DataFrame, outcome: str, n_points: int) -> Figure:
    """First-order (S1) and total (ST) indices per parameter, with 95 % bootstrap intervals."""
    fig, (ax,) = _figure()
    ax.set(title=textwrap.fill(tr("Sobol' indices: {title}", title=_title(outcome)), 70),
           xlabel=tr("share of output variance (95 % bootstrap CI; {n} design points)",
                     n=n_points))
    if rows.empty or rows["ST"].isna().all():
        _no_data(ax)
        return fig
    rows = rows.sort_values("ST")
    y = np.arange(len(rows))
    for offset, key, colour, label in ((-0.18, "S1", OKABE_ITO[4], tr("first order S1")),
                                       (0.18, "ST", OKABE_ITO[5], tr("total ST"))):
        ax.barh(y + offset, rows[key], height=0.34, color=colour, label=label,
                xerr=rows[f"{key}_conf"], error_kw={"ecolor": BLACK, "capsize": 3, "lw": 1})
    ax.set_yticks(y, rows["parameter"])
    ax.axvline(0, color=BLACK, linewidth=0.8)
    ax.legend(loc="lower right", frameon=False)
    return fig


def morris_chart(rows: pd.DataFrame, outcome: str) -> Figure:
    """mu* (mean absolute elementary effect, with its 95 % CI) against sigma per parameter:
    far right = influential; high = non-linear or interacting."""
    fig, (ax,) = _figure()
    unit = metric_unit(outcome)
    ax.set(title=textwrap.fill(tr("Morris screening: {title}", title=_title(outcome)), 70),
           xlabel=tr("μ*: mean |elementary effect| ({unit} per parameter range)", unit=unit),
           ylabel=tr("σ: spread of the effects ({unit})", unit=unit))
    if rows.empty or rows["mu_star"].isna().all():
        _no_data(ax)
        return fig
    ax.errorbar(rows["mu_star"], rows["sigma"], xerr=rows["mu_star_conf"], fmt="o",
                color=OKABE_ITO[4], ecolor=BLACK, capsize=3)
    for r in rows.itertuples():
        ax.annotate(r.parameter, (r.mu_star, r.sigma), textcoords="offset points",
                    xytext=(5, 4), fontsize="small")
    # room above and to the right for the names, which the axes' limits do not count
    right = float(np.nanmax(rows["mu_star"] + rows["mu_star_conf"].fillna(0)))
    top = float(np.nanmax(rows["sigma"]))
    ax.set_xlim(0, right * 1.3 if right > 0 else 1)
    ax.set_ylim(0, top * 1.2 if top > 0 else 1)
    return fig


def adequacy_chart(curves: pd.DataFrame, outcome: str, labels: dict[str, str], target: float,
                   max_cells: int) -> Figure:
    """The cumulative mean and its 95 % CI against the number of replications, per variant
    (or for a few design points), with the target band around the final mean. Variants come
    in the order of ``labels`` (the experiment's), in the colours of its other charts."""
    fig, (ax,) = _figure()
    ax.set(title=textwrap.fill(tr("Replication adequacy: {title}", title=_title(outcome)), 70),
           xlabel=tr("replications"),
           ylabel=tr("cumulative mean ({unit})", unit=metric_unit(outcome)))
    if curves.empty:
        _no_data(ax)
        return fig
    keys = ["variant", "point"] if "point" in curves else ["variant"]
    order = {v: i for i, v in enumerate(dict.fromkeys([*labels, *curves["variant"]]))}
    cells = sorted(dict.fromkeys(map(tuple, curves[keys].to_numpy())),
                   key=lambda c: (order[c[0]], *c[1:]))
    shown = ""
    if len(cells) > max_cells and len(keys) == 2:
        # the same design points for every variant, evenly spaced through the design
        variants = list(dict.fromkeys(c[0] for c in cells))
        points = sorted({c[1] for c in cells})
        keep = max(1, max_cells // len(variants))
        chosen = [points[i] for i in np.linspace(0, len(points) - 1, keep).round().astype(int)]
        cells = [c for c in cells if c[1] in set(chosen)]
        shown = tr("design points {points} of {total}",
                   points=", ".join(str(int(p)) for p in sorted(set(chosen))),
                   total=len(points)) + "\n"
    # without a design every variant is drawn, as in the comparison's charts
    cols = colours(list(dict.fromkeys([*labels, *(c[0] for c in cells)]))) \
        if len(keys) == 1 else {c: OKABE_ITO[i % len(OKABE_ITO)] for i, c in enumerate(cells)}
    for cell in cells:
        part = curves[(curves[keys].to_numpy() == np.array(cell, dtype=object)).all(axis=1)]
        colour = cols[cell[0]] if len(keys) == 1 else cols[cell]
        name = labels.get(cell[0], cell[0])
        if len(keys) == 2:
            name = tr("{label}, point {point}", label=name, point=cell[1])
        k, mean, ci = part["k"].to_numpy(), part["mean"].to_numpy(), part["ci"].to_numpy()
        ax.plot(k, mean, color=colour, marker="o", markersize=3, label=textwrap.fill(name, 40))
        ax.fill_between(k, mean - ci, mean + ci, color=colour, alpha=0.15, linewidth=0)
        final = mean[-1]
        # the band's edges, not a filled band: variants' bands overlap, and fills stacked
        # over each other grey out the whole chart
        for edge in (final - target * abs(final), final + target * abs(final)):
            ax.axhline(edge, color=colour, linestyle="--", linewidth=0.9, alpha=0.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize="small",
              title=shown + tr("shaded: 95 % CI; band: ±{target} of the final mean",
                               target=f"{target:.0%}"))
    return fig

"""Charts of an experiment, as PNG files, in the style of :mod:`sim.charts`.

    charts/outcome_<outcome>.png   each variant's mean with its 95 % CI, the baseline marked
    charts/series_<column>.png     each variant's daily mean over replications, with the
                                   min–max envelope of the replications; warm-up shaded

Bare :class:`matplotlib.figure.Figure` objects (no pyplot), Okabe–Ito colours: the baseline is
black, the variants take the palette in order.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sim.analysis import metric_label, metric_unit, pm
from sim.charts import BLACK, DPI, OKABE_ITO, _figure, _no_data, _warmup
from sim.experiment import BASELINE, Experiment
from sim.i18n import tr

# blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow
VARIANT_COLOURS = [OKABE_ITO[i] for i in (4, 0, 2, 5, 6, 1, 3)]
END_OF_DAY = ("open_", "trust_mean")   # states at the end of day d, drawn at d + 1


def colours(variants: list[str]) -> dict[str, str]:
    """Black for the baseline, then the Okabe–Ito palette (cycled) for the variants."""
    others = [v for v in variants if v != BASELINE]
    out = {v: VARIANT_COLOURS[i % len(VARIANT_COLOURS)] for i, v in enumerate(others)}
    return {BASELINE: BLACK, **out}


def series_unit(column: str) -> str:
    """The unit of a timeseries column (``docs/outputs.md``), in the current language."""
    if column.startswith("open_"):
        return tr("open issues at the end of the day")
    if column.startswith("avg_"):
        return tr("open issues, day average")
    if column.startswith("utilisation_") or column == "leader_overload_share":
        return tr("share")
    if column.endswith("_hours_mean"):
        return tr("hours per level-3 leader per day")
    if column == "trust_mean":
        return tr("score 0–1")
    return tr("issues per day")


def _percent_axis(ax, unit: str) -> str:
    """Percent ticks for shares; returns the axis unit text."""
    if unit == tr("share"):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        return "%"
    return unit


def outcome_chart(table: pd.DataFrame, outcome: str, labels: dict[str, str]) -> Figure:
    """Variants side by side: mean with its 95 % CI; the baseline's mean as a dashed line."""
    part = table[table["outcome"] == outcome].reset_index(drop=True)
    fig, (ax,) = _figure(height=4.8)
    label, unit = metric_label(outcome), metric_unit(outcome)
    ax.set(title=tr("{label}: mean over replications with 95 % CI", label=label),
           xlabel=tr("variant"))
    axis_unit = _percent_axis(ax, unit)
    ax.set_ylabel(tr("{label} ({unit})", label=label, unit=axis_unit))
    if part.empty or part["mean"].isna().all():
        _no_data(ax)
        return fig
    cols = colours(list(part["variant"]))
    x = np.arange(len(part))
    crowded = len(part) >= 6              # neighbours' differences side by side would overlap
    for i, r in part.iterrows():
        ci = r["ci"] if np.isfinite(r["ci"]) else 0.0
        ax.errorbar(x[i], r["mean"], yerr=ci, fmt="o" if r["variant"] != BASELINE else "s",
                    color=cols[r["variant"]], markersize=8, capsize=6, linewidth=1.8)
        if r["variant"] != BASELINE and np.isfinite(r["diff"]):
            mark = " *" if r["excludes_zero"] else ""
            if axis_unit == "%":          # as the axis reads: percentage points
                diff = tr("{diff} pp", diff=pm(100 * r["diff"], 100 * r["diff_ci"], sign=True))
            else:
                diff = pm(r["diff"], r["diff_ci"], sign=True)
            if crowded:
                diff = diff.replace(" ± ", "\n± ", 1)
            ax.annotate(f"Δ {diff}{mark}", (x[i], r["mean"] + ci),
                        xytext=(0, 6), textcoords="offset points", ha="center", fontsize=8,
                        color="0.25")
    base = part[part["variant"] == BASELINE]
    if len(base) and np.isfinite(base["mean"].iloc[0]):
        ax.axhline(base["mean"].iloc[0], color=BLACK, linestyle="--", linewidth=1,
                   label=tr("baseline mean"))
        ax.legend(loc="best", frameon=False,
                  title=tr("Δ: paired difference ± 95 % CI; * excludes 0"), title_fontsize=8)
    # narrower lines as variants crowd the axis: 22 characters overlapped from five variants
    width = min(22, max(8, 96 // len(part) - 2))
    names = [textwrap.fill(labels.get(v, v), width) for v in part["variant"]]
    ax.set_xticks(x, names)
    ax.set_xlim(-0.6, len(part) - 0.4)
    ax.margins(y=0.15)
    return fig


def series_chart(series: pd.DataFrame, column: str, labels: dict[str, str],
                 warmup: int) -> Figure:
    """Each variant's daily mean over replications, with the replications' min–max envelope."""
    fig, (ax,) = _figure()
    unit = series_unit(column)
    ax.set(title=tr("{column}: mean over replications, shaded from min to max", column=column),
           xlabel=tr("day"))
    ax.set_ylabel(tr("{label} ({unit})", label=column.replace("_", " "),
                     unit=_percent_axis(ax, unit)))
    if series.empty or column not in series:
        _no_data(ax)
        return fig
    _warmup(ax, warmup)
    offset = 1.0 if column.startswith(END_OF_DAY) else 0.5
    variants = list(dict.fromkeys(series["variant"]))
    cols = colours(variants)
    for variant in variants:
        by_day = series[series["variant"] == variant].groupby("day")[column]
        stats = by_day.agg(["mean", "min", "max", "size"])
        x = stats.index.to_numpy() + offset
        ax.fill_between(x, stats["min"], stats["max"], color=cols[variant], alpha=0.18,
                        linewidth=0)
        label = tr("{label} (n = {n})", label=labels.get(variant, variant),
                   n=int(stats["size"].max()))
        ax.plot(x, stats["mean"], color=cols[variant], linewidth=1.6,
                label=textwrap.fill(label, 48))
    ax.set_xlim(0, int(series["day"].max()) + 1)
    # below the plot, outside it, so long labels never squeeze the axes
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2,
               frameon=False, fontsize="small")
    return fig


def _save(fig: Figure, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=DPI)
    os.replace(tmp, path)
    return path


def write_charts(out_dir: Path, exp: Experiment, table: pd.DataFrame,
                 series: pd.DataFrame | None) -> list[Path]:
    """Draw every outcome and series chart (if ``series``) into ``out_dir``; returns the
    files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = exp.labels
    paths = [_save(outcome_chart(table, o, labels), out_dir / f"outcome_{o}.png")
             for o in exp.outcomes]
    paths += [_save(series_chart(series, c, labels, exp.warmup_days), out_dir / f"series_{c}.png")
              for c in exp.series if series is not None]
    return paths

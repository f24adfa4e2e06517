"""Charts of one run, as PNG files (described in ``docs/outputs.md``).

Drawn on bare :class:`matplotlib.figure.Figure` objects, so no pyplot state and no backend
switching: ``savefig`` picks the Agg canvas for PNG itself. Colours are the Okabe–Ito palette,
safe for colour-blind readers. Time axes are simulated days; day ``d`` spans ``[d, d+1)``, so
day averages and flows are drawn at ``d + 0.5`` and end-of-day states at ``d + 1``. The warm-up
(excluded from the headline metrics) is shaded grey, and campaign and surge days are marked along
the top. Missing data gives an empty panel with a note instead of an error, so tiny runs still
get every file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from sim.i18n import tr, use_cjk_font
from sim.metrics import kaplan_meier, survival_summary

if TYPE_CHECKING:              # charts are drawn from tables, without the model
    from sim.api import Results

# Okabe & Ito (2008), "Color universal design"
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000"]
ORANGE, SKY, GREEN, YELLOW, BLUE, RED, PURPLE, BLACK = OKABE_ITO
DPI = 120


def _figure(rows: int = 1, height: float = 4.8) -> tuple[Figure, list[Axes]]:
    use_cjk_font()
    fig = Figure(figsize=(9, height), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
    return fig, list(axes)


def _no_data(ax: Axes, note: str | None = None) -> None:
    ax.text(0.5, 0.5, tr("no data") if note is None else note, transform=ax.transAxes,
            ha="center", va="center", color="0.4", fontsize=12)


def _warmup(ax: Axes, warmup: int, ts: pd.DataFrame | None = None) -> None:
    """Shade the warm-up, and mark campaign and surge days (the timeseries' flags) with a band
    along the top, which no stacked area hides."""
    if warmup > 0:
        ax.axvspan(0, warmup, color="0.92", zorder=0,
                   label=tr("warm-up ({days} days)", days=warmup))
    if ts is None:
        return
    # black, solid or hatched: no colour of the charts' own palette
    for col, style, label in (("campaign", {"color": BLACK}, tr("campaign days (集中整治)")),
                              ("surge", {"facecolor": "white", "edgecolor": BLACK,
                                         "hatch": "////", "linewidth": 0},
                               tr("demand surge"))):
        if col not in ts or not ts[col].any():
            continue
        on = np.r_[0, ts[col].to_numpy(dtype=int), 0]
        starts, ends = np.flatnonzero(np.diff(on) == 1), np.flatnonzero(np.diff(on) == -1)
        for i, (a, b) in enumerate(zip(ts["day"].to_numpy()[starts],
                                       ts["day"].to_numpy()[ends - 1] + 1, strict=True)):
            ax.axvspan(a, b, ymin=0.965, ymax=1.0, zorder=5, label=label if i == 0 else None,
                       **style)


def _has(df: pd.DataFrame, *cols: str) -> bool:
    return len(df) > 0 and all(c in df.columns for c in cols)


def _analysed(res: Results, *columns: str) -> pd.DataFrame:
    """Dispatched issues that arose after the warm-up (the population of the headline
    metrics), with only ``columns``: a city's issues table is large."""
    iss = res.issues
    if not _has(iss, "created_day", "reported_day", "first_dispatch_day", *columns):
        return iss.iloc[0:0]
    keep = (iss["created_day"] >= res.summary.get("warmup_days", 0)) \
        & iss["reported_day"].notna() & iss["first_dispatch_day"].notna()
    return iss.loc[keep, list(columns)]


def open_stock(res: Results, warmup: int) -> Figure:
    """Open issues by stage: stacked day-average stocks."""
    ts = res.timeseries
    fig, (ax,) = _figure()
    stages = {tr("hidden"): ["hidden"], tr("settling"): ["settling"],
              tr("grid"): ["grid_l3", "grid_l2"], tr("platform"): ["platform", "ruling"],
              tr("screening"): ["screening"], tr("queued"): ["queued"],
              tr("in service"): ["in_service"]}
    ax.set(title=tr("Open issues by stage (day averages)"), xlabel=tr("day"),
           ylabel=tr("open issues"))
    if _has(ts, "day", *(f"avg_{s}" for cols in stages.values() for s in cols)):
        _warmup(ax, warmup, ts)
        ys = [ts[[f"avg_{s}" for s in cols]].sum(axis=1) for cols in stages.values()]
        ax.stackplot(ts["day"] + 0.5, ys, labels=list(stages), colors=OKABE_ITO[:7],
                     linewidth=0)
        ax.set_xlim(0, len(ts))
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)
    else:
        _no_data(ax)
    return fig


def time_to_close(res: Results, warmup: int) -> Figure:
    """Histogram (log x) and Kaplan–Meier survival of days from report to closure."""
    disp = _analysed(res, "status", "closed_day", "reported_day")
    days = float(res.summary.get("days", 0))
    fig, (hist, surv) = _figure(2, 7.5)
    surv.sharex(hist)
    hist.set(title=tr("Time to close, dispatched issues arisen after day {day}", day=warmup),
             xlabel=tr("days from report to closure (log scale)"), ylabel=tr("closed issues"))
    surv.set(title=tr("Kaplan–Meier: share still open (open issues censored at the end of the "
                      "run)"),
             xlabel=tr("days since report (log scale)"), ylabel=tr("share still open"),
             ylim=(0, 1.02))
    if len(disp) == 0:
        _no_data(hist)
        _no_data(surv)
        return fig
    closed = (disp["status"] == "closed").to_numpy()
    dur = (disp["closed_day"].fillna(days) - disp["reported_day"]).to_numpy()
    times, s = kaplan_meier(dur, closed)
    km = survival_summary(times, s)
    marks = [(km["median"], tr("median"), RED, "--"),
             (km["mean"], tr("mean (restricted)"), BLUE, ":")]
    done = dur[closed & (dur > 0)]
    if len(done):
        lo, hi = done.min(), done.max()
        bins = np.geomspace(lo, hi * 1.001, 30) if hi > lo else np.array([lo * 0.9, lo * 1.1])
        hist.hist(done, bins=bins, color=SKY, edgecolor="white", linewidth=0.5,
                  label=tr("closed ({n})", n=f"{len(done):,}"))
    else:
        _no_data(hist, tr("no closures"))
    if len(times) > 4000:       # a city's million steps: 4,000 are more than the eye sees
        keep = np.unique(np.r_[np.geomspace(1, len(times), 4000).astype(int) - 1])
        times, s = times[keep], s[keep]
    start = times[times > 0][:1] if (times > 0).any() else np.array([1.0])
    hist.set_xscale("log")
    surv.step(np.r_[start, times], np.r_[1.0, s], where="post", color=BLACK,
              label=tr("{n} issues, {censored} censored", n=f"{len(dur):,}",
                       censored=f"{int((~closed).sum()):,}"))
    for value, name, colour, style in marks:
        if np.isfinite(value) and value > 0:
            for ax in (hist, surv) if len(done) else (surv,):
                ax.axvline(value, color=colour, linestyle=style, linewidth=1.6,
                           label=tr("{name}: {value} days", name=name, value=f"{value:.2f}"))
    if len(done):
        hist.legend(frameon=False)
    surv.legend(frameon=False)
    return fig


def rejections(res: Results, warmup: int) -> Figure:
    """Shares of dispatched issues by number of pass-backs, and the share ruled."""
    disp = _analysed(res, "rejections", "ruled")
    fig, (ax,) = _figure()
    ax.set(title=tr("Pass-backs per dispatched issue (arisen after day {day})", day=warmup),
           ylabel=tr("share of dispatched issues"))
    if len(disp) == 0:
        _no_data(ax)
        return fig
    k = disp["rejections"].clip(upper=4).value_counts(normalize=True)
    shares = [float(k.get(i, 0.0)) for i in range(5)] + [float(disp["ruled"].mean())]
    labels = ["0", "1", "2", "3", "4+", tr("ruled by\nthe platform")]
    x = np.r_[np.arange(5), 5.6]
    bars = ax.bar(x, shares, color=[BLUE] * 5 + [ORANGE], width=0.7)
    text = [f"{v:.1%}" if v == 0 or v >= 0.001 else "<0.1%" for v in shares]
    ax.bar_label(bars, labels=text, padding=2)
    ax.set_xticks(x, labels)
    ax.set_xlabel(tr("pass-backs per issue, push-downs included ({n} dispatched issues)",
                     n=f"{len(disp):,}"))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, max(shares) * 1.15 or 1)
    return fig


def leader_workload(res: Results, warmup: int) -> Figure:
    """Level-3 grid leaders' daily hours against capacity, and the share overloaded."""
    ts = res.timeseries
    fig, (ax,) = _figure()
    ax.set(title=tr("Level-3 grid leaders: workload against capacity"), xlabel=tr("day"),
           ylabel=tr("working hours per leader per day"))
    cols = ("leader_demand_hours_mean", "leader_hours_mean", "patrol_hours_mean",
            "leader_overload_share")
    if not _has(ts, "day", *cols):
        _no_data(ax)
        return fig
    _warmup(ax, warmup, ts)
    x = ts["day"] + 0.5
    names = (tr("work held (demand)"), tr("hours worked"), tr("patrol hours"))
    for col, label, colour in zip(cols[:3], names, (ORANGE, BLUE, GREEN), strict=True):
        ax.plot(x, ts[col], color=colour, label=label, linewidth=1.4)
    cap = res.summary.get("resolved_scenario", {}).get("grid_leaders", {}).get("level3_hours")
    if cap is not None:
        ax.axhline(cap, color=BLACK, linestyle="--", linewidth=1.2,
                   label=tr("capacity ({hours} h)", hours=f"{cap:g}"))
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, len(ts))
    twin = ax.twinx()
    twin.plot(x, ts["leader_overload_share"], color=PURPLE, linewidth=1.0,
              label=tr("overloaded leaders (right axis)"))
    twin.set_ylabel(tr("share of leaders overloaded"))
    twin.yaxis.set_major_formatter(PercentFormatter(1.0))
    twin.set_ylim(0, max(float(ts["leader_overload_share"].max()) * 1.1, 0.1))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3,
              frameon=False)
    return fig


def trust_satisfaction(res: Results, warmup: int) -> Figure:
    """Residents' mean trust per day and mean satisfaction of each 30-day month's closures."""
    ts, iss = res.timeseries, res.issues
    fig, (ax,) = _figure()
    ax.set(title=tr("Residents' trust and satisfaction"), xlabel=tr("day"),
           ylabel=tr("score (0 = none, 1 = full)"), ylim=(0, 1))
    drawn = False
    if _has(ts, "day", "trust_mean"):
        _warmup(ax, warmup, ts)
        ax.plot(ts["day"] + 1, ts["trust_mean"], color=BLUE, linewidth=1.6,
                label=tr("trust (population-weighted mean, end of day)"))
        ax.set_xlim(0, len(ts))
        drawn = True
    rated = iss.loc[iss["satisfaction"].notna() & iss["closed_day"].notna(),
                    ["closed_day", "satisfaction"]] \
        if _has(iss, "closed_day", "satisfaction") else iss.iloc[0:0]
    if len(rated):
        month = (rated["closed_day"] // 30).astype(int)
        by = rated.groupby(month)["satisfaction"].agg(["mean", "size"])
        ax.plot(by.index * 30 + 15, by["mean"], color=RED, marker="o", linestyle="-",
                linewidth=1.2, label=tr("satisfaction with closures, 30-day mean"))
        drawn = True
    if drawn:
        ax.legend(loc="lower right", frameon=False)
    else:
        _no_data(ax)
    return fig


def utilisation(res: Results, warmup: int) -> Figure:
    """Daily utilisation of units and platforms, 7-day rolling mean."""
    ts = res.timeseries
    fig, (ax,) = _figure()
    ax.set(title=tr("Utilisation of staff hours (7-day rolling mean of days open)"),
           xlabel=tr("day"), ylabel=tr("utilisation (% of open staff hours)"))
    series = {tr("line departments"): "utilisation_line",
              tr("township offices"): "utilisation_territory",
              tr("district platform"): "utilisation_platform_district",
              tr("township platforms"): "utilisation_platform_township"}
    if not _has(ts, "day", *series.values()):
        _no_data(ax)
        return fig
    _warmup(ax, warmup, ts)
    top = 1.0
    for (label, col), colour in zip(series.items(), (BLUE, ORANGE, GREEN, PURPLE), strict=True):
        y = ts[col].rolling(7, min_periods=1).mean()
        ax.plot(ts["day"] + 0.5, y, color=colour, linewidth=1.5, label=label)
        top = max(top, float(y.max()) if y.notna().any() else 0.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, top * 1.05)
    ax.set_xlim(0, len(ts))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


CHARTS: dict[str, Any] = {
    "open_stock": open_stock,
    "time_to_close": time_to_close,
    "rejections": rejections,
    "leader_workload": leader_workload,
    "trust_satisfaction": trust_satisfaction,
    "utilisation": utilisation,
}


def write_charts(res: Results, out_dir: Path) -> list[Path]:
    """Draw every chart of ``res`` into ``out_dir`` (created if needed); returns the files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    warmup = int(res.summary.get("warmup_days") or 0)
    paths = []
    for name, draw in CHARTS.items():
        path = out_dir / f"{name}.png"
        draw(res, warmup).savefig(path, dpi=DPI)
        paths.append(path)
    return paths

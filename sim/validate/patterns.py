"""Patterns from the field (pattern-oriented modelling): calibration targets and held-out ones.

Each run (:func:`field_task`) returns a few numbers; :func:`calibration_table` and
:func:`pattern_table` combine the replications into one row per target: the figure, the
tolerance, the scenario that shows it, the model's value with its 95 % interval, and whether
it holds. A pattern that fails is reported as failing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from sim.api import run
from sim.checks import state_intervals
from sim.metrics import MONTH
from sim.validate.queues import Z95, estimate

WINDOW_STATES = ("platform", "ruling", "screening")


def field_task(scenario: str, seed: int, days: int, warmup: int,
               overrides: dict[str, Any], window: tuple[int, int] | None = None,
               monthly: bool = False) -> dict[str, Any]:
    """One run: headline metrics after the warm-up, and what the patterns need."""
    res = run(scenario, seed=seed, overrides={**overrides, "run.days": days,
                                              "run.warmup_days": warmup})
    out: dict[str, Any] = dict(res.summary["metrics"])
    iss = res.issues
    disp = iss[iss["first_dispatch_day"].notna() & (iss["created_day"] >= warmup)]
    out.update(circulation(res.events, iss, warmup, days))
    out.update(reported_vs_true(disp, warmup, days))
    # Dongcheng's handling time: dispatch to closure by the unit, in hours
    by_unit = disp[disp["settled_by"].isin(["department", "township"])]
    out["handling_hours_mean"] = float(
        ((by_unit["closed_day"] - by_unit["first_dispatch_day"]) * 24).mean())
    if window is not None:
        a, b = window
        closed = iss[(iss["closed_day"] >= a) & (iss["closed_day"] < b)]
        out["window_true_resolution"] = float(closed["resolved"].astype(float).mean())
        ts = res.timeseries[(res.timeseries["day"] >= a) & (res.timeseries["day"] < b)]
        out["window_leader_skill"] = float(ts["leader_skill_mean"].mean())
    if monthly:
        out["monthly"] = monthly_path(iss, days)
    return out


def circulation(events: pd.DataFrame, issues: pd.DataFrame, warmup: int,
                days: int) -> dict[str, float]:
    """Dispatched issues between units and platforms (at a platform, under ruling or being
    screened after a dispatch), as a time-average stock over the month's dispatches (Yichun's
    snapshot proxy); and the stricter stock of those passed back at least once."""
    iv = state_intervals(events)
    first = issues.set_index("issue_id")["first_dispatch_day"]
    events_back = events[events["event"] == "pass_back"].groupby("issue_id")["time"].min()
    start = iv["start"].to_numpy()
    inside = iv["state"].isin(WINDOW_STATES).to_numpy()
    dispatched = start >= first.reindex(iv["issue_id"]).to_numpy()      # NaN: never
    disputed = start >= events_back.reindex(iv["issue_id"]).to_numpy()
    a, b = float(warmup), float(days)
    length = np.clip(np.minimum(iv["end"].to_numpy(), b) - np.maximum(start, a), 0, None)
    per_month = issues["first_dispatch_day"].between(a, b, inclusive="left").sum() / (b - a) \
        * MONTH
    return {"circulating_share": float(length[inside & dispatched].sum() / (b - a) / per_month),
            "disputed_share": float(length[inside & disputed].sum() / (b - a) / per_month)}


def reported_vs_true(disp: pd.DataFrame, warmup: int, days: int) -> dict[str, float]:
    """Of issues reported in each whole month after the warm-up: the share closed by the
    month's end (what the platform reports as resolved) and the share truly resolved then."""
    first, last = -(-warmup // MONTH), days // MONTH
    month = np.floor(disp["reported_day"].to_numpy() / MONTH)
    sel = (month >= first) & (month < last)
    closed = disp["closed_day"].to_numpy()[sel] < (month[sel] + 1) * MONTH
    resolved = disp["resolved"].astype("boolean").fillna(False).to_numpy(dtype=bool)[sel]
    return {"reported_resolution": float(closed.mean()),
            "true_resolution": float((closed & resolved).mean())}


def monthly_path(issues: pd.DataFrame, days: int) -> list[list[float]]:
    """Per whole month: share of the month's unit closures truly resolved, and mean
    satisfaction of the month's rated closures."""
    closed = issues[issues["closed_day"].notna()
                    & issues["settled_by"].isin(["department", "township"])]
    month = np.floor(closed["closed_day"].to_numpy() / MONTH).astype(int)
    out = []
    for k in range(days // MONTH):
        sel = month == k
        out.append([float(closed["resolved"].astype(float).to_numpy()[sel].mean()),
                    float(np.nanmean(closed["satisfaction"].to_numpy()[sel]))])
    return out


# ---------------------------------------------------------------------------------------------
def _interval(values: list[float]) -> tuple[float, float, float]:
    mean, se = estimate(values)
    return mean, mean - Z95 * se, mean + Z95 * se


def _row(name: str, role: str, figure: str, tolerance: str, scenario: str,
         values: list[float], holds: bool | None, fmt: str = "{:.3f}") -> dict[str, Any]:
    """One target; ``holds`` is None for a figure that is reported, not checked."""
    mean, lo, hi = _interval(values)
    return {"pattern": name, "role": role, "field": figure, "tolerance": tolerance,
            "scenario": scenario, "value": mean, "low": lo, "high": hi,
            "shown": f"{fmt.format(mean)} [{fmt.format(lo)}, {fmt.format(hi)}]",
            "holds": None if holds is None else bool(holds)}


CALIBRATION = (
    # metric, target text, low, high, figure
    ("dispatch_accuracy", "dispatch accuracy", 0.96, 1.0, "Dongcheng 98 % (2005)"),
    ("closure_rate", "monthly closure", 0.937, 0.962,
     "Tianmen 93.7 %, Lianyungang 96.2 %; Dongcheng ≥ 95 %"),
    ("on_time_rate", "closed on time", 0.758, 0.896, "Tianmen 75.8 %, Lianyungang 89.6 %"),
    ("done_first_time", "done first time", 0.96, 1.0, "Lianyungang 98.1 % (2017)"),
    ("territorial_share", "orders to territories (块)", 0.80, 0.90, "Yichun 84.97 % (2023)"),
    ("handling_hours_mean", "mean handling time, hours", 0.0, 7.0,
     "Dongcheng ≤ 7 h (2015, secondary)"),
)


def calibration_table(base: list[dict[str, Any]], scenario: str) -> pd.DataFrame:
    """The figures the baseline was calibrated on, and where it stands."""
    rows = []
    for metric, name, low, high, figure in CALIBRATION:
        vals = [r[metric] for r in base]
        mean = float(np.mean(vals))
        fmt = "{:.1f}" if metric.endswith("hours_mean") else "{:.3f}"
        rows.append(_row(name, "calibration", figure, f"{low:g}–{high:g}", scenario, vals,
                         low <= mean <= high, fmt))
    return pd.DataFrame(rows)


def relative_change_row(name: str, figure: str, scenario: str, treated: list[float],
                        control: list[float]) -> dict[str, Any]:
    """Relative change of the mean, with the interval of the paired difference (common random
    numbers) over the control's mean: rare events make per-replication ratios useless."""
    diff = np.subtract(treated, control)
    mean, se = estimate(diff)
    base = float(np.mean(control))
    if base <= 0:
        rel, lo, hi = float("nan"), float("nan"), float("nan")
    else:
        rel, lo, hi = mean / base, (mean - Z95 * se) / base, (mean + Z95 * se) / base
    return {"pattern": name, "role": "held out", "field": figure,
            "tolerance": "below 0 (direction)", "scenario": scenario, "value": rel, "low": lo,
            "high": hi, "shown": f"{rel:+.2f} [{lo:+.2f}, {hi:+.2f}] (from {base:.1f} to "
                                 f"{np.mean(treated):.1f})", "holds": bool(hi < 0)}


def pattern_table(runs: dict[str, list[dict[str, Any]]], cfg: Any) -> pd.DataFrame:
    """The held-out patterns."""
    base, scen = runs["baseline"], cfg.scenario
    rows = []
    ratio = [r["time_to_close_mean_over_median"] for r in base]
    rows.append(_row("heavy right tail of time to close: mean / median (Kaplan–Meier, open "
                     "issues censored)", "held out", "NYC 311: mean 9.0 / median 2.9 ≈ 3",
                     "2–5", scen, ratio, 2.0 <= np.mean(ratio) <= 5.0, "{:.2f}"))
    circ = [r["circulating_share"] for r in base]
    rows.append(_row("dispatched issues circulating between units and platforms, share of a "
                     "month's dispatches", "held out", "Yichun 3.92 % (May 2023)", "0.02–0.06",
                     scen, circ, 0.02 <= np.mean(circ) <= 0.06, "{:.4f}"))
    disputed = [r["disputed_share"] for r in base]
    rows.append(_row("the same, only issues passed back at least once (stricter reading)",
                     "reported", "Yichun 3.92 %", "—", scen, disputed, None, "{:.4f}"))
    for name, label, low, high in (("punitive", "punitive top-down closure KPI", 0.10, 0.30),
                                   ("verified", "residents verify and rate", 0.0, 0.05)):
        gap = [r["reported_resolution"] - r["true_resolution"] for r in runs[name]]
        rows.append(_row(f"reported minus true resolution, {label}", "held out",
                         "Bevan & Hood: 90 % reported vs 69 % surveyed",
                         f"{low:g}–{high:g}", f"{scen} + gaming.{name}", gap,
                         low <= np.mean(gap) < high, "{:.3f}"))
    for metric, field in (("petitions", "Zhengzhou 2013: petitions −30 %"),
                          ("incidents", "Zhengzhou 2013: mass incidents −69 %")):
        rows.append(relative_change_row(
            f"{metric} with the mechanism against {cfg.before} (relative change)", field,
            f"{scen} vs {cfg.before}", [r[metric] for r in base],
            [r[metric] for r in runs["before"]]))
    drop = [s["window_true_resolution"] - c["window_true_resolution"]
            for s, c in zip(runs["surge"], runs["calm"], strict=True)]
    hi = _interval(drop)[2]
    rows.append(_row("true resolution after an overload pulse has ended, against no pulse",
                     "held out", "Oliva & Sterman 2001: lasting quality erosion",
                     "below 0", f"{scen} + surge", drop, hi < 0, "{:+.4f}"))
    skill = [s["window_leader_skill"] - c["window_leader_skill"]
             for s, c in zip(runs["surge"], runs["calm"], strict=True)]
    rows.append(_row("grid leaders' skill after the pulse, against no pulse", "reported",
                     "(mechanism)", "—", f"{scen} + surge", skill, None, "{:+.4f}"))
    rows.extend(s_shape_rows(runs["switch"], scen))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The S-shaped path after a switch to resident-rated ranking
def _linear(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + b * t


def _saturating(t: np.ndarray, a: float, b: float, k: float) -> np.ndarray:
    return a - b * np.exp(-k * t)


def _logistic(t: np.ndarray, a: float, b: float, k: float, t0: float) -> np.ndarray:
    return a + b / (1.0 + np.exp(-k * (t - t0)))


def shape_fits(y: np.ndarray) -> dict[str, Any]:
    """AIC of a line, a saturating exponential (no inflection) and a logistic (S) fitted to a
    path, and the logistic's inflection month."""
    t = np.arange(len(y), dtype=float)
    span = float(np.ptp(y)) or 1e-6
    guesses = {"linear": (_linear, (y[0], span / len(y))),
               "saturating": (_saturating, (y[-1], span, 0.2)),
               "logistic": (_logistic, (y.min(), span, 0.5, len(y) / 3))}
    out: dict[str, Any] = {}
    for name, (fn, p0) in guesses.items():
        try:
            p, _ = curve_fit(fn, t, y, p0=p0, maxfev=20000)
            rss = float(np.sum((y - fn(t, *p)) ** 2))
        except (RuntimeError, ValueError):
            p, rss = np.full(len(p0), np.nan), float("inf")
        out[name] = len(y) * np.log(max(rss, 1e-300) / len(y)) + 2 * len(p0)
        if name == "logistic":
            out["inflection"] = float(p[3])
            out["logistic_params"] = [float(x) for x in p]
    return out


def is_s_shaped(y: np.ndarray) -> tuple[bool, dict[str, Any]]:
    """An S: the logistic fits best by AIC, the path rises, and the inflection lies inside."""
    fits = shape_fits(y)
    best = min(("linear", "saturating", "logistic"), key=lambda k: fits[k])
    inside = 1.0 <= fits["inflection"] <= len(y) - 2
    return bool(best == "logistic" and inside and y[-1] > y[0]), fits | {"best": best}


def s_shape_rows(switch: list[dict[str, Any]], scen: str) -> list[dict[str, Any]]:
    paths = np.array([r["monthly"] for r in switch])            # replication × month × 2
    rows = []
    for k, (name, field) in enumerate((("resolution", "Beijing 12345: 53 % → 96.5 %"),
                                       ("satisfaction", "Beijing 12345: 65 % → 97 %"))):
        y = np.nanmean(paths[:, :, k], axis=0)
        ok, fits = is_s_shaped(y)
        start, end = float(y[0]), float(y[-1])
        rows.append({"pattern": f"{name} after switching to resident-rated ranking: S-shaped "
                     "path", "role": "held out", "field": field,
                     "tolerance": "logistic fits best (AIC), inflection inside",
                     "scenario": f"{scen} + switch", "value": end, "low": start, "high": end,
                     "shown": f"{start:.3f} → {end:.3f}; best fit {fits['best']}, inflection "
                              f"month {fits['inflection']:.1f}",
                     "holds": ok, "path": [float(v) for v in y]})
    return rows

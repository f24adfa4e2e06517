"""Headline metrics from the output tables, after a warm-up.

Small functions over data (DataFrames in, numbers out), so the same definitions serve a single
run, an experiment's replications and the validation checks. Every metric is defined in
``docs/outputs.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier survival curve: (times, S(t) just after each time)."""
    # here, not at the top: the sort is compiled (numba), and an experiment's driver imports
    # this module for its charts without ever sorting
    from sim.sorting import argsort_floats
    d = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if len(d) == 0:
        return np.empty(0), np.empty(0)
    order = argsort_floats(d)                     # np.argsort(d, kind="stable"), faster
    d, e = d[order], e[order]
    times, first = np.unique(d, return_index=True)
    at_risk = len(d) - first
    deaths = np.add.reduceat(e.astype(float), first)
    surv = np.cumprod(1.0 - deaths / at_risk)
    return times, surv


def km_summary(durations: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Quartiles and restricted mean of a censored duration sample (days)."""
    return survival_summary(*kaplan_meier(durations, observed))


def survival_summary(times: np.ndarray, surv: np.ndarray) -> dict[str, float]:
    """Quartiles and restricted mean of a Kaplan–Meier curve (``kaplan_meier``'s output)."""
    out: dict[str, float] = {}
    for name, q in (("q1", 0.75), ("median", 0.5), ("q3", 0.25)):
        hit = np.flatnonzero(surv <= q)
        out[name] = float(times[hit[0]]) if len(hit) else float("nan")
    if len(times):
        # restricted mean: area under S(t) up to the last observed time
        steps = np.diff(np.r_[0.0, times])
        out["mean"] = float(np.sum(steps * np.r_[1.0, surv[:-1]]))
    else:
        out["mean"] = float("nan")
    return out


MONTH = 30  # days in a reporting month


def monthly_closure(disp: pd.DataFrame, warmup: int, days: int) -> float:
    """Share of issues reported in a month that are closed by the month's end, pooled over
    the whole months after the warm-up: how hotlines report their closure rates."""
    first = -(-warmup // MONTH)                   # first month starting after the warm-up
    last = days // MONTH                          # months [first, last) are whole
    if last <= first:
        return float("nan")
    month = np.floor(disp["reported_day"].to_numpy() / MONTH)
    sel = (month >= first) & (month < last)
    closed_by = disp["closed_day"].to_numpy()[sel] < (month[sel] + 1) * MONTH
    return float(closed_by.mean()) if sel.any() else float("nan")


def equity(disp: pd.DataFrame, closed: np.ndarray, duration: np.ndarray) -> dict[str, float]:
    """How evenly the system serves townships, and urban against rural residents."""
    out: dict[str, float] = {}
    done = pd.Series(duration[closed], index=disp.index[closed])
    by_town = done.groupby(disp.loc[closed, "grid_l1"]).mean()
    if len(by_town) > 1 and by_town.mean() > 0:
        out["time_to_close_township_cv"] = float(by_town.std(ddof=0) / by_town.mean())
    if "urban" in disp:
        urban = disp["urban"].to_numpy(dtype=bool)
        if urban[closed].any() and (~urban[closed]).any():
            out["time_to_close_gap_urban_rural_days"] = float(
                duration[closed & urban].mean() - duration[closed & ~urban].mean())
    return out


def work_days(calendar: Any, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Working days between calendar times on a :class:`~sim.calendar.WorkingCalendar`."""
    return (calendar.to_work(end) - calendar.to_work(start)) / calendar.hours


USED_COLUMNS = (
    "created_day", "discovered_day", "reported_day", "first_dispatch_day", "closed_day",
    "status", "settled_by", "deadline_days", "first_dispatch_correct", "first_unit_kind",
    "rejections", "ruled", "reopens", "superficial", "grid_l1", "grid_l3", "urban", "resolved",
    "satisfaction", "petitioned_day", "incident_day")


def headline(issues: pd.DataFrame, timeseries: pd.DataFrame, *, warmup: int, days: int,
             office_calendar: Any) -> dict[str, float]:
    """Headline metrics over issues that arose (or were reported) after the warm-up."""
    # only the columns used: a city's issues table is large, and a filter copies what it keeps
    iss = issues.loc[issues["created_day"].to_numpy() >= warmup,
                     [c for c in USED_COLUMNS if c in issues.columns]]
    n = len(iss)
    out: dict[str, float] = {"issues_arisen": n}
    if n == 0:
        return out
    known = iss["discovered_day"].notna()
    out["discovered_share"] = float(known.mean())
    out["lapsed_share"] = float((iss["status"] == "lapsed").mean())
    settled = iss["settled_by"].value_counts(normalize=True)
    for who in ("residents", "grid_l3", "grid_l2", "work_team", "department", "township"):
        out[f"settled_by_{who}_share"] = float(settled.get(who, 0.0))

    reported = iss["reported_day"].notna()
    out["reported"] = int(reported.sum())
    disp = iss[reported & iss["first_dispatch_day"].notna()]
    out["dispatched"] = len(disp)
    if len(disp):
        closed = disp["status"] == "closed"
        out["closure_rate"] = monthly_closure(disp, warmup, days)
        # on time: closed within the deadline (working days from report), among issues whose
        # deadline fell before the end of the run
        took = work_days(office_calendar, disp["reported_day"].to_numpy(),
                         disp["closed_day"].fillna(np.inf).clip(upper=days).to_numpy())
        due = disp["deadline_days"].to_numpy()
        ripe = work_days(office_calendar, disp["reported_day"].to_numpy(),
                         np.full(len(disp), float(days))) >= due
        on_time = (took <= due) & closed.to_numpy()
        out["on_time_rate"] = float(on_time[ripe].mean()) if ripe.any() else float("nan")
        out["dispatch_accuracy"] = float(disp["first_dispatch_correct"].mean())
        first_time = (disp["rejections"] == 0) & closed
        out["done_first_time"] = float(first_time[closed].mean()) if closed.any() else np.nan
        out["territorial_share"] = float((disp["first_unit_kind"] == "territory").mean())
        out["rejections_per_issue"] = float(disp["rejections"].mean())
        out["ruled_share"] = float(disp["ruled"].mean())
        out["reopen_share"] = float((disp["reopens"] > 0).mean())
        if "superficial" in disp and closed.any():
            out["superficial_share"] = float(disp.loc[closed, "superficial"].mean())
        # time to close from report, with open issues censored at the end of the run
        end = disp["closed_day"].fillna(float(days)).to_numpy()
        dur = end - disp["reported_day"].to_numpy()
        km = km_summary(dur, closed.to_numpy())
        out.update({f"time_to_close_{k}_days": v for k, v in km.items()})
        if km["median"] and km["median"] > 0:
            out["time_to_close_mean_over_median"] = km["mean"] / km["median"]
        out.update(equity(disp, closed.to_numpy(), dur))
    closed_all = iss.loc[iss["status"] == "closed", ["resolved", "satisfaction"]]
    resolved = closed_all["resolved"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out["true_resolution_rate"] = float(resolved.mean()) if len(resolved) else float("nan")
    out["satisfaction_mean"] = float(closed_all["satisfaction"].mean()) if len(closed_all) \
        else float("nan")
    if "grid_l3" in iss:
        by_grid = known.groupby(iss["grid_l3"]).mean()
        out["discovered_share_grid_p10"] = float(by_grid.quantile(0.1))
    out["petitions"] = int(iss["petitioned_day"].notna().sum()) if "petitioned_day" in iss else 0
    out["incidents"] = int(iss["incident_day"].notna().sum()) if "incident_day" in iss else 0
    ts = timeseries[timeseries["day"] >= warmup]
    if "leader_turnover" in ts:
        out["leader_turnover"] = int(ts["leader_turnover"].sum())
        out["leader_stress_mean"] = float(ts["leader_stress_mean"].mean())
        out["leader_skill_mean"] = float(ts["leader_skill_mean"].mean())
    out["hidden_stock_mean"] = float(ts["open_hidden"].mean())
    out["open_stock_mean"] = float(ts["open_total"].mean())
    out["leader_overload_share_mean"] = float(ts["leader_overload_share"].mean())
    out["trust_final"] = float(timeseries["trust_mean"].iloc[-1])
    circulating = ts[["open_platform", "open_ruling", "open_screening"]].sum(axis=1)
    out["circulating_stock_mean"] = float(circulating.mean())
    return {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
            for k, v in out.items()}

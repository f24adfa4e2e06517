"""Invariants every run must satisfy, as functions over a run's tables.

Used by the tests (including the property-based ones) and by validation. Each returns data
(a DataFrame or dict) that says how far off the run is, so a failure shows where it went wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.issues import Status

OPEN = [s.name.lower() for s in Status if s < Status.CLOSED]

# subsystems for Little's law: the statuses an issue occupies while in each
SUBSYSTEMS: dict[str, list[str]] = {
    "hidden": ["hidden"],
    "settling": ["settling"],
    "grid": ["grid_l3", "grid_l2"],
    "platform": ["platform", "ruling"],
    "units": ["screening", "queued", "in_service"],
    "open": OPEN,
}


def state_intervals(events: pd.DataFrame) -> pd.DataFrame:
    """Each event's ``to`` state (and node) held from its time until the issue's next event."""
    cols = ["issue_id", "time", "to"] + (["node"] if "node" in events else [])
    ev = events[cols].copy()
    ev["seq"] = np.arange(len(ev))
    ev = ev.sort_values(["issue_id", "time", "seq"], kind="stable")
    nxt = ev.groupby("issue_id", sort=False)["time"].shift(-1)
    out = pd.DataFrame({"issue_id": ev["issue_id"].to_numpy(), "state": ev["to"].to_numpy(),
                        "start": ev["time"].to_numpy(),
                        "end": nxt.fillna(np.inf).to_numpy()})
    if "node" in events:
        out["node"] = ev["node"].to_numpy()
    return out


def stocks_from_events(events: pd.DataFrame, days: int) -> pd.DataFrame:
    """Number of issues in each state at the end of each day, rebuilt from the event log."""
    iv = state_intervals(events)
    edges = np.arange(1, days + 1, dtype=float)
    out = {}
    for state in OPEN:
        sel = iv[iv["state"] == state]
        starts, ends = np.sort(sel["start"].to_numpy()), np.sort(sel["end"].to_numpy())
        # state at time t: entered before t and not left before t
        out[f"open_{state}"] = (np.searchsorted(starts, edges, "left")
                                - np.searchsorted(ends, edges, "left"))
    return pd.DataFrame(out, index=pd.RangeIndex(days, name="day"))


def conservation(timeseries: pd.DataFrame) -> pd.Series:
    """Each day: issues arisen so far minus those open, closed for good or lapsed (should be 0)."""
    ts = timeseries
    cols = [f"open_{s}" for s in OPEN]
    arisen = ts["arisen"].cumsum()
    gone = (ts["closed"] - ts["reopened"] + ts["lapsed"]).cumsum()
    return arisen - ts[cols].sum(axis=1) - gone


def timestamps_out_of_order(issues: pd.DataFrame) -> pd.DataFrame:
    """Issues whose lifecycle time stamps go backwards (should be empty)."""
    order = ["created_day", "discovered_day", "reported_day", "first_dispatch_day",
             "accepted_day", "started_day", "closed_day"]
    bad = np.zeros(len(issues), dtype=bool)
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            x, y = issues[a].to_numpy(), issues[b].to_numpy()
            with np.errstate(invalid="ignore"):
                bad |= y < x - 1e-9
    return issues[bad]


def littles_law(events: pd.DataFrame, timeseries: pd.DataFrame, first_day: int,
                last_day: int) -> pd.DataFrame:
    """Little's law per kind of subsystem (all grid leaders, all platforms, all units ...) over
    days first_day..last_day (inclusive).

    L is the mean of the model's own day-average stock (``avg_*`` columns, kept by the model as
    issues move); λ is the entries per day and W the mean time in the subsystem, both from the
    event time stamps clipped to the window. L = λW holds when the two measurements of the same
    integral agree.
    """
    iv = state_intervals(events)
    ts = timeseries[(timeseries["day"] >= first_day) & (timeseries["day"] <= last_day)]
    rows = []
    for name, states in SUBSYSTEMS.items():
        l_daily = float(ts[[f"avg_{x}" for x in states]].sum(axis=1).mean())
        rows.append(_little(name, iv, iv["state"].isin(states).to_numpy(), l_daily,
                            first_day, last_day))
    return pd.DataFrame(rows).set_index("subsystem")


def littles_law_nodes(events: pd.DataFrame, nodes: pd.DataFrame, first_day: int,
                      last_day: int) -> pd.DataFrame:
    """Little's law for every node (each grid level, each platform, each unit), as above, with L
    from the model's own day-average stock of the node (``nodes.stock_avg``)."""
    iv = state_intervals(events)
    window = nodes[(nodes["day"] >= first_day) & (nodes["day"] <= last_day)]
    l_daily = window.groupby("node", observed=False)["stock_avg"].mean()
    node = iv["node"].astype(str).to_numpy()
    rows = [_little(name, iv, node == name, float(l_daily[name]), first_day, last_day)
            for name in nodes["node"].cat.categories if name not in ("hidden", "settling")]
    return pd.DataFrame(rows).set_index("subsystem")


def flow_through(iv: pd.DataFrame, inside: np.ndarray, a: float,
                 b: float) -> tuple[int, float]:
    """Entries into a subsystem during [a, b) and the time issues spent in it then (days).

    ``inside`` marks the state intervals (:func:`state_intervals`) in the subsystem; an entry is
    one whose predecessor (same issue) is outside it. Time is clipped to the window.
    """
    start, end = iv["start"].to_numpy(), iv["end"].to_numpy()
    time_in = float(np.clip(np.minimum(end[inside], b) - np.maximum(start[inside], a), 0,
                            None).sum())
    same_issue = np.r_[False, iv["issue_id"].to_numpy()[1:] == iv["issue_id"].to_numpy()[:-1]]
    prev_inside = np.r_[False, inside[:-1]] & same_issue
    entries = int((inside & ~prev_inside & (start >= a) & (start < b)).sum())
    return entries, time_in


def _little(name: str, iv: pd.DataFrame, inside: np.ndarray, l_daily: float, first_day: int,
            last_day: int) -> dict[str, float | str]:
    """L (the model's own day averages) against λW (event time stamps) for one subsystem."""
    a, b = float(first_day), float(last_day + 1)
    length = b - a
    entries, time_in = flow_through(iv, inside, a, b)
    lam = entries / length
    w = time_in / entries if entries else float("nan")
    l_integral = time_in / length
    # relative where there is a stock; absolute where there is (next to) none
    rel = abs(l_daily - l_integral) / max(l_integral, 1e-6)
    return {"subsystem": name, "L_daily_mean": l_daily, "lambda_per_day": lam, "W_days": w,
            "lambda_W": l_integral, "relative_error": rel}

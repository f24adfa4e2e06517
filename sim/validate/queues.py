"""Exact checks against queueing theory, each on a reduction scenario run through ``step()``.

- M/M/c: the ``mmc`` scenario over a grid of loads and staff numbers, against Erlang C.
- Feedback: the ``feedback`` scenario (platform → department loop with a fixed pass-back
  probability) against the traffic equations of its Jackson network.
- Little's law: L = λW for every node (grid level, platform, unit) of every shipped scenario.

Each ``*_task`` is one run and returns a few numbers; the ``*_table`` functions combine the
replications into estimates with standard errors and say whether each check holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.api import prepare
from sim.checks import flow_through, littles_law_nodes, state_intervals
from sim.model import GridModel
from sim.scenario import load_scenario
from sim.tables import nodes_frame
from sim.validate.theory import MMc, jackson_rates

Z95 = 1.959963984540054


def estimate(values: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and standard error over independent replications."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


# ---------------------------------------------------------------------------------------------
# M/M/c against Erlang C
def mmc_overrides(scenario: str, load: float, servers: int, arrivals_per_day: float,
                  days: int) -> dict[str, Any]:
    """The reduction at load ρ with c staff: the arrival rate is fixed and the mean work set
    to ρ·c/λ, so that every point has the same number of customers a day."""
    spec = load_scenario(scenario)
    data = spec.model_dump(mode="json")
    cats, deps = data["categories"], data["departments"]
    cats[0]["rate"] = arrivals_per_day * 365 * 1000 / spec.population
    cats[0]["hours"] = load * servers * 24.0 / arrivals_per_day
    deps[0]["staff"] = servers
    return {"categories": cats, "departments": deps, "run.days": days}


def mmc_task(scenario: str, load: float, servers: int, arrivals_per_day: float,
             warmup_days: float, days: int, seed: int) -> dict[str, float]:
    """One replication: mean wait in queue (hours) and share who wait, of the customers who
    arrive after the warm-up and at least a tenth of a day before the end (all have started)."""
    ov = mmc_overrides(scenario, load, servers, arrivals_per_day, int(np.ceil(warmup_days + days)))
    model = GridModel(prepare(scenario, seed=seed, overrides=ov), record_events=False)
    model.run()
    rows = model.issues.all_rows()
    end = model.day - 0.1
    sel = (rows["created"] >= warmup_days) & (rows["created"] < end)
    wait = (rows["started"][sel] - rows["accepted"][sel]) * 24.0
    if np.isnan(wait).any():
        raise RuntimeError("mmc: a customer in the window had not started by the end")
    return {"wait": float(wait.mean()), "p_wait": float((wait > 1e-7).mean()),
            "customers": int(sel.sum())}


def mmc_table(results: list[dict[str, float]], points: list[dict[str, Any]], within_se: float,
              max_half_width: float) -> pd.DataFrame:
    """One row per point and statistic: estimate, SE, theory, and whether each check holds."""
    rows = []
    for point in points:
        reps = [results[i] for i in point["tasks"]]
        q = MMc(lam=point["arrivals_per_day"] / 24.0,
                mu=point["arrivals_per_day"] / (point["load"] * point["servers"] * 24.0),
                c=point["servers"])
        for stat, theory in (("wait", q.wait), ("p_wait", q.p_wait)):
            mean, se = estimate([r[stat] for r in reps])
            half = Z95 * se
            rows.append({
                "load": point["load"], "servers": point["servers"], "statistic": stat,
                "customers": sum(r["customers"] for r in reps), "replications": len(reps),
                "estimate": mean, "se": se, "theory": theory,
                "z": (mean - theory) / se if se > 0 else 0.0,
                "relative_half_width": half / theory,
                "within_se": abs(mean - theory) <= within_se * se,
                "ci_covers": abs(mean - theory) <= half,
                "precise": half <= max_half_width * theory,
            })
    out = pd.DataFrame(rows)
    out["holds"] = out["within_se"] & out["precise"]
    return out


# ---------------------------------------------------------------------------------------------
# Feedback: the platform → department loop as a Jackson network
NODES = {"platform": ["platform"], "screening": ["screening"],
         "department": ["queued", "in_service"]}


def feedback_task(scenario: str, warmup_days: float, days: int, seed: int,
                  slice_hours: float | None = None) -> dict[str, float]:
    """One replication: arrival rate (per day) and mean time per visit (hours) at each node,
    and visits to the department per issue, over the window after the warm-up."""
    ov: dict[str, Any] = {"run.days": int(np.ceil(warmup_days + days))}
    if slice_hours is not None:
        ov["run.slice_hours"] = slice_hours
    model = GridModel(prepare(scenario, seed=seed, overrides=ov))
    model.run()
    iv = state_intervals(model.events.frame(model.nodes))
    a, b = warmup_days, model.day - 0.1
    out: dict[str, float] = {}
    for node, states in NODES.items():
        entries, time_in = flow_through(iv, iv["state"].isin(states).to_numpy(), a, b)
        # time per visit by Little's law over the window: issues still there are counted
        out[f"{node}_rate"] = entries / (b - a)
        out[f"{node}_time"] = time_in / entries * 24.0
    rows = model.issues.all_rows()
    done = (rows["created"] >= a) & (rows["created"] < b) & ~np.isnan(rows["closed"])
    out["visits"] = float(rows["dispatches"][done].mean())
    out["external_rate"] = float(done.sum() / (b - a))
    return out


def jackson_theory(scenario: str) -> dict[str, float]:
    """The Jackson solution of the feedback scenario's own parameters."""
    sc = load_scenario(scenario)
    p = sc.units.pass_back
    gamma = sc.population * sc.categories[0].rate / 1000 / 365
    routing = np.array([[0, 1, 0], [p, 0, 1 - p], [0, 0, 0]], dtype=float)
    lam = jackson_rates(routing, np.array([gamma, 0.0, 0.0]))
    plat = MMc(lam[0] / 24, 60.0 / sc.platform.intake_minutes, sc.platform.district_operators)
    dept = MMc(lam[2] / 24, 1.0 / sc.categories[0].hours, sc.departments[0].staff)
    return {"platform_rate": lam[0], "screening_rate": lam[1], "department_rate": lam[2],
            "platform_time": plat.sojourn, "screening_time": sc.units.screening_hours,
            "department_time": dept.sojourn, "visits": 1.0 / (1.0 - p),
            "platform_load": plat.rho, "department_load": dept.rho}


FEEDBACK_STATS = ["visits", "platform_rate", "screening_rate", "department_rate",
                  "platform_time", "screening_time", "department_time"]


def feedback_table(results: list[dict[str, float]], theory: dict[str, float],
                   within_se: float) -> pd.DataFrame:
    rows = []
    for stat in FEEDBACK_STATS:
        mean, se = estimate([r[stat] for r in results])
        rows.append({"statistic": stat, "estimate": mean, "se": se, "theory": theory[stat],
                     "z": (mean - theory[stat]) / se if se > 0 else 0.0,
                     "relative_error": mean / theory[stat] - 1.0,
                     "holds": abs(mean - theory[stat]) <= within_se * se})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Little's law per node
def little_task(scenario: str, seed: int, days: int | None) -> pd.DataFrame:
    """Little's law for every node of one run, over the days after its warm-up."""
    model = GridModel(prepare(scenario, seed=seed, days=days))
    model.run()
    warm = model.scenario_spec.run.warmup_days
    first = warm if warm < model.day else model.day // 4
    table = littles_law_nodes(model.events.frame(model.nodes), nodes_frame(model), first,
                              model.day - 1)
    return table.reset_index().assign(scenario=scenario)

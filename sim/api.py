"""Run a scenario from Python (notebooks, scripts) and get the tables back as DataFrames.

>>> from sim.api import run
>>> res = run("baseline", days=60, overrides={"platform.ruling_threshold": 0})
>>> res.summary["metrics"]["closure_rate"]          # doctest: +SKIP
"""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.metrics import headline
from sim.model import GridModel
from sim.provenance import git_commit, git_dirty, package_versions
from sim.scenario import GridScenario, resolve, resolved_dict
from sim.tables import (
    agents_frame,
    costs,
    issues_frame,
    node_utilisation,
    nodes_frame,
    timeseries_frame,
)

SCHEMA_VERSION = 1


@dataclass
class Results:
    """The tables of one run (see ``docs/outputs.md``) and its summary."""

    issues: pd.DataFrame
    events: pd.DataFrame | None     # None: streamed to Parquet during the run
    timeseries: pd.DataFrame
    agents: pd.DataFrame | None     # None: not built (a sweep's runs keep no agents table)
    nodes: pd.DataFrame
    summary: dict[str, Any]
    model: GridModel | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line: the run and its tables' sizes (a notebook cell ending in ``res`` printed
        every table)."""
        def size(df: pd.DataFrame | None) -> str:
            return "not kept" if df is None else f"{len(df):,} rows"
        s = self.summary
        tables = ", ".join(f"{name}: {size(getattr(self, name))}"
                           for name in ("issues", "events", "timeseries", "agents", "nodes"))
        return (f"Results({s.get('scenario')!r}, {s.get('days')} days, seed {s.get('seed')}; "
                f"{tables}; summary: {len(s.get('metrics', {}))} metrics)")


def prepare(scenario: str | Path | GridScenario = "baseline", *, days: int | None = None,
            seed: int | None = None, overrides: dict[str, Any] | None = None,
            label: str = "overrides") -> GridScenario:
    """Resolve a scenario name/path/object, overrides, days and seed into one scenario;
    ``label`` names the overrides in errors."""
    ov = dict(overrides or {})
    if days is not None:
        ov["run.days"] = days
    if seed is not None:
        ov["run.seed"] = seed
    return resolve(scenario, ov, label)


def run(scenario: str | Path | GridScenario = "baseline", *, days: int | None = None,
        seed: int | None = None, overrides: dict[str, Any] | None = None,
        record_events: bool = True, progress: Any = None) -> Results:
    """Run a scenario and return its tables.

    Args:
        scenario: a name from ``gridsim scenarios``, a path to a TOML file, or a scenario object.
        days: days to simulate (default: the scenario's ``run.days``).
        seed: root seed (default: the scenario's ``run.seed``).
        overrides: ``{"section.key": value}``, validated like the file.
        record_events: build the per-transition events table.
        progress: an object with ``update(n)`` (e.g. a tqdm bar), called once a day.
    """
    spec = prepare(scenario, days=days, seed=seed, overrides=overrides)
    model = GridModel(spec, record_events=record_events)
    model.run(progress=progress)
    return collect(model)


def mechanisms(model: GridModel, ts: pd.DataFrame) -> dict[str, int]:
    """How often each mechanism acted over the whole run (warm-up included): a check that
    a scenario switches on what it means to."""
    counts = {key: int(ts[col].sum()) for key, col in (
        ("pass_backs", "rejections"), ("rulings", "rulings"), ("escalations", "escalations"),
        ("reopenings", "reopened"), ("petitions", "petitions"), ("incidents", "incidents"),
        ("leader_turnover", "leader_turnover"))}
    counts["campaign_days"] = sum(model.campaign_on(d) for d in range(model.day))
    return counts


def collect(model: GridModel, release: bool = False, agents: bool = True) -> Results:
    """Build the tables and summary of a model that has run; with ``release``, the model's
    finished issue rows are let go once tabled (a city's take ~1 GB; the model can then not be
    stepped or tabled again); without ``agents``, no agents table (~4 % of a district's run)."""
    spec = model.scenario_spec
    issues = issues_frame(model)
    if release:
        model.issues.release()
    ts = timeseries_frame(model)
    warmup = spec.run.warmup_days if spec.run.warmup_days < model.day else model.day // 4
    metrics = headline(issues, ts, warmup=warmup, days=model.day,
                       office_calendar=model.office_calendar)
    budget = costs(model, warmup)
    window = issues[(issues["closed_day"] >= warmup) & (issues["resolved"] == True)]  # noqa: E712
    metrics["staff_hours_total"] = sum(v for k, v in budget.items() if k.startswith("hours_"))
    metrics["cost_total"] = budget["cost_total"]
    metrics["cost_per_resolved_issue"] = (budget["cost_total"] / len(window) if len(window)
                                          else float("nan"))
    summary = {
        "schema_version": SCHEMA_VERSION,
        "scenario": spec.name,
        "seed": model.seed_value,
        "days": model.day,
        "warmup_days": warmup,
        "metrics": metrics,
        "costs": budget,
        "utilisation": node_utilisation(model, warmup),
        "mechanisms": mechanisms(model, ts),
        "resolved_scenario": resolved_dict(spec),
        "versions": package_versions(),
        "python": _platform.python_version(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
    }
    streamed = model.events.streaming
    model.events.close()
    events = None if streamed else model.events.frame(model.nodes)
    return Results(issues=issues, events=events, timeseries=ts,
                   agents=agents_frame(model) if agents else None, nodes=nodes_frame(model),
                   summary=summary,
                   model=model)

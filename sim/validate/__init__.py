"""Validation: the model against queueing theory and against patterns from the field.

``run_validation`` plans every run of ``experiments/validation.toml`` (seeds fixed in advance),
executes them in parallel, and returns the tables that ``sim.validate.report`` writes to
``docs/validation.md``. Layers: :mod:`theory` (formulas), :mod:`queues` (exact checks),
:mod:`patterns` (field patterns), :mod:`report` (the document and its figures).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.experiment import _flatten
from sim.scenario import _locate
from sim.validate.config import Validation
from sim.validate.patterns import calibration_table, field_task, pattern_table
from sim.validate.queues import (
    feedback_table,
    feedback_task,
    jackson_theory,
    little_task,
    mmc_table,
    mmc_task,
)
from sim.validate.runner import Task, run_tasks


@dataclass
class Outcome:
    """Every table of a validation, and whether all its checks hold."""

    config: Validation
    mmc: pd.DataFrame
    feedback: pd.DataFrame
    feedback_default: pd.DataFrame
    little: pd.DataFrame
    convergence: pd.DataFrame
    calibration: pd.DataFrame
    patterns: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def checks(self) -> pd.DataFrame:
        """One row per check: its group, name and whether it holds."""
        little = self.little.groupby("scenario")["relative_error"].max()
        tol = self.config.little.max_relative_error
        rows = [("M/M/c against Erlang C", f"ρ={r.load:g}, c={r.servers}: {r.statistic}",
                 r.holds) for r in self.mmc.itertuples()]
        rows += [("Feedback against Jackson", f"{r.statistic}", r.holds)
                 for r in self.feedback.itertuples()]
        rows += [("Little's law, every node", f"{s}", err <= tol) for s, err in little.items()]
        for table in (self.calibration, self.patterns):
            rows += [(r.role, r.pattern, r.holds) for r in table.itertuples()
                     if r.holds is not None]
        return pd.DataFrame(rows, columns=["group", "check", "holds"])

    @property
    def passed(self) -> bool:
        return bool(self.checks()["holds"].all())


def counterfactual(scenario: str) -> dict[str, Any]:
    """A scenario's own settings (without its base) as overrides, to apply them to another
    district: ``before_mechanism`` on the small district, say."""
    _, text = _locate(scenario)
    data = tomllib.loads(text)
    for key in ("base", "name", "description"):
        data.pop(key, None)
    return _flatten(data)


def plan(cfg: Validation) -> tuple[list[Task], dict[str, list[int]], list[dict[str, Any]]]:
    """Every run, longest first (for the process pool), with where each group's results are."""
    tasks: list[Task] = []
    groups: dict[str, list[int]] = {}

    def add(group: str, fn: Any, **kwargs: Any) -> int:
        groups.setdefault(group, []).append(len(tasks))
        tasks.append((fn, kwargs))
        return len(tasks) - 1

    pat = cfg.patterns
    surge = pat.surge
    end = surge["residents.surge_start_day"] + surge["residents.surge_days"]
    window = (end, end + int(surge.get("window_days", 90)))
    surge_set = {k: v for k, v in surge.items() if k != "window_days"}
    for r in range(pat.replications):
        seed = cfg.seed_for(1, r)          # common random numbers across the patterns' variants
        common = {"scenario": pat.scenario, "seed": seed, "days": pat.days,
                  "warmup": pat.warmup_days}
        add("baseline", field_task, **common, overrides={}, window=window)
        add("before", field_task, **common, overrides=counterfactual(pat.before))
        add("surge", field_task, **common, overrides=surge_set, window=window)
        for name, overrides in pat.gaming.items():
            add(name, field_task, **common, overrides=overrides)
        add("switch", field_task, **common | {"days": pat.switch_days, "warmup": 30},
            overrides=pat.switch, monthly=True)
    conv = cfg.convergence
    for i, sl in enumerate(conv.slice_hours):
        for r in range(conv.replications):
            add(f"convergence:{i}", field_task, scenario=conv.scenario,
                seed=cfg.seed_for(2, r), days=conv.days, warmup=min(90, conv.days // 4),
                overrides={"run.slice_hours": sl})
    fb = cfg.feedback
    for r in range(fb.replications):
        kw = {"scenario": fb.scenario, "warmup_days": fb.warmup_days, "days": fb.days,
              "seed": cfg.seed_for(3, r)}
        add("feedback", feedback_task, **kw)
        add("feedback_default", feedback_task, **kw, slice_hours=fb.default_slice_hours)
    m = cfg.mmc
    points = []
    for i, (load, days) in enumerate(zip(m.loads, m.days, strict=True)):
        for j, c in enumerate(m.servers):
            idx = [add("mmc", mmc_task, scenario=m.scenario, load=load, servers=c,
                       arrivals_per_day=m.arrivals_per_day, warmup_days=m.warmup_days,
                       days=days, seed=cfg.seed_for(4, i, j, r))
                   for r in range(m.replications)]
            points.append({"load": load, "servers": c, "arrivals_per_day": m.arrivals_per_day,
                           "tasks": idx})
    for i, scenario in enumerate(cfg.little.names()):
        add("little", little_task, scenario=scenario, seed=cfg.seed_for(5, i),
            days=cfg.little.days)
    return tasks, groups, points


def run_validation(cfg: Validation, jobs: int = 1, progress: bool = False) -> Outcome:
    """Run every check of ``cfg`` and return the tables."""
    tasks, groups, points = plan(cfg)
    results = run_tasks(tasks, jobs, label="validate" if progress else "")

    def of(group: str) -> list[Any]:
        return [results[i] for i in groups.get(group, [])]

    mmc = mmc_table(results, points, cfg.within_se, cfg.mmc.max_relative_half_width)
    theory = jackson_theory(cfg.feedback.scenario)
    feedback = feedback_table(of("feedback"), theory, cfg.within_se)
    default = feedback_table(of("feedback_default"), theory, cfg.within_se)
    little = pd.concat(of("little"), ignore_index=True)
    conv_rows = []
    for i, sl in enumerate(cfg.convergence.slice_hours):
        runs = of(f"convergence:{i}")
        row: dict[str, Any] = {"slice_hours": sl}
        for metric in cfg.convergence.metrics:
            row[metric] = float(np.mean([r[metric] for r in runs]))
        conv_rows.append(row)
    runs = {name: of(name) for name in ("baseline", "before", "surge", "switch",
                                        *cfg.patterns.gaming)}
    runs["calm"] = runs["baseline"]
    return Outcome(config=cfg, mmc=mmc, feedback=feedback, feedback_default=default,
                   little=little, convergence=pd.DataFrame(conv_rows),
                   calibration=calibration_table(runs["baseline"], cfg.patterns.scenario),
                   patterns=pattern_table(runs, cfg.patterns),
                   extra={"jackson": theory, "runs": len(tasks),
                          "switch_paths": np.array([r["monthly"] for r in runs["switch"]]),
                          "tail": [r["time_to_close_mean_over_median"] for r in runs["baseline"]]})

"""Analysis of an experiment's stored runs beyond the comparison: sensitivity and adequacy.

Small functions over the tidy metrics table (``sim.analysis.load_metrics``), as SALib's
``analyze`` sits beside its ``sample``:

    sobol_indices(exp, metrics)     Sobol' first- and total-order indices (and second-order if
                                    the design has them), with bootstrap confidence intervals
    morris_effects(exp, metrics)    Morris elementary effects: mu*, its CI, mu, sigma
    adequacy(metrics, outcomes)     per variant (and design point): n, mean, CV, the CI's
                                    relative half-width, and the replications needed for a
                                    target relative half-width
    cumulative_means(...)           the mean and its CI after 1, 2, ..., n replications
    analyze(out_dir)                all that the design allows, as CSV tables and charts in
                                    ``out_dir/sensitivity/`` (``gridsim analyze``)

Sobol' and Morris use the mean over replications at each design point. With common random
numbers (the default) every point sees the same arrivals, so the indices describe the
parameters' effects, not the noise between seeds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from sim import store
from sim.design import design_seed
from sim.experiment import BASELINE, Experiment, load_experiment
from sim.scenario import ScenarioError

LEVEL = 0.95
MAX_CELLS = 6          # curves per adequacy chart of a design (every variant without one)


# ---------------------------------------------------------------------------------------------
# Sensitivity indices


def point_means(exp: Experiment, metrics: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The mean of every outcome over replications at each design point of ``variant``; every
    run must be present: SALib's estimators need the whole design, and a point averaged over
    fewer replications than the others would break common random numbers between points."""
    assert exp.design is not None
    part = metrics[metrics["variant"] == variant]
    counts = part.groupby("point").size().reindex(range(exp.design.size()), fill_value=0)
    short = int((counts < exp.replications).sum())
    if short:
        raise ScenarioError(str(Path(exp.source).parent / "runs.csv"), variant,
                            f"{short} of {exp.design.size()} design points lack some of their "
                            f"{exp.replications} replication(s); run the experiment again to "
                            "complete them")
    return part.groupby("point")[exp.outcomes].mean().reindex(range(exp.design.size()))


def sobol_indices(exp: Experiment, metrics: pd.DataFrame, variant: str = "baseline"
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per outcome and parameter: S1, S1_conf, ST, ST_conf; and the S2 table (may be empty).

    ``*_conf`` is the half-width of SALib's bootstrap 95 % interval.
    """
    from SALib.analyze import sobol
    assert exp.design is not None
    problem, means = exp.design.problem(), point_means(exp, metrics, variant)
    rows, pairs = [], []
    for outcome in exp.outcomes:
        y = means[outcome].to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            res = None          # NaN somewhere, or no variation: no indices
        else:
            res = sobol.analyze(problem, y, calc_second_order=exp.design.second_order,
                                conf_level=LEVEL, seed=design_seed(exp.seed))
        for j, name in enumerate(exp.design.names):
            rows.append({"variant": variant, "outcome": outcome, "parameter": name,
                         **{k: (float(res[k][j]) if res is not None else math.nan)
                            for k in ("S1", "S1_conf", "ST", "ST_conf")}})
        if res is not None and exp.design.second_order:
            for a, b in zip(*np.triu_indices(len(exp.design.names), 1), strict=True):
                pairs.append({"variant": variant, "outcome": outcome,
                              "parameter": exp.design.names[a], "other": exp.design.names[b],
                              "S2": float(res["S2"][a, b]),
                              "S2_conf": float(res["S2_conf"][a, b])})
    return pd.DataFrame(rows), pd.DataFrame(pairs)


def morris_effects(exp: Experiment, metrics: pd.DataFrame, x: pd.DataFrame,
                   variant: str = "baseline") -> pd.DataFrame:
    """Per outcome and parameter: mu_star, mu_star_conf (95 % bootstrap half-width), mu,
    sigma. ``x`` holds the design's points (``sim.experiment.design_points``)."""
    from SALib.analyze import morris
    assert exp.design is not None
    problem, means = exp.design.problem(), point_means(exp, metrics, variant)
    xs = x[exp.design.names].to_numpy(dtype=float)
    rows = []
    for outcome in exp.outcomes:
        y = means[outcome].to_numpy(dtype=float)
        res = morris.analyze(problem, xs, y, conf_level=LEVEL, num_levels=exp.design.levels,
                             seed=design_seed(exp.seed)) if np.isfinite(y).all() else None
        for j, name in enumerate(exp.design.names):
            rows.append({"variant": variant, "outcome": outcome, "parameter": name,
                         **{k: (float(res[k][j]) if res is not None else math.nan)
                            for k in ("mu_star", "mu_star_conf", "mu", "sigma")}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Replication adequacy


def _t(n: int) -> float:
    return float(stdtrit(n - 1, 0.5 + LEVEL / 2)) if n >= 2 else math.nan


def replications_needed(sd: float, mean: float, target: float, limit: int = 100_000) -> int:
    """The smallest n >= 2 whose Student t interval half-width is at most ``target`` × |mean|.
    (-1 when the mean is 0, or more than ``limit`` would be needed.)"""
    if not (math.isfinite(sd) and math.isfinite(mean)) or mean == 0:
        return -1
    if sd == 0:
        return 2
    n = max(2, math.ceil((1.96 * sd / (target * abs(mean))) ** 2))   # normal first guess
    while n <= limit and _t(n) * sd / math.sqrt(n) > target * abs(mean):
        n += 1
    return n if n <= limit else -1


def _cells(metrics: pd.DataFrame) -> list[str]:
    return ["variant", "point"] if "point" in metrics else ["variant"]


def adequacy(metrics: pd.DataFrame, outcomes: list[str], target: float) -> pd.DataFrame:
    """Per variant (and design point) and outcome: n, mean, sd, cv, ci (half-width),
    rel_ci (ci / |mean|), target, and n_needed for ``rel_ci`` <= ``target``."""
    rows = []
    for key, part in metrics.groupby(_cells(metrics), sort=False):
        cell = dict(zip(_cells(metrics), key if isinstance(key, tuple) else (key,), strict=True))
        for outcome in outcomes:
            x = part[outcome].dropna().to_numpy(dtype=float)
            n = len(x)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n >= 2 else math.nan
            ci = _t(n) * sd / math.sqrt(n) if n >= 2 else math.nan
            rows.append({**cell, "outcome": outcome, "n": n, "mean": mean, "sd": sd,
                         "cv": sd / abs(mean) if mean else math.nan, "ci": ci,
                         "rel_ci": ci / abs(mean) if mean else math.nan, "target": target,
                         "n_needed": replications_needed(sd, mean, target)})
    return pd.DataFrame(rows)


def cumulative_means(metrics: pd.DataFrame, outcomes: list[str]) -> pd.DataFrame:
    """Per cell and outcome, after k = 1..n replications (in replication order): the mean and
    the half-width of its 95 % interval."""
    rows = []
    # a stable sort: the cells stay in plan order (variant, point)
    for key, part in metrics.sort_values("replication", kind="stable").groupby(
            _cells(metrics), sort=False):
        cell = dict(zip(_cells(metrics), key if isinstance(key, tuple) else (key,), strict=True))
        for outcome in outcomes:
            x = part[outcome].dropna().to_numpy(dtype=float)
            for k in range(1, len(x) + 1):
                head = x[:k]
                ci = _t(k) * float(head.std(ddof=1)) / math.sqrt(k) if k >= 2 else math.nan
                rows.append({**cell, "outcome": outcome, "k": k, "mean": float(head.mean()),
                             "ci": ci})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Writing it all


def analyze(out_dir: str | Path, target: float = 0.05) -> list[Path]:
    """Write what the experiment's design allows into ``out_dir/sensitivity/``; returns the
    files. Tables: ``sobol.csv`` (+ ``sobol_s2.csv``), ``morris.csv``, ``adequacy.csv``,
    ``cumulative.csv``; charts: ``sobol_<outcome>.png``, ``morris_<outcome>.png``,
    ``adequacy_<outcome>.png``."""
    out = Path(out_dir)
    if not (out / "experiment.toml").is_file():
        raise ScenarioError(str(out), "experiment.toml",
                            "not found (run `gridsim experiment run FILE` first)")
    with store.locked(out):          # not while a sweep is adding runs
        return _analyze(out, load_experiment(out / "experiment.toml"), target)


def _analyze(out: Path, exp: Experiment, target: float) -> list[Path]:
    from sim.analysis import load_metrics, planned
    from sim.experiment import design_points
    from sim.output import write_text
    from sim.sensitivity_charts import adequacy_chart, morris_chart, sobol_chart

    metrics = load_metrics(out / "runs", **planned(exp, out / "runs"))
    if metrics.empty:
        raise ScenarioError(str(out / "runs"), "runs", "no finished run to analyse")
    dest = out / "sensitivity"
    dest.mkdir(exist_ok=True)
    written: list[Path] = []

    def table(name: str, frame: pd.DataFrame) -> None:
        write_text(dest / name, frame.to_csv(index=False))
        written.append(dest / name)

    def chart(name: str, fig: Any) -> None:
        tmp = dest / f".{name}.tmp-{os.getpid()}.png"
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, dest / name)
        written.append(dest / name)

    method = exp.design.method if exp.design is not None else None
    variants = [v for v in exp.variant_names if v in set(metrics["variant"])]

    def suffix(variant: str) -> str:    # the baseline's charts keep the plain name
        return "" if variant == BASELINE else f"__{variant}"

    if method == "sobol":
        parts = [sobol_indices(exp, metrics, v) for v in variants]
        first = pd.concat([p[0] for p in parts], ignore_index=True)
        second = pd.concat([p[1] for p in parts], ignore_index=True)
        table("sobol.csv", first)
        if not second.empty:
            table("sobol_s2.csv", second)
        for (variant, outcome), rows in first.groupby(["variant", "outcome"], sort=False):
            chart(f"sobol_{outcome}{suffix(variant)}.png",
                  sobol_chart(rows, outcome, exp.design.size()))
    if method == "morris":
        x = design_points(exp)
        effects = pd.concat([morris_effects(exp, metrics, x, v) for v in variants],
                            ignore_index=True)
        table("morris.csv", effects)
        for (variant, outcome), rows in effects.groupby(["variant", "outcome"], sort=False):
            chart(f"morris_{outcome}{suffix(variant)}.png", morris_chart(rows, outcome))
    if exp.replications >= 2:
        table("adequacy.csv", adequacy(metrics, exp.outcomes, target))
        curves = cumulative_means(metrics, exp.outcomes)
        table("cumulative.csv", curves)
        for outcome in exp.outcomes:
            chart(f"adequacy_{outcome}.png", adequacy_chart(
                curves[curves["outcome"] == outcome], outcome, exp.labels, target, MAX_CELLS))
    if not written:
        raise ScenarioError(str(out / "experiment.toml"), "design", "nothing to analyse: "
                            "no Sobol' or Morris design, and one replication per run")
    return written

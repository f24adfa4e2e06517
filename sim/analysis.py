"""Analysis of an experiment's stored runs: small functions over DataFrames, no running.

    load_metrics(runs_dir)     tidy table: a row per run (variant, replication, seed, metrics...)
    load_series(runs_dir)      the kept daily series of every run, stacked
    compare(metrics, outcomes) per variant x outcome: n, mean, 95 % CI, and the difference from
                               the baseline paired by replication (common random numbers)
    by_point(metrics, exp)     per variant x design point: parameters, n, outcome means
    analyse(out_dir)           writes metrics.csv, comparison.csv, comparison.md, points.csv
                               (with a design) and charts/

Confidence intervals are Student t intervals over replications: mean ± t(0.975, n−1)·s/√n. A
paired difference uses only the replications present (and not NaN) for both the variant and the
baseline; with common random numbers it is usually far tighter than the two means' intervals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.experiment import BASELINE, Experiment, read_experiment, read_record
from sim.i18n import language, tr
from sim.output import write_text
from sim.store import parse_run_name

LEVEL = 0.95
ID_COLUMNS = ["variant", "replication", "seed"]


# ---------------------------------------------------------------------------------------------
# Loading stored runs


def _run_files(runs_dir: Path, variants: list[str] | None, replications: int | None,
               points: int | None = None, runs: dict[str, str] | None = None
               ) -> list[tuple[str, int | None, int, Path]]:
    """(variant, point, replication, file) of the stored runs, in plan order: variant, then
    design point, then replication. ``variants``, ``replications``, ``points`` (the design's
    size, 0 without a design) and ``runs`` (the runs to take, by name) leave the others out;
    the readers check each taken run's fingerprint against ``runs`` as they read it."""
    found = []
    for path in Path(runs_dir).glob("*__r*.parquet"):
        parsed = parse_run_name(path.stem)
        if parsed is None or (variants is not None and parsed[0] not in variants):
            continue
        if runs is not None and path.stem not in runs:
            continue
        if replications is not None and parsed[2] >= replications:
            continue
        if points is not None and (parsed[1] is None) != (points == 0):
            continue
        if points is not None and parsed[1] is not None and parsed[1] >= points:
            continue
        found.append((*parsed, path))
    order = {v: i for i, v in enumerate(variants or sorted({f[0] for f in found}, key=lambda v:
                                                            (v != BASELINE, v)))}
    return sorted(found, key=lambda f: (order[f[0]], -1 if f[1] is None else f[1], f[2]))


def _fingerprint(table: Any) -> str | None:
    """The fingerprint in a stored run's record (its file's key-value metadata)."""
    from sim.store import RECORD_KEY
    meta = table.schema.metadata or {}
    return json.loads(meta[RECORD_KEY]).get("fingerprint") if RECORD_KEY in meta else None


def planned(exp: Experiment, runs_dir: Path) -> dict[str, Any]:
    """The selection of an experiment's finished runs, for ``load_metrics``/``load_series``:
    the planned runs whose stored file was made from the plan's settings (its fingerprint).
    A design made smaller, runs of an earlier version of the file (a sweep of the edited
    file stopped before it re-ran them) or another experiment's runs stay out of the tables.
    """
    from sim.experiment import check_experiment, plan
    if not exp.scenario_ref:               # read, not yet checked: its scenario is resolved
        exp = check_experiment(exp)
    return {"variants": exp.variant_names, "replications": exp.replications,
            "points": exp.design.size() if exp.design is not None else 0,
            "runs": {s.name: s.fingerprint for s in plan(exp, Path(runs_dir))}}


def load_metrics(runs_dir: Path, variants: list[str] | None = None,
                 replications: int | None = None, points: int | None = None,
                 runs: dict[str, str] | None = None) -> pd.DataFrame:
    """A row per stored run: variant, (point and the design's parameters,) replication, seed,
    then every headline metric. Without a selection (``planned(exp)``), every stored run."""
    rows = []
    for variant, point, rep, path in _run_files(runs_dir, variants, replications, points,
                                                runs):
        rec = read_record(path)
        if runs is not None and rec.get("fingerprint") != runs[path.stem]:
            continue                          # made from other settings
        design = {} if point is None else {"point": point, **rec.get("params", {})}
        rows.append({"variant": variant, **design, "replication": rep, "seed": rec["seed"],
                     **rec["metrics"]})
    return pd.DataFrame(rows, columns=None if rows else ID_COLUMNS)


def load_series(runs_dir: Path, variants: list[str] | None = None,
                replications: int | None = None, points: int | None = None,
                runs: dict[str, str] | None = None) -> pd.DataFrame:
    """The kept daily series of every stored run: variant, (point,) replication, day, ..."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    files = _run_files(runs_dir, variants, replications, points, runs)
    # read by Arrow and made one table, then one frame: a frame per run took three times as
    # long (~3 ms a run: a sweep of thousands of runs waited seconds for its charts)
    read = [(f, pq.read_table(f[3])) for f in files]
    if runs is not None:                      # those made from the plan's settings
        read = [(f, t) for f, t in read if _fingerprint(t) == runs[f[3].stem]]
    if not read:
        return pd.DataFrame(columns=["variant", "replication", "day"])
    files, tables = [f for f, _ in read], [t for _, t in read]
    try:
        df = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):   # a column of another type in some run
        df = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
    rows = [t.num_rows for t in tables]
    df.insert(0, "replication", np.repeat([rep for _, _, rep, _ in files], rows))
    points = [point for _, point, _, _ in files]
    if any(p is not None for p in points):     # NaN for runs without one, as pandas would
        df.insert(0, "point", np.repeat(
            points if None not in points else [np.nan if p is None else p for p in points],
            rows))
    df.insert(0, "variant", np.repeat(np.array([v for v, *_ in files], dtype=object), rows))
    return df


# ---------------------------------------------------------------------------------------------
# Statistics


def mean_ci(x: np.ndarray, level: float = LEVEL) -> tuple[int, float, float]:
    """(n, mean, half-width of the Student t confidence interval); NaNs dropped."""
    from scipy.special import stdtrit  # here: a sweep's driver needs it only at the end
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan
    mean = float(x.mean())
    if n == 1:
        return 1, mean, math.nan
    sd = float(x.std(ddof=1))
    return n, mean, float(stdtrit(n - 1, 0.5 + level / 2) * sd / math.sqrt(n))


def by_point(metrics: pd.DataFrame, exp: Experiment) -> pd.DataFrame:
    """Per variant and design point: the parameters, the runs (``n``) and each outcome's mean
    over replications: what any further analysis of a design (a regression, a response
    surface) starts from."""
    assert exp.design is not None
    keys = ["variant", "point", *exp.design.names]
    if metrics.empty:
        return pd.DataFrame(columns=[*keys, "n", *exp.outcomes])
    groups = metrics.groupby(keys, sort=False)
    table = groups[exp.outcomes].mean().reset_index()
    table.insert(len(keys), "n", groups.size().to_numpy())
    return table


def _seeding(exp: Experiment) -> str:
    """How the experiment's runs are seeded (``experiment.seeds``), in words."""
    if exp.seeds == "common":
        return "replication r of every variant" + (" and design point" if exp.design else "") \
            + " runs with the same seed: common random numbers"
    if exp.design is not None:
        return "each design point and replication has its own seed, shared by every variant"
    return "each variant and replication has its own seed: no common random numbers"


def compare(metrics: pd.DataFrame, outcomes: list[str], baseline: str = BASELINE,
            level: float = LEVEL) -> pd.DataFrame:
    """Per outcome x variant: n, mean, ci, and the paired difference from the baseline.

    Columns: outcome, variant, n, mean, ci (half-width), n_pairs, diff (variant − baseline,
    mean over paired replications), diff_ci (half-width) and excludes_zero (the difference's
    interval does not contain 0).
    """
    variants = list(dict.fromkeys(metrics["variant"]))
    pairs = ["point", "replication"] if "point" in metrics else "replication"
    rows = []
    for outcome in outcomes:
        wide = metrics.pivot(index=pairs, columns="variant", values=outcome) \
            if outcome in metrics and len(metrics) else pd.DataFrame()
        for variant in variants:
            col = wide[variant] if variant in wide else pd.Series(dtype=float)
            n, mean, ci = mean_ci(col.to_numpy(dtype=float), level)
            diff = (col - wide[baseline]).to_numpy(dtype=float) if baseline in wide \
                else np.array([])
            n_pairs, d, d_ci = mean_ci(diff, level)
            rows.append({"outcome": outcome, "variant": variant, "n": n, "mean": mean, "ci": ci,
                         "n_pairs": n_pairs, "diff": d, "diff_ci": d_ci,
                         "excludes_zero": bool(n_pairs >= 2 and abs(d) > d_ci)})
    return pd.DataFrame(rows, columns=["outcome", "variant", "n", "mean", "ci", "n_pairs",
                                       "diff", "diff_ci", "excludes_zero"])


# ---------------------------------------------------------------------------------------------
# Labels, units and the written report

METRIC_UNITS = {"issues_arisen": "issues", "reported": "issues", "dispatched": "issues",
                "rejections_per_issue": "mean per dispatched issue",
                "time_to_close_mean_over_median": "ratio", "trust_final": "score 0–1",
                "satisfaction_mean": "score 0–1", "petitions": "issues",
                "incidents": "issues", "leader_turnover": "level-3 leaders",
                "leader_stress_mean": "stress score", "leader_skill_mean": "score 0–1",
                "time_to_close_township_cv": "ratio", "discovered_share_grid_p10": "share",
                "staff_hours_total": "hours", "cost_total": "yuan",
                "cost_per_resolved_issue": "yuan per resolved issue"}


def metric_label(name: str) -> str:
    """A readable label for a headline metric (the CLI's wording where it has one), in the
    current language (:mod:`sim.i18n`)."""
    from sim.cli import HEADLINE
    labels = {key: label for key, label, _ in HEADLINE}
    return tr(labels.get(name, name.replace("_", " ")).split(" (")[0])


def metric_unit(name: str) -> str:
    """The unit of a headline metric, in the current language; ``share`` means a fraction
    0–1."""
    return tr(_metric_unit(name))


def _metric_unit(name: str) -> str:
    if name in METRIC_UNITS:
        return METRIC_UNITS[name]
    if name.endswith("_days"):
        return "days"
    if name.endswith(("_share", "_rate", "_share_mean")) or name in ("dispatch_accuracy",
                                                                     "done_first_time"):
        return "share"
    if name.endswith("_stock_mean"):
        return "issues (mean daily stock)"
    return "value"


def pm(value: float, ci: float, sign: bool = False) -> str:
    """``value ± ci``, both rounded to the interval's second significant digit."""
    if value is None or not math.isfinite(value):
        return "n/a"
    plus = "+" if sign else ""
    if ci is None or not math.isfinite(ci) or ci == 0:
        text = f"{value:{plus},.4g}" if abs(value) < 1e4 else f"{value:{plus},.0f}"
        return text if ci is None or not math.isfinite(ci) else f"{text} ± 0"
    decimals = max(0, 1 - math.floor(math.log10(ci)))
    value = round(value, decimals) + 0.0          # no "-0.00": + 0.0 turns -0.0 into 0.0
    return f"{value:{plus},.{decimals}f} ± {ci:,.{decimals}f}"


def comparison_markdown(exp: Experiment, table: pd.DataFrame, n_runs: int) -> str:
    """The comparison as a readable Markdown report (in English)."""
    with language("en"):
        return _comparison_markdown(exp, table, n_runs)


def _comparison_markdown(exp: Experiment, table: pd.DataFrame, n_runs: int) -> str:
    labels = exp.labels
    points = exp.design.size() if exp.design is not None else 1
    planned = len(exp.variant_names) * points * exp.replications
    lines = [f"# {exp.title}", ""]
    if exp.question:
        lines += [f"> {exp.question}", ""]
    lines += ["| | |", "|---|---|", f"| scenario | `{exp.scenario}` |",
              f"| days | {exp.days} per run, metrics after a {exp.warmup_days}-day warm-up |",
              f"| replications | {exp.replications} per variant"
              + (f" and design point ({points} {exp.design.method} points)" if exp.design
                 else "") + " |",
              f"| seed | {exp.seed} ({_seeding(exp)}) |",
              f"| runs | {n_runs} of {planned} finished |", "",
              f"Mean ± half-width of the {LEVEL:.0%} confidence interval (Student t over "
              + ("the runs: design points × replications, so it holds the spread between "
                 "points as well as the seeds' noise" if exp.design else "replications")
              + "). The difference from the baseline is paired by "
              + ("design point and replication" if exp.design else "replication")
              + "; **bold** marks one whose interval excludes 0.", ""]
    for outcome, part in table.groupby("outcome", sort=False):
        lines += [f"## `{outcome}`: {metric_label(outcome)} ({metric_unit(outcome)})", "",
                  "| variant | n | mean ± CI | difference from baseline ± CI |",
                  "|---|---:|---:|---:|"]
        for r in part.itertuples():
            if r.variant == BASELINE:
                diff = "(baseline)"
            else:
                diff = pm(r.diff, r.diff_ci, sign=True)
                diff = f"**{diff}**" if r.excludes_zero else diff
            lines.append(f"| {labels.get(r.variant, r.variant)} | {r.n} | "
                         f"{pm(r.mean, r.ci)} | {diff} |")
        lines.append("")
    return "\n".join(lines)


def summary_text(exp: Experiment, table: pd.DataFrame) -> str:
    """A short plain-text summary of the comparison, for the terminal."""
    labels = exp.labels
    width = max(len(labels.get(v, v)) for v in table["variant"]) if len(table) else 10
    points = f" x {exp.design.size()} {exp.design.method} points" if exp.design else ""
    lines = [f"{exp.title}: {len(exp.variant_names)} variants{points} x {exp.replications} "
             f"replications, {exp.days} days (warm-up {exp.warmup_days}), seed {exp.seed}"]
    for outcome, part in table.groupby("outcome", sort=False):
        lines.append(f"  {outcome} ({metric_unit(outcome)})")
        for r in part.itertuples():
            text = f"{pm(r.mean, r.ci):>18}"
            if r.variant != BASELINE:
                mark = " *" if r.excludes_zero else ""
                text += f"   diff {pm(r.diff, r.diff_ci, sign=True):>18}{mark}"
            lines.append(f"    {labels.get(r.variant, r.variant):<{width}}  {text}")
    lines.append("  (± 95 % CI; * the paired difference's CI excludes 0)")
    return "\n".join(lines)


def analyse(out_dir: str | Path, exp: Experiment | None = None,
            charts: bool = True) -> pd.DataFrame:
    """Re-do the analysis of ``out_dir`` from its stored runs; returns the comparison table.

    Writes ``metrics.csv``, ``comparison.csv``, ``comparison.md`` and ``charts/``. Without
    ``exp`` the experiment is read from ``out_dir/experiment.toml``.
    """
    out = Path(out_dir)
    if exp is None:
        exp = read_experiment(out / "experiment.toml")
    keep = planned(exp, out / "runs")
    metrics = load_metrics(out / "runs", **keep)
    table = compare(metrics, exp.outcomes)
    write_text(out / "metrics.csv", metrics.to_csv(index=False))
    write_text(out / "comparison.csv", table.to_csv(index=False))
    write_text(out / "comparison.md", comparison_markdown(exp, table, len(metrics)))
    if exp.design is not None:
        write_text(out / "points.csv", by_point(metrics, exp).to_csv(index=False))
    else:
        (out / "points.csv").unlink(missing_ok=True)      # from an earlier design
    if charts:
        from sim.experiment_charts import write_charts
        # a design's runs differ by parameters: a daily band over them says little
        series = load_series(out / "runs", **keep) if exp.design is None else None
        write_charts(out / "charts", exp, table, series)
    return table

"""Experiments: policy variants and designed sweeps of one scenario, replicated, run and stored.

The pipeline is a chain of small functions, each usable on its own:

    load_experiment(path)        TOML file -> validated :class:`Experiment` (bad input: one-line
                                 :class:`~sim.scenario.ScenarioError`, nothing run or written)
    plan(exp, runs_dir)          -> a :class:`RunSpec` per variant x design point x replication,
                                 baseline first, in a fixed order
    perform(spec)                one run, in a worker: simulate and encode; never raises
    run_experiment(path, ...)    plan, skip finished runs (resume), perform the rest on an
                                 executor (``sim.executors``), store each as it arrives
                                 (``sim.store``), then analyse (``sim.analysis``)

Seeds (:func:`run_seed`): by default replication ``r`` of every variant and design point runs
with the same seed, so they all see the same arrivals (common random numbers) and can be
compared pairwise; ``seeds = "independent"`` gives each (point, replication) its own.

Runs are stored one file each (``sim.store``, ``experiments/README.md``); the files are the
resume markers, and the tables are built from them in plan order, so the results do not depend
on the executor or the number of processes.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import shutil
import sys
import threading
import time
import tomllib
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from sim import signals, store
from sim.columns import METRICS, SERIES
from sim.design import Design, points, warn_design
from sim.scenario import (
    ScenarioError,
    did_you_mean,
    resolve,
    resolved_dict,
    scenario_names,
    value_at,
)
from sim.store import read_record, write_run  # noqa: F401  (part of this module's API)

BASELINE = "baseline"
RECORD_SCHEMA = 1
RESERVED = ("run.days", "run.seed", "run.warmup_days")   # set by the experiment itself
NAME_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")      # no "__": it separates run names
KEEP = ("issues",)                                        # tables `--keep` may add per run


# ---------------------------------------------------------------------------------------------
# The experiment file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Baseline(_Strict):
    """``[baseline]``: its label and the overrides applied to every variant before its own."""

    label: str = "baseline"
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")


class Variant(_Strict):
    """``[[variants]]``: a named policy variant, as overrides on top of the baseline's."""

    name: str = Field(pattern=NAME_RE.pattern)
    label: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict, alias="set")


class Experiment(_Strict):
    """A validated experiment file; the loader also notes its path and resolved scenario."""

    title: str
    question: str = ""
    scenario: str
    days: int = Field(ge=1)
    warmup_days: int = Field(ge=0)
    replications: int = Field(ge=1)
    seed: int = Field(ge=0)
    jobs: int | None = Field(default=None, ge=0)
    outcomes: list[str] = Field(min_length=1)
    series: list[str] = Field(default_factory=list)
    seeds: Literal["common", "independent"] = "common"
    baseline: Baseline = Field(default_factory=Baseline)
    variants: list[Variant] = Field(default_factory=list)
    design: Design | None = None

    _source: str = PrivateAttr("")          # the file, as the user named it
    _scenario_ref: str = PrivateAttr("")    # scenario name or absolute path (once checked)

    @property
    def source(self) -> str:
        return self._source

    @property
    def scenario_ref(self) -> str:
        return self._scenario_ref

    @property
    def name(self) -> str:
        return Path(self.source).stem

    @property
    def variant_names(self) -> list[str]:
        return [BASELINE, *(v.name for v in self.variants)]

    @property
    def labels(self) -> dict[str, str]:
        return {BASELINE: self.baseline.label,
                **{v.name: v.label or v.name for v in self.variants}}

    @property
    def parameters(self) -> list[str]:
        """The design's parameters (none without a design)."""
        return self.design.names if self.design is not None else []

    def own_overrides(self, variant: str) -> dict[str, Any]:
        """A variant's own settings (none for the baseline)."""
        return {} if variant == BASELINE else \
            next(v.overrides for v in self.variants if v.name == variant)

    def variant_overrides(self, variant: str) -> dict[str, Any]:
        """A variant's settings: the baseline's overrides, then its own."""
        return {**self.baseline.overrides, **self.own_overrides(variant)}

    def overrides(self, variant: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Overrides of a run: the baseline's, the design point's, the variant's own, then the
        run settings."""
        return {**self.baseline.overrides, **(params or {}), **self.own_overrides(variant),
                "run.warmup_days": self.warmup_days}


def _flatten(d: dict[str, Any], prefix: str = "",
             leaf: Any = lambda value: not isinstance(value, dict)) -> dict[str, Any]:
    """``{"platform": {"ruling_threshold": 0}}`` -> ``{"platform.ruling_threshold": 0}``; a
    value for which ``leaf`` is true ends a name."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        dotted = f"{prefix}{key}".replace("__", ".")
        if leaf(value):
            out[dotted] = value
        else:
            out.update(_flatten(value, dotted + ".", leaf))
    return out


def _is_parameter(value: Any) -> bool:
    """A design parameter's table (``min``, ``max`` or ``values``), or not a table at all."""
    return not isinstance(value, dict) or bool({"min", "max", "values"} & set(value))


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def read_experiment(path: str | Path) -> Experiment:
    """Parse and type-check an experiment file, without resolving its scenario."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ScenarioError(source, "file", f"cannot read ({reason})") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, "toml", f"malformed TOML ({err})") from None
    design = data.get("design") if isinstance(data, dict) else None
    if isinstance(design, dict) and isinstance(design.get("parameters"), dict):
        design["parameters"] = _flatten(design["parameters"], leaf=_is_parameter)
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        # a mistyped key is also a missing one: name the typo, which says what to fix
        e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        msg = {"extra_forbidden": "unknown key", "missing": "missing"}.get(e["type"], e["msg"])
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            msg += did_you_mean(loc, Experiment)
        if e["type"] == "value_error":   # our validators say "key: message"
            msg = msg.removeprefix("Value error, ")
            key, sep, rest = msg.partition(": ")
            if sep and re.fullmatch(r"[\w.]+", key):
                loc, msg = (*loc, key), rest
        raise ScenarioError(source, _loc(loc), msg) from None
    exp._source = source
    exp.baseline.overrides = _flatten(exp.baseline.overrides)
    for v in exp.variants:
        v.overrides = _flatten(v.overrides)
    return exp


def metric_names() -> frozenset[str]:
    """The headline metrics a run reports (``docs/outputs.md``)."""
    return frozenset(METRICS)


def series_names() -> tuple[str, ...]:
    """The columns of a run's daily timeseries (``docs/outputs.md``)."""
    return SERIES


def _unknown(source: str, key: str, what: str, name: str, known: Iterable[str]) -> ScenarioError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ScenarioError(source, key, f"unknown {what} {name!r}{hint} (see docs/outputs.md)")


def _scenario_ref(exp: Experiment) -> str:
    """A scenario name, or a path relative to the experiment file made absolute."""
    ref = exp.scenario
    if ref in scenario_names():
        return ref
    path = Path(exp.source).parent / ref
    if path.is_file():
        return str(path.resolve())
    raise ScenarioError(exp.source, "scenario", f"no scenario named {ref!r} (known: "
                        f"{', '.join(scenario_names())}) and no file {str(path)!r}")


def _check_overrides(exp: Experiment, key: str, overrides: dict[str, Any],
                     base: dict[str, Any]) -> None:
    """Resolve the scenario with ``base`` then ``overrides``; blame ``key`` for any error."""
    for dotted in overrides:
        if dotted in RESERVED:
            raise ScenarioError(exp.source, f"{key}.{dotted}", "set by the experiment's "
                                f"{dotted.removeprefix('run.')}, not per variant")
    try:
        resolve(exp.scenario_ref, {**base, **overrides})
    except ScenarioError as err:
        if err.key in overrides:
            raise ScenarioError(exp.source, f"{key}.{err.key}", err.message) from None
        raise ScenarioError(exp.source, key, f"{err.key}: {err.message}") from None


def check_experiment(exp: Experiment) -> Experiment:
    """Check names, outcomes, series, the scenario and every variant's overrides, up front."""
    src = exp.source
    if exp.warmup_days >= exp.days:
        raise ScenarioError(src, "warmup_days", f"must be less than days ({exp.days})")
    seen = {BASELINE}
    for i, v in enumerate(exp.variants):
        if v.name in seen:
            what = "reserved for the baseline" if v.name == BASELINE else "duplicate name"
            raise ScenarioError(src, f"variants[{i}].name", f"{what} {v.name!r}")
        seen.add(v.name)
    for key, names, known, what in (("outcomes", exp.outcomes, metric_names(), "metric"),
                                    ("series", exp.series, series_names(), "column")):
        for i, name in enumerate(names):
            if name not in known or (what == "column" and name == "day"):
                raise _unknown(src, f"{key}[{i}]", what, name, known)
            if name in names[:i]:
                raise ScenarioError(src, f"{key}[{i}]", f"duplicate {name!r}")
    exp._scenario_ref = _scenario_ref(exp)
    resolve(exp.scenario_ref)              # the scenario's own errors name its file
    run_keys = {"run.days": exp.days, "run.warmup_days": exp.warmup_days}
    _check_overrides(exp, "baseline.set", exp.baseline.overrides, run_keys)
    base = {**run_keys, **exp.baseline.overrides}
    for i, v in enumerate(exp.variants):
        _check_overrides(exp, f"variants[{i}].set", v.overrides, base)
    if exp.design is not None:
        _check_design(exp, base)
    return exp


def _check_design(exp: Experiment, base: dict[str, Any]) -> None:
    """Each design parameter is a scenario parameter, settable at its extremes or values, and
    not also set by a variant (which would override the design)."""
    design = exp.design
    assert design is not None
    for i, v in enumerate(exp.variants):
        for name in design.names:
            if name in v.overrides:
                raise ScenarioError(exp.source, f"variants[{i}].set.{name}",
                                    "also a design parameter: the variant would override it")
    for name, p in design.parameters.items():
        values = p.values if p.values is not None else [p.min, p.max]
        if p.values is None and _is_integer(exp, name):
            values = [round(p.min or 0), round(p.max or 0)]
        for value in values:
            _check_overrides(exp, "design.parameters", {name: value}, base)
    warn_design(design, exp.source)


def _is_integer(exp: Experiment, dotted: str) -> bool:
    """The scenario's default for ``dotted`` is an integer (so sampled values are rounded)."""
    try:
        node = value_at(resolved_dict(resolve(exp.scenario_ref)), dotted)
    except KeyError:
        return False
    return isinstance(node, int) and not isinstance(node, bool)


def load_experiment(path: str | Path) -> Experiment:
    """Read and fully check an experiment file; a bad one raises a one-line ScenarioError."""
    return check_experiment(read_experiment(path))


# ---------------------------------------------------------------------------------------------
# Seeds and run specs


def replication_seed(root: int, replication: int) -> int:
    """The seed of replication ``replication`` of every variant (common random numbers)."""
    state = np.random.SeedSequence([root, replication]).generate_state(1, dtype=np.uint32)
    return int(state[0])


def run_seed(root: int, replication: int, cell: int | None = None) -> int:
    """A run's seed: by replication (``cell`` None, common random numbers), or by the run's
    cell (design point, else variant index) and replication (independent streams)."""
    if cell is None:
        return replication_seed(root, replication)
    state = np.random.SeedSequence([root, cell, replication]).generate_state(1, dtype=np.uint32)
    return int(state[0])


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, so it can go to a worker process or a cluster."""

    experiment: str
    variant: str
    point: int | None                  # design point, None without a design
    replication: int
    seed: int
    scenario: str                      # a scenario name or an absolute path
    days: int
    overrides: dict[str, Any] = field(hash=False)          # everything the run sets
    params: dict[str, Any] = field(hash=False)             # the design point's values
    variant_overrides: dict[str, Any] = field(hash=False)  # the variant's settings
    series: tuple[str, ...]
    keep: tuple[str, ...]              # extra tables kept per run (``--keep``)
    path: Path                         # the run's Parquet file
    fingerprint: str                   # hash of the resolved scenario and the kept series

    @property
    def name(self) -> str:
        return store.run_name(self.variant, self.point, self.replication)


def run_path(runs_dir: Path, variant: str, replication: int, point: int | None = None) -> Path:
    return Path(runs_dir) / f"{store.run_name(variant, point, replication)}.parquet"


def fingerprint(scenario: str, days: int, seed: int, overrides: dict[str, Any],
                series: Iterable[str]) -> str:
    """What determines a run's stored result: its fully resolved scenario and kept series."""
    return seeded_fingerprint(resolved_dict(resolve(scenario, {**overrides, "run.days": days})),
                              seed, series)


def seeded_fingerprint(resolved: dict[str, Any], seed: int, series: Iterable[str]) -> str:
    """:func:`fingerprint` of the scenario ``resolved`` (as :func:`resolved_dict` gives it)
    with its seed set to ``seed``: the seed changes nothing else, so a cell's replications
    resolve their scenario once (a TOML file read and checked per run took ~2 ms)."""
    data = {**resolved, "run": {**resolved["run"], "seed": seed}}
    text = json.dumps([data, list(series)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def design_points(exp: Experiment) -> pd.DataFrame | None:
    """The design's points (``sim.design.points``), or None without a design."""
    if exp.design is None:
        return None
    integer = {name: _is_integer(exp, name) for name in exp.design.names}
    for name, p in exp.design.parameters.items():
        if integer[name] and p.values is None and math.ceil(p.min) > math.floor(p.max):
            raise ScenarioError(exp.source, f"design.parameters.{name}", "takes whole numbers, "
                                f"and {p.min}..{p.max} holds none")
    return points(exp.design, exp.seed, integer)


def _py(value: Any) -> Any:
    """numpy scalars -> Python ones (JSON, TOML-like overrides)."""
    return value.item() if isinstance(value, np.generic) else value


def plan(exp: Experiment, runs_dir: Path, keep: Iterable[str] = ()) -> list[RunSpec]:
    """A spec per variant (baseline first), design point and replication, in a fixed order."""
    pts = design_points(exp)
    cells: list[tuple[int | None, dict[str, Any]]] = [(None, {})] if pts is None else \
        [(i, {k: _py(v) for k, v in row.items()})
         for i, row in enumerate(pts.to_dict("records"))]
    specs = []
    for v_index, variant in enumerate(exp.variant_names):
        for point, params in cells:
            ov = exp.overrides(variant, params)
            try:
                resolved = resolved_dict(resolve(exp.scenario_ref, {**ov, "run.days": exp.days}))
            except ScenarioError as err:      # a sampled combination the model refuses
                raise ScenarioError(exp.source, f"design point {point}",
                                    f"{err.key}: {err.message}") from None
            for r in range(exp.replications):
                cell = None if exp.seeds == "common" else \
                    (point if point is not None else v_index)
                seed = run_seed(exp.seed, r, cell)
                fp = seeded_fingerprint(resolved, seed, exp.series)
                specs.append(RunSpec(
                    experiment=exp.name, variant=variant, point=point, replication=r,
                    seed=seed, scenario=exp.scenario_ref, days=exp.days, overrides=ov,
                    params=params, variant_overrides=exp.variant_overrides(variant),
                    series=tuple(exp.series), keep=tuple(keep),
                    path=run_path(runs_dir, variant, r, point), fingerprint=fp))
    return specs


# ---------------------------------------------------------------------------------------------
# One run: simulate (in a worker), store (in the driver)


def simulate(spec: RunSpec) -> Any:
    """Run the model for one spec; returns :class:`sim.api.Results`, without the tables a
    sweep cannot keep (events, agents: see ``KEEP``)."""
    from sim.api import collect, prepare
    from sim.model import GridModel
    model = GridModel(prepare(spec.scenario, days=spec.days, seed=spec.seed,
                              overrides=spec.overrides), record_events=False)
    model.run()
    return collect(model, agents=False)


def perform(spec: RunSpec) -> dict[str, Any]:
    """Simulate one run and encode its files; an exception becomes an error, never raised.

    Returns ``ok``, ``seconds`` and either ``files`` (name -> bytes: the run file, and the
    kept tables) or ``error`` (one line) and ``traceback``. Workers return bytes rather than
    write, so that a cluster needs no file system shared with the driver.
    """
    t0 = time.perf_counter()
    try:
        res = simulate(spec)
        s = res.summary
        seconds = round(time.perf_counter() - t0, 3)
        record = {
            "schema": RECORD_SCHEMA, "variant": spec.variant, "replication": spec.replication,
            "seed": spec.seed, **({} if spec.point is None else {"point": spec.point}),
            "params": spec.params, "experiment": spec.experiment, "scenario": spec.scenario,
            "days": s["days"], "warmup_days": s["warmup_days"], "overrides": spec.overrides,
            "fingerprint": spec.fingerprint, "metrics": s["metrics"],
            "resolved_scenario": s["resolved_scenario"], "versions": s["versions"],
            "python": s["python"], "git_commit": s["git_commit"], "git_dirty": s["git_dirty"],
            "seconds": seconds,
        }
        files = {"run": store.encode_table(res.timeseries[["day", *spec.series]], record)}
        for name in spec.keep:
            files[name] = store.encode_table(getattr(res, name))
    except Exception as err:  # a failed run is recorded; the others go on
        return {"ok": False, "seconds": round(time.perf_counter() - t0, 3),
                "error": error_line(err), "traceback": traceback.format_exc()}
    return {"ok": True, "seconds": seconds, "files": files}


def execute(spec: RunSpec) -> dict[str, Any]:
    """Perform and store one run, in this process."""
    result = perform(spec)
    save(spec, result)
    return result


def save(spec: RunSpec, result: dict[str, Any]) -> None:
    """Store a run's result: its files (atomically), or its failure record."""
    if result["ok"]:
        files = result["files"]
        for name in spec.keep:
            path = store.kept_path(spec.path, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            store.write_bytes(path, files[name])
        store.write_bytes(spec.path, files["run"])    # last: the run file marks it done
        store.failure_path(spec.path).unlink(missing_ok=True)
    else:
        store.write_failure(spec.path, {
            "variant": spec.variant, "point": spec.point, "replication": spec.replication,
            "seed": spec.seed, "seconds": result["seconds"], "error": result["error"],
            "traceback": result["traceback"]})


def error_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def is_done(spec: RunSpec) -> bool:
    """The run's file exists, was made from the same resolved scenario and series, and the
    tables to keep are there."""
    return store.done_record(spec) is not None and \
        all(store.kept_path(spec.path, name).is_file() for name in spec.keep)


# ---------------------------------------------------------------------------------------------
# The whole experiment


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Sweep:
    """What a call of :func:`run_experiment` did: counts of runs by outcome."""

    out: Path
    planned: int = 0
    skipped: int = 0            # already stored, not run again
    done: int = 0               # finished in this call
    failed: int = 0             # raised in this call (see runs.csv and runs/*.failed.json)
    interrupted: bool = False
    cleared: bool = False       # sensitivity/ removed: made from earlier runs

    @property
    def not_run(self) -> int:
        return self.planned - self.skipped - self.done - self.failed

    def text(self) -> str:
        return (f"runs: {self.planned} planned, {self.skipped} already stored, {self.done} "
                f"done, {self.failed} failed, {self.not_run} not run")


def _lost(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    """The result reported when a worker process or a cluster worker dies during a run."""
    return {"ok": False, "seconds": None, "error": f"worker lost: {error_line(err)}",
            "traceback": "".join(traceback.format_exception(err))}


def results_of(specs: list[RunSpec], jobs: int = 1, scheduler: str | None = None,
               dask_workers: int | None = None) -> Any:
    """(spec, result) pairs of ``perform`` over ``specs``, from the chosen executor."""
    from sim import executors
    if scheduler is not None or dask_workers is not None:
        return executors.dask(perform, specs, scheduler, dask_workers, _lost)
    if jobs > 1 and len(specs) > 1:
        return executors.processes(perform, specs, min(jobs, len(specs)), _lost)
    return executors.serial(perform, specs)


def _progress(total: int, enabled: bool) -> Any:
    if not (enabled and total and sys.stderr.isatty()):
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="run", leave=False, dynamic_ncols=True)


def execute_all(specs: list[RunSpec], sweep: Sweep, jobs: int = 1, scheduler: str | None = None,
                dask_workers: int | None = None, progress: bool = False) -> None:
    """Perform ``specs`` on an executor and store each result as it arrives."""
    bar = _progress(len(specs), progress)
    try:
        for spec, result in results_of(specs, jobs, scheduler, dask_workers):
            save(spec, result)
            signals.check()                     # a stop whose exception was lost
            if result["ok"]:
                sweep.done += 1
            else:
                sweep.failed += 1
            if bar is not None:
                bar.set_postfix(failed=sweep.failed, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def _check_same_experiment(out: Path, exp: Experiment, path: Path) -> bool:
    """Refuse a results directory that holds another experiment (by its title): its runs and
    tables would be mixed with this one's. Returns whether the stored file differs (edited)."""
    stored = out / "experiment.toml"
    if not stored.is_file():
        # a directory that is not an experiment's: a sweep writes and removes files in it
        if out.is_dir() and any(p.name not in {"runs", ".lock"} for p in out.iterdir()):
            raise ScenarioError(str(out), "--out", "holds files but no experiment; name a new "
                                "or empty directory, or an experiment's results directory")
        return False
    try:
        title = read_experiment(stored).title
    except ScenarioError:
        title = None
    if title != exp.title:
        held = f"'{title}'" if title is not None else "an unreadable experiment.toml"
        raise ScenarioError(str(out), "--out", f"holds another experiment ({held}); name "
                            "another --out, or remove the directory")
    return stored.read_bytes() != path.read_bytes()


def _clear_derived(out: Path, stale: bool) -> bool:
    """Remove ``sensitivity/`` when the runs or the file are about to change under it
    (``gridsim analyze`` makes it again): a report would show it beside tables of other runs.
    Done before the runs, so that a sweep stopped in any way leaves none that is stale."""
    folder = out / "sensitivity"
    if not stale or not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write_tables(out: Path, exp: Experiment, specs: list[RunSpec]) -> None:
    """``runs.csv`` and, for a design, ``design.csv`` (a row per point)."""
    from sim.output import write_text
    write_text(out / "runs.csv", store.runs_table(specs, exp.parameters).to_csv(index=False))
    pts = design_points(exp)
    if pts is not None:
        write_text(out / "design.csv", pts.to_csv())
    else:
        (out / "design.csv").unlink(missing_ok=True)      # from an earlier design


def import_meanwhile(*modules: str) -> threading.Thread:
    """Import ``modules`` in a background thread while workers run.

    The analysis at the end of a sweep needs Matplotlib and SciPy (~0.5-1.5 s to import); the
    driver would otherwise import them after the last run, when nothing else is left to do.
    A failed import is left for the code that needs the module to raise.
    """
    import importlib
    import signal

    def load() -> None:
        # Ctrl-C must reach the main thread, which holds it while it starts workers
        # (sim.executors.sigint_held); a thread that takes it would let it in meanwhile
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:
                continue

    thread = threading.Thread(target=load, name="gridsim-imports", daemon=True)
    thread.start()
    return thread


def run_experiment(path: str | Path, out_dir: str | Path | None = None, jobs: int | None = None,
                   progress: bool = True, keep: Iterable[str] = (),
                   scheduler: str | None = None, dask_workers: int | None = None) -> Sweep:
    """Run (or resume) an experiment and analyse it; returns what it did (:class:`Sweep`).

    A bad file raises :class:`ScenarioError` before anything is written. Finished runs are
    skipped; runs that raise are recorded (``runs.csv``, ``runs/<run>.failed.json``) and the
    others go on. On Ctrl-C the finished runs are kept, the tables written, and
    KeyboardInterrupt re-raised with ``sweep`` attached (``err.sweep``).
    """
    exp = load_experiment(path)
    out = Path(out_dir) if out_dir is not None else Path("results") / exp.name
    if out.exists() and not out.is_dir():
        raise ScenarioError(str(out), "--out", "exists and is not a directory")
    keep = tuple(keep)
    for name in keep:
        if name not in KEEP:
            raise ScenarioError("--keep", "--keep", f"unknown table {name!r} (known: "
                                f"{', '.join(KEEP)})")
    runs_dir = out / "runs"
    specs = plan(exp, runs_dir, keep)          # before writing anything: may raise
    edited = _check_same_experiment(out, exp, Path(path))
    runs_dir.mkdir(parents=True, exist_ok=True)
    with store.locked(out):
        store.clean_stale(runs_dir)
        _copy_atomic(Path(path), out / "experiment.toml")
        todo = [s for s in specs if not is_done(s)]
        sweep = Sweep(out=out, planned=len(specs), skipped=len(specs) - len(todo))
        sweep.cleared = _clear_derived(out, edited or bool(todo))
        n_jobs = (jobs if jobs is not None else exp.jobs if exp.jobs is not None else 0) \
            or cpu_count()
        if scheduler is not None or dask_workers is not None or (n_jobs > 1 and len(todo) > 1):
            import_meanwhile("scipy.special", "sim.experiment_charts")
        try:
            execute_all(todo, sweep, n_jobs, scheduler, dask_workers, progress)
        except KeyboardInterrupt as err:
            sweep.interrupted = True
            write_tables(out, exp, specs)
            err.sweep = sweep  # type: ignore[attr-defined]
            raise
        write_tables(out, exp, specs)
        from sim.analysis import analyse
        from sim.manifest import write_manifest
        analyse(out, exp)
        write_manifest(out, exp, specs)
    return sweep


def read_failed(out_dir: Path) -> list[dict[str, Any]]:
    """The failure records of the runs that last raised (``runs/*.failed.json``)."""
    found = []
    for path in sorted((Path(out_dir) / "runs").glob("*.failed.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return found

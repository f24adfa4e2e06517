"""Experiments: several policy variants of one scenario, replicated, run in parallel and stored.

The pipeline is a chain of small functions, each usable on its own:

    load_experiment(path)        TOML file -> validated :class:`Experiment` (bad input: one-line
                                 :class:`~sim.scenario.ScenarioError`, nothing run or written)
    plan(exp, runs_dir)          -> a :class:`RunSpec` per variant x replication, baseline first
    execute(spec)                one run: simulate, then store it atomically; never raises
    run_experiment(path, ...)    plan, skip finished runs (resume), execute the rest in a process
                                 pool, record failures, then analyse (``sim.analysis``)

Replication ``r`` of every variant runs with the same seed (:func:`replication_seed`), so the
variants see the same arrivals (common random numbers) and can be compared pairwise.

A run is stored as ONE Parquet file ``runs/<variant>__r<rep>.parquet``: the kept daily series
(``day`` plus the experiment's ``series`` columns) as the table, and the run's record (variant,
replication, seed, overrides, headline metrics, resolved scenario, versions, ...) as JSON under
the key ``gridsim.run`` of the file's key-value metadata (:func:`read_record`). A file exists
only once its run has finished, so it is also the resume marker. See ``experiments/README.md``.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import tomllib
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from sim.scenario import ScenarioError, resolve, resolved_dict, scenario_names

BASELINE = "baseline"
RECORD_KEY = b"gridsim.run"
RECORD_SCHEMA = 1
RESERVED = ("run.days", "run.seed", "run.warmup_days")   # set by the experiment itself
NAME_RE = re.compile(r"^[a-z0-9_]+$")


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
    baseline: Baseline = Field(default_factory=Baseline)
    variants: list[Variant] = Field(default_factory=list)

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

    def overrides(self, variant: str) -> dict[str, Any]:
        """Overrides of a variant: the baseline's, then its own, then the run settings."""
        own = {} if variant == BASELINE else \
            next(v.overrides for v in self.variants if v.name == variant)
        return {**self.baseline.overrides, **own, "run.warmup_days": self.warmup_days}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"platform": {"ruling_threshold": 0}}`` -> ``{"platform.ruling_threshold": 0}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        dotted = f"{prefix}{key}".replace("__", ".")
        if isinstance(value, dict):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


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
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        msg = {"extra_forbidden": "unknown key", "missing": "missing"}.get(e["type"], e["msg"])
        raise ScenarioError(source, _loc(e["loc"]), msg) from None
    exp._source = source
    exp.baseline.overrides = _flatten(exp.baseline.overrides)
    for v in exp.variants:
        v.overrides = _flatten(v.overrides)
    return exp


@functools.cache
def _probe() -> tuple[frozenset[str], tuple[str, ...]]:
    """Names of the headline metrics and timeseries columns, from one tiny run (cached)."""
    from sim.api import run
    res = run("small", days=30, seed=0, overrides={"run.warmup_days": 5}, record_events=False)
    return frozenset(res.summary["metrics"]), tuple(res.timeseries.columns)


def metric_names() -> frozenset[str]:
    """The headline metrics a run reports (``docs/outputs.md``)."""
    return _probe()[0]


def series_names() -> tuple[str, ...]:
    """The columns of a run's daily timeseries (``docs/outputs.md``)."""
    return _probe()[1]


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
    return exp


def load_experiment(path: str | Path) -> Experiment:
    """Read and fully check an experiment file; a bad one raises a one-line ScenarioError."""
    return check_experiment(read_experiment(path))


# ---------------------------------------------------------------------------------------------
# Seeds and run specs


def replication_seed(root: int, replication: int) -> int:
    """The seed of replication ``replication`` of every variant (common random numbers)."""
    state = np.random.SeedSequence([root, replication]).generate_state(1, dtype=np.uint32)
    return int(state[0])


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; picklable, so it can go to a worker process."""

    experiment: str
    variant: str
    replication: int
    seed: int
    scenario: str                      # a scenario name or an absolute path
    days: int
    overrides: dict[str, Any] = field(hash=False)
    series: tuple[str, ...]
    path: Path                         # the run's Parquet file
    fingerprint: str                   # hash of the resolved scenario and the kept series


def run_path(runs_dir: Path, variant: str, replication: int) -> Path:
    return Path(runs_dir) / f"{variant}__r{replication}.parquet"


def fingerprint(scenario: str, days: int, seed: int, overrides: dict[str, Any],
                series: Iterable[str]) -> str:
    """What determines a run's stored result: its fully resolved scenario and kept series."""
    spec = resolve(scenario, {**overrides, "run.days": days, "run.seed": seed})
    text = json.dumps([resolved_dict(spec), list(series)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(exp: Experiment, runs_dir: Path) -> list[RunSpec]:
    """A spec per variant (baseline first) and replication, in a fixed order."""
    specs = []
    for variant in exp.variant_names:
        ov = exp.overrides(variant)
        for r in range(exp.replications):
            seed = replication_seed(exp.seed, r)
            specs.append(RunSpec(
                experiment=exp.name, variant=variant, replication=r, seed=seed,
                scenario=exp.scenario_ref, days=exp.days, overrides=ov,
                series=tuple(exp.series), path=run_path(runs_dir, variant, r),
                fingerprint=fingerprint(exp.scenario_ref, exp.days, seed, ov, exp.series)))
    return specs


# ---------------------------------------------------------------------------------------------
# One run: simulate, store


def simulate(spec: RunSpec) -> Any:
    """Run the model for one spec; returns :class:`sim.api.Results`."""
    from sim.api import run
    return run(spec.scenario, days=spec.days, seed=spec.seed, overrides=spec.overrides,
               record_events=False)


def write_run(path: Path, frame: pd.DataFrame, record: dict[str, Any]) -> None:
    """Write a run's table with its record in the metadata, atomically (tmp + os.replace)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), RECORD_KEY: json.dumps(record).encode()}
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_record(path: Path) -> dict[str, Any]:
    """The record (variant, replication, seed, metrics, ...) stored with a run."""
    return json.loads(pq.read_schema(path).metadata[RECORD_KEY])


def is_done(spec: RunSpec) -> bool:
    """The run's file exists and was made from the same resolved scenario and series."""
    try:
        return read_record(spec.path).get("fingerprint") == spec.fingerprint
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return False


def execute(spec: RunSpec) -> dict[str, Any]:
    """Simulate and store one run. Returns its status; an exception becomes an error line."""
    status = {"variant": spec.variant, "replication": spec.replication, "seed": spec.seed}
    t0 = time.perf_counter()
    try:
        res = simulate(spec)
        s = res.summary
        record = {
            "schema": RECORD_SCHEMA, **status, "experiment": spec.experiment,
            "scenario": spec.scenario, "days": s["days"], "warmup_days": s["warmup_days"],
            "overrides": spec.overrides, "fingerprint": spec.fingerprint,
            "metrics": s["metrics"], "resolved_scenario": s["resolved_scenario"],
            "versions": s["versions"], "python": s["python"], "git_commit": s["git_commit"],
            "seconds": round(time.perf_counter() - t0, 3),
        }
        write_run(spec.path, res.timeseries[["day", *spec.series]], record)
    except Exception as err:  # a failed run is recorded; the others go on
        return {**status, "ok": False, "error": error_line(err),
                "traceback": traceback.format_exc()}
    return {**status, "ok": True}


def error_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


# ---------------------------------------------------------------------------------------------
# The whole experiment


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while worker processes start, so that they inherit ignoring it: the main
    process alone handles it, and stops them (:func:`_stop`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel pending runs and terminate the workers at once (runs in progress are lost)."""
    terminate = getattr(pool, "terminate_workers", None)     # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()


def _failure(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    return {"variant": spec.variant, "replication": spec.replication, "seed": spec.seed,
            "ok": False, "error": error_line(err)}


def _in_pool(specs: list[RunSpec], jobs: int, tick: Any) -> list[dict[str, Any]]:
    """Execute specs in ``jobs`` fresh (spawned) worker processes, in any order."""
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"))
    results = []
    try:
        with _sigint_ignored():            # workers start at the first submit
            futures = {pool.submit(execute, s): s for s in specs}
        for fut in as_completed(futures):
            try:
                results.append(fut.result())
            except Exception as err:  # the worker process itself died
                results.append(_failure(futures[fut], err))
            tick()
    except BaseException:      # Ctrl-C: stop the workers, keep the finished runs
        _stop(pool)
        raise
    pool.shutdown()
    return results


def _execute_all(specs: list[RunSpec], jobs: int, progress: bool) -> list[dict[str, Any]]:
    """Execute specs in-process (jobs 1) or in a pool of ``jobs`` processes."""
    bar = None
    if progress and specs and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=len(specs), unit="run", leave=False)

    def tick() -> None:
        if bar is not None:
            bar.update(1)

    try:
        if jobs > 1 and len(specs) > 1:
            return _in_pool(specs, min(jobs, len(specs)), tick)
        results = []
        for spec in specs:
            results.append(execute(spec))
            tick()
        return results
    finally:
        if bar is not None:
            bar.close()


def write_failed(runs_dir: Path, failed: list[dict[str, Any]]) -> None:
    """``runs/failed.json``: the runs that raised (removed when none did)."""
    path = runs_dir / "failed.json"
    if not failed:
        path.unlink(missing_ok=True)
        return
    failed = sorted(failed, key=lambda f: (f["variant"], f["replication"]))
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(failed, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_failed(out_dir: Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / "runs" / "failed.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def run_experiment(path: str | Path, out_dir: str | Path | None = None, jobs: int | None = None,
                   progress: bool = True) -> Path:
    """Run (or resume) an experiment and analyse it; returns the results directory.

    A bad file raises :class:`ScenarioError` before anything is written. Finished runs are
    skipped; runs that raise are listed in ``runs/failed.json`` (see :func:`read_failed`).
    """
    exp = load_experiment(path)
    out = Path(out_dir) if out_dir is not None else Path("results") / exp.name
    if out.exists() and not out.is_dir():
        raise ScenarioError(str(out), "--out", "exists and is not a directory")
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _copy_atomic(Path(path), out / "experiment.toml")
    todo = [s for s in plan(exp, runs_dir) if not is_done(s)]
    n_jobs = jobs if jobs is not None else (exp.jobs if exp.jobs is not None else 0)
    results = _execute_all(todo, n_jobs or cpu_count(), progress)
    write_failed(runs_dir, [r for r in results if not r["ok"]])
    from sim.analysis import analyse
    from sim.manifest import write_manifest
    analyse(out, exp)
    write_manifest(out, exp, plan(exp, runs_dir))
    return out

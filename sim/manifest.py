"""Reproduction: an experiment's ``manifest.json``, and re-running its runs to compare.

The manifest names everything a result depends on (experiment file, code, locked packages,
platform, root seed) and holds a SHA-256 of each run's result *contents*: its kept daily series
and its headline metrics, serialised canonically (column names, dtypes and values; metrics as
sorted JSON), so the hash does not depend on Parquet's bytes or compression. ``reproduce``
re-runs all or some runs from the stored ``experiment.toml`` and says, run by run, whether the
contents match.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.output import write_text

MANIFEST = "manifest.json"
ROOT = Path(__file__).resolve().parents[1]


def content_hash(series: pd.DataFrame, metrics: dict[str, Any]) -> str:
    """SHA-256 of a run's contents: its series (names, dtypes, values) and its metrics."""
    h = hashlib.sha256()
    for name in series.columns:
        col = series[name].to_numpy()
        h.update(f"{name}:{col.dtype.str}:{len(col)};".encode())
        if col.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(col.astype(col.dtype.newbyteorder("<"))).tobytes())
        else:
            h.update(json.dumps([str(v) for v in col]).encode())
    h.update(json.dumps(metrics, sort_keys=True, allow_nan=True).encode())
    return h.hexdigest()


def run_hash(path: Path) -> str:
    """The content hash of a stored run file."""
    import pyarrow.parquet as pq

    from sim.store import RECORD_KEY
    table = pq.read_table(path)          # one read for the series and the record
    return content_hash(table.to_pandas(), json.loads(table.schema.metadata[RECORD_KEY])[
        "metrics"])


def file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def write_manifest(out: Path, exp: Any, specs: list[Any]) -> Path:
    """``out/manifest.json`` for the finished runs of ``specs``."""
    from sim.provenance import git_commit, git_dirty, package_versions
    from sim.store import done_table
    runs = []
    for s in specs:
        found = done_table(s)
        if found is None:              # missing, or made from another scenario or series
            continue
        table, rec = found
        runs.append({"variant": s.variant, **({} if s.point is None else {"point": s.point}),
                     "replication": s.replication, "seed": s.seed,
                     "sha256": content_hash(table.to_pandas(), rec["metrics"]),
                     "git_commit": rec.get("git_commit"), "git_dirty": rec.get("git_dirty")})
    manifest = {
        "experiment": Path(out).name,
        "experiment_sha256": file_hash(out / "experiment.toml"),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "lock_sha256": file_hash(ROOT / "requirements.lock"),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "root_seed": exp.seed,
        "runs_planned": len(specs),
        "runs_done": len(runs),
        "runs": runs,
    }
    path = Path(out) / MANIFEST
    write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


def read_manifest(out: Path) -> dict[str, Any]:
    from sim.scenario import ScenarioError
    path = Path(out) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), "file", "not found (run the experiment first)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), "json", f"malformed ({err})") from None


def sample_runs(runs: list[dict[str, Any]], k: int | None) -> list[dict[str, Any]]:
    """All runs, or ``k`` of them chosen evenly through the list (deterministic)."""
    if k is None or k >= len(runs):
        return runs
    idx = np.unique(np.linspace(0, len(runs) - 1, k).round().astype(int))
    return [runs[i] for i in idx]


def reproduce(out: Path, sample: int | None = None, jobs: int = 1,
              progress: bool = False) -> list[dict[str, Any]]:
    """Re-run all or ``sample`` runs of ``out`` and compare their contents with the manifest."""
    from sim.experiment import Sweep, execute_all, load_experiment, plan
    from sim.scenario import ScenarioError
    from sim.store import read_failure, run_name
    out = Path(out)
    manifest = read_manifest(out)
    exp = load_experiment(out / "experiment.toml")
    if manifest.get("experiment_sha256") != file_hash(out / "experiment.toml"):
        raise ScenarioError(str(out / "experiment.toml"), "experiment_sha256",
                            "differs from the manifest's (the file was edited)")
    chosen = sample_runs(manifest["runs"], sample)
    with tempfile.TemporaryDirectory(prefix="gridsim-reproduce-") as tmp:
        by_key = {(s.variant, s.point, s.replication): s for s in plan(exp, Path(tmp))}
        specs = []
        for r in chosen:
            spec = by_key.get((r["variant"], r.get("point"), r["replication"]))
            if spec is None or spec.seed != r["seed"]:
                name = run_name(r["variant"], r.get("point"), r["replication"])
                raise ScenarioError(str(out / MANIFEST), f"runs.{name}",
                                    "not in the experiment's plan")
            specs.append(spec)
        execute_all(specs, Sweep(out=Path(tmp)), jobs=jobs, progress=progress)
        report = []
        for r, spec in zip(chosen, specs, strict=True):
            ok = spec.path.is_file()
            new = run_hash(spec.path) if ok else None
            fail = None if ok else (read_failure(spec.path) or {}).get("error", "not run")
            report.append({"run": spec.name, "variant": spec.variant, "point": spec.point,
                           "replication": spec.replication, "seed": spec.seed,
                           "expected": r["sha256"], "got": new, "match": new == r["sha256"],
                           "error": fail})
    return report

"""The results store of an experiment: one file per run, written atomically, and the runs table.

    results/NAME/runs/<run>.parquet        a finished run: its daily series as the table, its
                                           record (metrics, parameters, seed, ...) as JSON in
                                           the file's metadata under ``gridsim.run``
    results/NAME/runs/<run>.failed.json    a run that raised: its error and traceback
    results/NAME/runs/issues/<run>.parquet its per-issue table (only with ``--keep issues``)
    results/NAME/runs.csv                  a row per planned run: status, seed, parameters,
                                           wall time, error

``<run>`` is ``<variant>__r<replication>``, or ``<variant>__p<point>__r<replication>`` in a
designed experiment. Every file is written to a temporary name and renamed into place, so a
file exists only once complete: killing the driver at any moment loses at most the runs in
flight, and running the same command again resumes (a stored run is its own resume marker).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

RECORD_KEY = b"gridsim.run"
RUN_RE = re.compile(r"^(?P<variant>[a-z0-9]+(?:_[a-z0-9]+)*)(?:__p(?P<point>\d+))?"
                    r"__r(?P<replication>\d+)$")
TMP_RE = re.compile(r"\.tmp-(\d+)$")


def run_name(variant: str, point: int | None, replication: int) -> str:
    return f"{variant}__r{replication}" if point is None else \
        f"{variant}__p{point}__r{replication}"


def parse_run_name(stem: str) -> tuple[str, int | None, int] | None:
    """(variant, point, replication) of a run file's stem, or None if it is not one."""
    m = RUN_RE.match(stem)
    if m is None:
        return None
    point = m["point"]
    return m["variant"], None if point is None else int(point), int(m["replication"])


# ---------------------------------------------------------------------------------------------
# Files, atomically


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary sibling, fsync, rename)."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def encode_table(frame: pd.DataFrame, record: dict[str, Any] | None = None) -> bytes:
    """A DataFrame as Parquet bytes, with ``record`` as JSON in the file's metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if record is not None:
        meta = {**(table.schema.metadata or {}), RECORD_KEY: json.dumps(record).encode()}
        table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_run(path: Path, frame: pd.DataFrame, record: dict[str, Any]) -> None:
    """Write a run's table with its record in the metadata, atomically."""
    write_bytes(Path(path), encode_table(frame, record))


def read_record(path: Path) -> dict[str, Any]:
    """The record (variant, replication, seed, metrics, ...) stored with a run."""
    return json.loads(pq.read_schema(path).metadata[RECORD_KEY])


def try_record(path: Path) -> dict[str, Any] | None:
    """The run's record, or None when the file is missing or not a run file."""
    try:
        return read_record(path)
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return None


def done_record(spec: Any) -> dict[str, Any] | None:
    """The record of ``spec``'s stored run if it was made from the same resolved scenario and
    series (its fingerprint matches), else None."""
    rec = try_record(spec.path)
    return rec if rec is not None and rec.get("fingerprint") == spec.fingerprint else None


def done_table(spec: Any) -> tuple[pa.Table, dict[str, Any]] | None:
    """``spec``'s stored run as an Arrow table, with its record, if it is done (as
    :func:`done_record` says): the file opened once for both. A done run whose data cannot be
    read raises, as reading it anywhere else would."""
    try:
        stored = pq.ParquetFile(spec.path)
        rec = json.loads(stored.schema_arrow.metadata[RECORD_KEY])
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return None
    if rec.get("fingerprint") != spec.fingerprint:
        return None
    return stored.read(), rec


def failure_path(run_path: Path) -> Path:
    return run_path.with_name(run_path.name.removesuffix(".parquet") + ".failed.json")


def kept_path(run_path: Path, table: str) -> Path:
    """Where a run's kept table goes (``--keep``): ``runs/<table>/<run>.parquet``."""
    return run_path.parent / table / run_path.name


def write_failure(run_path: Path, failure: dict[str, Any]) -> None:
    data = json.dumps(failure, indent=1, ensure_ascii=False) + "\n"
    write_bytes(failure_path(run_path), data.encode())


def read_failure(run_path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(failure_path(run_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def clean_stale(runs_dir: Path) -> None:
    """Remove temporary files left by a killed process (its pid no longer runs)."""
    for path in Path(runs_dir).rglob("*.tmp-*"):
        m = TMP_RE.search(path.name)
        if m is None:
            continue
        try:
            os.kill(int(m[1]), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:        # alive, someone else's
            pass


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` so that two drivers never run the same results directory at once.
    The kernel releases the lock when the process dies, however it dies."""
    from sim.scenario import ScenarioError
    fd = os.open(Path(out) / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScenarioError(str(out), "lock", "another gridsim is running this "
                                "experiment; wait for it, or stop it") from None
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# The runs table


RUNS_COLUMNS = ["run", "variant", "point", "replication", "seed", "status", "seconds", "error"]


def runs_table(specs: list[Any], parameters: list[str]) -> pd.DataFrame:
    """A row per planned run, in plan order: ``run``, ``variant``, ``point`` (empty without
    a design), ``replication``, ``seed``, ``status`` (``done``, ``failed`` or ``pending``),
    ``seconds`` (wall time of the run), ``error`` (first line), then the design parameters'
    values and ``overrides`` (the variant's settings, as JSON)."""
    rows = []
    for s in specs:
        row = {"run": s.name, "variant": s.variant, "point": s.point,
               "replication": s.replication, "seed": s.seed, "status": "pending",
               "seconds": None, "error": None}
        rec = done_record(s)
        if rec is not None:
            row.update(status="done", seconds=rec.get("seconds"))
        elif (fail := read_failure(s.path)) is not None:
            row.update(status="failed", seconds=fail.get("seconds"), error=fail.get("error"))
        row.update({name: s.params.get(name) for name in parameters})
        row["overrides"] = json.dumps(s.variant_overrides, sort_keys=True)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*RUNS_COLUMNS, *parameters, "overrides"])
    frame["point"] = frame["point"].astype("Int64")
    return frame

"""Writing a run's results: Parquet tables, summary.json and charts, atomically.

Everything is first written into a temporary sibling directory, which then replaces the
output directory in one rename, so an interrupted run leaves either the old results or the new
ones, never a mixture.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim import signals

if TYPE_CHECKING:              # the model is not imported to write or read files
    from sim.api import Results

TABLES = ("issues", "events", "timeseries", "agents", "nodes")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_json_safe(data), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")


ROW_GROUP = 1 << 20      # rows per Parquet row group when a table is written in pieces


# Column statistics (min/max per row group, for readers that filter) only on the keys: on every
# column they cost a quarter of a city's issues table's writing time.
STATISTICS = ("issue_id", "created_day", "day")


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write a table to Parquet; a large one a row group at a time, so that it is never
    converted whole (a city's issues table would double the peak memory).

    Only categorical and text columns are dictionary-encoded: pyarrow would try every column,
    and on times and counts, where nearly every value differs, it gives up after paying for
    the attempt (a third of the writing time). Read back, the table is the same."""
    options = {"compression": "zstd",
               "use_dictionary": [c for c in df.columns
                                  if isinstance(df[c].dtype, pd.CategoricalDtype)
                                  or pd.api.types.is_string_dtype(df[c])],
               "write_statistics": [c for c in STATISTICS if c in df.columns]}
    if len(df) <= ROW_GROUP:
        df.to_parquet(path, index=False, engine="pyarrow", **options)
        return
    import pyarrow as pa

    from sim.rowgroups import RowGroupWriter
    writer = RowGroupWriter(path, use_dictionary=options["use_dictionary"],
                            write_statistics=options["write_statistics"])
    try:
        for i in range(0, len(df), ROW_GROUP):
            part = df.iloc[i:i + ROW_GROUP]
            writer.put(lambda part=part: pa.Table.from_pandas(part, preserve_index=False))
    except BaseException:
        writer.abort()          # no thread left writing into a directory being removed
        raise
    writer.close()


RUN_FILES = frozenset({f"{name}.parquet" for name in TABLES} | {"summary.json", "charts"})


def check_replaceable(out: Path, ours: frozenset[str], key: str = "--out") -> None:
    """Refuse an output directory whose replacement would lose something: the working
    directory or one above it, a file, or a directory holding entries that are not ``ours``
    (what this kind of output writes). An empty or absent directory is fine. The check runs
    before the work, so bad input costs nothing."""
    from sim.scenario import ScenarioError
    target, here = Path(out).absolute(), Path.cwd().resolve()
    if target.is_symlink():
        raise ScenarioError(str(out), key, "is a symbolic link; name the directory itself")
    if target.resolve() in (here, *here.parents):
        raise ScenarioError(str(out), key, "is the working directory or above it; name a new "
                            "directory for the results")
    if not target.exists():
        return
    if not target.is_dir():
        raise ScenarioError(str(out), key, "exists and is not a directory")
    foreign = sorted(p.name for p in target.iterdir() if p.name not in ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ScenarioError(str(out), key, f"holds files gridsim did not write ({shown}); "
                            "name a new or empty directory: the results replace it whole")


def _umask() -> int:
    """The process's umask, read without setting it (``os.umask`` would set it to 0 for a
    moment, under any other thread's feet)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_dir(out: Path, ours: frozenset[str] = RUN_FILES, key: str = "--out"
               ) -> Iterator[Path]:
    """A temporary sibling directory to write into; on success it replaces ``out`` in one
    rename, on failure it is removed and ``out`` is left as it was.

    ``out`` must pass :func:`check_replaceable`; a place that cannot be written is reported
    (``ScenarioError``, naming ``out`` and ``key``) before anything is done."""
    from sim.scenario import ScenarioError
    out = Path(out)
    check_replaceable(out, ours, key)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as err:
        raise ScenarioError(str(out), key, f"cannot be written ({err.strerror})") from None
    try:
        yield tmp
        signals.check()                         # a stop whose exception was lost
        tmp.chmod(0o777 & ~_umask())          # mkdtemp's 0700 would hide results from others
        old = None
        try:
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                out.rename(old)
            tmp.rename(out)
        except OSError as err:
            if old is not None and not out.exists():
                old.rename(out)                 # put the old results back
            raise ScenarioError(str(out), key, f"cannot be replaced ({err.strerror}); "
                                "nothing was written") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (a temporary sibling, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_results(res: Results, out: Path, charts: bool = True) -> Path:
    """Write all tables, the summary and charts into ``out`` (replaced as a whole)."""
    with atomic_dir(out) as tmp:
        write_into(res, tmp, charts)
    return Path(out)


def write_into(res: Results, tmp: Path, charts: bool = True) -> None:
    """Write a run's tables, summary and charts into the directory ``tmp``; a table that is
    ``None`` was streamed there during the run.

    The tables are written in a thread beside the charts: Parquet's encoding and compression
    let go of the interpreter, Matplotlib's drawing does not, so on two cores the two overlap
    (a city's tables take ~4 s to write and its charts ~3 s to draw). Both only read ``res``."""
    from concurrent.futures import ThreadPoolExecutor

    def write_tables() -> None:
        for name in TABLES:
            table = getattr(res, name)
            if table is not None:
                write_table(table, tmp / f"{name}.parquet")

    with ThreadPoolExecutor(1, thread_name_prefix="gridsim-tables") as pool:
        tables = pool.submit(write_tables)
        try:
            write_json(tmp / "summary.json", res.summary)
            if charts:
                from sim.charts import write_charts
                write_charts(res, tmp / "charts")
        finally:
            tables.result()             # the writer's error, if it had one, is raised here


def read_results(out: Path) -> Results:
    """Read back what :func:`write_results` wrote."""
    from sim.api import Results
    out = Path(out)
    tables = {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return Results(summary=summary, **tables)

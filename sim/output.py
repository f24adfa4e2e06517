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


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """A temporary sibling directory to write into; on success it replaces ``out`` in one
    rename, on failure it is removed and ``out`` is left as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
        tmp.rename(out)
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

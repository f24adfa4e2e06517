"""A Parquet file written a row group at a time, in a background thread.

The model streams its event log this way (:meth:`sim.issues.EventLog.flush`): sorting, building
and compressing a row group runs beside the next days' simulation, on another core, instead of
stopping it. Large tables (a city's issues) are written this way too. Row groups are
written in the order they were put, by a single thread.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any


class RowGroupWriter:
    """Append tables (built by the callables given to :meth:`put`) to the Parquet file
    ``path``, one row group each; at most ``depth`` wait to be written."""

    def __init__(self, path: Path, depth: int = 2, compression: str = "zstd", **options: Any):
        self.path, self.depth, self.compression = Path(path), depth, compression
        self.options = options          # more pyarrow.parquet.ParquetWriter options
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gridsim-parquet")
        self._pending: deque[Future] = deque()
        self._writer: Any = None

    def put(self, make_table: Callable[[], Any]) -> None:
        """Queue one row group (``make_table`` may return None: then none is written); waits
        while ``depth`` are queued (and raises the writer's error, if it had one)."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, make_table))

    def _write(self, make_table: Callable[[], Any]) -> None:
        import pyarrow.parquet as pq
        table = make_table()
        if table is None:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema,
                                            compression=self.compression, **self.options)
        self._writer.write_table(table)

    def abort(self) -> None:
        """Stop after an error elsewhere: drop what is queued, wait for the row group being
        written, and close the file, ignoring the writer's errors."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()

    def close(self) -> bool:
        """Write what is queued and close the file; whether anything was written."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)
            if self._writer is not None:
                self._writer.close()
        return self._writer is not None

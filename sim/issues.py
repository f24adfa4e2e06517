"""Issues as columnar arrays, and the log of their transitions.

Issues are not agents: there are hundreds of thousands of them, so the model keeps them as rows
of numpy arrays (:class:`IssueTable`) and every phase of the day acts on all of them at once.
Finished rows (closed or lapsed) leave the working arrays at the end of each day, so a day costs
in proportion to the open issues. The transitions go to an :class:`EventLog`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.compiled import compile_kernel
from sim.sorting import lexsort_time_id


class Status(IntEnum):
    """Where an issue is. Open statuses come first; CLOSED and LAPSED are final."""

    HIDDEN = 0         # arisen, not yet known to anyone in the system
    SETTLING = 1       # being settled outside the queues: by residents (自治) or a work team
    GRID_L3 = 2        # in a level-3 grid leader's hands
    GRID_L2 = 3        # passed up to the village/community (level 2)
    PLATFORM = 4       # at a platform: waiting for intake or re-dispatch
    RULING = 5         # the platform is ruling on responsibility (裁决)
    SCREENING = 6      # dispatched; the unit screens it (accept or pass back)
    QUEUED = 7         # accepted, waiting for a free member of staff
    IN_SERVICE = 8     # being handled
    CLOSED = 9
    LAPSED = 10        # disappeared unseen while hidden


class FoundBy(IntEnum):
    NONE = 0
    RESIDENT = 1      # reported by a resident without an organiser
    ORGANISER = 2     # reported through a building head / household representative
    GRID_LEADER = 3   # found on patrol by a level-3 grid leader
    WORK_TEAM = 4     # found by a work-team member
    VOLUNTEER = 5     # reported by a volunteer (志愿者)
    PETITION = 6      # came to light through a petition or a collective incident
    CAMPAIGN = 7      # found by a campaign's sweep (排查)


class SettledBy(IntEnum):
    NONE = 0
    RESIDENTS = 1     # 自治
    GRID_L3 = 2
    GRID_L2 = 3
    WORK_TEAM = 4
    DEPARTMENT = 5    # a line department (条)
    TOWNSHIP = 6      # a township office under 属地管理 (块)


class Channel(IntEnum):
    NONE = 0
    GRID = 1          # organiser → grid leader → township platform
    HOTLINE = 2       # straight to the district platform (12345)
    PETITION = 3      # through petitioning (信访) or a collective incident
    UTILITY = 4       # straight to the utility, outside the grid (public services not folded in)


class Event(IntEnum):
    ARISE = 0
    LAPSE = 1
    DISCOVER = 2      # found on patrol or by a work team
    REPORT = 3        # a resident reports (to an organiser, a grid leader or the hotline)
    SELF_SETTLE = 4   # organised residents take it on themselves (自治)
    SETTLE = 5        # a grid leader or work-team member takes it on
    PASS_UP = 6       # level 3 → level 2, or grid → township platform
    TAKE_IN = 7       # a platform starts handling it
    DISPATCH = 8
    PASS_BACK = 9     # a unit rejects it (推诿)
    RULING = 10       # the platform starts a ruling
    RULE = 11         # ruling done: the bound unit must take it
    ESCALATE = 12     # to the district platform, beyond the township's authority
    ACCEPT = 13
    START = 14
    CLOSE = 15
    REOPEN = 16
    PUSH_DOWN = 17    # a line department sends it down to the township (属地管理, a rejection)
    PETITION = 18     # residents petition (信访) about an unresolved grievance
    INCIDENT = 19     # an unresolved collective grievance becomes a collective incident
    HAND_DOWN = 20    # a township office hands an accepted order to the grid (任务下压, offloading)


NAN = np.nan

# column name -> (dtype, fill value for a new row)
COLUMNS: dict[str, tuple[str, object]] = {
    "issue_id": ("i8", -1),
    "category": ("i2", -1),
    "severity": ("i1", 1),          # 0 minor, 1 ordinary, 2 major
    "resident": ("i4", -1),
    "grid_l3": ("i4", -1),
    "grid_l2": ("i4", -1),
    "grid_l1": ("i2", -1),
    "hours": ("f8", NAN),           # work content at a unit (working hours)
    "deadline": ("f8", NAN),        # working days allowed
    "responsible": ("i2", -1),      # the unit that should handle it
    "lead_department": ("i2", -1),
    "co_department": ("i2", -1),
    "ambiguous": ("?", False),
    "collective": ("?", False),     # concerns many households
    "petitioned": ("f8", NAN),      # time of the first petition about it
    "incident": ("f8", NAN),        # time it became a collective incident
    "created": ("f8", NAN),
    "discovered": ("f8", NAN),
    "reported": ("f8", NAN),
    "first_dispatch": ("f8", NAN),
    "accepted": ("f8", NAN),
    "started": ("f8", NAN),
    "closed": ("f8", NAN),
    "found_by": ("i1", 0),
    "channel": ("i1", 0),
    "settled_by": ("i1", 0),
    "unit": ("i2", -1),             # unit of the current / last dispatch
    "first_unit": ("i2", -1),       # unit of the first dispatch
    "platform": ("i2", -1),         # platform holding it (0 district, 1+t township t)
    "leader": ("i4", -1),           # grid leader (level 3: grid, level 2: village) holding it
    "dispatches": ("i2", 0),
    "rejections": ("i2", 0),        # pass-backs on the current visit chain
    "total_rejections": ("i2", 0),
    "ruled": ("?", False),
    "bound": ("?", False),          # the current dispatch follows a ruling: no pass-back
    "flagged": ("?", False),
    "resolved": ("i1", -1),         # -1 unknown, 0 no, 1 yes
    "superficial": ("?", False),    # the unit's closure of it is superficial (考核 gaming)
    "reopens": ("i2", 0),
    "satisfaction": ("f4", NAN),
    "status": ("i1", int(Status.HIDDEN)),
    "node": ("i2", 0),              # the node holding it (GridModel.nodes; -1 when finished)
    "entered": ("f8", NAN),         # when the current status began
    "next_time": ("f8", np.inf),    # when the current status ends, if scheduled
    "service_end": ("f8", NAN),     # when the current service will finish
}

# Working columns: where an open issue is held and what is scheduled for it. A finished issue's
# are of no further use, and the archive of finished rows does not keep them (a city year's
# 4.3 million issues: ~150 MB less).
WORKING = ("leader", "rejections", "bound", "flagged", "node", "entered", "next_time",
           "service_end")
HISTORY = tuple(k for k in COLUMNS if k not in WORKING)     # what all_rows() gives


class IssueTable:
    """Open issues as columns; finished ones are moved to an archive of chunks."""

    def __init__(self, capacity: int = 1 << 14):
        self.n = 0
        self.next_id = 0
        self.cols: dict[str, np.ndarray] = {
            k: np.full(capacity, fill, dtype=dt) for k, (dt, fill) in COLUMNS.items()
        }
        self._archive: list[dict[str, np.ndarray]] | None = []
        self._refresh()

    def __len__(self) -> int:
        return self.n

    def _refresh(self) -> None:
        """Expose each column's live rows as an attribute (``table.status`` ...)."""
        for k, v in self.cols.items():
            self.__dict__[k] = v[: self.n]

    # for type checkers: columns are attributes set by _refresh
    def __getattr__(self, name: str) -> np.ndarray:
        raise AttributeError(name)

    def add(self, count: int, **values: np.ndarray) -> np.ndarray:
        """Append ``count`` rows; returns their row indices. Unset columns get their fill."""
        need = self.n + count
        cap = len(self.cols["issue_id"])
        if need > cap:
            new = max(need, 2 * cap)
            for k, (dt, fill) in COLUMNS.items():
                grown = np.full(new, fill, dtype=dt)
                grown[: self.n] = self.cols[k][: self.n]
                self.cols[k] = grown
        for k, v in values.items():
            self.cols[k][self.n:need] = v
        self.cols["issue_id"][self.n:need] = np.arange(self.next_id, self.next_id + count)
        rows = np.arange(self.n, need)
        self.next_id += count
        self.n = need
        self._refresh()
        return rows

    def compact(self, min_share: float = 0.1, min_rows: int = 0) -> None:
        """Move finished rows to the archive once they are ``min_share`` of the rows and more
        than ``min_rows``. Nothing depends on when: rows keep their order, and every phase of
        the day selects open rows by status."""
        done = self.cols["status"][: self.n] >= Status.CLOSED
        finished = np.count_nonzero(done)
        if finished <= min_share * self.n or finished <= min_rows:
            return
        m = self.n - finished
        if _split_compiled is not None:          # a pass per column, compiled
            archive = {}
            for k, v in self.cols.items():
                if k in WORKING:
                    _split_compiled(v, done, self.n, v[:0], False)
                else:
                    gone = np.empty(finished + 1, dtype=v.dtype)
                    _split_compiled(v, done, self.n, gone, True)
                    archive[k] = gone[:finished]
            self._archive.append(archive)
        else:
            # indices once, then a gather per column (cheaper than a boolean mask per column)
            gone, keep = np.flatnonzero(done), np.flatnonzero(~done)
            self._archive.append({k: self.cols[k].take(gone) for k in HISTORY})
            for v in self.cols.values():
                v[:m] = v.take(keep)
        for k, (_, fill) in COLUMNS.items():
            self.cols[k][m : self.n] = fill
        self.n = m
        self._refresh()

    def release(self) -> None:
        """Let go of the finished rows (archived); :meth:`all_rows` then refuses."""
        self._archive = None

    def all_rows(self) -> Mapping[str, np.ndarray]:
        """Every issue ever created (archived and open), sorted by id, in its history columns
        (:data:`HISTORY`): a mapping that gathers a column when it is read, so that a city's
        issues are never all copied at once."""
        if self._archive is None:
            raise RuntimeError("the issue table's finished rows were released")
        return _AllRows([*self._archive, {k: self.cols[k][: self.n] for k in HISTORY}])

    def count_by_status(self) -> np.ndarray:
        return np.bincount(self.cols["status"][: self.n], minlength=len(Status))


def split_rows(col: np.ndarray, done: np.ndarray, n: int, gone: np.ndarray,
               archive: bool) -> None:
    """One column's compaction in one pass: the first ``n`` values not ``done`` to the front of
    ``col``, in order, and (``archive``) the ``done`` ones to ``gone``, in order. Without a
    branch on ``done``, which is as good as random: each value is written to both places and
    only one place's cursor moves on (so ``gone`` has a spare last slot)."""
    kept = put = 0
    for i in range(n):
        value, d = col[i], done[i]
        col[kept] = value                # kept <= i: overwrites a value already read
        kept += 1 - d
        if archive:
            gone[put] = value
            put += d


_split_compiled = compile_kernel(split_rows)     # numpy's gathers without numba


class _AllRows(Mapping):
    """Columns of several parts of the issue table, in issue-id order, built on access."""

    def __init__(self, parts: list[dict[str, np.ndarray]]):
        self._parts = parts
        ids = np.concatenate([p["issue_id"] for p in parts])
        # where each stored row goes: its rank among the ids, which is the id itself when the
        # ids are 0..n-1 (every issue that arose, as the model numbers them)
        if len(ids) and ids.min() == 0 and ids.max() == len(ids) - 1 and \
                np.bincount(ids, minlength=len(ids)).max() == 1:
            self._dest = ids.astype(np.int64)
        else:
            self._dest = np.empty(len(ids), dtype=np.int64)
            self._dest[np.argsort(ids, kind="stable")] = np.arange(len(ids))

    def __getitem__(self, key: str) -> np.ndarray:
        out = np.empty(len(self._dest), dtype=COLUMNS[key][0])
        at = 0
        for part in self._parts:
            col = part[key]
            out[self._dest[at:at + len(col)]] = col
            at += len(col)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(HISTORY)

    def __len__(self) -> int:
        return len(HISTORY)


def _arrow(df: pd.DataFrame) -> Any:
    import pyarrow as pa
    return pa.Table.from_pandas(df, preserve_index=False)


SCALARS = (int, float, np.generic)      # Python and numpy numbers, enum members


def _columns(chunks: list[tuple[Any, ...]]) -> list[np.ndarray]:
    """Logged chunks as seven aligned arrays, in the order they were recorded.

    A column's scalars (one event, one status or actor for a whole chunk) are spread in one
    ``np.repeat`` and its arrays copied into place: a day's ~35 chunks, seven columns each,
    would otherwise be ~250 small numpy calls (in the writer's thread, holding the
    interpreter the simulation wants)."""
    dtypes = (np.int64, np.float64, np.int8, np.int8, np.int8, np.int32, np.int16)
    if not chunks:
        return [np.empty(0, dtype=t) for t in dtypes]
    lengths = [len(c[0]) for c in chunks]
    ends = list(itertools.accumulate(lengths))
    out = []
    for i, dtype in enumerate(dtypes):
        values = [c[i] for c in chunks]
        per_row = [_per_row(v) for v in values]
        if all(per_row):
            out.append(np.concatenate([np.asarray(v) for v in values], dtype=dtype,
                                      casting="unsafe"))
            continue
        column = np.repeat(np.array([0 if r else v for v, r in zip(values, per_row, strict=True)],
                                    dtype=dtype), lengths)
        for k, r in enumerate(per_row):
            if r:
                column[ends[k] - lengths[k]:ends[k]] = values[k]
        out.append(column)
    return out


def _per_row(value: object) -> bool:
    """Whether a logged value gives one value per row (an array, a list) rather than one for
    the whole chunk (a number, an enum member, a 0-d array)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return not isinstance(value, SCALARS) and np.ndim(value) > 0


class EventLog:
    """Every transition of every issue: (issue_id, time, event, from, to, actor, node).

    ``node`` is where the issue is after the transition (an index into ``GridModel.nodes``).
    """

    #: Streaming: transitions handed to the writer at once, at the least (a row group). A
    #: city logs more in a day; a district's ~4,000 a day wait for the next weeks'.
    row_group_rows = 1 << 16

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._held = 0                      # rows in ``_chunks``
        self.actors: list[str] = []
        self._actor_ids: dict[str, int] = {}
        self._writer: Any = None            # a RowGroupWriter while streaming
        self._sink: tuple[Path, list[str]] | None = None
        self._schema: Any = None            # the Arrow schema of the streamed file
        self._dictionaries: list[tuple[Any, Any]] = []
        self._carry: list[tuple[np.ndarray, ...]] = []   # logged ahead: for the next row group

    def stream_to(self, path: Path, nodes: list[str]) -> None:
        """Write the log to Parquet at ``path`` as the run goes, in row groups
        (:meth:`flush`), instead of keeping it in memory."""
        self._sink = (Path(path), nodes)

    def actor(self, name: str) -> int:
        """The integer code of an actor name, registering it if new."""
        code = self._actor_ids.get(name)
        if code is None:
            if self._writer is not None:
                raise RuntimeError(f"actor {name!r} registered after streaming began")
            code = self._actor_ids[name] = len(self.actors)
            self.actors.append(name)
        return code

    def log(self, issue_ids: np.ndarray, time: np.ndarray, event: Event,
            src: Status | np.ndarray, dst: Status | np.ndarray,
            actor: int | np.ndarray, node: int | np.ndarray) -> None:
        """Record transitions; arrays must not be modified afterwards (callers pass fresh ones)."""
        if self.enabled and len(issue_ids):
            self._chunks.append((issue_ids, time, int(event), src, dst, actor, node))
            self._held += len(issue_ids)

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._chunks)

    def columns(self) -> list[np.ndarray]:
        """The log as seven aligned arrays, in the order the transitions were recorded."""
        return _columns(self._chunks)

    def flush(self, until: float = np.inf) -> None:
        """Streaming: once ``row_group_rows`` transitions are logged (or at the end, ``until``
        = inf), hand them to the writer's thread, which writes those before ``until`` as one
        row group, sorted as :meth:`frame` sorts, and keeps later ones (an intake logged ahead,
        at its start) for the next. The model flushes at the end of each day with ``until`` =
        the next day, and nothing logged later happens earlier, so the file is in time order
        as a whole. Everything but handing over runs in the writer's thread, beside the
        simulation."""
        if self._sink is None or (not self._chunks and self._writer is None):
            return
        if until < np.inf and self._held < self.row_group_rows:
            return
        from sim.rowgroups import RowGroupWriter
        path, nodes = self._sink
        if self._writer is None:
            # the schema pandas gives the in-memory table, so that both read back alike
            schema = _arrow(self._frame(_columns([]), nodes)).schema
            self._writer = RowGroupWriter(path, use_dictionary=list(schema.names[2:]),
                                          write_statistics=["issue_id", "time", "event"])
            self._schema = schema
            self._dictionaries = self._dictionary_values(nodes)
        chunks, self._chunks, self._held = self._chunks, [], 0
        self._writer.put(lambda: self._row_group(chunks, until))

    def _dictionary_values(self, nodes: list[str]) -> list[tuple[Any, Any]]:
        """The dictionary-encoded columns (event, from, to, actor, node): the type of their
        codes and their values as an Arrow array, made once (actors are all registered
        before streaming begins)."""
        import pyarrow as pa
        status = [s.name.lower() for s in Status]
        names = ([e.name.lower() for e in Event], status, status, self.actors or ["none"],
                 nodes or ["none"])
        fields = [self._schema.field(i) for i in range(2, len(self._schema))]
        return [(field.type.index_type, pa.array(values, type=field.type.value_type))
                for field, values in zip(fields, names, strict=True)]

    def _row_group(self, chunks: list[tuple[Any, ...]], until: float) -> Any:
        """In the writer's thread: the transitions carried from the last row group and
        ``chunks``, sorted; those before ``until`` as an Arrow table (None if there are none),
        the rest carried to the next."""
        import pyarrow as pa
        data = _columns(self._carry + chunks)
        order = lexsort_time_id(data[1], data[0])
        # the end (until = inf) takes every row left, NaN (sorted last) and inf included
        cut = (len(order) if until == np.inf else
               int(np.searchsorted(data[1][order], until, side="left")))
        later = order[cut:]
        self._carry = [tuple(c[later] for c in data)] if len(later) else []
        if cut == 0:
            return None
        now = order[:cut]
        arrays = [pa.array(data[0][now]), pa.array(data[1][now])]
        for codes, (index_type, values) in zip(data[2:], self._dictionaries, strict=True):
            c = codes[now]
            index = pa.array(c, mask=c < 0).cast(index_type)       # -1: none (NA)
            arrays.append(pa.DictionaryArray.from_arrays(index, values))
        return pa.Table.from_arrays(arrays, schema=self._schema)

    @property
    def streaming(self) -> bool:
        return self._sink is not None

    def abort(self) -> None:
        """Streaming: stop after an error elsewhere, without writing what is queued, so that
        no thread goes on writing into a directory being removed (the file is incomplete)."""
        if self._writer is not None:
            self._writer.abort()
        self._writer, self._sink, self._chunks, self._carry = None, None, [], []

    def close(self) -> None:
        """Streaming: flush and close the file (an empty log still writes its schema)."""
        if self._sink is None:
            return
        self.flush()
        if self._writer is None or not self._writer.close():
            self.frame(self._sink[1]).to_parquet(self._sink[0], index=False,
                                                 compression="zstd")
        self._writer, self._sink = None, None

    def frame(self, nodes: list[str] | None = None) -> pd.DataFrame:
        """The log (what is not yet streamed) as a DataFrame sorted by time (stable within
        equal times)."""
        return self._frame(self.columns(), nodes)

    def _frame(self, data: list[np.ndarray], nodes: list[str] | None) -> pd.DataFrame:
        cols = ["issue_id", "time", "event", "from", "to", "actor", "node"]
        # by time, then issue, then the order recorded (pandas' multi-key sort is not stable)
        order = lexsort_time_id(data[1], data[0])
        df = pd.DataFrame({c: a[order] for c, a in zip(cols, data, strict=True)})
        status_names = [s.name.lower() for s in Status]
        df["event"] = pd.Categorical.from_codes(df["event"], [e.name.lower() for e in Event])
        df["from"] = pd.Categorical.from_codes(df["from"], status_names)
        df["to"] = pd.Categorical.from_codes(df["to"], status_names)
        df["actor"] = pd.Categorical.from_codes(df["actor"], self.actors or ["none"])
        df["node"] = pd.Categorical.from_codes(df["node"], nodes or ["none"])
        return df

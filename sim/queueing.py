"""Multi-server FIFO service in continuous working time (the units' and platforms' queues).

A :class:`ServerPools` holds several pools of identical servers that share one working calendar
(say, every unit working office hours). In each pool a job starts when it is ready and a server
is free, jobs taken in order of their ready time (the Kiefer–Wolfowitz recursion), all on the
working-hours clock of the calendar. Start and finish times are fixed when a job joins, which is
exact for FIFO service: a job's start depends only on the jobs ahead of it.

The recursion is a per-job loop that numpy cannot vectorise (:func:`fifo`). It is compiled with
numba when numba is installed; the same function runs as plain Python otherwise (or with
``GRIDSIM_NO_NUMBA=1``), with identical results (tests/test_queueing.py). Compiled, a whole join
(to the working clock, in order of readiness, the recursion, back to calendar time) is two calls
(:func:`_serve`, :func:`_back`) instead of some twenty numpy operations.
"""

from __future__ import annotations

import numpy as np

from sim.calendar import WorkingCalendar, _from_work_compiled, _to_work_compiled
from sim.compiled import compile_kernel
from sim.sorting import argsort_floats, argsort_small_ints


def fifo(pool: np.ndarray, ready: np.ndarray, hours: np.ndarray, free: np.ndarray,
         first: np.ndarray, count: np.ndarray, tmp_free: np.ndarray, tmp_retire: np.ndarray,
         tmp_first: np.ndarray, tmp_count: np.ndarray, start: np.ndarray,
         finish: np.ndarray) -> None:
    """Serve jobs, in the order given (by ready time), FIFO on pools of servers.

    Pool ``k``'s permanent servers are a min-heap of free-at times in
    ``free[first[k]:first[k] + count[k]]``; its temporary servers (a campaign's extra staff)
    are ``tmp_free``/``tmp_retire`` at ``tmp_first[k]:tmp_first[k] + tmp_count[k]``, and take a
    job when one can start it before the permanent servers can and before it retires. Writes
    ``start`` and ``finish`` and updates the servers in place.
    """
    for i in range(len(ready)):
        k, r, h = pool[i], ready[i], hours[i]
        a, n = first[k], count[k]
        s = r if r > free[a] else free[a]
        best, best_start = -1, s
        for j in range(tmp_first[k], tmp_first[k] + tmp_count[k]):
            t = r if r > tmp_free[j] else tmp_free[j]
            if t < tmp_retire[j] and t < best_start:
                best, best_start = j, t
        if best >= 0:
            tmp_free[best] = best_start + h
            start[i], finish[i] = best_start, best_start + h
            continue
        f = s + h
        start[i], finish[i] = s, f
        j = 0                       # the root takes f: sift it down the heap
        while True:
            c = 2 * j + 1
            if c >= n:
                break
            if c + 1 < n and free[a + c + 1] < free[a + c]:
                c += 1
            if free[a + c] >= f:
                break
            free[a + j] = free[a + c]
            j = c
        free[a + j] = f


_fifo_compiled = compile_kernel(fifo)


def _serve(pool: np.ndarray, ready: np.ndarray, hours: np.ndarray, always_open: bool,
           cum: np.ndarray,
           day_hours: np.ndarray, open_: float, length: float, free: np.ndarray,
           first: np.ndarray, count: np.ndarray, tmp_free: np.ndarray, tmp_retire: np.ndarray,
           tmp_first: np.ndarray, tmp_count: np.ndarray, start_w: np.ndarray,
           finish_w: np.ndarray) -> bool:
    """:meth:`ServerPools.join` up to the working-clock times, compiled: ready times to the
    working clock, jobs in order of readiness (a stable sort, as numpy's), :func:`fifo`, and
    the times put back in the jobs' order. False, with nothing served, when a ready time lies
    past the calendar's table."""
    n = len(ready)
    ready_w = np.empty(n)
    if always_open:                  # the clock is calendar time in hours
        for i in range(n):
            ready_w[i] = ready[i] * 24.0
    elif not _to_work_compiled(ready, cum, day_hours, open_, length, ready_w):
        return False
    order = argsort_floats(ready_w)              # stable, as numpy's
    start_o, finish_o = np.empty(n), np.empty(n)
    _fifo_compiled(pool[order], ready_w[order], hours[order], free, first, count, tmp_free,
                   tmp_retire, tmp_first, tmp_count, start_o, finish_o)
    for i in range(n):
        start_w[order[i]] = start_o[i]
        finish_w[order[i]] = finish_o[i]
    return True


def _back(ready: np.ndarray, start_w: np.ndarray, finish_w: np.ndarray, always_open: bool,
          cum: np.ndarray, open_: float, start: np.ndarray, finish: np.ndarray) -> bool:
    """The working-clock times back in calendar time, never before the job is ready (the round
    trip rounds). False when a time lies past the calendar's table."""
    if always_open:
        for i in range(len(ready)):
            start[i], finish[i] = start_w[i] / 24.0, finish_w[i] / 24.0
    elif not (_from_work_compiled(start_w, cum, open_, start)
              and _from_work_compiled(finish_w, cum, open_, finish)):
        return False
    for i in range(len(ready)):
        start[i] = max(ready[i], start[i])
        finish[i] = max(start[i], finish[i])
    return True


# The whole join in two compiled calls, when numba is there (None otherwise)
_serve_compiled = compile_kernel(_serve) if _fifo_compiled is not None else None
_back_compiled = compile_kernel(_back) if _fifo_compiled is not None else None


class ServerPools:
    """Pools of ``servers[k]`` servers each, working FIFO on one calendar."""

    def __init__(self, servers: list[int], calendar: WorkingCalendar):
        self.servers = np.asarray(servers, dtype=np.int64)
        self.calendar = calendar
        # permanent servers: one min-heap per pool, of the working hour each server frees
        self.free = np.zeros(int(self.servers.sum()))
        self.first = np.concatenate([[0], np.cumsum(self.servers)[:-1]]).astype(np.int64)
        # temporary servers (e.g. a campaign's extra staff), grouped by pool
        self.tmp_pool = np.empty(0, dtype=np.int64)
        self.tmp_free = np.empty(0)
        self.tmp_retire = np.empty(0)
        self._group_temporary()
        self._temp_spans: list[tuple[int, int, float, float]] = []
        self._spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._by_pool: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._busy: dict[tuple[int, int], np.ndarray] = {}     # busy_by_day's, until a join
        self.kernel = _fifo_compiled        # None: the plain-Python recursion

    def add_temporary(self, k: int, count: int, start: float, end: float) -> None:
        """``count`` extra servers in pool ``k`` who take jobs from calendar time ``start`` and
        start none after ``end`` (they finish what they started)."""
        a, b = self.calendar.to_work(np.array([start, end], dtype=float)).tolist()
        self.tmp_pool = np.r_[self.tmp_pool, np.full(count, k)]
        self.tmp_free = np.r_[self.tmp_free, np.full(count, a)]
        self.tmp_retire = np.r_[self.tmp_retire, np.full(count, b)]
        self._group_temporary()
        self._temp_spans.append((k, count, a, b))

    def _group_temporary(self) -> None:
        order = np.argsort(self.tmp_pool, kind="stable")     # by pool, in order of arrival
        self.tmp_pool, self.tmp_free = self.tmp_pool[order], self.tmp_free[order]
        self.tmp_retire = self.tmp_retire[order]
        n = len(self.servers)
        self.tmp_count = np.bincount(self.tmp_pool, minlength=n).astype(np.int64)
        self.tmp_first = np.concatenate([[0], np.cumsum(self.tmp_count)[:-1]]).astype(np.int64)

    def join(self, pool: np.ndarray, ready: np.ndarray,
             hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Jobs ready at calendar times ``ready`` need ``hours`` of work in pools ``pool``.

        Returns calendar start and finish times, aligned with the inputs.
        """
        n = len(ready)
        if n == 0:
            return np.empty(0), np.empty(0)
        cal = self.calendar
        if self.kernel is not None and _serve_compiled is not None:
            # one compiled call: to the working clock, in order of readiness, served, back
            ready = np.asarray(ready, dtype=float)
            hours = np.asarray(hours, dtype=float)
            pool = np.asarray(pool).astype(np.int64)
            start_w, finish_w = np.empty(n), np.empty(n)
            while not _serve_compiled(pool, ready, hours, cal.always_open, cal.cum,
                                      cal.day_hours, cal.open, cal.length, self.free,
                                      self.first, self.servers, self.tmp_free, self.tmp_retire,
                                      self.tmp_first, self.tmp_count, start_w, finish_w):
                cal._ensure(float(ready.max()))     # past the days tabled so far (rare)
            self._spans.append((pool, start_w, finish_w))
            self._spans_changed()
            start, finish = np.empty(n), np.empty(n)
            while not _back_compiled(ready, start_w, finish_w, cal.always_open, cal.cum,
                                     cal.open, start, finish):
                cal._grow(cal.days * 2)
            return start, finish
        ready_w = cal.to_work(ready)
        order = np.argsort(ready_w, kind="stable")
        pool = np.asarray(pool)
        start_o, finish_o = np.empty(n), np.empty(n)
        args = (pool[order].astype(np.int64), ready_w[order], np.asarray(hours, float)[order],
                self.free, self.first, self.servers, self.tmp_free, self.tmp_retire,
                self.tmp_first, self.tmp_count, start_o, finish_o)
        if self.kernel is not None:
            self.kernel(*args)
        else:                       # plain Python is fastest on lists
            lists = [x.tolist() for x in args]
            fifo(*lists)
            for x, values in zip(args[3:], lists[3:], strict=True):
                x[:] = values
        start_w, finish_w = np.empty(n), np.empty(n)
        start_w[order] = start_o
        finish_w[order] = finish_o
        self._spans.append((pool, start_w, finish_w))
        self._spans_changed()
        # never before the job is ready (the round trip through the working clock rounds)
        start = np.maximum(ready, cal.from_work(start_w))
        return start, np.maximum(start, cal.from_work(finish_w))

    def _spans_changed(self) -> None:
        """Jobs joined: the spans grouped by pool, and the busy hours, are worked out afresh."""
        self._by_pool = None
        self._busy.clear()

    def _spans_of(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Working-clock start and finish of every job pool ``k`` has served (in no particular
        order: callers sort them)."""
        if self._by_pool is None or len(self._spans) != 1:
            # consolidate the pieces joined since the last call, and group them by pool once
            parts = self._spans or [(np.empty(0, int), np.empty(0), np.empty(0))]
            self._spans = [tuple(np.concatenate([p[i] for p in parts]) for i in range(3))]
            pool, s, f = self._spans[0]
            order = argsort_small_ints(pool, len(self.servers))     # stable, as numpy's
            bounds = np.searchsorted(pool[order], np.arange(len(self.servers) + 1))
            self._by_pool = (s[order], f[order], bounds)
        s, f, bounds = self._by_pool
        return s[bounds[k]:bounds[k + 1]], f[bounds[k]:bounds[k + 1]]

    def busy_by_day(self, k: int, days: int) -> np.ndarray:
        """Server-hours pool ``k`` worked on each calendar day 0..days-1 (read-only: the
        tables, the metrics and the evaluation each ask for it, so it is worked out once)."""
        if (k, days) not in self._busy:
            busy = self._busy_by_day(k, days)
            busy.flags.writeable = False
            self._busy[(k, days)] = busy
        return self._busy[(k, days)]

    def _busy_by_day(self, k: int, days: int) -> np.ndarray:
        s, f = self._spans_of(k)
        edges = self.calendar.to_work(np.arange(days + 1, dtype=float))
        # busy(x) = sum over jobs of overlap([s, f], [0, x]) = sum_{s<x}(x-s) - sum_{f<x}(x-f)
        s, f = np.sort(s), np.sort(f)
        cs, cf = np.r_[0.0, np.cumsum(s)], np.r_[0.0, np.cumsum(f)]
        ks, kf = np.searchsorted(s, edges), np.searchsorted(f, edges)
        busy = (ks * edges - cs[ks]) - (kf * edges - cf[kf])
        return np.diff(busy)

    def available_by_day(self, k: int, days: int) -> np.ndarray:
        """Server-hours pool ``k`` had open on each calendar day 0..days-1."""
        edges = self.calendar.to_work(np.arange(days + 1, dtype=float))
        hours = self.servers[k] * np.diff(edges)
        for pool, count, a, b in self._temp_spans:
            if pool == k:
                hours += count * np.diff(np.clip(edges, a, b))
        return hours

    def utilisation(self, k: int, first_day: int, days: int) -> float:
        """Share of pool ``k``'s open hours spent working, over days first_day..days-1."""
        busy = self.busy_by_day(k, days)[first_day:].sum()
        avail = self.available_by_day(k, days)[first_day:].sum()
        return float(busy / avail) if avail > 0 else float("nan")

"""Multi-server FIFO service in continuous working time (the units' and platforms' queues).

A :class:`ServerPools` holds several pools of identical servers that share one working calendar
(say, every unit working office hours). In each pool a job starts when it is ready and a server
is free, jobs taken in order of their ready time (the Kiefer–Wolfowitz recursion), all on the
working-hours clock of the calendar. Start and finish times are fixed when a job joins, which is
exact for FIFO service: a job's start depends only on the jobs ahead of it.

This is the one per-job Python loop on the daily path; a profile shows it is cheap (a heap
replace per job, ~1 µs).
"""

from __future__ import annotations

import heapq

import numpy as np

from sim.calendar import WorkingCalendar


class ServerPools:
    """Pools of ``servers[k]`` servers each, working FIFO on one calendar."""

    def __init__(self, servers: list[int], calendar: WorkingCalendar):
        self.servers = np.asarray(servers, dtype=int)
        self.calendar = calendar
        self.free_at = [[0.0] * c for c in servers]   # heaps: working hour each server frees
        # temporary servers (e.g. a campaign's extra staff): pool -> [[free_at, retire_at], ...]
        self.temporary: dict[int, list[list[float]]] = {}
        self._temp_spans: list[tuple[int, int, float, float]] = []
        self._spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add_temporary(self, k: int, count: int, start: float, end: float) -> None:
        """``count`` extra servers in pool ``k`` who take jobs from calendar time ``start`` and
        start none after ``end`` (they finish what they started)."""
        a, b = self.calendar.to_work(np.array([start, end], dtype=float)).tolist()
        self.temporary.setdefault(k, []).extend([a, b] for _ in range(count))
        self._temp_spans.append((k, count, a, b))

    def join(self, pool: np.ndarray, ready: np.ndarray,
             hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Jobs ready at calendar times ``ready`` need ``hours`` of work in pools ``pool``.

        Returns calendar start and finish times, aligned with the inputs.
        """
        n = len(ready)
        if n == 0:
            return np.empty(0), np.empty(0)
        ready_w = self.calendar.to_work(ready)
        order = np.argsort(ready_w, kind="stable")
        heaps, temporary = self.free_at, self.temporary
        starts, finishes = [], []
        for r, h, k in zip(ready_w[order].tolist(), hours[order].tolist(),
                           np.asarray(pool)[order].tolist(), strict=True):
            free = heaps[k]
            s = r if r > free[0] else free[0]
            if k in temporary and self._take_temporary(temporary[k], r, s, h, starts, finishes):
                continue
            heapq.heapreplace(free, s + h)
            starts.append(s)
            finishes.append(s + h)
        start_w, finish_w = np.empty(n), np.empty(n)
        start_w[order] = starts
        finish_w[order] = finishes
        self._spans.append((np.asarray(pool), start_w, finish_w))
        # never before the job is ready (the round trip through the working clock rounds)
        start = np.maximum(ready, self.calendar.from_work(start_w))
        return start, np.maximum(start, self.calendar.from_work(finish_w))

    @staticmethod
    def _take_temporary(servers: list[list[float]], r: float, s: float, h: float,
                        starts: list[float], finishes: list[float]) -> bool:
        """Give the job to a temporary server if one can start it before ``s`` and before it
        retires."""
        best, best_start = None, s
        for server in servers:
            start = r if r > server[0] else server[0]
            if start < server[1] and start < best_start:
                best, best_start = server, start
        if best is None:
            return False
        best[0] = best_start + h
        starts.append(best_start)
        finishes.append(best_start + h)
        return True

    def _spans_of(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._spans) != 1:       # consolidate the pieces joined since the last call
            parts = self._spans or [(np.empty(0, int), np.empty(0), np.empty(0))]
            self._spans = [tuple(np.concatenate([p[i] for p in parts]) for i in range(3))]
        pool, s, f = self._spans[0]
        sel = pool == k
        return s[sel], f[sel]

    def busy_by_day(self, k: int, days: int) -> np.ndarray:
        """Server-hours pool ``k`` worked on each calendar day 0..days-1."""
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

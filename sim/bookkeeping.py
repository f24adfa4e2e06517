"""The book-keeping of transitions, compiled: which issues are due, and moving them.

Which rows are due: once a day the rows the day's transitions can move (:func:`active_rows`),
then a few scans of those per pass of
:meth:`GridModel.advance_slice <sim.model.GridModel.advance_slice>` (:func:`due_among`,
:func:`waiting_among`, :func:`next_event_among`, and :func:`next_stage`: the next stage with
due rows, one call rather than one per stage), and once a day for the leaders'
lists (:func:`unscheduled_rows`), old grievances (:func:`aged_rows`) and the issues whose
deadline runs (:func:`reported_open_rows`), each a single loop instead of numpy's masks,
gathers and ``flatnonzero``. The same rows in the same order. The filters have no branch on a
row's test, which the processor often mispredicts where statuses are mixed: each row is
written at the next place, and the place moves on only if the row passes (a third of the time
of the branching loop for the grievances' filter, half for the day's active rows).

Arriving at a platform (:func:`at_platform`: the holding platform, the first report's time) is
one loop too, written once (``per_issue``).

Moving them: :meth:`GridModel.move <sim.model.GridModel.move>` puts issues in a new status and
keeps the time-weighted stocks (areas) that give day-average stocks per status and per node
(Little's law). In numpy that is some twenty passes over the moving rows; a day has dozens of
moves, most of a few rows. :func:`move_rows` does it in one loop, with the same floating-point
operations in the same order (per-status and per-node sums are gathered first, in row order,
as ``np.bincount`` does, then added), so the results are identical (tests/test_hazards.py).

Without numba (or with ``GRIDSIM_NO_NUMBA=1``) the model uses the numpy forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from sim.compiled import compile_kernel, per_issue


def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo + n].sum()`` for ``n <= 128`` as numpy sums it: eight running sums."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    for i in range(lo + 8, lo + n - n % 8, 8):
        r0, r1, r2, r3 = r0 + a[i], r1 + a[i + 1], r2 + a[i + 2], r3 + a[i + 3]
        r4, r5, r6, r7 = r4 + a[i + 4], r5 + a[i + 5], r6 + a[i + 6], r7 + a[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(lo + n - n % 8, lo + n):
        res += a[j]
    return res


block_sum = per_issue(_block_sum)


def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo + n].sum()`` as numpy sums it, to the bit (numpy's ``pairwise_sum``): halves
    (cut at a multiple of 8) down to blocks of at most 128, added back pairwise. Without
    recursion, which numba's cache does not load safely: a stack of (start, length, halves
    done) and one of partial sums."""
    if n <= 128:
        return block_sum(a, lo, n)
    starts, lengths = np.empty(200, np.int64), np.empty(200, np.int64)
    done, sums = np.zeros(200, np.int64), np.empty(200)
    starts[0], lengths[0], done[0] = lo, n, 0
    top, vals = 1, 0
    while top:
        top -= 1
        s, m = starts[top], lengths[top]
        if m <= 128:
            sums[vals] = block_sum(a, s, m)
            vals += 1
        elif done[top]:                         # both halves summed: add them
            vals -= 1
            sums[vals - 1] = sums[vals - 1] + sums[vals]
        else:                                   # again later, after its halves
            half = m // 2 - (m // 2) % 8
            done[top] = 1
            starts[top + 1], lengths[top + 1], done[top + 1] = s + half, m - half, 0
            starts[top + 2], lengths[top + 2], done[top + 2] = s, half, 0
            top += 3
    return sums[0]


pairwise_sum = per_issue(_pairwise_sum)


def move_rows(rows: np.ndarray, t: np.ndarray, to: int, node_base: int, node_from: np.ndarray,
              day_end: float, next_time: float, next_times: np.ndarray, status: np.ndarray,
              node: np.ndarray, entered: np.ndarray, next_col: np.ndarray,
              area_in: np.ndarray, area_out: np.ndarray, node_area: np.ndarray,
              src_out: np.ndarray, node_out: np.ndarray) -> None:
    """Move ``rows`` to status ``to`` at times ``t``.

    The new node is ``node_base + node_from[row]`` (a platform's or unit's own node), or
    ``node_base`` when ``node_from`` is empty (-1: finished, no node). The next time is
    ``next_times`` when given (non-empty), else ``next_time``. The time each row has left in
    the day is added to the stocks entered (``area_in[to]``, summed as numpy sums) and left.
    For the event log, when ``src_out`` is not empty: each row's status before the move and its
    new node, in ``src_out`` and ``node_out``.
    """
    k = len(rows)
    log = len(src_out) > 0
    left = np.empty(k)
    out_sum = np.zeros(len(area_out))
    old_sum = np.zeros(len(node_area))
    new_sum = np.zeros(len(node_area))
    per_row_node = len(node_from) > 0
    per_row_next = len(next_times) > 0
    for i in range(k):
        r = rows[i]
        x = day_end - t[i]
        left[i] = x
        out_sum[status[r]] += x
        if node[r] >= 0:
            old_sum[node[r]] += x
        new = node_base + node_from[r] if per_row_node else node_base
        if new >= 0:
            new_sum[new] += x
        if log:
            src_out[i], node_out[i] = status[r], new
        status[r] = to
        node[r] = new
        entered[r] = t[i]
        next_col[r] = next_times[i] if per_row_next else next_time
    area_in[to] += pairwise_sum(left, 0, k)
    for s in range(len(area_out)):
        area_out[s] += out_sum[s]
    for j in range(len(node_area)):         # every node gets its sum, zero or not, as in numpy
        node_area[j] -= old_sum[j]
    if per_row_node or node_base >= 0:      # as numpy's version: no new node, nothing added
        for j in range(len(node_area)):
            node_area[j] += new_sum[j]


compiled_move_rows = compile_kernel(move_rows)    # None without numba


def _at_platform_loop(rows: np.ndarray, t: np.ndarray, platform: np.ndarray,
                      platform_col: np.ndarray, reported: np.ndarray) -> int:
    """Issues arrive at platforms at times ``t``: each is held by its platform, and keeps the
    time it was first reported. Returns how many were reported for the first time."""
    first = 0
    for i in range(len(rows)):
        r = rows[i]
        platform_col[r] = platform[i]
        if np.isnan(reported[r]):
            reported[r] = t[i]
            first += 1
        elif t[i] < reported[r]:
            reported[r] = t[i]
    return first


at_platform = per_issue(_at_platform_loop)


def _new_visit_loop(rows: np.ndarray, reopens: np.ndarray, rejections: np.ndarray,
                    bound: np.ndarray, closed: np.ndarray, superficial: np.ndarray,
                    accepted: np.ndarray, started: np.ndarray, settled_by: np.ndarray,
                    unsettled: int) -> None:
    """A reopened issue starts a new visit: one more reopening, and nothing of the last visit
    (its pass-backs, binding ruling, closure, acceptance, start, settler) holds."""
    for r in rows:
        reopens[r] += 1
        rejections[r] = 0
        bound[r], superficial[r] = False, False
        closed[r], accepted[r], started[r] = np.nan, np.nan, np.nan
        settled_by[r] = unsettled


new_visit = per_issue(_new_visit_loop)


def active_rows(status: np.ndarray, next_time: np.ndarray, entered: np.ndarray, until: float,
                platform: int) -> np.ndarray:
    """Rows due before ``until`` or waiting at a platform (status ``platform``, nothing
    scheduled) since before it: all the rows a day's transitions can move, since a transition
    moves only rows that are due or waiting, and they stay among these."""
    out = np.empty(len(status), dtype=np.int64)
    m = 0
    for r in range(len(status)):
        out[m] = r
        m += (next_time[r] < until) | ((status[r] == platform) & np.isinf(next_time[r])
                                       & (entered[r] < until))
    return out[:m]


def due_among(rows: np.ndarray, next_time: np.ndarray, until: float) -> np.ndarray:
    """Of ``rows``, those whose next transition is before ``until`` (in the same order)."""
    out = np.empty(len(rows), dtype=np.int64)
    m = 0
    for r in rows:
        out[m] = r
        m += next_time[r] < until
    return out[:m]


def waiting_among(rows: np.ndarray, status: np.ndarray, next_time: np.ndarray,
                  entered: np.ndarray, until: float, platform: int) -> np.ndarray:
    """Of ``rows``, those at a platform waiting for intake since before ``until``."""
    out = np.empty(len(rows), dtype=np.int64)
    m = 0
    for r in rows:
        out[m] = r
        m += (status[r] == platform) & np.isinf(next_time[r]) & (entered[r] < until)
    return out[:m]


def next_event_among(rows: np.ndarray, status: np.ndarray, next_time: np.ndarray,
                     entered: np.ndarray, platform: int) -> float:
    """The earliest scheduled transition or intake of ``rows`` (inf if none)."""
    first = np.inf
    for r in rows:
        t = next_time[r]
        if np.isinf(t) and status[r] == platform:
            t = entered[r]
        first = min(first, t)
    return first


def next_stage(due: np.ndarray, status: np.ndarray, next_time: np.ndarray,
               stage_of: np.ndarray, start: int, until: float) -> tuple[int, np.ndarray]:
    """The first stage from ``start`` on with ``due`` rows still due before ``until``, and
    those rows (``stage_of``: each status's stage, -1 for none); -1 and none when no stage
    has any. One call for what is otherwise a search per stage."""
    first = -1
    for r in due:
        if next_time[r] < until:
            k = stage_of[status[r]]
            if k >= start and (first < 0 or k < first):
                first = k
    out = np.empty(len(due), dtype=np.int64)
    m = 0
    if first >= 0:
        for r in due:
            out[m] = r
            m += (stage_of[status[r]] == first) & (next_time[r] < until)
    return first, out[:m]


def unscheduled_rows(status: np.ndarray, next_time: np.ndarray, st: int) -> np.ndarray:
    """Rows in status ``st`` with nothing scheduled (a leader's list not yet planned)."""
    out = np.empty(len(status), dtype=np.int64)
    m = 0
    for r in range(len(status)):
        out[m] = r
        m += (status[r] == st) & np.isinf(next_time[r])
    return out[:m]


def aged_rows(status: np.ndarray, severity: np.ndarray, created: np.ndarray, before: float,
              closed: int) -> np.ndarray:
    """Open rows (status below ``closed``) of severity 1 or more created before ``before``:
    grievances old enough to escalate."""
    out = np.empty(len(status), dtype=np.int64)
    m = 0
    for r in range(len(status)):
        out[m] = r
        m += (status[r] < closed) & (severity[r] >= 1) & (created[r] < before)
    return out[:m]


def reported_open_rows(status: np.ndarray, reported: np.ndarray, first: int,
                       closed: int) -> np.ndarray:
    """Rows in statuses ``first`` up to (not including) ``closed`` that were reported to a
    platform (the open issues whose deadline runs)."""
    out = np.empty(len(status), dtype=np.int64)
    m = 0
    for r in range(len(status)):
        out[m] = r
        m += (first <= status[r]) & (status[r] < closed) & ~np.isnan(reported[r])
    return out[:m]


def _next_stage_numpy(due: np.ndarray, status: np.ndarray, next_time: np.ndarray,
                      stage_of: np.ndarray, start: int, until: float
                      ) -> tuple[int, np.ndarray]:
    live = due[next_time[due] < until]
    stage = stage_of[status[live]]
    later = stage[stage >= start]
    if not len(later):
        return -1, live[:0]
    first = int(later.min())
    return first, live[stage == first]


def _active_rows_numpy(status: np.ndarray, next_time: np.ndarray, entered: np.ndarray,
                       until: float, platform: int) -> np.ndarray:
    return np.flatnonzero((next_time < until) | ((status == platform) & np.isinf(next_time)
                                                 & (entered < until)))


def _due_among_numpy(rows: np.ndarray, next_time: np.ndarray, until: float) -> np.ndarray:
    return rows[next_time[rows] < until]


def _waiting_among_numpy(rows: np.ndarray, status: np.ndarray, next_time: np.ndarray,
                         entered: np.ndarray, until: float, platform: int) -> np.ndarray:
    return rows[(status[rows] == platform) & np.isinf(next_time[rows])
                & (entered[rows] < until)]


def _next_event_among_numpy(rows: np.ndarray, status: np.ndarray, next_time: np.ndarray,
                            entered: np.ndarray, platform: int) -> float:
    next_time = next_time[rows]
    waiting = (status[rows] == platform) & np.isinf(next_time)
    return min(next_time.min(initial=np.inf), entered[rows][waiting].min(initial=np.inf))


def _unscheduled_rows_numpy(status: np.ndarray, next_time: np.ndarray, st: int) -> np.ndarray:
    rows = np.flatnonzero(status == st)
    return rows[np.isinf(next_time[rows])]


def _aged_rows_numpy(status: np.ndarray, severity: np.ndarray, created: np.ndarray,
                     before: float, closed: int) -> np.ndarray:
    return np.flatnonzero((status < closed) & (severity >= 1) & (created < before))


def _reported_open_rows_numpy(status: np.ndarray, reported: np.ndarray, first: int,
                              closed: int) -> np.ndarray:
    at = np.flatnonzero((status >= first) & (status < closed))
    return at[~np.isnan(reported[at])]


class Selection(NamedTuple):
    """The selections of rows, compiled or in numpy."""

    next_stage: Callable[..., tuple[int, np.ndarray]]
    unscheduled_rows: Callable[..., np.ndarray]
    aged_rows: Callable[..., np.ndarray]
    reported_open_rows: Callable[..., np.ndarray]
    active_rows: Callable[..., np.ndarray]
    due_among: Callable[..., np.ndarray]
    waiting_among: Callable[..., np.ndarray]
    next_event_among: Callable[..., float]


NUMPY_SELECTION = Selection(_next_stage_numpy, _unscheduled_rows_numpy, _aged_rows_numpy,
                            _reported_open_rows_numpy, _active_rows_numpy, _due_among_numpy,
                            _waiting_among_numpy, _next_event_among_numpy)
LOOPS = (next_stage, unscheduled_rows, aged_rows, reported_open_rows, active_rows, due_among,
         waiting_among, next_event_among)
_kernels = [compile_kernel(f) for f in LOOPS]
COMPILED_SELECTION = None if None in _kernels else Selection(*_kernels)


def selection() -> Selection:
    """The compiled selections when numba is there, numpy's otherwise."""
    return COMPILED_SELECTION or NUMPY_SELECTION

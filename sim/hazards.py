"""Competing hazards: which of several daily hazards acts first on each hidden issue, and when.

Each hidden issue faces hazards h_0..h_K (a resident's report, a patrol, a work team, ...,
lapsing) from ``start`` to the end of the day. With an exponential draw ``e`` the first event
comes after e / Σh; it happens today if that is before the day ends, and its cause is the first
k whose cumulative share Σ_{j<=k} h_j / Σh exceeds a uniform draw ``u`` (the last cause takes the
rest). An infinite hazard acts at once and takes all the weight.

Discovery (:func:`discovery_events`) takes each hazard as its agents give it, by resident, grid,
township or category (:class:`DiscoveryHazards`). In numpy (:func:`first_events`, after a
gather per hazard) this is a few dozen passes over a city's ~40,000 hidden issues a day; a
per-issue loop compiled with numba (:func:`_discovery_loop`) looks each issue's hazards up and
does it in one pass, with identical results (tests/test_hazards.py). The loop is used when numba
is there, numpy's version otherwise (or with ``GRIDSIM_NO_NUMBA=1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from sim.compiled import compile_kernel


class DiscoveryHazards(NamedTuple):
    """Today's hazards on hidden issues, each by what it depends on (an issue's hazard is its
    resident's, grid's, township's or category's)."""

    report: np.ndarray      # by resident: residents report
    patrol: np.ndarray      # by level-3 grid: the grid leader's patrol finds it
    team: np.ndarray        # by township: the work team finds it
    volunteer: float        # anywhere in a grid: a volunteer reports it
    sweep: np.ndarray       # by category: a campaign's sweep finds it
    lapse: float            # it disappears unseen
    seen: np.ndarray        # by category: the grid looks at it (else only reports and lapse)


def discovery_events(hz: DiscoveryHazards, rows: np.ndarray, created: np.ndarray,
                     resident: np.ndarray, grid: np.ndarray, town: np.ndarray,
                     category: np.ndarray, e: np.ndarray, u: np.ndarray, day: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`first_events` of the hidden issues ``rows`` (columns of the issue table) today,
    from ``max(created, day)`` to the day's end; the causes are numbered as in
    :class:`DiscoveryHazards` (0 report ... 5 lapse)."""
    if _discovery_compiled is not None and len(rows):
        return _discovery_compiled(rows, created, resident, grid, town, category, hz.report,
                                   hz.patrol, hz.team, float(hz.volunteer), hz.sweep,
                                   float(hz.lapse), hz.seen, e, u, float(day))
    seen = hz.seen[category[rows]]
    grid_side = (hz.patrol[grid[rows]], hz.team[town[rows]],
                 np.full(len(rows), hz.volunteer), hz.sweep[category[rows]])
    hazards = (hz.report[resident[rows]], *(np.where(seen, h, 0.0) for h in grid_side),
               np.full(len(rows), hz.lapse))
    start = np.maximum(created[rows], day)
    return first_events(hazards, e, u, start, day + 1.0)


def first_events(hazards: Sequence[np.ndarray], e: np.ndarray, u: np.ndarray,
                 start: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Issues whose first event falls before ``end``: their positions, times and causes."""
    total = sum(hazards[1:], hazards[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = e / total                       # 0 when a hazard is infinite
        hit = np.flatnonzero(tau < end - start)
        t, u, total = start[hit] + tau[hit], u[hit], total[hit]
        last = len(hazards) - 1
        cause = np.full(len(hit), last)
        cum = np.zeros(len(hit))
        inf_total = np.isinf(total)
        for k in range(last):
            h = hazards[k][hit]
            cum = cum + np.where(inf_total, np.isinf(h), h / total)
            cause = np.where((cause == last) & (u < cum), k, cause)
    return hit, t, cause


def _discovery_loop(rows: np.ndarray, created: np.ndarray, resident: np.ndarray,
                    grid: np.ndarray, town: np.ndarray, category: np.ndarray,
                    report: np.ndarray, patrol: np.ndarray, team: np.ndarray, volunteer: float,
                    sweep: np.ndarray, lapse: float, seen: np.ndarray, e: np.ndarray,
                    u: np.ndarray, day: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`discovery_events`, issue by issue: each issue's hazards looked up, then the
    same floating-point operations as :func:`first_events`, in the same order."""
    n, last = len(rows), 5
    hit = np.empty(n, dtype=np.int64)
    t = np.empty(n)
    cause = np.empty(n, dtype=np.int64)
    h = np.zeros(last + 1)
    end = day + 1.0
    m = 0
    for i in range(n):
        r = rows[i]
        c = category[r]
        h[0] = report[resident[r]]
        if seen[c]:
            h[1], h[2], h[3], h[4] = patrol[grid[r]], team[town[r]], volunteer, sweep[c]
        else:
            h[1], h[2], h[3], h[4] = 0.0, 0.0, 0.0, 0.0
        h[5] = lapse
        start = max(created[r], day)
        total = h[0]
        for k in range(1, last + 1):
            total = total + h[k]
        tau = e[i] / total
        if not tau < end - start:
            continue
        inf_total = np.isinf(total)
        first, cum = last, 0.0
        for k in range(last):
            share = (1.0 if np.isinf(h[k]) else 0.0) if inf_total else h[k] / total
            cum = cum + share
            if first == last and u[i] < cum:
                first = k
        hit[m], t[m], cause[m] = i, start + tau, first
        m += 1
    return hit[:m], t[:m], cause[:m]


# error_model="numpy": x / 0 gives inf or nan, as in numpy, instead of raising
_discovery_compiled = compile_kernel(_discovery_loop, error_model="numpy")

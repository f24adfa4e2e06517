"""Competing hazards: which of several daily hazards acts first on each hidden issue, and when.

Each hidden issue faces hazards h_0..h_K (a resident's report, a patrol, a work team, ...,
lapsing) from ``start`` to the end of the day. With an exponential draw ``e`` the first event
comes after e / Σh; it happens today if that is before the day ends, and its cause is the first
k whose cumulative share Σ_{j<=k} h_j / Σh exceeds a uniform draw ``u`` (the last cause takes the
rest). An infinite hazard acts at once and takes all the weight.

In numpy (:func:`_first_events_numpy`) this is a few dozen passes over a city's ~40,000 hidden
issues a day; a per-issue loop compiled with numba (:func:`_first_events_loop`) does it in one,
with identical results (tests/test_hazards.py). :func:`first_events` uses the loop when numba is
there, numpy's version otherwise (or with ``GRIDSIM_NO_NUMBA=1``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.compiled import compile_kernel


def first_events(hazards: Sequence[np.ndarray], e: np.ndarray, u: np.ndarray,
                 start: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Issues whose first event falls before ``end``: their positions, times and causes."""
    if _compiled is not None and len(e):
        return _compiled(tuple(hazards), e, u, start, end)
    return _first_events_numpy(hazards, e, u, start, end)


def _first_events_numpy(hazards: Sequence[np.ndarray], e: np.ndarray, u: np.ndarray,
                        start: np.ndarray, end: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _first_events_loop(hazards: tuple[np.ndarray, ...], e: np.ndarray, u: np.ndarray,
                       start: np.ndarray, end: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same, issue by issue, with the same floating-point operations in the same order."""
    n, last = len(e), len(hazards) - 1
    hit = np.empty(n, dtype=np.int64)
    t = np.empty(n)
    cause = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        total = hazards[0][i]
        for k in range(1, last + 1):
            total = total + hazards[k][i]
        tau = e[i] / total
        if not tau < end - start[i]:
            continue
        inf_total = np.isinf(total)
        c, cum = last, 0.0
        for k in range(last):
            h = hazards[k][i]
            share = (1.0 if np.isinf(h) else 0.0) if inf_total else h / total
            cum = cum + share
            if c == last and u[i] < cum:
                c = k
        hit[m], t[m], cause[m] = i, start[i] + tau, c
        m += 1
    return hit[:m], t[:m], cause[:m]


# error_model="numpy": x / 0 gives inf or nan, as in numpy, instead of raising
_compiled = compile_kernel(_first_events_loop, error_model="numpy")

"""Compiled helpers: per-item loops, compiled with numba.

Two kinds:

- kernels (:func:`compile_kernel`) for book-keeping that numpy also does well at a city's size:
  the selections of rows, moves, compaction, the working clock, queues, discovery. Each has a
  numpy or plain form that the caller falls back to, and a test holds the two identical.
- the agents' rules issue by issue (:func:`per_issue`): who dispatches where, who passes back,
  a leader's day, residents' routes and ratings. At a district's size a rule written in numpy
  is a dozen passes over a few hundred issues, each costing more in overhead than in work; as
  one loop it is one call. A rule is written once, as the loop; without numba the loop runs as
  plain Python.

Without numba, or with ``GRIDSIM_NO_NUMBA=1``, nothing is compiled and results are the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def compile_kernel(fn: Callable[..., Any], **options: Any) -> Callable[..., Any] | None:
    """``fn`` compiled by numba (cached on disk), or None when numba is off or missing."""
    if os.environ.get("GRIDSIM_NO_NUMBA"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, nogil=True, **options)(fn)


def per_issue(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``fn``, a loop over issues, compiled when numba is there; otherwise ``fn`` itself, which
    runs as plain Python: slower, with the same results (tests/test_hazards.py runs a model
    both ways). For rules written once, as loops, rather than twice (loop and numpy)."""
    compiled = compile_kernel(fn, **options)
    return fn if compiled is None else compiled

"""Compiled helpers: per-item loops that numpy cannot vectorise, compiled with numba.

Each helper is a plain function that also runs uncompiled, and a test holds the two identical.
Without numba, or with ``GRIDSIM_NO_NUMBA=1``, :func:`compile_kernel` gives ``None`` and the
caller falls back to its plain version.
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

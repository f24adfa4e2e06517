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

Compiled code is cached on disk, in ``sim/__pycache__/numba/``, one directory per version of
the package's sources (:func:`cache_dir`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Where compiled code is cached: a directory per version of the package's sources.

    Numba compiles a kernel afresh when the kernel's own file changes, but not when a function
    it calls, whose code it carries, changes in another file: the queues' joins
    (``sim/queueing.py``) would go on using the working clock's old conversions after
    ``sim/calendar.py`` changed, while the rest of the model used the new ones. A directory
    per version of all the sources cannot serve stale code; the price is that any change to
    the sources compiles every kernel again (~20 s, once). Directories of other versions are
    removed once an hour old (a run started before an edit may still use one).
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    root = PACKAGE / "__pycache__" / "numba"
    here = root / digest.hexdigest()[:16]
    if root.is_dir():
        for old in root.iterdir():
            try:
                if old != here and time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old)
            except OSError:
                pass
    return here


def compile_kernel(fn: Callable[..., Any], **options: Any) -> Callable[..., Any] | None:
    """``fn`` compiled by numba (cached on disk), or None when numba is off or missing."""
    if os.environ.get("GRIDSIM_NO_NUMBA"):
        return None
    try:
        import numba
    except ImportError:
        return None
    # numba picks a function's cache directory when it is decorated: ours (unless the user chose
    # one, NUMBA_CACHE_DIR) for that moment only, so other numba code caches where it would have
    chosen = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = chosen or _this_version_cache_dir()
    try:
        return numba.njit(cache=True, nogil=True, **options)(fn)
    finally:
        numba.config.CACHE_DIR = chosen


@functools.cache
def _this_version_cache_dir() -> str:
    return str(cache_dir())


def per_issue(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``fn``, a loop over issues, compiled when numba is there; otherwise ``fn`` itself, which
    runs as plain Python: slower, with the same results (tests/test_hazards.py runs a model
    both ways). For rules written once, as loops, rather than twice (loop and numpy)."""
    compiled = compile_kernel(fn, **options)
    return fn if compiled is None else compiled


class Compiling:
    """Time spent compiling in the blocks it is entered for (``seconds``, added up): the first
    run after an install or an edit compiles the loops it calls, which would otherwise pass
    for simulation time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._listener: Any = None

    def __enter__(self) -> Compiling:
        try:
            from numba.core import event
        except ImportError:
            return self
        self._listener = event.TimingListener()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._listener is None:
            return
        from numba.core import event
        event.unregister("numba:compile", self._listener)
        if self._listener.done:
            self.seconds += self._listener.duration

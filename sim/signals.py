"""Ctrl-C and SIGTERM (``kill``, a batch job's time limit) as one way to stop a command.

Either raises KeyboardInterrupt in the main thread, so that a run leaves nothing half-written
and a sweep keeps its finished runs. A signal that arrives while C code is calling back into
Python (numba's compiler, a finaliser) has its exception printed and dropped by Python; the
stop is remembered all the same, and :func:`check` raises it again where results are committed
or a sweep takes its next run.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_came: list[int] = []          # the signals that came, while a command runs


def check() -> None:
    """Raise KeyboardInterrupt if a stop came, even one whose exception was lost."""
    if _came:
        raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """While the block runs (in the main thread), SIGINT and SIGTERM raise KeyboardInterrupt;
    yields the list of the signals that came."""
    if threading.current_thread() is not threading.main_thread():
        yield _came
        return

    def stop(signum: int, frame: Any) -> None:
        _came.append(signum)
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        # the stop's own exception, dropped by C code: not worth a traceback, check() has it
        if not (_came and isinstance(info.exc_value, KeyboardInterrupt)):
            hook(info)

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield _came
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        sys.unraisablehook = hook
        _came.clear()

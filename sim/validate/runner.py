"""Run many small, independent model runs for validation, in parallel, in a fixed order.

Each task is a module-level function and its keyword arguments; results come back in the order
of the tasks whatever the number of processes, so the report does not depend on ``jobs``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from sim.executors import sigint_held, stop_pool

Task = tuple[Callable[..., Any], dict[str, Any]]


def _call(task: Task) -> Any:
    fn, kwargs = task
    return fn(**kwargs)


def run_tasks(tasks: list[Task], jobs: int = 1, label: str = "") -> list[Any]:
    """Results of ``fn(**kwargs)`` for each task, in task order."""
    bar = None
    if label and tasks and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), unit="run", desc=label, leave=False)
    try:
        if jobs <= 1 or len(tasks) <= 1:
            out = []
            for task in tasks:
                out.append(_call(task))
                if bar is not None:
                    bar.update(1)
            return out
        pool = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=get_context("spawn"))
        try:
            with sigint_held():
                futures = [pool.submit(_call, t) for t in tasks]
            out = []
            for fut in futures:
                out.append(fut.result())
                if bar is not None:
                    bar.update(1)
        except BaseException:
            stop_pool(pool)
            raise
        pool.shutdown()
        return out
    finally:
        if bar is not None:
            bar.close()

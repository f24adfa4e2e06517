"""Where an experiment's runs execute: in-process, in local worker processes, or on Dask.

Each executor is a generator ``(fn, items) -> (item, result)`` pairs, in completion order. It
keeps only a small window of runs in flight (twice the workers), so the driver's memory stays
flat however many runs a sweep has, and results are yielded as they come, for the driver to
store at once. ``fn`` must not raise (:func:`sim.experiment.perform` turns errors into a
result); a worker that dies is reported by ``on_lost`` instead.

    serial(fn, items)                      in this process (``--jobs 1``)
    processes(fn, items, jobs)             spawned worker processes (``--jobs N``, default)
    dask(fn, items, scheduler, workers)    a Dask cluster: an existing one at ``scheduler``
                                           (``--scheduler tcp://HOST:PORT``), or a local one of
                                           ``workers`` processes (``--dask-workers N``)

The order of completion does not matter: the driver writes every run to its own file and
builds its tables from the files in plan order, so every executor gives identical tables.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

Lost = Callable[[Any, BaseException], Any]   # (item, error) -> the result to report instead


def _window(items: Iterable[Any], submit: Callable[[Any], Any], collect: Callable[[Any], Any],
            done: Callable[[set[Any]], set[Any]], size: int, on_lost: Lost
            ) -> Iterator[tuple[Any, Any]]:
    """Keep at most ``size`` submitted; yield (item, result) as each finishes."""
    pending: dict[Any, Any] = {}
    it = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(pending) < size:
            item = next(it, None)
            if item is None:
                exhausted = True
                break
            pending[submit(item)] = item
        if not pending:
            return
        for fut in done(set(pending)):
            item = pending.pop(fut)
            try:
                result = collect(fut)
            except Exception as err:  # the worker itself died: report, go on
                result = on_lost(item, err)
            yield item, result


def serial(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    for item in items:
        yield item, fn(item)


@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (block SIGINT in this thread) while worker processes start.

    A process started meanwhile inherits the block, so Ctrl-C at the terminal (sent to the
    whole process group) never reaches the workers: the driver alone handles it and stops them
    (:func:`stop_pool`). A Ctrl-C that comes while the block is on is delivered as soon as it
    ends, so none is lost.
    """
    if threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def worker_start(driver: int) -> None:
    """In each worker process: leave Ctrl-C to the driver, and end with the driver. A driver
    killed outright (``kill -9``, out of memory) cannot stop its workers, which would wait on
    their pipes for ever; on Linux the kernel ends them (``PR_SET_PDEATHSIG``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() != driver:       # the driver died before the kernel was asked
        os._exit(1)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel pending runs and terminate the workers at once (runs in progress are lost)."""
    terminate = getattr(pool, "terminate_workers", None)     # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)      # shutdown() lets go of it
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(5)
    # A worker stopped halfway through sending its result leaves the pool's manager thread
    # waiting for the rest of the message, and the interpreter joins that thread at exit: a
    # hang. Our copy of the result pipe's writing end is the last one open once the workers
    # are gone; closing it gives the reader an end of file, which the pool treats as broken.
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()


def processes(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int, on_lost: Lost
              ) -> Iterator[tuple[Any, Any]]:
    """Run in ``jobs`` fresh (spawned) worker processes; Ctrl-C stops them at once.

    A worker that dies (killed, out of memory, a crash in compiled code) breaks the pool: the
    runs in flight are reported lost and a fresh pool takes the rest.
    """
    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                                   initializer=worker_start, initargs=(os.getpid(),))

    pool = [new_pool()]

    def submit(item: Any) -> Any:
        with sigint_held():                # a worker started now inherits the block
            try:
                return pool[0].submit(fn, item)
            except BrokenProcessPool:
                pool[0].shutdown(wait=False, cancel_futures=True)
                pool[0] = new_pool()
                return pool[0].submit(fn, item)

    try:
        yield from _window(items, submit, lambda f: f.result(),
                           lambda fs: wait(fs, return_when=FIRST_COMPLETED).done, 2 * jobs,
                           on_lost)
    except BaseException:      # Ctrl-C or the consumer stopped: stop the workers
        stop_pool(pool[0])
        raise
    # without waiting: the workers take ~0.5 s to exit, which the driver spends analysing
    # (the interpreter's exit still waits for them: concurrent.futures joins its pools)
    pool[0].shutdown(wait=False)


def dask(fn: Callable[[Any], Any], items: Iterable[Any], scheduler: str | None,
         workers: int | None, on_lost: Lost) -> Iterator[tuple[Any, Any]]:
    """Run on a Dask cluster: the one at ``scheduler``, or a local one of ``workers``.

    ``pure=False``: Dask would otherwise merge calls with equal arguments into one task.
    """
    try:
        from distributed import Client, LocalCluster
        from distributed import wait as dwait
    except ImportError:
        from sim.scenario import ScenarioError
        raise ScenarioError("--scheduler/--dask-workers", "dask", "Dask is not installed "
                            "(pip install 'gridsim[dask]')") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        size = 2 * max(1, sum(client.nthreads().values()))
        yield from _window(items, lambda item: client.submit(fn, item, pure=False),
                           lambda f: f.result(),
                           lambda fs: dwait(list(fs), return_when="FIRST_COMPLETED").done,
                           size, on_lost)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

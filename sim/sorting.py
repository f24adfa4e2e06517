"""Stable argsorts: the orders of ``np.argsort(values, kind="stable")`` and ``np.lexsort``,
found without comparing values.

A queue's join orders its jobs by readiness, a leader's day orders his issues by arrival, and the
streamed event log orders a day's transitions by time and issue; the times come in no useful
order, so a comparison sort mispredicts about every other branch. A radix sort does the same work
for every input: it counts digits and moves each value once per digit, with no branch on the
data. The sorts here are stable, so ties keep their order, and they give exactly numpy's order
(``tests/test_queueing.py`` holds them to it).

Without numba (:func:`sim.compiled.compile_kernel`), numpy's own sorts stand in.
"""

from __future__ import annotations

import numpy as np

from sim.compiled import compile_kernel

SIGN = np.uint64(1 << 63)
ALL = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
DIGIT = np.uint64(0xFF)


def _float_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys that order as the floats do: a positive float's bits with the sign bit
    set, a negative float's bits inverted; −0.0 as 0.0 and NaN last, as numpy sorts them."""
    bits = (values + 0.0).view(np.uint64)
    keys = np.empty(len(values), dtype=np.uint64)
    for i in range(len(values)):
        b = bits[i]
        negative = ALL * (b >> np.uint64(63))      # all ones for a negative float, else 0
        keys[i] = b ^ (negative | SIGN)
        if values[i] != values[i]:                 # NaN
            keys[i] = ALL
    return keys


def _int_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys that order as the (signed) integers do."""
    keys = np.empty(len(values), dtype=np.uint64)
    for i in range(len(values)):
        keys[i] = np.uint64(values[i]) ^ SIGN
    return keys


def _sort_by_keys(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``order`` stably sorted by ``keys`` (``keys[i]`` the key of ``order[i]``): least
    significant digit first, a byte at a time, skipping the bytes every key shares (times
    within a few days share their top bytes)."""
    n = len(keys)
    counts = np.zeros((8, 256), dtype=np.int64)
    for i in range(n):
        k = keys[i]
        for d in range(8):
            counts[d, (k >> np.uint64(8 * d)) & DIGIT] += 1
    keys_out, order_out = np.empty_like(keys), np.empty_like(order)
    place = np.empty(256, dtype=np.int64)
    for d in range(8):
        if counts[d].max() == n:                   # one digit for all: nothing moves
            continue
        total = 0
        for b in range(256):
            place[b] = total
            total += counts[d, b]
        shift = np.uint64(8 * d)
        for i in range(n):
            b = (keys[i] >> shift) & DIGIT
            p = place[b]
            place[b] = p + 1
            keys_out[p], order_out[p] = keys[i], order[i]
        keys, keys_out = keys_out, keys
        order, order_out = order_out, order
    return order


def _argsort_floats(values: np.ndarray) -> np.ndarray:
    """Stable argsort of floats."""
    return sort_by_keys(float_keys(values), np.arange(len(values)))


def _lexsort_time_id(times: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``np.lexsort((ids, times))``: by time, ties by id, then in the given order (the event
    log's order): sorted by the last key first, then stably by the first."""
    order = sort_by_keys(int_keys(ids), np.arange(len(ids)))
    return sort_by_keys(float_keys(times)[order], order)


def _argsort_small_ints(values: np.ndarray, bound: int) -> np.ndarray:
    """Stable argsort of integers in ``[0, bound)``: one count of each, one move."""
    place = np.zeros(bound + 1, dtype=np.int64)
    for i in range(len(values)):
        place[values[i] + 1] += 1
    for b in range(bound):
        place[b + 1] += place[b]
    order = np.empty(len(values), dtype=np.int64)
    for i in range(len(values)):
        v = values[i]
        order[place[v]] = i
        place[v] += 1
    return order


def _numpy_argsort_floats(values: np.ndarray) -> np.ndarray:
    return np.argsort(values, kind="stable")


def _numpy_argsort_small_ints(values: np.ndarray, bound: int) -> np.ndarray:
    return np.argsort(values, kind="stable")


def _numpy_lexsort_time_id(times: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.lexsort((ids, times))


# the helpers first: the sorts call them, compiled (they are not used without numba)
float_keys = compile_kernel(_float_keys)
int_keys = compile_kernel(_int_keys)
sort_by_keys = compile_kernel(_sort_by_keys)


argsort_floats = compile_kernel(_argsort_floats) or _numpy_argsort_floats
argsort_small_ints = compile_kernel(_argsort_small_ints) or _numpy_argsort_small_ints
lexsort_time_id = compile_kernel(_lexsort_time_id) or _numpy_lexsort_time_id

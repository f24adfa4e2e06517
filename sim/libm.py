"""Exponentials and powers that give the same numbers on every machine.

numpy's ``exp``, ``log``, ``log1p`` and ``power`` on float64 arrays use the C library's
functions on most processors, but numpy's own vectorised ones where the processor has AVX-512;
the two differ in the last bit now and then, and a simulation that runs for years carries such a
bit into a different history. The committed experiments were made on processors without
AVX-512 and did not reproduce on one with it. The model therefore takes these functions value
by value from the C library (``math``), in a loop compiled with numba (which calls the same C
functions) or, without numba, in plain Python: the same numbers either way, on any x86-64
processor with FMA (every one with AVX2), as numpy gives without AVX-512.
"""

from __future__ import annotations

import math

import numpy as np

from sim.compiled import per_issue


def _exp_loop(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        out[i] = math.exp(x[i])
    return out


def _powers_loop(base: float, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = base ** float(i)
    return out


_exp = per_issue(_exp_loop)
_powers = per_issue(_powers_loop)


def exp(x: np.ndarray | float) -> np.ndarray:
    """``np.exp(x)`` as the C library computes it, value by value (any shape)."""
    a = np.asarray(x, dtype=np.float64)
    return _exp(np.ascontiguousarray(a.reshape(-1))).reshape(a.shape)


def powers(base: float, n: int) -> np.ndarray:
    """``base ** np.arange(n)`` as the C library computes it."""
    return _powers(float(base), int(n))

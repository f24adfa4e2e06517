"""The book-keeping of a transition, compiled: status, node and times, and the day's areas.

:meth:`GridModel.move <sim.model.GridModel.move>` puts issues in a new status and keeps the
time-weighted stocks (areas) that give day-average stocks per status and per node (Little's
law). In numpy that is some twenty passes over the moving rows; a day has dozens of moves, most
of a few rows. :func:`move_rows` does it in one loop, with the same floating-point operations
in the same order (per-status and per-node sums are gathered first, in row order, as
``np.bincount`` does, then added), so the results are identical (tests/test_hazards.py).
"""

from __future__ import annotations

import numpy as np

from sim.compiled import compile_kernel


def move_rows(rows: np.ndarray, t: np.ndarray, to: int, node_base: int, node_from: np.ndarray,
              day_end: float, next_time: float, next_times: np.ndarray, status: np.ndarray,
              node: np.ndarray, entered: np.ndarray, next_col: np.ndarray,
              area_out: np.ndarray, node_area: np.ndarray, left: np.ndarray) -> None:
    """Move ``rows`` to status ``to`` at times ``t``.

    The new node is ``node_base + node_from[row]`` (a platform's or unit's own node), or
    ``node_base`` when ``node_from`` is empty (-1: finished, no node). The next time is
    ``next_times`` when given (non-empty), else ``next_time``. Writes each row's time left in
    the day to ``left``; the caller adds its (numpy, pairwise) sum to the stock entered.
    """
    k = len(rows)
    out_sum = np.zeros(len(area_out))
    old_sum = np.zeros(len(node_area))
    new_sum = np.zeros(len(node_area))
    per_row_node = len(node_from) > 0
    per_row_next = len(next_times) > 0
    for i in range(k):
        r = rows[i]
        x = day_end - t[i]
        left[i] = x
        out_sum[status[r]] += x
        if node[r] >= 0:
            old_sum[node[r]] += x
        new = node_base + node_from[r] if per_row_node else node_base
        if new >= 0:
            new_sum[new] += x
        status[r] = to
        node[r] = new
        entered[r] = t[i]
        next_col[r] = next_times[i] if per_row_next else next_time
    for s in range(len(area_out)):
        area_out[s] += out_sum[s]
    for j in range(len(node_area)):         # x - 0.0 and x + 0.0 leave x as it is
        node_area[j] -= old_sum[j]
    if per_row_node or node_base >= 0:      # as numpy's version: no new node, nothing added
        for j in range(len(node_area)):
            node_area[j] += new_sum[j]


compiled_move_rows = compile_kernel(move_rows)    # None without numba

"""Queueing theory the model must agree with (docs/validation.md; domain brief §4).

Small functions over numbers: Erlang C for an M/M/c queue, and the traffic equations of an open
Jackson network. Nothing here is used by the model; the model's own ``step()`` produces the
figures these are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MMc:
    """An M/M/c queue: arrival rate ``lam`` and service rate ``mu`` per server (same unit)."""

    lam: float
    mu: float
    c: int

    @property
    def rho(self) -> float:
        return self.lam / (self.c * self.mu)

    @property
    def p_wait(self) -> float:
        """Erlang C: the probability that an arrival waits. B_k is Erlang B, by recursion."""
        a, b = self.lam / self.mu, 1.0
        for k in range(1, self.c + 1):
            b = a * b / (k + a * b)
        return self.c * b / (self.c - a * (1.0 - b))

    @property
    def wait(self) -> float:
        """Mean wait in queue W_q = C / (cμ − λ)."""
        return self.p_wait / (self.c * self.mu - self.lam)

    @property
    def sojourn(self) -> float:
        """Mean time in the node, wait plus service."""
        return self.wait + 1.0 / self.mu

    def p_wait_longer(self, t: float) -> float:
        """P(W_q > t) = C·exp(−(cμ − λ)t)."""
        return self.p_wait * float(np.exp(-(self.c * self.mu - self.lam) * t))


def jackson_rates(routing: np.ndarray, external: np.ndarray) -> np.ndarray:
    """Arrival rate at each node of an open Jackson network: λ = (I − Pᵀ)⁻¹γ.

    ``routing[i, j]`` is the probability of going from node i to node j next (rows sum to at
    most 1; the rest leaves); ``external[i]`` is the arrival rate from outside at node i.
    """
    p = np.asarray(routing, dtype=float)
    return np.linalg.solve(np.eye(len(p)) - p.T, np.asarray(external, dtype=float))

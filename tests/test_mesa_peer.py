"""The Mesa peer (benchmarks/mesa_peer.py) against Erlang C, and its reproducibility.

Each check runs a few independent replications (one seed each) and accepts the mean if it is
within a Student-t 99% interval of theory: t(0.995, n − 1) standard errors of the mean, the
standard error estimated from the spread between replications. Seeds are fixed, so the test
is deterministic; the tolerance says how far a correct model may stray.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from sim.validate.theory import MMc

PEER_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "mesa_peer.py"
ARRIVALS, SERVERS, HOURS = 38.4, 2, 1.0  # the `mmc` scenario: ρ = 38.4 / (2 × 24) = 0.8
DAYS, WARMUP, SEEDS = 80.0, 5.0, range(8)  # about 2,900 issues a replication


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mesa_peer", PEER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load()
QUEUE = MMc(lam=ARRIVALS / 24.0, mu=1.0 / HOURS, c=SERVERS)


def replications(p: float) -> list[dict[str, float]]:
    return [peer.run_peer(ARRIVALS, SERVERS, HOURS, p, DAYS, WARMUP, s) for s in SEEDS]


def assert_agrees(runs: list[dict[str, float]], key: str, theory: float) -> None:
    values = np.array([r[key] for r in runs])
    se = values.std(ddof=1) / np.sqrt(len(values))
    tol = stats.t.ppf(0.995, len(values) - 1) * se
    mean = values.mean()
    assert abs(mean - theory) <= tol, f"{key}: {mean:.4f}, theory {theory:.4f} ± {tol:.4f}"


def test_rho_is_the_mmc_scenario_load() -> None:
    assert QUEUE.rho == pytest.approx(0.8)


def test_wait_agrees_with_erlang_c_without_pass_backs() -> None:
    runs = replications(p=0.0)
    assert all(r["issues"] > 2000 for r in runs)
    assert all(r["visits_mean"] == 1.0 for r in runs)
    assert_agrees(runs, "wait_mean_hours", QUEUE.wait)
    assert_agrees(runs, "sojourn_mean_hours", QUEUE.sojourn)


def test_pass_backs_give_geometric_visits_and_leave_the_queue_mmc_at_lambda() -> None:
    p = 0.3
    runs = replications(p)
    assert_agrees(runs, "visits_mean", 1.0 / (1.0 - p))
    assert_agrees(runs, "wait_mean_hours", QUEUE.wait)


def test_same_seed_same_results() -> None:
    def figures(seed: int) -> dict[str, float]:
        r = peer.run_peer(ARRIVALS, SERVERS, HOURS, 0.3, 20.0, 2.0, seed)
        del r["seconds"]
        return r

    assert figures(7) == figures(7)
    assert figures(7) != figures(8)


def test_peer_is_short() -> None:
    lines = PEER_PATH.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160

"""The day's compiled helpers and short cuts give exactly what the plain numpy code gives.

- discovery's competing hazards (``sim/hazards.py``): numba's per-issue loop, which looks each
  issue's hazards up as it goes, against numpy's passes;
- arrivals: the guide-table search (numpy's, the loop's, compiled or not) against
  ``np.searchsorted``;
- compaction: when finished rows leave the working arrays changes nothing;
- a whole run (every table, the event log included, and every metric) with every compiled
  kernel and with none (``GRIDSIM_NO_NUMBA=1``). The working clock's kernels have their own
  property test in tests/test_queueing.py; the agents' per-issue rules and the row selections
  theirs in tests/test_rules.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim.agents.resident as res
import sim.hazards as hz
from sim.agents.resident import guide_table, search_right
from sim.issues import IssueTable
from sim.model import GridModel

hazard = st.one_of(st.floats(0.0, 50.0), st.just(0.0), st.just(np.inf))


@given(n=st.integers(0, 60), seed=st.integers(0, 2**32 - 1), day=st.integers(0, 3),
       special=st.lists(st.tuples(st.sampled_from(["report", "patrol", "team", "sweep"]),
                                  st.integers(0, 7), hazard), max_size=6))
def test_compiled_discovery_equals_numpy(n, seed, day, special):
    """Property: discovery from hazards by resident, grid, township and category gives the
    same positions, times and causes compiled, as plain Python, and in numpy; unseen
    categories, zero and infinite hazards, and issues created during the day included."""
    import numba
    rng = np.random.default_rng(seed)
    tables = {k: rng.exponential(1.0, 8) * (rng.random(8) < 0.7)
              for k in ("report", "patrol", "team", "sweep")}
    for name, i, h in special:
        tables[name][i] = h
    hazards = hz.DiscoveryHazards(tables["report"], tables["patrol"], tables["team"],
                                  float(rng.random()), tables["sweep"], 0.05,
                                  rng.random(8) < 0.8)
    rows = np.sort(rng.choice(n + 5, n, replace=False))
    cols = [rng.integers(0, 8, n + 5) for _ in range(4)]      # resident, grid, town, category
    created = day - 1.0 + 2.0 * rng.random(n + 5)
    e, u = rng.standard_exponential(n), rng.random(n)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hz, "_discovery_compiled", None)
        expected = hz.discovery_events(hazards, rows, created, *cols, e, u, day)
    loop_args = (rows, created, *cols, hazards.report, hazards.patrol, hazards.team,
                 hazards.volunteer, hazards.sweep, hazards.lapse, hazards.seen, e, u, float(day))
    compiled = hz._discovery_compiled or numba.njit(error_model="numpy")(hz._discovery_loop)
    for loop in (compiled, hz._discovery_loop):
        with np.errstate(divide="ignore", invalid="ignore"):     # numpy scalars, uncompiled
            got = loop(*loop_args)
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype


RUN_AND_HASH = """
import hashlib, json
from sim.api import run
from sim.output import TABLES
for days, extra in ((60, {}), (15, {"run.slice_hours": 3.0})):    # one slice a day, or 8
    r = run("small", days=days, seed=4, overrides={
        "campaign.days": 10, "campaign.start_day": 5, "campaign.every": 30,
        "campaign.extra_staff": 2, "platform.joint_review_days": 7, **extra})
    out = {name: hashlib.sha256(getattr(r, name).to_csv(index=False).encode()).hexdigest()
           for name in TABLES}
    print(json.dumps({**out, "metrics": r.summary["metrics"]}, sort_keys=True))
"""


def test_a_run_is_identical_with_and_without_numba():
    """Every compiled kernel (hazards, arrivals' search, the working clock, the book-keeping
    of moves, the FIFO queues, the agents' per-issue rules) against its numpy or plain-Python
    fallback: every table of a run, its event log included, and every metric, bit for bit."""
    root = Path(__file__).resolve().parent.parent
    outs = [subprocess.run([sys.executable, "-c", RUN_AND_HASH], cwd=root, check=True,
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(root), **extra}).stdout
            for extra in ({}, {"GRIDSIM_NO_NUMBA": "1"})]
    assert outs[0] and outs[0] == outs[1]


@given(weights=st.lists(st.one_of(st.just(0.0), st.floats(1e-9, 1e6)), min_size=1,
                        max_size=200),
       seed=st.integers(0, 2**32 - 1))
def test_guide_table_search_equals_searchsorted(weights, seed):
    """Property: the same cell for every draw, with empty (zero-rate) cells and ties, in every
    version of the search."""
    cum = np.cumsum(weights)
    if not cum[-1] > 0:
        return
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.random(300) * cum[-1], cum[cum < cum[-1]], [0.0],
                        [np.nextafter(cum[-1], 0.0)]])
    import numba
    expected = np.searchsorted(cum, x, side="right")
    guide = guide_table(cum)
    compiled = res._search_compiled or numba.njit(res._search_right_loop)
    for search in (search_right, res._search_right_numpy, res._search_right_loop, compiled):
        np.testing.assert_array_equal(search(cum, guide, x), expected)


def test_when_finished_rows_are_compacted_changes_nothing():
    """Compacting every day (as before) or rarely gives the same run."""
    def daily_compaction(model: GridModel) -> GridModel:
        table = model.issues
        table.compact = lambda *args: IssueTable.compact(table, 0.0, 0)
        return model
    a = GridModel("small", seed=2, record_events=True)
    b = daily_compaction(GridModel("small", seed=2, record_events=True))
    a.run(80)
    b.run(80)
    assert a.daily == b.daily
    for key in ("issue_id", "status", "closed", "satisfaction", "unit"):
        np.testing.assert_array_equal(a.issues.all_rows()[key], b.issues.all_rows()[key])
    assert a.events.frame(a.nodes).equals(b.events.frame(b.nodes))


def test_a_run_is_the_same_whatever_the_processors_vector_units():
    """numpy's exp, log and power, and BLAS's dot product, give other last bits on a processor
    with AVX-512 than on one without; the model takes none of them (sim/libm.py), so a run is
    the same with numpy's AVX-512 code off (and OpenBLAS's kernels for AVX2), every table and
    metric. (Where the processor has no AVX-512, both runs are trivially the same.)"""
    root = Path(__file__).resolve().parent.parent
    plain = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and "avx2" in cpuinfo.read_text(encoding="utf-8"):
        plain["OPENBLAS_CORETYPE"] = "Haswell"
    outs = [subprocess.run([sys.executable, "-W", "ignore", "-c", RUN_AND_HASH], cwd=root,
                           check=True, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(root), **extra}).stdout
            for extra in ({}, plain)]
    assert outs[0] and outs[0] == outs[1]


def test_compiling_time_is_told_apart():
    """The first run after an edit compiles for ~20 s, which must not pass for simulation."""
    numba = pytest.importorskip("numba")
    from sim.compiled import Compiling

    def add(x):
        return x + 1

    compiling = Compiling()
    with compiling:
        assert numba.njit(add)(1) == 2          # compiled here, for the first time
    first = compiling.seconds
    assert first > 0
    numba.njit(lambda x: x * 2)(3)              # outside the block: not counted
    assert compiling.seconds == first

"""The agents' per-issue rules keep their promises, compiled or not, and the row selections
equal their numpy forms.

The rules of platforms, units, grid leaders and residents are written once, as loops over issues
(``per_issue`` in ``sim/compiled.py``), and compiled with numba when it is there. Each test here
runs a rule in both forms on random inputs: the two must agree, and what the rule promises must
hold. (That the model's results did not move when the rules became loops is held by the
committed experiments' exact reproduction, tests/test_experiment.py; a whole run with and
without numba by tests/test_hazards.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.agents.department as dep
import sim.agents.grid_leader as gl
import sim.agents.platform as plat
import sim.agents.resident as res
import sim.compiled as comp
from sim import bookkeeping
from sim.issues import Channel, FoundBy

seeds = st.integers(0, 2**32 - 1)


def both(plain, compiled):
    """The plain-Python rule and the compiled one (the same function without numba)."""
    return pytest.mark.parametrize("rule", [plain, compiled], ids=["plain", "compiled"])


def agree(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@both(plat._dispatch_loop, plat._dispatch)
@given(seed=seeds, districts=st.integers(1, 3), lines=st.integers(1, 4),
       towns=st.integers(1, 3), n=st.integers(0, 40), accuracy=st.floats(0.0, 1.0))
def test_dispatch_sends_to_the_responsible_unit_or_another_of_its_district(
        rule, seed, districts, lines, towns, n, accuracy):
    rng = np.random.default_rng(seed)
    n_line = districts * lines
    line_unit = np.arange(n_line).reshape(districts, lines)
    units = np.concatenate([line_unit, n_line + np.arange(districts * towns).reshape(
        districts, towns)], axis=1)
    position = np.concatenate([np.arange(n_line) % lines, lines + np.arange(districts * towns)
                               % towns])              # each unit's place in its district's row
    township = rng.integers(0, districts * towns, n)
    responsible = units[township // towns, rng.integers(0, units.shape[1], n)].astype(np.int16)
    dispatches = rng.integers(0, 3, n).astype(np.int16)
    bound = rng.random(n) < 0.2
    first_dispatch = np.where(dispatches > 0, rng.random(n) * 5, np.nan)
    first_unit = np.full(n, -1, dtype=np.int16)
    unit = np.full(n, -1, dtype=np.int16)
    t = rng.random(n) * 5
    u = rng.random(n)
    other = rng.integers(0, max(units.shape[1] - 1, 1), n)
    before = dispatches.copy(), first_dispatch.copy()
    rows = np.arange(n)
    rule(rows, t, u, other, dispatches, responsible, bound, township, units, position, towns,
         accuracy, accuracy, 1.0, unit, first_unit, first_dispatch)
    right = (u < accuracy) | bound | (units.shape[1] == 1)
    assert (unit[right] == responsible[right]).all()
    for r in np.flatnonzero(~right):              # a mistake: another unit of the district
        assert unit[r] != responsible[r]
        assert unit[r] in units[township[r] // towns]
    assert (dispatches == before[0] + 1).all()
    first = np.isnan(before[1])
    assert (first_unit[first] == unit[first]).all() and (first_unit[~first] == -1).all()
    np.testing.assert_array_equal(first_dispatch, np.fmin(before[1], t))


@both(dep._passes_back_loop, dep._passes_back)
@given(seed=seeds, n=st.integers(0, 40), p=st.floats(0.0, 1.0), readiness=st.floats(0.0, 3.0))
def test_a_bound_unit_never_passes_back_and_every_pass_back_is_counted(
        rule, seed, n, p, readiness):
    rng = np.random.default_rng(seed)
    n_units, n_line = 5, 3
    unit = rng.integers(0, n_units, n).astype(np.int16)
    responsible = np.where(rng.random(n) < 0.7, unit, (unit + 1) % n_units).astype(np.int16)
    bound = rng.random(n) < 0.3
    members = rng.integers(0, 2, (2, 3))
    received, passed = np.zeros(n_units), np.zeros(n_units)
    rejections, total = np.zeros(n, np.int16), np.ones(n, np.int16)
    back = rule(np.arange(n), rng.random(n), unit, responsible, rng.random(n) < 0.5, bound,
                rng.integers(0, 2, n), n_line, np.array([0, 1, 2], np.int16), members, p, p,
                1.0, 1.0, np.full(n_units, readiness), received, passed, rejections, total)
    right = unit == responsible
    assert not back[right & bound].any()                  # a ruling binds the right unit
    assert back[~right].all()                             # p_wrong = 1: a wrong unit refuses
    np.testing.assert_array_equal(received, np.bincount(unit, minlength=n_units))
    np.testing.assert_array_equal(passed, np.bincount(unit[back], minlength=n_units))
    np.testing.assert_array_equal(rejections, back.astype(int))
    np.testing.assert_array_equal(total, 1 + back)


@both(gl._settle_loop, gl._settle)
@given(seed=seeds, n=st.integers(0, 30), leaders=st.integers(1, 4),
       hours_today=st.floats(0.5, 8.0))
def test_each_leader_settles_fifo_and_starts_only_within_the_day(
        rule, seed, n, leaders, hours_today):
    rng = np.random.default_rng(seed)
    leader = rng.integers(0, leaders, n)
    hours = rng.exponential(2.0, n)
    entered = rng.integers(0, 4, n) + rng.choice([0.0, 0.5], n)       # with ties
    carry = rng.random(leaders) * 3
    rows = rng.permutation(n)
    demand, last, done, clock = rule(rows, leader, hours, entered, 1.0, carry, hours_today,
                                     100.0, 1.0)
    np.testing.assert_allclose(demand, carry + np.bincount(leader, hours, minlength=leaders))
    finished = dict(zip(done.tolist(), (clock - 100.0).tolist(), strict=True))
    for who in range(leaders):                  # by hand: each list in order of arrival
        mine = sorted((i for i in range(n) if leader[rows[i]] == who),
                      key=lambda i: entered[rows[i]])        # ties: in the order given
        start, end_of_day = carry[who], carry[who]
        for r in rows[mine]:
            if start < hours_today:             # started today: finishes after its work
                assert finished.pop(r) == pytest.approx(start + hours[r])
                end_of_day = start + hours[r]
            start += hours[r]
        assert last[who] == pytest.approx(end_of_day)
    assert not finished                          # nothing started that should wait


@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "compiled"])
@given(seed=seeds, n=st.integers(0, 30), share=st.floats(0.0, 1.0))
def test_level3_then_level2_settle_what_is_not_major_each_holding_it(compiled, seed, n, share):
    at3, at2 = ((gl._settle_at_level3, gl._settle_at_level2) if compiled
                else (gl._settle_at_level3_loop, gl._settle_at_level2_loop))
    rng = np.random.default_rng(seed)
    severity = rng.integers(0, 3, n).astype(np.int8)
    grid_l3, grid_l2 = rng.integers(0, 6, n), rng.integers(0, 3, n) + 100
    effect = rng.random(6)
    u3 = rng.random(n)
    leader, level = np.full(n, -1), np.ones(n, dtype=np.int8)
    rows = rng.permutation(n)
    up = at3(rows, u3, severity, grid_l3, share, share / 2, effect, leader, level)
    share3 = np.select([severity[rows] == 0, severity[rows] == 1], [share, share / 2], 0.0)
    own = u3 < share3 * effect[grid_l3[rows]]
    np.testing.assert_array_equal(level == 3, own)
    assert up == n - own.sum()
    u2 = rng.random(up)                           # a draw for each that went up, in order
    at2(rows, u2, severity, grid_l2, share, leader, level)
    village = np.zeros(n, dtype=bool)
    village[~own] = (u2 < share) & (severity[rows][~own] < 2)
    np.testing.assert_array_equal(level, np.select([own, village], [3, 2], 1))
    assert not (level[severity[rows] == 2] > 1).any()         # major ones go up
    np.testing.assert_array_equal(leader[rows], np.select([own, village],
                                                          [grid_l3[rows], grid_l2[rows]], -1))


@both(res._closed_loop, res._closed)
def test_closures_resolve_with_their_quality_and_ratings_fall_with_lateness(rule):
    n = 7
    took = np.array([1.0, 5.0, 7.5, 50.0, 1.0, np.nan])     # the rated: all but the last
    rated = np.arange(n) < 6
    deadline = np.full(n, 5.0)
    quality = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    u_res = np.full(n, 0.5)
    u_ver = np.array([0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.9])   # verify_share 0.5 below
    t = np.arange(n) + 0.5
    resolved, closed = np.full(n, -1, dtype=np.int8), np.full(n, np.nan)
    satisfaction = np.full(n, np.nan)
    sat, fate = rule(np.arange(n), t, u_res, u_ver, np.zeros(6), quality, took, rated,
                     deadline, 0.8, 0.1, 0.5, resolved, closed, satisfaction)
    np.testing.assert_array_equal(resolved, [1, 1, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(closed, t)
    # on time: 1; half the deadline late: 1 - 0.8 × 0.5; lateness counts at most 1
    np.testing.assert_allclose(sat[:5], [1.0, 1.0, 0.6, 0.2, 0.1])
    assert np.isnan(sat[5])
    np.testing.assert_array_equal(satisfaction[:6], sat)
    assert np.isnan(satisfaction[6])                      # not rated: residents' own
    # unresolved: checked and reopened, or left
    np.testing.assert_array_equal(fate, [0, 0, 0, 0, res.REOPEN, 0, res.LEFT])
    noisy, _ = rule(np.arange(2), t[:2], u_res[:2], u_ver[:2], np.array([0.5, -2.0]),
                    quality, took[:2], rated, deadline, 0.8, 0.1, 0.5, resolved, closed,
                    satisfaction)
    np.testing.assert_array_equal(noisy, [1.0, 0.0])       # within [0, 1]


@both(res._learn_loop, res._learn)
@given(seed=seeds, n=st.integers(0, 60), residents=st.integers(1, 8), lr=st.floats(0.0, 1.0))
def test_trust_moves_towards_the_days_ratings_with_their_number(rule, seed, n, residents, lr):
    rng = np.random.default_rng(seed)
    who, sat = rng.integers(0, residents, n), rng.random(n)
    trust = rng.random(residents)
    k = np.bincount(who, minlength=residents)
    keep = (1.0 - lr) ** np.arange(k.max(initial=0) + 1)
    before = trust.copy()
    rule(who, sat, k, keep, trust)
    for r in range(residents):              # k ratings weigh 1 - (1 - rate)^k of their mean
        mine = sat[who == r]
        w = (1.0 - lr) ** len(mine)
        expected = w * before[r] + (1 - w) * mine.mean() if len(mine) else before[r]
        assert trust[r] == pytest.approx(expected)


@both(res._routes_loop, res._routes)
@given(seed=seeds, n=st.integers(0, 40), settle=st.floats(0.0, 1.0),
       hotline=st.floats(0.0, 1.0))
def test_reports_are_routed_and_marked(rule, seed, n, settle, hotline):
    rng = np.random.default_rng(seed)
    organised = rng.random(6) < 0.5
    resident, severity = rng.integers(0, 6, n), rng.integers(0, 3, n).astype(np.int8)
    found_by, channel = np.zeros(n, np.int8), np.zeros(n, np.int8)
    route = rule(np.arange(n), rng.random(n), rng.random(n), resident, severity, organised,
                 settle, hotline, 0.0, found_by, channel)
    org = organised[resident]
    assert (org & (severity == 0))[route == 0].all()    # only organised residents, minor issues
    assert (org[route == 1]).all()                      # the unorganised' hotline share is 0
    np.testing.assert_array_equal(found_by, np.where(org, FoundBy.ORGANISER, FoundBy.RESIDENT))
    np.testing.assert_array_equal(channel, np.where(route == 1, Channel.HOTLINE, Channel.GRID))


@pytest.mark.skipif(bookkeeping.COMPILED_SELECTION is None, reason="numba is not installed")
@settings(max_examples=60)
@given(seed=seeds, n=st.integers(0, 80))
def test_compiled_selections_equal_numpy(seed, n):
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 12, n).astype(np.int8)
    next_time = np.where(rng.random(n) < 0.4, np.inf, rng.random(n) * 3)
    entered = rng.random(n) * 3
    reported = np.where(rng.random(n) < 0.3, np.nan, rng.random(n))
    severity = rng.integers(0, 3, n).astype(np.int8)
    due = np.flatnonzero(next_time < 2.0)
    stage_of = np.where(rng.random(12) < 0.7, rng.permutation(12), -1)

    def every_selection(s):
        active = s.active_rows(status, next_time, entered, 2.0, 4)
        return [active, s.due_among(active, next_time, 1.5),
                s.waiting_among(active, status, next_time, entered, 1.5, 4),
                [s.next_event_among(active, status, next_time, entered, 4)],
                *s.next_stage(due, status, next_time, stage_of, 2, 1.5),
                *s.next_stage(due, status, next_time, stage_of, 0, 2.5),
                s.unscheduled_rows(status, next_time, 2),
                s.aged_rows(status, severity, entered, 1.0, 9),
                s.reported_open_rows(status, reported, 4, 9)]

    agree(every_selection(bookkeeping.COMPILED_SELECTION),
          every_selection(bookkeeping.NUMPY_SELECTION))
    # the stages in order: the first from `start` on whose status has rows due before 1.5
    status_of = {int(k): st for st, k in enumerate(stage_of) if k >= 0}
    for start in range(13):
        found = [(k, due[(status[due] == status_of[k]) & (next_time[due] < 1.5)])
                 for k in range(start, 12) if k in status_of]
        want = next(((k, rows) for k, rows in found if len(rows)), (-1, due[:0]))
        agree(bookkeeping.selection().next_stage(due, status, next_time, stage_of, start, 1.5),
              want)


@settings(max_examples=60)
@given(seed=seeds, n=st.integers(0, 80), until=st.floats(0.0, 2.0))
def test_the_days_active_rows_hold_every_row_due_or_waiting_within_the_day(seed, n, until):
    """advance() looks for due and waiting rows among the day's active rows only: within the
    day they are exactly the whole table's."""
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 12, n).astype(np.int8)
    next_time = np.where(rng.random(n) < 0.4, np.inf, rng.random(n) * 3)
    entered = rng.random(n) * 3
    s = bookkeeping.selection()
    active = s.active_rows(status, next_time, entered, 2.0, 4)
    waiting = (status == 4) & np.isinf(next_time)
    np.testing.assert_array_equal(s.due_among(active, next_time, until),
                                  np.flatnonzero(next_time < until))
    np.testing.assert_array_equal(s.waiting_among(active, status, next_time, entered, until, 4),
                                  np.flatnonzero(waiting & (entered < until)))
    first = min(next_time.min(initial=np.inf), entered[waiting].min(initial=np.inf))
    got = s.next_event_among(active, status, next_time, entered, 4)
    assert got == first or first >= 2.0


@both(bookkeeping._pairwise_sum, bookkeeping.pairwise_sum)
@settings(max_examples=80)
@given(seed=seeds, n=st.integers(0, 3000), lo=st.integers(0, 9),
       scale=st.sampled_from([1e-6, 1.0, 1e9]))
def test_moves_sum_a_days_remainder_as_numpy_does_to_the_bit(rule, seed, n, lo, scale):
    """A move adds its rows' time left in the day to the stock entered with the same sum as
    numpy (pairwise): the day-average stocks stay bit-identical with and without numba."""
    a = np.random.default_rng(seed).random(n + lo) * scale
    assert rule(a, lo, n) == a[lo:].sum()


@settings(max_examples=40)
@given(seed=seeds, n=st.integers(0, 500), share=st.sampled_from([0.0, 0.3, 0.9, 1.0]))
def test_compaction_in_one_pass_equals_numpys_gathers(seed, n, share):
    """Finished rows leave the working arrays the same way with the compiled pass and with
    numpy's gathers: the same rows kept, in order, and the same archive, every column."""
    import sim.issues as issues
    if issues._split_compiled is None:
        raise AssertionError("numba is a dependency: the compiled pass must be there")
    rng = np.random.default_rng(seed)
    data = {k: np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 50).astype(dt)
            if np.dtype(dt).kind == "f" else (rng.random(n) * 50).astype(dt)
            for k, (dt, _) in issues.COLUMNS.items()}
    data["status"] = np.where(rng.random(n) < share, issues.Status.CLOSED, 0).astype("i1")
    tables = []
    for kernel in (issues._split_compiled, None):
        table = issues.IssueTable(capacity=8)
        table.add(n)
        for k, v in table.cols.items():
            v[:n] = data[k]
        table._refresh()
        saved, issues._split_compiled = issues._split_compiled, kernel
        try:
            table.compact(0.0, -1)
        finally:
            issues._split_compiled = saved
        tables.append(table)
    a, b = tables
    assert a.n == b.n and (b.status < issues.Status.CLOSED).all()
    assert sum(len(part["issue_id"]) for part in b._archive) + b.n == n
    for k in a.cols:
        assert a.cols[k].tobytes() == b.cols[k].tobytes(), k
    assert len(a._archive) == len(b._archive)
    for pa_, pb in zip(a._archive, b._archive, strict=True):
        assert list(pa_) == list(pb)
        for k in pa_:
            assert pa_[k].dtype == pb[k].dtype and pa_[k].tobytes() == pb[k].tobytes(), k


@settings(max_examples=30)
@given(seed=seeds, n=st.integers(0, 300), base=st.floats(0.01, 1.5))
def test_exponentials_and_powers_are_the_c_librarys(seed, n, base):
    """The model's exp and powers (sim/libm.py) are the C library's, value by value, compiled
    or not, whatever the array's shape: the same numbers on every processor."""
    import math

    from sim import libm
    x = np.random.default_rng(seed).standard_normal(n) * 20
    expected = [math.exp(v) for v in x]
    for loop in (libm._exp_loop, libm._exp):
        assert loop(x).tolist() == expected
    assert libm.exp(x.reshape(1, -1)).ravel().tolist() == expected
    assert libm.exp(2.5).shape == () and float(libm.exp(2.5)) == math.exp(2.5)
    powers = [base ** float(i) for i in range(n)]
    assert libm._powers_loop(base, n).tolist() == libm.powers(base, n).tolist() == powers


def test_compiled_code_is_cached_per_version_of_all_the_sources(tmp_path, monkeypatch):
    """A kernel carries the code of the kernels it calls, and numba checks only the kernel's
    own file for changes: the cache directory changes with any source file (here a callee's
    in a subpackage), and other versions' directories go once they are an hour old."""
    (tmp_path / "agents").mkdir()
    (tmp_path / "queueing.py").write_text("x = 1\n")
    (tmp_path / "agents" / "rule.py").write_text("y = 1\n")
    monkeypatch.setattr(comp, "PACKAGE", tmp_path)
    first = comp.cache_dir()
    assert comp.cache_dir() == first and first.parent == tmp_path / "__pycache__" / "numba"
    (tmp_path / "agents" / "rule.py").write_text("y = 2\n")
    second = comp.cache_dir()
    assert second != first
    first.mkdir(parents=True)
    second.mkdir()
    os.utime(first, (0, 0))                       # made long ago
    assert comp.cache_dir() == second and not first.exists() and second.exists()
    monkeypatch.undo()
    if bookkeeping.COMPILED_SELECTION is not None and not os.environ.get("NUMBA_CACHE_DIR"):
        import numba
        # the model's kernels cache there; other numba code in the process where it would have
        locator = bookkeeping.COMPILED_SELECTION.active_rows._cache._cache_path
        assert Path(locator).is_relative_to(comp.cache_dir())
        assert numba.config.CACHE_DIR == ""

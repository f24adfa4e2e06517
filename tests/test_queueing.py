"""Working calendars, the FIFO server pools, and the M/M/c reduction against Erlang C."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim.calendar as calendar_module
from sim import bookkeeping
from sim.api import run
from sim.calendar import WorkingCalendar
from sim.queueing import ServerPools
from sim.scenario import Calendar, load_scenario

OFFICE = WorkingCalendar(Calendar(open_hour=8.5, hours=8, workdays=5))
ALWAYS = WorkingCalendar(Calendar(open_hour=0, hours=24, workdays=7))


def test_office_calendar_skips_nights_and_weekends():
    # day 0 is a Monday: 8 h on Monday, then Friday 16:30 -> Monday 8:30
    assert OFFICE.to_work(np.array([0.0]))[0] == 0.0
    assert OFFICE.to_work(np.array([0.5]))[0] == pytest.approx(3.5)     # Monday noon
    assert OFFICE.to_work(np.array([5.5]))[0] == pytest.approx(40.0)    # Saturday = week's end
    monday = OFFICE.from_work(np.array([40.0]))[0]
    assert monday == pytest.approx(7 + 8.5 / 24)                        # next Monday 8:30
    done = OFFICE.add_work(np.array([4 + 15.5 / 24]), np.array([2.0]))[0]  # Fri 15:30 + 2 h
    assert done == pytest.approx(7 + 9.5 / 24)                          # Monday 9:30


@given(st.floats(0, 300), st.floats(0, 100))
def test_working_clock_round_trip(t, hours):
    w = OFFICE.to_work(np.array([t]))
    back = OFFICE.to_work(OFFICE.from_work(w + hours))
    assert back[0] == pytest.approx(w[0] + hours, abs=1e-6)
    assert ALWAYS.from_work(ALWAYS.to_work(np.array([t])))[0] == pytest.approx(t)


@given(open_hour=st.floats(0, 23), hours=st.floats(0.5, 24), workdays=st.integers(1, 7),
       weekday=st.integers(0, 6), horizon=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_compiled_working_clock_equals_numpy(open_hour, hours, workdays, weekday, horizon, seed):
    """Property: the compiled conversions and adding work (and the conversions' loops run as
    plain Python) give numpy's results bit for bit, on the day's boundaries and past the tabled
    days (which grow alike)."""
    import numba
    spec = Calendar(open_hour=open_hour, hours=min(hours, 24 - open_hour), workdays=workdays)
    rng = np.random.default_rng(seed)
    t = np.concatenate([rng.random(50) * 3 * horizon, np.arange(2 * horizon, dtype=float),
                        np.arange(2 * horizon) + open_hour / 24])
    ref = WorkingCalendar(spec, weekday, horizon)
    with pytest.MonkeyPatch.context() as mp:          # numpy's vectorised form
        mp.setattr(calendar_module, "_to_work_compiled", None)
        mp.setattr(calendar_module, "_from_work_compiled", None)
        mp.setattr(calendar_module, "_add_work_compiled", None)
        w_ref = ref.to_work(t)
        w = np.concatenate([w_ref, w_ref + rng.random(len(t)) * 50, ref.cum[:-1]])
        t_ref = ref.from_work(w)
        work = rng.random(len(t)) * 10 * horizon
        add_ref = WorkingCalendar(spec, weekday, horizon)
        done_ref = add_ref.add_work(t, work)
    add = WorkingCalendar(spec, weekday, horizon)
    np.testing.assert_array_equal(add.add_work(t, work), done_ref)
    assert add.days == add_ref.days
    cal = WorkingCalendar(spec, weekday, horizon)
    np.testing.assert_array_equal(cal.to_work(t), w_ref)
    np.testing.assert_array_equal(cal.from_work(w), t_ref)
    assert cal.days == ref.days
    # the loops themselves, compiled or not, on the grown tables
    to_loop = [calendar_module._to_work_loop,
               calendar_module._to_work_compiled or numba.njit(calendar_module._to_work_loop)]
    from_loop = [calendar_module._from_work_loop,
                 calendar_module._from_work_compiled or numba.njit(
                     calendar_module._from_work_loop)]
    for to_work, from_work in zip(to_loop, from_loop, strict=True):
        out = np.empty(len(t))
        assert to_work(t, cal.cum, cal.day_hours, cal.open, cal.length, out)
        np.testing.assert_array_equal(out, w_ref)
        out = np.empty(len(w))
        assert from_work(w, cal.cum, cal.open, out)
        np.testing.assert_array_equal(out, t_ref)


def test_single_server_is_fifo_in_order_of_readiness():
    pools = ServerPools([1], ALWAYS)
    ready = np.array([0.0, 1.0, 1.0 / 24]) / 1.0     # third is ready second
    start, finish = pools.join(np.zeros(3, int), ready, np.array([2.0, 1.0, 1.0]))
    hours = lambda x: x * 24  # noqa: E731
    np.testing.assert_allclose(hours(start), [0.0, 24.0, 2.0])
    np.testing.assert_allclose(hours(finish), [2.0, 25.0, 3.0])


def test_two_servers_share_the_load_and_count_busy_time():
    pools = ServerPools([2, 1], ALWAYS)
    start, finish = pools.join(np.array([0, 0, 0, 1]), np.zeros(4), np.array([5, 5, 5, 3.0]))
    np.testing.assert_allclose(start * 24, [0, 0, 5, 0])
    np.testing.assert_allclose(finish * 24, [5, 5, 10, 3])
    assert pools.busy_by_day(0, 1).sum() == pytest.approx(15.0)
    assert pools.utilisation(0, 0, 1) == pytest.approx(15.0 / 48)
    assert pools.utilisation(1, 0, 1) == pytest.approx(3.0 / 24)
    # busy hours are worked out once and kept, read-only, until another join
    assert not pools.busy_by_day(0, 1).flags.writeable
    pools.join(np.array([0]), np.zeros(1), np.array([4.0]))
    assert pools.busy_by_day(0, 1).sum() == pytest.approx(19.0)


def erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    """P(wait) and mean wait in queue of an M/M/c queue (domain brief §4)."""
    a, b = lam / mu, 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    p_wait = c * b / (c - a * (1 - b))
    return p_wait, p_wait / (c * mu - lam)


def test_mmc_reduction_agrees_with_erlang_c():
    """The model's own step(), behaviour off: waits agree with Erlang C within 3 SE."""
    spec = load_scenario("mmc")
    lam = spec.district.population * spec.categories[0].rate / 1000 / 365 / 24   # per hour
    mu = 1.0 / spec.categories[0].hours
    p_theory, w_theory = erlang_c(lam, mu, spec.departments[0].staff)
    waits, p_waits = [], []
    for seed in range(8):                               # independent replications
        res = run("mmc", seed=seed, record_events=False)
        created = res.issues["created_day"]
        # after the warm-up, and early enough that every issue has started by the end
        iss = res.issues[(created >= spec.run.warmup_days) & (created < spec.run.days - 2)]
        assert iss["started_day"].notna().all()
        w = (iss["started_day"] - iss["accepted_day"]).to_numpy() * 24
        waits.append(w.mean())
        p_waits.append((w > 1e-9).mean())
    for est, theory in ((waits, w_theory), (p_waits, p_theory)):
        mean, se = np.mean(est), np.std(est, ddof=1) / np.sqrt(len(est))
        assert abs(mean - theory) < 3 * se + 1e-12, (mean, se, theory)


def test_temporary_servers_work_only_their_window():
    """A campaign's extra staff take jobs from its start and start none after its end."""
    pools = ServerPools([1], ALWAYS)
    pools.add_temporary(0, 1, start=1.0, end=2.0)
    ready = np.array([0.0, 0.0, 1.0, 1.0, 3.0, 3.0])
    start, _ = pools.join(np.zeros(6, int), ready, np.full(6, 6.0))     # 6 h each
    hours = start * 24
    # before the window one server: jobs 0, 1 in series; in it two: jobs 2, 3 together
    np.testing.assert_allclose(hours[:4], [0, 6, 24, 24])
    # after it one server again: jobs 4, 5 in series
    np.testing.assert_allclose(hours[4:], [72, 78])
    assert pools.available_by_day(0, 4).tolist() == [24, 48, 24, 24]


def _heap_oracle(servers, temporaries, batches):
    """The recursion as first written: a heapq per pool, temporary servers scanned in order."""
    import heapq
    free = [[0.0] * c for c in servers]
    temp: dict[int, list[list[float]]] = {}
    for k, count, a, b in temporaries:
        temp.setdefault(k, []).extend([a, b] for _ in range(count))
    out = []
    for pool, ready, hours in batches:
        order = np.argsort(ready, kind="stable")
        s_out, f_out = np.empty(len(ready)), np.empty(len(ready))
        for i in order:
            k, r, h = int(pool[i]), float(ready[i]), float(hours[i])
            s = max(r, free[k][0])
            best, best_start = None, s
            for server in temp.get(k, []):
                t = max(r, server[0])
                if t < server[1] and t < best_start:
                    best, best_start = server, t
            if best is not None:
                best[0] = best_start + h
                s_out[i], f_out[i] = best_start, best_start + h
                continue
            heapq.heapreplace(free[k], s + h)
            s_out[i], f_out[i] = s, s + h
        out.append((s_out, f_out))
    return out


batch = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 2), min_size=n, max_size=n),
    st.lists(st.floats(0, 50).map(lambda x: round(x, 1)), min_size=n, max_size=n),
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 4.0, 7.25]), min_size=n, max_size=n)))


@given(servers=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       temporaries=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 2),
                                      st.integers(0, 30), st.integers(1, 20)), max_size=3),
       batches=st.lists(batch, min_size=1, max_size=4))
def test_fifo_compiled_and_plain_agree_with_the_heap_recursion(servers, temporaries, batches):
    """Property: the compiled recursion, its plain-Python fallback and a heapq oracle give
    bit-identical start and finish times, ties and campaign staff included; on a calendar
    that is always open and on office hours, where the compiled join also converts the times
    to and from the working clock."""
    import sim.queueing as q
    temps = [(k, c, float(a), float(a + d)) for k, c, a, d in temporaries]
    batches = [tuple(np.array(x) for x in b) for b in batches]
    for cal in (ALWAYS, OFFICE):
        # on the working clock (hours), where the recursion runs
        work = [(p, cal.to_work(r / 24), h) for p, r, h in batches]
        temps_w = [(k, c, *cal.to_work(np.array([a, b]) / 24).tolist())
                   for k, c, a, b in temps]
        expected = _heap_oracle(servers, temps_w, work)
        returned: dict[object, list] = {}
        for kernel in {q._fifo_compiled, None}:      # without numba: the plain path only
            pools = ServerPools(servers, cal)
            pools.kernel = kernel
            for k, c, a, b in temps:
                pools.add_temporary(k, c, a / 24, b / 24)
            for (pool, ready, hours), (s, f) in zip(batches, expected, strict=True):
                returned.setdefault(kernel, []).append(pools.join(pool, ready / 24, hours))
                _, start_w, finish_w = pools._spans[-1]
                np.testing.assert_array_equal(start_w, s)
                np.testing.assert_array_equal(finish_w, f)
        if q._fifo_compiled is not None:              # calendar times: compiled = plain
            for a, b in zip(returned[q._fifo_compiled], returned[None], strict=True):
                np.testing.assert_array_equal(a[0], b[0])
                np.testing.assert_array_equal(a[1], b[1])


def test_compiled_and_plain_runs_are_identical(monkeypatch):
    """A whole run (campaign staff included) is the same with or without numba."""
    import sim.queueing as q
    ov = {"campaign.days": 10, "campaign.start_day": 5, "campaign.extra_staff": 2}
    first = run("small", days=40, seed=3, overrides=ov, record_events=False)
    monkeypatch.setattr(q, "_fifo_compiled", None)
    second = run("small", days=40, seed=3, overrides=ov, record_events=False)
    assert json.dumps(first.summary["metrics"]) == json.dumps(second.summary["metrics"])
    assert first.issues.equals(second.issues)


FLOATS_TO_SORT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),                  # anything, NaN and ±0
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e-300, -1e-300, np.inf]),  # many ties
    st.floats(100.0, 124.0))                                          # a day's times, in hours


@given(st.lists(FLOATS_TO_SORT, max_size=300), st.lists(st.integers(0, 9), max_size=300))
def test_radix_argsorts_give_numpys_stable_order(floats, ints):
    """Property: the compiled sorts used by the queues' joins and the leaders' days order as
    numpy's stable argsort does: ties in their order, −0.0 equal to 0.0, NaN last. (Without
    numba they are numpy's argsort itself.)"""
    from sim import sorting
    values = np.array(floats, dtype=float)
    np.testing.assert_array_equal(sorting.argsort_floats(values),
                                  np.argsort(values, kind="stable"))
    keys = np.array(ints, dtype=np.int64)
    np.testing.assert_array_equal(sorting.argsort_small_ints(keys, 10),
                                  np.argsort(keys, kind="stable"))
    compiled = bookkeeping.COMPILED_SELECTION is not None          # numba is there and on
    assert (sorting.argsort_floats is not sorting._numpy_argsort_floats) == compiled


@given(st.lists(st.tuples(FLOATS_TO_SORT,
                          st.one_of(st.integers(0, 5),                     # ties in issue
                                    st.integers(-2**63, 2**63 - 1))),     # any id, signed
                max_size=300))
def test_event_log_sort_gives_numpys_lexsort(rows):
    """Property: the streamed event log's sort (by time, ties by issue id, then as logged)
    orders as ``np.lexsort`` does, ties, −0.0, NaN and negative ids included."""
    from sim import sorting
    times = np.array([t for t, _ in rows], dtype=float)
    ids = np.array([i for _, i in rows], dtype=np.int64)
    np.testing.assert_array_equal(sorting.lexsort_time_id(times, ids),
                                  np.lexsort((ids, times)))
    compiled = bookkeeping.COMPILED_SELECTION is not None
    assert (sorting.lexsort_time_id is not sorting._numpy_lexsort_time_id) == compiled


def test_shares_lose_the_residue_of_summed_hours_only():
    from sim.tables import share
    hours = np.array([8.0, 8.0, 0.0, 8.0, 8.0])
    busy = np.array([8.0 * (1 + 3e-15), -1e-14, 0.0, 4.0, 9.0])
    got = share(busy, hours)
    assert got[0] == 1.0 and got[1] == 0.0 and np.isnan(got[2]) and got[3] == 0.5
    assert got[4] == 9.0 / 8.0          # a real excess is left to show

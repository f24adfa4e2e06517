"""A city of several districts (issue #6): layout, routing, the city platform, the Zhengzhou
scenario, and streamed output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.api import prepare, run
from sim.cli import main
from sim.layout import Layout
from sim.model import GridModel
from sim.scenario import load_scenario

# three districts of the small scenario; housing is a city-level department (市直)
CITY = {"city.districts": 3, "platform.ruling_threshold": 1, "units.pass_back_ambiguous": 0.9}


def city_model(days: int = 60, **extra) -> GridModel:
    spec = prepare("small", days=days, seed=4, overrides={**CITY, **extra})
    deps = [d.model_copy(update={"level": "city"}) if d.name == "housing" else d
            for d in spec.departments]
    spec = spec.model_copy(update={"departments": deps})
    model = GridModel(spec, record_events=True)
    model.run()
    return model


@pytest.fixture(scope="module")
def city() -> GridModel:
    return city_model()


def test_one_district_keeps_the_single_district_numbering():
    sc = load_scenario("baseline")
    lay = Layout.of(sc)
    d, t = len(sc.departments), sc.district.townships
    assert lay.n_line == d and lay.n_units == d + t
    assert lay.line_unit.tolist() == [list(range(d))]
    assert lay.district_units.tolist() == [list(range(d + t))]
    assert lay.position(np.arange(d + t)).tolist() == list(range(d + t))
    assert lay.city_platform == -1 and lay.n_platforms == 1 + t
    assert lay.township_platform(np.arange(t)).tolist() == list(range(1, 1 + t))


def test_a_city_has_districts_units_and_platforms(city):
    sc, lay = city.scenario_spec, city.layout
    d, t = len(sc.departments), sc.district.townships
    assert sc.population == 3 * sc.district.population
    assert city.residents.weight.sum() == pytest.approx(sc.population)
    assert lay.n_line == 3 * (d - 1) + 1                    # housing appears once
    assert city.n_units == lay.n_line + 3 * t
    names = [p.name for p in city.platforms.agents]
    assert names[:3] == ["district_00", "district_01", "district_02"] and names[-1] == "city"
    assert len(names) == 3 + 3 * t + 1
    housing = [a for a in city.units.agents if a.name == "housing"]
    assert len(housing) == 1 and lay.unit_district[housing[0].index] == -1


def test_issues_stay_in_their_district(city):
    """Responsibility, dispatches (right or wrong) and platforms all stay in an issue's
    district, but for the city-level department and the city platform."""
    lay = city.layout
    iss = city.issues.all_rows()
    district = lay.district_of(iss["grid_l1"])
    resp = lay.unit_district[iss["responsible"]]
    assert np.all((resp == district) | (resp == -1))
    sent = iss["first_unit"] >= 0
    assert sent.sum() > 100
    first = lay.unit_district[iss["first_unit"][sent]]
    assert np.all((first == district[sent]) | (first == -1))
    wrong = sent & (iss["first_unit"] != iss["responsible"])
    assert wrong.sum() > 0                                  # misdispatches happen, in-district
    plat = iss["platform"]
    held = plat >= 0
    in_district = plat[held] < lay.districts
    assert np.all(plat[held][in_district] == district[held][in_district])


def test_the_city_platform_rules_on_city_departments(city):
    """A district platform may not bind a city department: such rulings go up to the city."""
    ev = city.events.frame(city.nodes)
    city_actor = "platform:city"
    up = ev[(ev["event"] == "escalate") & (ev["node"] == "platform:city")]
    assert len(up) > 0
    ruled_at_city = ev[(ev["event"] == "ruling") & (ev["actor"] == city_actor)]
    assert len(ruled_at_city) > 0
    iss = city.issues.all_rows()
    resp = pd.Series(iss["responsible"], index=iss["issue_id"])
    housing = next(a.index for a in city.units.agents if a.name == "housing")
    assert set(resp[ruled_at_city["issue_id"]].tolist()) == {housing}
    # district platforms rule on their own district's units only
    ruled = ev[(ev["event"] == "ruling") & ev["actor"].astype(str).str.startswith(
        "platform:district")]
    assert len(ruled) > 0 and housing not in set(resp[ruled["issue_id"]].tolist())


def test_zhengzhou_matches_the_2013_figures():
    sc = load_scenario("zhengzhou")
    assert sc.population == pytest.approx(9.2e6, rel=1e-3)
    assert sc.n_grids == 18_000
    members = sc.n_townships * sc.work_teams.members_per_township
    assert members == pytest.approx(45_388, rel=0.01)
    lay = Layout.of(sc)
    assert lay.districts == 15 and lay.city_platform == lay.n_platforms - 1
    assert sc.campaign.days > 0


def test_zhengzhou_runs_every_mechanism():
    """A short city run: every mechanism acts (the full year is benchmarks/bench_city.py's)."""
    res = run("zhengzhou", days=30, record_events=False,
              overrides={"campaign.start_day": 20, "run.warmup_days": 10})
    mech = res.summary["mechanisms"]
    for key in ("pass_backs", "rulings", "reopenings", "escalations", "campaign_days"):
        assert mech[key] > 0, key
    assert res.summary["utilisation"]["platform:city"] > 0


def test_events_streamed_by_gridsim_run_equal_the_in_memory_table(tmp_path, monkeypatch):
    """`gridsim run` writes events in row groups as it goes (here one a day: the least size of
    a row group set to nothing); the file equals the in-memory log."""
    from sim.issues import EventLog
    monkeypatch.setattr(EventLog, "row_group_rows", 0)
    out = tmp_path / "out"
    assert main(["run", "small", "--days", "20", "--seed", "3", "--out", str(out),
                 "--no-charts"]) == 0
    streamed = pd.read_parquet(out / "events.parquet")
    memory = run("small", days=20, seed=3).events
    pd.testing.assert_frame_equal(streamed, memory)
    assert pq.ParquetFile(out / "events.parquet").num_row_groups >= 20
    issues = pd.read_parquet(out / "issues.parquet")
    assert len(issues) == streamed.loc[streamed["event"] == "arise", "issue_id"].nunique()


@pytest.mark.parametrize("least", [0, 120, 10**9])
def test_streamed_log_carries_transitions_logged_ahead_to_their_day(tmp_path, least):
    """Transitions logged ahead of their time (an intake starts tomorrow) wait in the writer's
    thread for the row group of their day; days with nothing new still write what is carried;
    a row group holds at least ``row_group_rows`` (whole days); rows with no finite time go in
    at the end; the file reads back as the in-memory log, ties in time and issue in the order
    logged."""
    from sim.issues import Event, EventLog, Status
    rng = np.random.default_rng(5)
    streamed, memory = EventLog(), EventLog()
    for log in (streamed, memory):
        log.actor("a")
    streamed.stream_to(tmp_path / "events.parquet", ["n0", "n1"])
    streamed.row_group_rows = least
    for day in range(6):
        for _ in range(0 if day in (2, 3) else 3):            # days 2 and 3: nothing new
            n = 50
            ids = rng.integers(0, 20, n)
            times = day + np.round(rng.random(n) * 3, 1)       # up to two days ahead; ties
            times[:2] = [np.nan, np.inf] if day == 1 else times[:2]
            to = rng.integers(-1, len(Status), n).astype(np.int8)   # -1: none
            for log in (streamed, memory):
                log.log(ids, times, Event.DISPATCH, Status.PLATFORM, to, 0, 1)
        streamed.flush(day + 1.0)
    streamed.close()
    back = pd.read_parquet(tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(back, memory.frame(["n0", "n1"]))
    assert len(back) == 600 and back["to"].isna().any()
    assert back["time"].iloc[-3:].isna().all() and np.isinf(back["time"].iloc[-6:-3]).all()
    groups = pq.ParquetFile(tmp_path / "events.parquet").num_row_groups
    # every flush and the close; days 0, 1, 4 and 5 and the close; all at the close
    assert groups == {0: 7, 120: 5, 10**9: 1}[least]


def test_a_run_stopped_while_streaming_leaves_no_writer_and_nothing_behind(tmp_path,
                                                                          monkeypatch):
    """Ctrl-C (or an error) in the middle of `gridsim run`: the event log's writer stops before
    the temporary directory is removed, so no thread goes on writing into it and nothing is
    left beside the (untouched) output directory."""
    import threading

    from sim.issues import EventLog
    monkeypatch.setattr(EventLog, "row_group_rows", 0)           # a row group a day
    step = GridModel.step

    def stopped(self):
        if self.day == 12:
            raise KeyboardInterrupt
        step(self)

    monkeypatch.setattr(GridModel, "step", stopped)
    assert main(["run", "small", "--days", "20", "--out", str(tmp_path / "out"),
                 "--no-charts"]) == 130
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("gridsim-parquet")]


def test_event_log_columns_spread_scalars_and_place_arrays_in_order():
    """The log's columns: each chunk's scalars spread over its rows, its arrays in place, in
    the order logged, cast to the column's type, whatever mix of the two a column holds."""
    from sim.issues import Event, EventLog, Status
    rng = np.random.default_rng(2)
    log, expected = EventLog(), [[] for _ in range(7)]
    dtypes = (np.int64, np.float64, np.int8, np.int8, np.int8, np.int32, np.int16)
    for k in range(40):
        n = int(rng.integers(1, 30))
        row = [rng.integers(0, 10**9, n), rng.random(n) + k, Event(int(rng.integers(0, 5))),
               Status.PLATFORM if k % 3 else rng.integers(-1, 5, n).astype(np.int8),
               rng.integers(0, 9, n) if k % 2 else Status.QUEUED,        # int64 into int8
               np.array(7) if k % 5 == 0 else int(rng.integers(0, 99)),  # 0-d array
               np.array(-1) if k == 7 else rng.integers(-1, 300, n).astype(np.int16)]
        if k == 9:
            row[0] = row[0].tolist()                                # ids as a list
        log.log(*row)
        for col, value, dtype in zip(expected, row, dtypes, strict=True):
            col.append(np.full(n, value, dtype=dtype) if np.ndim(value) == 0
                       else np.asarray(value, dtype=dtype))
    for got, want, dtype in zip(log.columns(), expected, dtypes, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.concatenate(want))


def test_large_tables_are_written_in_row_groups(tmp_path, monkeypatch):
    import sim.output as output
    df = run("small", days=20, seed=3, record_events=False).issues
    monkeypatch.setattr(output, "ROW_GROUP", 100)
    output.write_table(df, tmp_path / "t.parquet")
    assert pq.ParquetFile(tmp_path / "t.parquet").num_row_groups == -(-len(df) // 100)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)
    # a row group that cannot be converted: the error, and no writer left running
    import threading
    bad = pd.DataFrame({"x": ["text"] * 50 + [1] * 450}, dtype=object)     # the first fails
    with pytest.raises(TypeError):                                  # Arrow's type error
        output.write_table(bad, tmp_path / "bad.parquet")
    assert not [t for t in threading.enumerate() if t.name.startswith("gridsim-parquet")]


def test_the_collector_rests_while_agents_are_made_and_resumes_as_it_was(monkeypatch):
    """A city's ~92,000 agents are made with the cyclic garbage collector paused (else full
    collections over every object made so far cost 0.25-0.5 s); afterwards it is on again, or
    still off if it was off."""
    import gc

    import sim.model
    seen = []
    made = sim.model.Platforms

    def platforms(model):
        seen.append(gc.isenabled())
        return made(model)

    monkeypatch.setattr(sim.model, "Platforms", platforms)
    assert gc.isenabled()
    GridModel(prepare("small", days=1))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        GridModel(prepare("small", days=1))
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("key, value, message", [
    ("city.districts", 0, "city.districts"),
    ("city.operators", 0, "city.operators"),
])
def test_bad_city_values_are_rejected(key, value, message):
    from sim.scenario import ScenarioError
    with pytest.raises(ScenarioError, match=message):
        prepare("small", overrides={key: value})



def test_city_benchmark_prints_every_figure():
    """benchmarks/bench_city.py runs end to end (a few days, so quickly) and prints each
    figure issue #6 asks for."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_city.py"), "--days",
                          "3"], capture_output=True, text=True, cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr
    for figure in ("simulation time best", "of 3   target <= 15 s",
                   "end-to-end `gridsim run zhengzhou`", "peak memory", "every mechanism acted",
                   "Baseline district", "whatever its volume", "fitted exponents", "a day's cost",
                   "per 100 days elapsed", "faster (best times)",
                   "(median ratio)   target >= 10x"):
        assert figure in out.stdout, figure


def test_ab_benchmark_times_a_commit_and_the_checkout_in_turn():
    """benchmarks/bench_ab.py checks a commit out into a worktree, times both, and cleans up."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        raise AssertionError("the tests run in a git checkout (bench_ab needs one)")
    before = subprocess.run(["git", "worktree", "list"], cwd=root, capture_output=True,
                            text=True).stdout
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_ab.py"), "HEAD",
                          "--scenario", "small", "--days", "3", "--repeats", "1"],
                         capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "HEAD: best" in out.stdout and "this checkout: best" in out.stdout
    assert "x as fast as HEAD" in out.stdout
    after = subprocess.run(["git", "worktree", "list"], cwd=root, capture_output=True,
                           text=True).stdout
    assert after == before                           # the temporary worktree is gone
    bad = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_ab.py"),
                          "no-such-ref"], capture_output=True, text=True, cwd=root, timeout=60)
    assert bad.returncode != 0 and "cannot check out 'no-such-ref'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_littles_law_holds_for_every_node_of_a_city(city):
    """L = λW for every node (three district platforms, the city's, each district's
    departments, the city department, the townships), from the model's own stocks."""
    from sim.checks import littles_law_nodes
    from sim.tables import nodes_frame
    table = littles_law_nodes(city.events.frame(city.nodes), nodes_frame(city), 15,
                              city.day - 1)
    assert set(table.index) == set(city.nodes) - {"hidden", "settling"}
    assert table.loc["platform:city", "L_daily_mean"] > 0
    err = table["relative_error"].to_numpy()
    assert np.nanmax(err) <= 1e-9

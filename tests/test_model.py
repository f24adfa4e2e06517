"""The model's invariants and its promises: determinism, common random numbers, bookkeeping."""

from __future__ import annotations

import pandas as pd
import pytest

from sim import checks
from sim.api import run
from sim.model import GridModel


@pytest.fixture(scope="module")
def small():
    return run("small", days=90, seed=11)


@pytest.fixture(scope="module")
def baseline_year():
    """The default scenario, a whole year: the run the README's first command makes."""
    return run("baseline")


def test_same_seed_gives_identical_tables(small):
    again = run("small", days=90, seed=11)
    for name in ("issues", "events", "timeseries", "agents", "nodes"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert small.summary["metrics"] == again.summary["metrics"]


def test_another_seed_gives_other_issues(small):
    other = run("small", days=90, seed=12)
    assert not small.issues["created_day"].equals(other.issues["created_day"])


ARRIVAL_COLUMNS = ["issue_id", "category", "severity", "resident", "grid_l3", "created_day",
                   "work_hours", "ambiguous", "responsible", "deadline_days"]


@pytest.mark.parametrize("policy", [
    {"platform.ruling_threshold": "never"},
    {"platform.dispatch_accuracy": 0.8, "units.pass_back_ambiguous": 0.9},
    {"residents.organiser_coverage_urban": 0.0, "residents.organiser_coverage_rural": 0.0},
    {"grid_leaders.level3_patrol_hours": 0.0, "work_teams.members_per_township": 0},
])
def test_policy_variants_see_the_same_arrivals(small, policy):
    variant = run("small", days=90, seed=11, overrides=policy)
    pd.testing.assert_frame_equal(small.issues[ARRIVAL_COLUMNS],
                                  variant.issues[ARRIVAL_COLUMNS])
    # ...and the policy did change what happened to them
    assert not small.issues["closed_day"].equals(variant.issues["closed_day"])


def test_every_issue_in_exactly_one_state_each_day(small):
    assert (checks.conservation(small.timeseries) == 0).all()
    rebuilt = checks.stocks_from_events(small.events, len(small.timeseries))
    pd.testing.assert_frame_equal(
        rebuilt.reset_index(drop=True),
        small.timeseries[rebuilt.columns].reset_index(drop=True), check_dtype=False)


def test_lifecycle_timestamps_in_order(small):
    assert checks.timestamps_out_of_order(small.issues).empty
    ev = small.events
    assert (ev["time"].diff().dropna() >= 0).all()       # the log is in time order


def test_littles_law_per_subsystem(baseline_year):
    r = baseline_year
    law = checks.littles_law(r.events, r.timeseries, r.summary["warmup_days"],
                             len(r.timeseries) - 1)
    assert (law["lambda_W"] > 0).all()
    assert (law["relative_error"] < 0.02).all(), law


def test_baseline_calibration_bands(baseline_year):
    """Bands from docs (domain brief §3): Dongcheng, Lianyungang, Tianmen, Yichun."""
    m = baseline_year.summary["metrics"]
    assert 0.97 <= m["dispatch_accuracy"] <= 0.99            # Dongcheng 98 %
    assert 0.95 <= m["done_first_time"] <= 0.99              # Lianyungang 98.1 %
    assert 0.93 <= m["closure_rate"] <= 0.99                 # 93–96 %
    assert 0.76 <= m["on_time_rate"] <= 0.90                 # Tianmen 75.8 %, Lianyungang 89.6 %
    assert m["territorial_share"] > 0.5                      # Yichun: most orders to 块
    assert m["time_to_close_mean_over_median"] > 1.5         # heavy right tail


def test_model_is_a_mesa_model_with_agents_of_each_type():
    from sim.agents import Department, GridLeader, Platform, Resident, WorkTeam
    m = GridModel("small")
    types = set(m.agent_types)
    assert {Resident, GridLeader, WorkTeam, Department, Platform} <= types
    levels = {a.level for a in m.agents_by_type[GridLeader]}
    assert levels == {1, 2, 3}
    m.step()
    assert m.steps == 1 and m.day == 1
    assert m.datacollector.get_model_vars_dataframe().shape[0] == 1


def test_closed_issues_leave_the_working_arrays():
    m = GridModel("baseline", seed=5, record_events=False)
    m.run(30)
    open_rows = len(m.issues)
    total = int(sum(row["arisen"] for row in m.daily))
    assert open_rows < total / 3
    # closed or lapsed rows await compaction until they are half the rows and over 4,096
    finished = int((m.issues.status >= 9).sum())
    assert finished <= max(0.5 * open_rows, 4096)


def test_mesa_batch_run_takes_flat_overrides():
    import mesa
    rows = mesa.batch_run(GridModel, parameters={
        "scenario": "small", "platform__ruling_threshold": [0, "never"]},
        max_steps=15, display_progress=False, number_processes=1)
    assert len(rows) == 2
    assert {r["platform__ruling_threshold"] for r in rows} == {0, "never"}
    assert all(r["open_total"] > 0 for r in rows)


def test_mesa_batch_run_replicates_by_seeds():
    """The README's way: replications as seeds. Without one a model runs its scenario's seed,
    so Mesa's rng=[None] * k would repeat one run k times."""
    import mesa
    rows = mesa.batch_run(GridModel, parameters={"scenario": "small"}, rng=[1, 2, 1],
                          max_steps=15, display_progress=False, number_processes=1)
    by_seed = {r["seed"]: (r["open_total"], r["rejections"], r["trust_mean"]) for r in rows}
    assert [r["seed"] for r in rows] == [1, 2, 1] and len(by_seed) == 2
    assert by_seed[1] != by_seed[2]
    assert rows[0]["open_total"] == rows[2]["open_total"]          # the same seed, the same run


def test_rng_is_mesa_s_name_for_the_seed_and_errors_name_the_overrides():
    from sim.scenario import ScenarioError
    assert GridModel("small", rng=5).seed_value == 5 == GridModel("small", seed=5).seed_value
    for kwargs, words in (({"rng": 5, "seed": 6}, "not both"), ({"seed": -1}, "non-negative"),
                          ({"seed": 1.5}, "non-negative")):
        with pytest.raises(ScenarioError, match=words):
            GridModel("small", **kwargs)
    with pytest.raises(ScenarioError) as err:              # from Python: no "--set"
        GridModel("small", offloading__issue_share=2)
    assert str(err.value).startswith("overrides: offloading.issue_share: ")


def test_results_print_in_one_line():
    from sim.api import run
    text = repr(run("small", days=3, seed=1))
    assert "\n" not in text and len(text) < 300 and "issues: " in text and "seed 1;" in text

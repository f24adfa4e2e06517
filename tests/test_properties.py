"""Property-based tests: invariants that hold for every scenario, however odd.

Hypothesis draws small districts with capacities from comfortable to badly overloaded, dispatch
from sloppy to perfect, heavy buck-passing (推诿), every ruling policy, and reporting from none
to instant, and checks the accounting of each run (``sim/checks.py``) and the issues table.

Profiles (``tests/conftest.py``): ``dev`` by default, ``HYPOTHESIS_PROFILE=ci`` for CI.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, note
from hypothesis import strategies as st

from sim import checks
from sim.api import Results, run
from sim.issues import Status
from sim.scenario import GridScenario, load_scenario, validate

STATUSES = {s.name.lower() for s in Status}
SMALL = load_scenario("small").model_dump(mode="json")
N_DEPARTMENTS = len(SMALL["departments"])

prob = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def scenarios(draw: st.DrawFn, *, clean: bool | None = None,
              ruling: Any = None) -> dict[str, Any]:
    """A flat, readable dict of the drawn parameters (shown by Hypothesis on failure).

    ``clean=True`` forces perfect dispatch and no pass-backs; ``ruling`` fixes the threshold.
    """
    if clean is None:
        clean = draw(st.booleans())
    p: dict[str, Any] = {
        "days": draw(st.integers(20, 60)),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "district.townships": draw(st.integers(1, 3)),
        "district.villages_per_township": draw(st.integers(1, 3)),
        "district.grids_per_village": draw(st.integers(1, 4)),
        "district.population": draw(st.integers(2_000, 20_000)),
        "department_staff": draw(st.lists(st.integers(1, 6), min_size=N_DEPARTMENTS,
                                          max_size=N_DEPARTMENTS)),
        "units.township_staff": draw(st.integers(1, 6)),
        "platform.district_operators": draw(st.integers(1, 3)),
        "platform.township_operators": draw(st.integers(1, 3)),
        "grid_leaders.level3_hours": draw(st.floats(1.0, 10.0)),
        "platform.ruling_threshold": (ruling if ruling is not None
                                      else draw(st.sampled_from([0, 1, 2, 3, "never"]))),
        "residents.organiser_coverage_urban": draw(prob),
        "residents.organiser_coverage_rural": draw(prob),
        "residents.report_rate": draw(st.one_of(st.floats(0.0, 1.0), st.just(math.inf))),
    }
    if clean:
        p |= {"platform.dispatch_accuracy": 1.0, "platform.redispatch_accuracy": 1.0,
              "units.pass_back": 0.0,
              "units.pass_back_ambiguous": 0.0, "units.pass_back_misdispatched": 0.0}
    else:
        p |= {"platform.dispatch_accuracy": draw(st.floats(0.5, 1.0)),
              "units.pass_back": draw(st.floats(0.0, 0.6)),
              "units.pass_back_ambiguous": draw(prob),
              "units.pass_back_misdispatched": draw(prob)}
    return p


def build(p: dict[str, Any]) -> GridScenario:
    """The small scenario with the drawn parameters (lists replaced whole)."""
    data = load_scenario("small").model_dump(mode="json")
    for key, value in p.items():
        if key == "department_staff":
            for dep, staff in zip(data["departments"], value, strict=True):
                dep["staff"] = staff
        elif "." in key:
            section, name = key.split(".")
            data[section][name] = value
    return validate(data, "test")


def simulate(p: dict[str, Any]) -> Results:
    note(f"parameters: {p!r}")
    return run(build(p), days=p["days"], seed=p["seed"])


def check_invariants(res: Results, p: dict[str, Any]) -> None:
    days = p["days"]
    issues, events, ts = res.issues, res.events, res.timeseries
    assert len(ts) == days

    # every issue that arose is open, closed for good, or lapsed
    cons = checks.conservation(ts)
    assert (cons == 0).all(), f"conservation broken on days {list(cons[cons != 0].index)}"

    # the day-end stocks equal those rebuilt from the event log, exactly
    rebuilt = checks.stocks_from_events(events, days)
    for col in rebuilt.columns:
        np.testing.assert_array_equal(ts[col].to_numpy(), rebuilt[col].to_numpy(),
                                      err_msg=f"{col}: timeseries vs events")

    bad = checks.timestamps_out_of_order(issues)
    assert bad.empty, f"time stamps out of order:\n{bad.head().to_string()}"

    # L = λW over the whole run, for subsystems that hold something
    ll = checks.littles_law(events, ts, 0, days - 1)
    busy = ll[ll["lambda_W"] > 0.5]
    off = busy[busy["relative_error"] >= 0.02]
    assert off.empty, f"Little's law off:\n{off.to_string()}"

    # the issues table
    assert issues["status"].notna().all()
    assert set(issues["status"].astype(str)) <= STATUSES
    closed = issues[issues["status"] == "closed"]
    assert closed["closed_day"].notna().all(), "closed issue without closed_day"
    assert (closed["settled_by"].astype(str) != "none").all(), "closed issue settled by none"
    assert closed["settled_by"].notna().all()
    assert closed["resolved"].notna().all(), "closed issue with unknown resolution"
    lapsed = issues[issues["status"] == "lapsed"]
    assert lapsed["discovered_day"].isna().all(), "lapsed issue that had been discovered"
    assert (issues["rejections"] >= 0).all()
    assert (issues["dispatches"] >= issues["rejections"]).all(), (
        "more pass-backs than dispatches")
    if p["platform.ruling_threshold"] == "never":
        assert not issues["ruled"].any(), "ruled issues although ruling_threshold = 'never'"
        assert ts["rulings"].sum() == 0
    clean = (p["platform.dispatch_accuracy"] == 1.0
             and p.get("platform.redispatch_accuracy") == 1.0 and p["units.pass_back"] == 0.0
             and p["units.pass_back_ambiguous"] == 0.0
             and p["units.pass_back_misdispatched"] == 0.0)
    if clean:
        assert issues["rejections"].sum() == 0, "pass-backs with perfect dispatch, no 推诿"
        assert ts["rejections"].sum() == 0
        assert issues.loc[issues["first_unit"].notna(), "first_dispatch_correct"].all()
    assert isinstance(issues, pd.DataFrame)


@given(scenarios())
def test_invariants_hold_for_any_scenario(p):
    check_invariants(simulate(p), p)


@given(scenarios(clean=True))
def test_no_pass_backs_with_perfect_dispatch_and_no_buck_passing(p):
    check_invariants(simulate(p), p)


@given(scenarios(ruling="never"))
def test_no_rulings_when_ruling_is_never(p):
    check_invariants(simulate(p), p)

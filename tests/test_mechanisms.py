"""Each mechanism of the core model has an effect that switching it off removes."""

from __future__ import annotations

import numpy as np
import pytest

from sim.api import run

DAYS = 120


def small(**overrides):
    return run("small", days=DAYS, seed=2, overrides=overrides)


def settled(res, who: str) -> int:
    return int((res.issues["settled_by"] == who).sum())


def found(res, who: str) -> int:
    return int((res.issues["found_by"] == who).sum())


def test_organisers_let_residents_settle_minor_issues():          # 楼栋长 / 联户代表, 自治
    on = small(**{"residents.organiser_coverage_urban": 1.0,
                  "residents.organiser_coverage_rural": 1.0})
    off = small(**{"residents.organiser_coverage_urban": 0.0,
                   "residents.organiser_coverage_rural": 0.0})
    assert settled(on, "residents") > 20
    assert settled(off, "residents") == 0
    assert found(off, "organiser") == 0 and found(on, "resident") == 0
    minor = on.issues.loc[on.issues["settled_by"] == "residents", "severity"]
    assert (minor == "minor").all()


def test_patrols_find_issues_and_use_hours():
    on = small()
    off = small(**{"grid_leaders.level3_patrol_hours": 0.0})
    assert found(on, "grid_leader") > 50
    assert found(off, "grid_leader") == 0
    assert off.timeseries["patrol_hours_mean"].max() == 0
    # without patrols, issues stay hidden longer
    assert off.timeseries["open_hidden"].mean() > on.timeseries["open_hidden"].mean()


def test_work_teams_find_and_settle_their_own_function():          # 群众工作队
    on = small(**{"work_teams.members_per_township": 40, "work_teams.aligned": 1.0})
    off = small(**{"work_teams.members_per_township": 0})
    assert found(on, "work_team") > 20 and settled(on, "work_team") > 0
    assert found(off, "work_team") == 0 and settled(off, "work_team") == 0
    by_team = on.issues[on.issues["settled_by"] == "work_team"]
    assert (by_team["severity"] != "major").all()


def test_trust_raises_reporting():
    low = small(**{"residents.initial_trust": 0.0, "residents.trust_learning_rate": 0.0,
                   "residents.report_trust_floor": 0.1})
    high = small(**{"residents.initial_trust": 1.0, "residents.trust_learning_rate": 0.0,
                    "residents.report_trust_floor": 0.1})
    reported = lambda r: found(r, "resident") + found(r, "organiser")  # noqa: E731
    assert reported(high) > 1.5 * reported(low)
    assert high.timeseries["open_hidden"].mean() < low.timeseries["open_hidden"].mean()


def test_ratings_move_trust():
    good = small(**{"units.quality": 1.0, "grid_leaders.quality": 1.0})
    bad = small(**{"units.quality": 0.3, "grid_leaders.quality": 0.3})
    assert good.timeseries["trust_mean"].iloc[-1] > bad.timeseries["trust_mean"].iloc[-1] + 0.2
    assert (bad.issues["reopens"] > 0).sum() > (good.issues["reopens"] > 0).sum()


def test_no_reopening_without_verification():
    res = small(**{"residents.verify_share": 0.0, "units.quality": 0.5})
    assert res.issues["reopens"].sum() == 0
    assert (res.issues["resolved"] == False).sum() > 0          # noqa: E712 superficial closures


def test_misdispatch_and_ambiguity_cause_pass_backs():             # 推诿扯皮
    clean = small(**{"platform.dispatch_accuracy": 1.0, "platform.redispatch_accuracy": 1.0,
                     "units.pass_back": 0.0,
                     "units.pass_back_ambiguous": 0.0})
    sloppy = small(**{"platform.dispatch_accuracy": 0.7})
    assert clean.issues["rejections"].sum() == 0
    assert sloppy.issues["rejections"].sum() > 50
    assert sloppy.summary["metrics"]["dispatch_accuracy"] < 0.8


@pytest.mark.parametrize("push", [0.0, 1.0])
def test_line_departments_push_issues_down_to_townships(push):    # 属地管理
    res = small(**{"platform.dispatch_accuracy": 0.7, "units.push_down": push})
    pushed = int(res.timeseries["pushed_down"].sum())
    assert (pushed > 0) == (push > 0)
    down = res.events[res.events["event"] == "push_down"]
    assert down["actor"].astype(str).str.startswith("line:").all()


def test_offloading_hands_orders_down_without_counting_them_as_pass_backs():   # 任务下压
    res = small(**{"offloading.issue_share": 0.5, "units.push_down": 0.0})
    ts, ev = res.timeseries, res.events
    handed = ev[ev["event"] == "hand_down"]
    assert len(handed) == ts["handed_down"].sum() > 0
    assert handed["actor"].astype(str).str.startswith("territory:").all()
    assert (handed["to"] == "grid_l3").all()
    assert ts["pushed_down"].sum() == 0                      # no push-downs were asked for
    assert ts["rejections"].sum() == (ev["event"] == "pass_back").sum()
    assert res.summary["mechanisms"]["pass_backs"] == ts["rejections"].sum()


def test_ruling_threshold_zero_rules_at_intake_and_never_never_rules():   # 裁决
    common = {"units.pass_back_ambiguous": 0.9, "platform.flag_ambiguous": 1.0}
    at_intake = small(**common, **{"platform.ruling_threshold": 0})
    never = small(**common, **{"platform.ruling_threshold": "never"})
    ruled = at_intake.issues[at_intake.issues["ruled"]]
    assert len(ruled) > 0
    assert (ruled["rejections"] == 0).any()          # ruled before any pass-back
    assert not never.issues["ruled"].any()
    amb = lambda r: r.issues[r.issues["ambiguous"]]  # noqa: E731
    assert amb(never)["rejections"].mean() > amb(at_intake)["rejections"].mean()


def test_township_rulings_beyond_authority_escalate():
    common = {"platform.ruling_threshold": 1, "units.pass_back_ambiguous": 0.9}
    own = small(**common, **{"platform.township_rules_own": True})
    none = small(**common, **{"platform.township_rules_own": False})
    assert none.timeseries["escalations"].sum() > own.timeseries["escalations"].sum()


def test_units_work_office_hours_only():
    res = small()
    start = res.issues["started_day"].dropna().to_numpy()
    weekday = np.floor(start).astype(int) % 7
    hour = (start - np.floor(start)) * 24
    assert (weekday < 5).all()                       # day 0 is a Monday
    assert ((hour >= 8.5 - 1e-6) & (hour <= 16.5 + 1e-6)).all()


def test_overloaded_leaders_patrol_less():
    easy = small()
    hard = small(**{"grid_leaders.level3_hours": 3.0, "grid_leaders.handling_hours_factor": 3.0})
    assert hard.timeseries["leader_overload_share"].mean() > \
        easy.timeseries["leader_overload_share"].mean()
    assert hard.timeseries["patrol_hours_mean"].mean() < easy.timeseries["patrol_hours_mean"].mean()


def test_heating_issues_follow_the_heating_season():
    res = run("baseline", days=365, seed=1, record_events=False,
              overrides={"public_services.heating_factor": 4.0})
    heating = res.issues[res.issues["category"] == "heating"]
    day = heating["created_day"].to_numpy()
    in_season = (day < 74) | (day >= 318)            # 15 March, 15 November (day 0 = 1 Jan)
    rate_in = in_season.sum() / (74 + 365 - 318)
    rate_out = (~in_season).sum() / (318 - 74)
    assert 3.0 < rate_in / rate_out < 5.0


def test_a_surge_adds_issues_in_its_window_only_and_keeps_the_usual_arrivals():
    calm = small()
    surge = small(**{"residents.surge_start_day": 40, "residents.surge_days": 20,
                     "residents.surge_factor": 3.0})
    made = [np.histogram(r.issues["created_day"], bins=[0, 40, 60, DAYS])[0]
            for r in (calm, surge)]
    assert made[0][0] == made[1][0] and made[0][2] == made[1][2]     # outside: the same
    assert 2.5 < made[1][1] / made[0][1] < 3.5                          # inside: about 3×
    # the usual arrivals are the same draws (common random numbers): same times and work
    before = calm.issues[calm.issues["created_day"] < 40]
    same = surge.issues[surge.issues["created_day"] < 40]
    np.testing.assert_array_equal(before["work_hours"], same["work_hours"])


def test_units_start_from_the_behaviour_they_bring():
    res = small(**{"evaluation.adapt": True, "evaluation.initial_superficial": 0.5,
                   "evaluation.initial_effort": 0.7})
    first = res.timeseries.iloc[0]
    assert first["unit_superficial_mean"] == pytest.approx(0.5)
    assert first["unit_effort_mean"] == pytest.approx(0.7)
    by_units = res.issues["settled_by"].isin(["department", "township"])
    assert res.issues.loc[by_units, "superficial"].mean() > 0.25


def test_events_of_an_issue_come_in_the_order_they_happened():
    """Each issue's first event is its arising, and its time stamps never go back."""
    ev = small().events
    assert (ev.groupby("issue_id", sort=False)["event"].first() == "arise").all()
    assert (ev.groupby("issue_id", sort=False)["time"].diff().dropna() >= 0).all()


def test_time_slices_put_returns_in_their_place_in_the_queue():
    """With fine slices an issue passed back waits at the platform as long as a fresh one
    (Jackson); in one slice a day it waits behind the day's later arrivals."""
    from sim.validate.queues import feedback_task

    fine = feedback_task("feedback", warmup_days=0.2, days=1, seed=1)
    coarse = feedback_task("feedback", warmup_days=0.2, days=1, seed=1, slice_hours=24.0)
    assert fine["platform_time"] < 0.05 < coarse["platform_time"]     # hours per visit

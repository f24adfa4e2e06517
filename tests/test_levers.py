"""Every policy lever moves its outcome, and only through the channel it is meant to act on.

For each lever: the paired difference (lever on minus off, common random numbers: the same seed
per replication) has a 95 % confidence interval that excludes zero; with the channel switched
off in both arms, the interval includes zero (usually the runs are identical).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest
from scipy import stats

from sim.api import Results, run

REPS = 4
DAYS = 90
# levers that act slowly run on the baseline district for longer: (scenario, days, replications)
SLOW = {"evaluation_design": ("baseline", 365, 4)}


def metric(name: str) -> Callable[[Results], float]:
    return lambda r: r.summary["metrics"][name]


def total(column: str) -> Callable[[Results], float]:
    return lambda r: float(r.timeseries[column].sum())


def mean(column: str) -> Callable[[Results], float]:
    return lambda r: float(r.timeseries[column].mean())


def share_settled(who: str) -> Callable[[Results], float]:
    return lambda r: float((r.issues["settled_by"] == who).mean())


def found_share(who: str) -> Callable[[Results], float]:
    return lambda r: float((r.issues["found_by"] == who).mean())


# lever: (off, on, channel switched off in both arms, outcome, expected sign of on − off)
LEVERS: dict[str, tuple[dict, dict, dict, Callable[[Results], float], int]] = {
    "offloading_admin_tasks": (
        {}, {"offloading.admin_hours": 6.0},
        {"grid_leaders.stress_gain": 0.0},            # overload builds no stress
        total("leader_turnover"), +1),
    "offloading_issues_to_the_grid": (
        {}, {"offloading.issue_share": 0.5},
        {"grid_leaders.handling_hours_factor": 1e-6},  # handed-down issues cost no hours
        mean("leader_demand_hours_mean"), +1),
    "extra_hands": (
        {"offloading.admin_hours": 4.0},
        {"offloading.admin_hours": 4.0, "grid_leaders.assistant_hours": 4.0},
        {"grid_leaders.level3_patrol_hours": 0.0, "offloading.admin_hours": 0.0,
         "grid_leaders.stress_gain": 0.0},            # nothing for the extra hours to do
        found_share("grid_leader"), +1),
    "duty_definition": (
        {"duties.ambiguity_factor": 3.0}, {"duties.ambiguity_factor": 0.0},
        {"units.pass_back_ambiguous": 0.0, "platform.flag_ambiguous": 0.0},
        metric("rejections_per_issue"), -1),
    "grid_alignment": (
        {"duties.ambiguity_factor": 3.0, "platform.dispatch_accuracy": 0.8},
        {"duties.ambiguity_factor": 3.0, "platform.dispatch_accuracy": 0.8,
         "duties.alignment": 1.0},
        {"duties.alignment_accuracy_gain": 0.0, "duties.alignment_pass_back_cut": 0.0},
        metric("rejections_per_issue"), -1),
    "joint_review": (
        {"platform.ruling_threshold": "never", "units.pass_back_ambiguous": 0.9,
         "duties.ambiguity_factor": 3.0},
        {"platform.ruling_threshold": "never", "units.pass_back_ambiguous": 0.9,
         "duties.ambiguity_factor": 3.0, "platform.joint_review_days": 2},
        {"units.pass_back_ambiguous": 0.0, "units.pass_back": 0.0,
         "platform.dispatch_accuracy": 1.0, "platform.stuck_days": 1e9},
        metric("rejections_per_issue"), -1),
    "ruling_at_intake": (
        {"units.pass_back_ambiguous": 0.8, "platform.ruling_threshold": "never"},
        {"units.pass_back_ambiguous": 0.8, "platform.ruling_threshold": 0},
        {"units.pass_back_ambiguous": 0.0, "units.pass_back": 0.0,
         "platform.dispatch_accuracy": 1.0},
        metric("rejections_per_issue"), -1),
    "work_team_engagement": (
        {"work_teams.engagement": 0.2}, {"work_teams.engagement": 1.0},
        {"work_teams.members_per_township": 0},
        found_share("work_team"), +1),
    "work_team_alignment": (
        {"work_teams.aligned": 0.0, "work_teams.members_per_township": 20},
        {"work_teams.aligned": 1.0, "work_teams.members_per_township": 20},
        {"work_teams.powers": 0.0, "work_teams.find_rate": 0.0},
        share_settled("work_team"), +1),
    "work_team_no_shirking": (                       # 不推诿: own people in the township
        {"work_teams.members_per_township": 20, "work_teams.pass_back_cut": 0.0,
         "units.pass_back": 0.3},
        {"work_teams.members_per_township": 20, "work_teams.pass_back_cut": 0.9,
         "units.pass_back": 0.3},
        {"work_teams.engagement": 0.0},               # bodies there, hearts not
        metric("rejections_per_issue"), -1),
    "work_team_help": (                              # 帮扶: helping the needy builds trust
        {"work_teams.members_per_township": 20},
        {"work_teams.members_per_township": 20, "work_teams.help_share": 0.5},
        {"work_teams.help_trust_gain": 0.0, "work_teams.find_rate": 0.0},
        mean("trust_mean"), +1),
    "work_team_rotation": (
        {"work_teams.rotation_days": 30}, {"work_teams.rotation_days": 0},
        {"work_teams.newcomer_knowledge": 1.0},       # local knowledge does not matter
        found_share("work_team"), +1),
    "self_governance": (
        {"residents.organiser_coverage_urban": 0.2, "residents.organiser_coverage_rural": 0.2},
        {"residents.organiser_coverage_urban": 1.0, "residents.organiser_coverage_rural": 1.0},
        {"residents.self_settle_share": 0.0, "residents.hotline_share_organised": 0.35},
        share_settled("residents"), +1),
    "volunteers": (
        {}, {"residents.volunteers_per_grid": 5.0},
        {"residents.volunteer_find_rate": 0.0},
        metric("hidden_stock_mean"), -1),
    "operator_training": (
        {"platform.dispatch_accuracy": 0.8}, {"platform.dispatch_accuracy": 0.8,
                                               "training.operator_coverage": 1.0},
        {"training.operator_accuracy_gain": 0.0, "training.operator_speed_gain": 0.0},
        metric("dispatch_accuracy"), +1),
    "campaign_sweep": (
        {}, {"campaign.days": 60, "campaign.start_day": 20, "campaign.sweep_find_rate": 0.3},
        {"campaign.sweep_find_rate": 0.0},
        metric("hidden_stock_mean"), -1),
    "public_services_in_the_grid": (
        {}, {"public_services.in_grid": True},
        {"grid_leaders.level3_patrol_hours": 0.0},   # nobody in the grid looks for them
        found_share("grid_leader"), +1),
    "from_finding_to_serving": (                     # 找事 → 办事
        {}, {"grid_leaders.service_hours": 2.0},
        {"grid_leaders.service_trust_gain": 0.0, "grid_leaders.level3_hours": 20.0},
        mean("trust_mean"), +1),
    "evaluation_design": (                           # 考核: league table of residents' ratings
        {"evaluation.adapt": True, "evaluation.rule": "penalty",     # vs a punitive closure KPI
         "evaluation.weights.closure": 1.0, "evaluation.weights.on_time": 1.0},
        {"evaluation.adapt": True, "evaluation.rule": "ranking",
         "evaluation.weights.satisfaction": 1.0},
        {"evaluation.adapt": False},                  # units do not adapt to their score
        metric("superficial_share"), -1),
    "leader_training": (
        {"offloading.admin_hours": 6.0},
        {"offloading.admin_hours": 6.0, "training.leader_coverage": 1.0},
        {"training.leader_skill_gain": 0.0},
        mean("leader_skill_mean"), +1),
}


Key = tuple[str, int, tuple[tuple[str, Any], ...], int]


def _setting(name: str) -> tuple[str, int, int]:
    return SLOW.get(name, ("small", DAYS, REPS))


def _key(name: str, overrides: dict[str, Any], seed: int) -> Key:
    scenario, days, _ = _setting(name)
    return scenario, days, tuple(sorted(overrides.items())), seed


def _simulate(key: Key) -> Results:
    scenario, days, overrides, seed = key
    res = run(scenario, days=days, seed=seed, overrides=dict(overrides), record_events=False)
    res.model = None                                  # results travel between processes
    return res


@functools.cache
def _all_runs() -> dict[Key, Results]:
    """Every run the lever tests need, once each, on all cores."""
    keys = set()
    for name, (off, on, channel, _, _) in LEVERS.items():
        for arm in (off, on, {**off, **channel}, {**on, **channel}):
            keys.update(_key(name, arm, seed) for seed in range(_setting(name)[2]))
    keys = sorted(keys, key=lambda k: (k[0] != "baseline", repr(k)))   # long runs first
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=spawn) as pool:
        return dict(zip(keys, pool.map(_simulate, keys), strict=True))


def paired(name: str, off: dict, on: dict,
           outcome: Callable[[Results], float]) -> tuple[float, float]:
    """Mean paired difference (on − off) and its 95 % CI half-width over the replications."""
    reps = _setting(name)[2]
    runs = _all_runs()
    d = np.array([outcome(runs[_key(name, on, seed)]) - outcome(runs[_key(name, off, seed)])
                  for seed in range(reps)])
    half = stats.t.ppf(0.975, reps - 1) * d.std(ddof=1) / np.sqrt(reps)
    return float(d.mean()), float(half)


def _with(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**base, **extra}


@pytest.mark.parametrize("name", LEVERS)
def test_lever_moves_its_outcome(name):
    off, on, _, outcome, sign = LEVERS[name]
    diff, half = paired(name, off, on, outcome)
    assert sign * diff > half, f"{name}: difference {diff:.4g} ± {half:.4g}"


@pytest.mark.parametrize("name", LEVERS)
def test_lever_does_nothing_with_its_channel_off(name):
    off, on, channel, outcome, _ = LEVERS[name]
    diff, half = paired(name, _with(off, channel), _with(on, channel), outcome)
    assert abs(diff) <= half + 1e-6, f"{name}: difference {diff:.4g} ± {half:.4g}"

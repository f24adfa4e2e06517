"""Scenarios: typed, validated parameter sets loaded from TOML files.

A scenario is data. Every policy the model can represent is a value here, never a branch in the
code. Each field's description names its source, or says "assumption" with a plausible range;
``tests/test_scenario.py`` checks that none is missing. ``docs/parameters.md`` is generated from
these descriptions (``gridsim params``).

The class is called ``GridScenario`` so that it does not shadow Mesa's experimental ``Scenario``.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ScenarioError(ValueError):
    """Bad scenario input. ``str(err)`` is one line naming the file and the key."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        # an option is its own key: "--target: must be positive", not "--target: --target: ..."
        super().__init__(f"{source}: {message}" if key == source else
                         f"{source}: {key}: {message}")


def F(default: Any, doc: str, **limits: Any) -> Any:
    """A documented field. ``doc`` must say 'source: ...' or 'assumption ...'."""
    return Field(default, description=doc, **limits)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


Prob = Annotated[float, Field(ge=0.0, le=1.0)]


class Run(Section):
    """How long to run and what to record."""

    days: int = F(365, "Days simulated. Source: issue #2 (a year of a district).", ge=1)
    seed: int = F(20130326, "Root seed of the SeedSequence. Assumption: any value; the default "
                  "is the date of the seed speech.", ge=0)
    warmup_days: int = F(90, "Days excluded from headline metrics. Assumption (60–180): long "
                         "enough for trust and backlogs to settle. A run no longer than its "
                         "warm-up uses a quarter of its days instead (summary.json says which).",
                         ge=0)
    snapshot_every: int = F(30, "Days between rows of agents.parquet. Assumption.", ge=1)
    start_weekday: int = F(0, "Weekday of day 0 (0 = Monday). Assumption.", ge=0, le=6)
    start_day_of_year: int = F(1, "Day of the year of day 0 (1 = 1 January). Assumption.", ge=1,
                               le=366)
    slice_hours: float = F(24.0, "Numerical setting: the day's transitions are processed in "
                           "time slices of this many hours. Within a slice an issue coming back "
                           "to a queue (pass-back, reopening, escalation) joins it behind issues "
                           "that arrived later in the same slice, so smaller slices are more "
                           "exact and slower (docs/ODD.md §9). Assumption.", gt=0, le=24)


class Calendar(Section):
    """A working calendar: daily opening hours on working days."""

    # each calendar's values have their own source, given on its section (GridScenario)
    open_hour: float = F(8.5, "Hour of day work starts. Source or assumption: the calendar's "
                         "own (its section).", ge=0, lt=24)
    hours: float = F(8.0, "Working hours per working day; 24 makes a 24-hour calendar. Source "
                     "or assumption: the calendar's own (its section).", gt=0, le=24)
    workdays: int = F(5, "Working days per week (days 0..workdays-1 of each week). Source or "
                      "assumption: the calendar's own (its section).", ge=1, le=7)

    @model_validator(mode="after")
    def _fits_in_day(self) -> Calendar:
        if self.hours < 24 and self.open_hour + self.hours > 24:
            raise ValueError("open_hour + hours must not pass midnight")
        return self


class City(Section):
    """The city (市) above its districts: a city platform and city-level departments."""

    districts: int = F(1, "Districts/counties (区县), each laid out as the ``district`` section "
                       "says, with its own platform and departments. Default 1: one district and "
                       "no city level. Source: Zhengzhou has 15 county-level units (6 urban "
                       "districts, 5 county-level cities and counties, 4 development zones), "
                       "treated as alike: assumption.", ge=1)
    operators: int = F(4, "Operators of the city platform (市平台), which rules on city-level "
                       "departments when a district platform may not (依据管理权限). Used only "
                       "with more than one district. Assumption (2–20).", ge=1)


class District(Section):
    """One district: townships (level 1), villages/communities (level 2), blocks (level 3).

    With ``city.districts`` > 1 every district is laid out alike."""

    population: int = F(600_000, "Residents. Source: issue #2 (a district of about 600,000; "
                        "Zhengzhou's urban districts hold 0.4–1.2 million).", ge=1)
    townships: int = F(12, "Townships/street offices (一级网格). Source: issue #2 (10–15).", ge=1)
    villages_per_township: int = F(10, "Villages/communities per township (二级网格). Source: "
                                   "issue #2 (~120 in a district).", ge=1)
    grids_per_village: int = F(10, "Level-3 grids per village/community (三级网格). Source: issue "
                               "#2 (~1,200 in a district); Zhengzhou had ~18,000 for 9.2M people "
                               "(郑州日报 2013-02-06), i.e. ~510 residents per grid.", ge=1)
    grids_per_township: int | None = F(None, "Level-3 grids per township when they do not "
                                       "divide evenly among its villages: spread over them as "
                                       "evenly as possible. Default (none): villages_per_"
                                       "township × grids_per_village. Source: the 2012 "
                                       "Jianzhong Street pilot, 44 grids over 14 communities "
                                       "(domain brief §3).", ge=1)
    resident_agents_per_grid: int = F(4, "Resident agents per level-3 grid; each stands for a "
                                      "building / micro-grid. Assumption (micro-grids of 50–70 "
                                      "households, Zhengzhou 2025, secondary).", ge=1)
    building_size_sd: float = F(0.3, "Spread (log-sd) of the people represented by each "
                                "resident agent. Assumption (0–0.6).", ge=0)
    urban_share: Prob = F(0.6, "Share of townships that are urban street offices (楼栋长) rather "
                          "than rural (联户代表). Assumption (0.3–0.9).")


class Residents(Section):
    """Residents (群众) and their organisers (楼栋长 / 联户代表)."""

    organiser_coverage_urban: Prob = F(0.7, "Share of urban buildings with a building head "
                                       "(楼栋长). Assumption (0.3–1.0); the seed asks to "
                                       "promote it.")
    organiser_coverage_rural: Prob = F(0.5, "Share of rural micro-grids with a household "
                                       "representative (联户代表). Assumption (0.2–1.0).")
    initial_trust: Prob = F(0.6, "Initial trust in the grid system. Assumption (0.4–0.8): "
                            "Beijing 12345 satisfaction was 65 % in 2019 (secondary).")
    report_rate: float = F(0.08, "Daily hazard that residents report a hidden issue, at trust 1. "
                           "Assumption (0.03–0.3/day); `inf` reports at once.", ge=0)
    report_trust_floor: Prob = F(0.3, "Share of the reporting hazard that does not depend on "
                                 "trust. Assumption (0.1–0.5).")
    hotline_share: Prob = F(0.35, "Share of resident reports that go straight to the 12345 "
                            "hotline rather than through the grid, for unorganised residents. "
                            "Assumption (0.2–0.6).")
    hotline_share_organised: Prob = F(0.1, "Same, for residents with an organiser, who report "
                                      "through the organiser. Assumption (0.0–0.3).")
    self_settle_share: Prob = F(0.4, "Share of minor issues reported to an organiser that "
                                "residents settle themselves (自治). Assumption (0.2–0.6).")
    self_settle_days: float = F(1.0, "Mean days residents take to settle an issue themselves. "
                                "Assumption (0.5–3).", ge=0)
    trust_learning_rate: Prob = F(0.1, "Weight of one rating in the trust update (exponential "
                                  "smoothing). Assumption (0.02–0.3).")
    surge_days: int = F(0, "Length in days of a demand surge (an overload pulse: a disaster, "
                        "a campaign of complaints); 0 = none. Assumption; 0 in the baseline.",
                        ge=0)
    surge_start_day: int = F(0, "Day the surge starts. Assumption.", ge=0)
    surge_factor: float = F(2.0, "Arrival rates during the surge, as a multiple of the usual. "
                            "Assumption (1.5–3).", ge=1)
    verify_share: Prob = F(0.5, "Share of closures that the reporting resident verifies; an "
                           "unresolved closure that is verified is reopened. Assumption (0.2–0.9).")
    lateness_penalty: Prob = F(0.5, "Satisfaction lost by a resolved issue closed at twice its "
                               "deadline or later (linear from the deadline). Assumption "
                               "(0.2–0.8).")
    unresolved_satisfaction: Prob = F(0.1, "Satisfaction with a closure that did not resolve "
                                      "the issue. Assumption (0–0.3).")
    rating_noise: float = F(0.1, "Standard deviation of the noise on each rating. Assumption "
                            "(0–0.2).", ge=0)
    volunteers_per_grid: float = F(0.0, "Volunteers, merchant representatives and the like per "
                                   "level-3 grid who report what they see (志愿者). Source: "
                                   "seed (二); 0 in the baseline.", ge=0)
    volunteer_find_rate: float = F(0.02, "Daily hazard, per volunteer, that a hidden issue in "
                                   "the grid is reported by a volunteer. Assumption "
                                   "(0.005–0.05).", ge=0)
    lapse_rate: float = F(1 / 60, "Daily hazard that a hidden issue disappears unseen (moves away, "
                          "fixes itself, is forgotten), so the hidden stock stays finite. "
                          "Assumption (1/180–1/20).", ge=0)


class GridLeaders(Section):
    """Grid leaders (网格长) on levels 3 (blocks) and 2 (villages/communities)."""

    level3_hours: float = F(8.0, "Hours per day a level-3 grid leader works on grid duties. "
                            "Assumption (6–10); the seed warns against overloading them.", gt=0)
    level3_patrol_hours: float = F(3.0, "Hours per day a level-3 leader patrols when time allows. "
                                   "Assumption (1–5).", ge=0)
    patrol_find_rate: float = F(0.12, "Daily hazard, per patrol hour, that a hidden issue in the "
                                "grid is found. Assumption (0.05–0.3); Dongcheng found 90 % of "
                                "issues in its first months (Xinhua 2005).", ge=0)
    level3_settle_share: Prob = F(0.7, "Share of minor issues a level-3 leader settles himself. "
                                  "Assumption (0.5–0.9).")
    level3_settle_share_ordinary: Prob = F(0.25, "Share of ordinary issues a level-3 leader "
                                           "settles himself. Assumption (0.1–0.4).")
    level2_per_village: int = F(2, "Grid staff per village/community (secretary plus one). "
                                "Assumption (1–4).", ge=1)
    level2_hours: float = F(6.0, "Hours per day each level-2 staff spends on issues. Assumption "
                            "(4–8).", gt=0)
    level2_settle_share: Prob = F(0.3, "Share of issues passed up to a village that it settles "
                                  "itself. Assumption (0.1–0.5).")
    handling_hours_factor: float = F(0.5, "Hours the grid spends on an issue it settles, as a "
                                     "multiple of the issue's work content (grid issues are the "
                                     "simpler ones). Assumption (0.3–1).", gt=0)
    quality: Prob = F(0.95, "Probability that an issue the grid settles is truly resolved, for "
                      "a fully skilled leader without stress. Assumption (0.85–0.99).")
    quality_sensitivity: Prob = F(0.3, "How much of the quality a leader loses as his "
                                  "effectiveness (skill × (1 − stress effect)) falls from 1 to 0. "
                                  "Assumption (0.1–0.6).")
    assistant_hours: float = F(0.0, "Extra hands per level-3 grid (壮大基层网络力量): hours per "
                               "day added to the leader's capacity. Source: seed (二) names the "
                               "remedy; the size is an assumption (0–8), 0 in the baseline.",
                               ge=0)
    service_hours: float = F(0.0, "Hours per working day a level-3 leader spends delivering "
                             "services (办实事) before patrolling: from 找事 to 办事. Source: seed "
                             "(三); 0 in the baseline.", ge=0)
    service_trust_gain: float = F(0.01, "Share of the gap to full trust that one service hour a "
                                  "day closes for the grid's residents. Assumption "
                                  "(0.002–0.03).", ge=0)
    stress_gain: float = F(1.0, "Stress a level-3 leader gains per day per unit of relative "
                           "overload (demand / capacity − 1). Assumption (0.2–2).", ge=0)
    stress_recovery: Prob = F(0.1, "Share of a leader's stress that fades each day. Assumption "
                              "(0.05–0.3).")
    stress_effect: Prob = F(0.5, "Share of patrol time, discovery and handling effectiveness lost "
                            "at stress 1 or more. Source: overload erodes quality (Oliva & "
                            "Sterman 2001); the size is an assumption (0.2–0.8).")
    quit_stress: float = F(1.0, "Stress above which a level-3 leader may quit. Assumption "
                           "(0.5–2).", gt=0)
    quit_rate: Prob = F(0.02, "Daily probability that a leader above quit_stress leaves and is "
                        "replaced by a newcomer. Source: burnout dynamics (Homer 1985); the rate "
                        "is an assumption (0.005–0.05).")
    newcomer_skill: Prob = F(0.5, "Skill of a new level-3 leader (1 = an experienced one). "
                             "Assumption (0.3–0.8).")
    learning_days: float = F(120.0, "Days for a newcomer to close 63 % of the gap to full skill "
                             "by experience. Assumption (60–365).", gt=0)


class PublicServices(Section):
    """Public services (水电气暖) inside or outside the grid, and the heating season."""

    in_grid: bool = F(False, "Whether utility issues run through the grid and its platforms "
                      "(patrols find them, platforms dispatch and track them) or, as before, "
                      "residents call the utility itself and the grid does not look. Source: "
                      "seed (三) asks to fold them in; outside in the baseline.")
    heating_factor: float = F(4.0, "Multiplier on the rate of heating issues during the "
                              "heating season. Assumption (2–8).", ge=0)
    heating_start: int = F(319, "Day of the year the heating season starts. Source: Zhengzhou "
                           "heats from 15 November.", ge=1, le=366)
    heating_end: int = F(74, "Day of the year the heating season ends. Source: Zhengzhou heats "
                         "to 15 March.", ge=1, le=366)


class Weights(Section):
    """Weights of the score components of an evaluation design (考核)."""

    closure: float = F(0.0, "Weight of the unit's reported closure rate. Assumption.")
    on_time: float = F(0.0, "Weight of its on-time rate. Assumption.")
    rejections: float = F(0.0, "Weight of its pass-backs per issue received (enters with a "
                          "minus sign). Assumption.")
    grid_rating: float = F(0.0, "Weight of grid leaders' rating of its cooperation (双向评议: "
                           "issues taken without pass-back and closed on time). Assumption.")
    satisfaction: float = F(0.0, "Weight of residents' satisfaction with its closures. "
                            "Assumption.")


class Evaluation(Section):
    """Evaluation designs (考核) and the one rule by which units adapt to them.

    Each period a unit's score is the weighted sum of its components; under "ranking" what
    counts is its rank among units of its kind (a league table); under "penalty" overdue and
    passed-back issues cost it (追究). Units then move their effort, readiness to pass back and
    share of superficial closures towards what raised their utility: the score less the cost
    of effort and of work.
    """

    adapt: bool = F(False, "Whether units adapt their behaviour at all. Assumption: off in the "
                    "baseline, which keeps the calibrated behaviour fixed.")
    rule: Literal["none", "ranking", "penalty"] = F("none", "How the score is used: not at all, "
                                                    "as a monthly league table, or with "
                                                    "accountability penalties (追究). Source: "
                                                    "seed (八).")
    weights: Weights = Field(default_factory=Weights, description="Source: seed (八).")
    period_days: int = F(30, "Days between evaluations. Source: monthly ranking (Beijing "
                         "12345).", ge=1)
    penalty_overdue: float = F(1.0, "Penalty per overdue closure, as a share of issues "
                               "received (rule 'penalty'). Assumption (0.5–3).", ge=0)
    penalty_rejection: float = F(1.0, "Penalty per pass-back, as a share of issues received "
                                 "(rule 'penalty'). Assumption (0.5–3).", ge=0)
    effort_cost: float = F(0.3, "Cost to a unit, in score units, of one unit of extra effort. "
                           "Assumption (0.1–1).", ge=0)
    work_cost: float = F(0.3, "Cost to a unit of its staff's utilisation (busy share of hours), "
                         "in score units. Assumption (0.1–1).", ge=0)
    step: float = F(0.1, "Size of each adaptive move. Assumption (0.05–0.2).", gt=0)
    superficial_work: Prob = F(0.3, "Work a superficial closure takes, as a share of a real "
                               "one. Assumption (0.1–0.5).")
    initial_effort: float = F(1.0, "Units' effort at the start: the behaviour they bring from "
                              "the design before. Assumption: 1 (calibrated speed).", ge=0.5,
                              le=1.5)
    initial_readiness: float = F(1.0, "Units' readiness to pass back at the start (a multiple "
                                 "of the calibrated rates). Assumption: 1.", ge=0, le=3)
    initial_superficial: float = F(0.0, "Share of closures units make superficial at the "
                                   "start. Assumption: 0.", ge=0, le=0.8)


class Campaign(Section):
    """Concentrated campaigns (集中整治, 排查化解): a sweep and extra staff on chosen categories."""

    days: int = F(0, "Length of each campaign in days; 0 = no campaigns. Source: seed (六) 20 "
                  "key tasks by concentrated campaigns; 0 in the baseline.", ge=0)
    start_day: int = F(30, "Day the first campaign starts. Assumption.", ge=0)
    every: int = F(0, "Days from one campaign's start to the next; 0 = only one. Assumption.",
                   ge=0)
    categories: list[str] = F([], "Categories the campaign targets; empty = all. Assumption.")
    sweep_find_rate: float = F(0.1, "Daily hazard, during a campaign, that its sweep (排查) "
                               "finds a hidden issue of a target category. Assumption "
                               "(0.02–0.5).", ge=0)
    extra_staff: int = F(0, "Extra staff, during a campaign, in each unit that leads a target "
                         "category and in each township office. Assumption (0–20).", ge=0)

    @field_validator("every")
    @classmethod
    def _no_overlap(cls, every: int, info: Any) -> int:
        days = info.data.get("days", 0)
        if every and every < days:
            raise ValueError(f"must be 0 or at least campaign.days ({days}): campaigns would "
                             "overlap")
        return every


class Costs(Section):
    """Hourly costs of paid time, to compare policies at equal budget."""

    grid_hour: float = F(30.0, "Cost of an hour of a grid leader's or assistant's time (yuan). "
                         "Assumption (20–60): community workers' pay.", ge=0)
    civil_servant_hour: float = F(60.0, "Cost of an hour of a civil servant's time: department "
                                  "and township staff, work-team members (yuan). Assumption "
                                  "(40–100).", ge=0)
    operator_hour: float = F(40.0, "Cost of an hour of a platform operator's time (yuan). "
                             "Assumption (25–60).", ge=0)


class Grievances(Section):
    """Unresolved grievances escalate: petitions (信访) and collective incidents (群体性事件)."""

    grievance_days: float = F(14.0, "Days an ordinary or major issue must stay unresolved (hidden "
                              "or open) before residents may petition about it. Assumption "
                              "(14–90).", ge=0)
    petition_rate: float = F(0.01, "Daily hazard that residents petition about an unresolved "
                             "grievance, at trust 0. Assumption (0.001–0.02), giving petitions "
                             "of the order of 1 per 1,000 residents a year.", ge=0)
    petition_trust_effect: Prob = F(0.7, "Share of the petition hazard removed at full trust. "
                                    "Assumption (0.3–0.9); Chen, Pan & Xu (2016) on threats "
                                    "to go to superiors.")
    petition_after_bad_closure: Prob = F(0.05, "Probability that a closure that did not resolve "
                                         "the issue, and is not reopened, leads to a petition. "
                                         "Assumption (0–0.2).")
    incident_rate: float = F(0.005, "Daily hazard that an unresolved grievance shared by many "
                             "households (categories' collective_share) turns into a collective "
                             "incident, at trust 0. Assumption (0.0002–0.005).", ge=0)


class Duties(Section):
    """Defining duties (职能界定) and aligning departments' grids with the blocks (四融合)."""

    ambiguity_factor: float = F(1.0, "Multiplies every category's ambiguous_share: below 1 when "
                                "主办/协办/配合 lists define duties. Source: seed (四) 全覆盖、"
                                "无缝隙; 1 in the baseline.", ge=0)
    alignment: Prob = F(0.0, "How far departments' own grid systems are aligned with the "
                        "township grids in space, time, rewards and training (四融合), 0–1. "
                        "Source: seed (四); 0 in the baseline.")
    alignment_accuracy_gain: Prob = F(0.5, "Share of dispatch errors removed at full alignment. "
                                      "Assumption (0.2–0.8).")
    alignment_pass_back_cut: Prob = F(0.5, "Share of pass-backs of ambiguous issues and of "
                                      "push-downs between 条 and 块 removed at full alignment. "
                                      "Assumption (0.2–0.8).")


class Offloading(Section):
    """Work that departments and townships push down onto level-3 grid leaders (一压了之)."""

    admin_hours: float = F(0.0, "Hours per working day of administrative tasks (inspections, "
                           "forms, meetings) pushed down to each level-3 leader. Source: seed "
                           "(二) 不能简单向基层一压了之; the size is an assumption (0–4), 0 in the "
                           "baseline.", ge=0)
    issue_share: Prob = F(0.0, "Share of the territorial orders a township office accepts that it "
                          "hands down to the level-3 leader of the issue's grid. Assumption "
                          "(0–0.5), 0 in the baseline.")


class Training(Section):
    """Training (培训) of platform operators and grid leaders: coverage and quality."""

    operator_coverage: Prob = F(0.0, "Share of platform operators given extra training. Source: "
                                "seed (五), (九); 0 in the baseline, whose accuracy is "
                                "calibrated as it was.")
    leader_coverage: Prob = F(0.0, "Share of level-3 leaders (and of newcomers) given extra "
                              "training. Source: seed (九) 全面覆盖; 0 in the baseline.")
    quality: Prob = F(1.0, "Quality of the training (1 = problem-led and real, 0 = a "
                      "formality, 走过场). Source: seed (九); assumption.")
    operator_accuracy_gain: Prob = F(0.5, "Share of an operator's dispatch errors that full, "
                                     "good training removes. Assumption (0.2–0.8).")
    operator_speed_gain: Prob = F(0.3, "Share of intake time that full, good training saves. "
                                  "Assumption (0.1–0.5).")
    leader_skill_gain: Prob = F(0.5, "Share of a trained newcomer's skill gap closed by "
                                "training, which also speeds learning by the same share. "
                                "Assumption (0.2–0.8).")


class WorkTeams(Section):
    """Work teams (群众工作队): civil servants sent down (下沉) to townships."""

    members_per_township: int = F(30, "Members per township. Source: Zhengzhou sent 45,388 civil "
                                  "servants down for ~18,000 level-3 grids (郑州日报 2013-02-06), "
                                  "~2.5 per grid; a district assigns far fewer to issue work: "
                                  "assumption (0–250).", ge=0)
    hours_per_week: float = F(8.0, "Hours per week each member spends in the area. Assumption "
                              "(2–40), a key one: sweep it.", ge=0, le=168)
    find_rate: float = F(0.05, "Daily hazard, per member-hour in the township per level-3 grid, "
                         "that a hidden issue is found. Assumption (0.01–0.1): a member's hour "
                         "finds less than a grid leader's patrol hour (0.12), who knows the "
                         "block.", ge=0)
    aligned: Prob = F(0.5, "Share of members posted by function (职能对口) rather than at random. "
                      "Assumption (0–1); the seed asks for full alignment.")
    quality: Prob = F(0.95, "Probability that an issue a member settles on the spot is truly "
                      "resolved. Assumption (0.85–0.99).")
    engagement: Prob = F(1.0, "Share of the posted hours actually spent engaged: 1 is 心下 (heart "
                         "sent down), low values 人下 (only the body). Source: seed (七) 由“人下”到"
                         "“心下”; the baseline assumes full engagement.")
    powers: Prob = F(0.5, "Share of ordinary issues of their own department's function that "
                     "members may settle on the spot (职能下); minor ones always. Source: seed "
                     "(七); the value is an assumption (0–1).")
    rotation_days: int = F(0, "Days a member stays before being rotated out for a newcomer; 0 = "
                           "long-term posting (长期分包). Source: seed (七); 0 in the baseline.",
                           ge=0)
    knowledge_days: float = F(90.0, "Days for a member to build 63 % of full local knowledge. "
                              "Assumption (30–365).", gt=0)
    newcomer_knowledge: Prob = F(0.4, "Effectiveness of a member with no local knowledge, "
                                 "relative to one who knows the area. Assumption (0.2–0.7).")
    help_share: Prob = F(0.0, "Share of members' hours in the area spent helping the needy "
                         "(帮扶: 送温暖、办实事) rather than finding issues. Source: seed (七) "
                         "third function; 0 in the baseline.")
    help_trust_gain: float = F(0.002, "Share of the gap to full trust closed in a township's "
                               "residents per daily help-hour per level-3 grid. Assumption "
                               "(0.0005–0.005).", ge=0)
    pass_back_cut: Prob = F(0.5, "Share of a line department's pass-backs removed for issues in "
                            "a township where members of that department are posted and "
                            "engaged (不推诿). Assumption (0–0.8).")


class Platform(Section):
    """Information platforms (社会公共管理信息平台) at district and township level."""

    district_operators: int = F(8, "Operators of the district platform / 12345 desk. Assumption "
                                "(4–20); Dongcheng had 956 field collectors but few dispatchers "
                                "(secondary).", ge=1)
    township_operators: int = F(2, "Operators of each township platform. Assumption (1–4).", ge=1)
    intake_minutes: float = F(10.0, "Mean minutes an operator spends taking in and dispatching one "
                              "issue. Assumption (3–20); Dongcheng dispatched >70 % automatically "
                              "by 2015 (secondary).", ge=0)
    dispatch_accuracy: Prob = F(0.98, "Probability that a first dispatch reaches the responsible "
                                "unit. Source: Dongcheng 98 % (Xinhua 2005).")
    redispatch_accuracy: Prob = F(0.9, "Probability that a re-dispatch after a pass-back reaches "
                                  "the responsible unit. Assumption (0.7–0.99).")
    flag_ambiguous: Prob = F(0.7, "Probability that an operator flags an issue of ambiguous "
                             "responsibility at intake. Assumption (0.3–0.9).")
    ruling_threshold: int | Literal["never"] = F(2, "Pass-backs after which the platform rules on "
                                                  "responsibility (裁决); 0 rules on flagged "
                                                  "ambiguous issues at intake and on any other "
                                                  "issue after its first pass-back; 'never' "
                                                  "never rules. Assumption (0–3); the seed asks "
                                                  "for an immediate ruling (立即处置的说法).")
    ruling_days: float = F(1.0, "Working days a ruling takes. Assumption (0.5–5).", ge=0)
    joint_review_days: int = F(0, "Days between joint review meetings (定期研判、会商) of "
                               "departments and townships, which settle disputed and stuck "
                               "issues; 0 = none. Source: seed (四); 0 in the baseline.", ge=0)
    stuck_days: float = F(10.0, "An issue at a platform or unit this long after its report is "
                          "'stuck' and goes to the joint review. Assumption (5–30).", ge=0)
    township_rules_own: bool = F(True, "Township platforms may rule on township units; rulings on "
                                 "district departments go up to the district platform. Source: "
                                 "seed (五) 依据管理权限.")

    @field_validator("ruling_threshold")
    @classmethod
    def _threshold(cls, k: int | str) -> int | str:
        if isinstance(k, int) and k < 0:
            raise ValueError("must be >= 0 or 'never'")
        return k


class Units(Section):
    """Behaviour shared by the units that handle dispatched issues: departments and townships."""

    screening_hours: float = F(1.0, "Mean working hours a unit takes to screen a dispatched issue "
                               "before accepting or passing it back. Assumption (0.5–8), "
                               "calibrated with staff and work content to closure 93–96 % and "
                               "on time 76–90 % (domain brief §3).", ge=0)
    pass_back: Prob = F(0.003, "Probability a unit passes back an issue that is clearly its own. "
                        "Source: calibrated to Lianyungang 98.1 % done first time (2017).")
    pass_back_ambiguous: Prob = F(0.3, "Probability a unit passes back an issue whose "
                                  "responsibility is ambiguous. Assumption (0.2–0.7); blame "
                                  "avoidance (倪星 & 王锐 2018).")
    pass_back_misdispatched: Prob = F(0.95, "Probability a unit passes back an issue dispatched to "
                                      "it by mistake. Assumption (0.8–1).")
    push_down: Prob = F(0.3, "Share of a line department's pass-backs that it pushes straight "
                        "down to the township office (属地管理) instead of back to the platform. "
                        "Assumption (0–0.6); the township left holding the blame (袁梦甜 & "
                        "彭建军 2021).")
    township_staff: int = F(24, "Staff of each township office handling territorial (块) "
                            "orders. Assumption (10–40), calibrated to utilisation 0.7–0.8.",
                            ge=1)
    quality: Prob = F(0.96, "Probability that a closure by a unit truly resolves the issue. "
                      "Source: Dongcheng handling 96.5 % (Xinhua 2005).")
    service: Literal["exponential", "lognormal"] = F("lognormal", "Distribution of work content. "
                                                     "Assumption: lognormal fits the heavy right "
                                                     "tail of NYC 311 times to close.")
    service_cv: float = F(2.0, "Coefficient of variation of work content (lognormal only). "
                          "Assumption (0.5–2.5).", gt=0)
    max_work_factor: float = F(20.0, "Work content is capped at this multiple of its mean, "
                               "so that the lognormal tail cannot produce issues of months of "
                               "work. Assumption (10–50).", gt=1)
    severity_hours: tuple[float, float, float] = F(
        (0.5, 1.0, 3.0), "Work content of minor, ordinary and major issues as multiples of the "
        "category's mean. Assumption (minor 0.3–0.7, major 2–5).")
    coordination_hours: float = F(5.0, "Working hours added to an issue with a co-handling "
                                  "department (协办) for coordination. Assumption (2–24).", ge=0)


class Department(Section):
    """A functional department (职能部门, 条)."""

    name: str = F(..., "Identifier. Source: seed (四) lists urban management, housing, public "
                  "security, civil affairs... (domain brief §1).")
    staff: int = F(..., "Staff who handle issues, each one issue at a time. Assumption "
                   "(3–80 in a district), calibrated to utilisation 0.4–0.85.", ge=1)
    level: Literal["district", "city"] = F("district", "A district department (each district "
                                           "has its own, with ``staff`` each) or one city "
                                           "department (市直, ``staff`` in all) serving every "
                                           "district. Source: seed (四) 条块; which departments "
                                           "are city-level is an assumption.")


class Category(Section):
    """A category of issue and how it arises."""

    name: str = F(..., "Identifier. Source: domain brief (at least 8 categories).")
    rate: float = F(..., "Issues arising per 1,000 residents per year. Assumption, scaled so that "
                    "reports reach ~0.2/resident/year (Beijing 12345: ~1 contact/resident/year "
                    "incl. enquiries, 2023).", ge=0)
    minor_share: Prob = F(0.5, "Share that is minor (settleable by residents or grid). "
                          "Assumption.")
    major_share: Prob = F(0.05, "Share that is major (see units.severity_hours). Assumption.")
    hours: float = F(6.0, "Mean work content of an ordinary issue in working hours. Assumption; "
                     "Dongcheng mean handling ≤ 7 h (secondary).", gt=0)
    deadline_days: float = F(5.0, "Working days allowed before the issue is overdue. Assumption "
                             "(1–15), typical 12345 time limits.", gt=0)
    lead: str = F(..., "Lead department (主办). Source: seed (四) 主办、协办和配合.")
    co: str | None = F(None, "Co-handling department (协办), if any. Source: seed (四).")
    territorial_share: Prob = F(0.8, "Share dispatched to the township under 属地管理 (块). "
                                "Source: Yichun 12345 sent 85 % of orders to 块 (2023).")
    ambiguous_share: Prob = F(0.05, "Share whose responsibility is ambiguous. Assumption.")
    collective_share: Prob = F(0.0, "Share that concerns many households at once (a collective "
                               "grievance if unresolved). Assumption.")
    utility: bool = F(False, "A public service (水电气暖) run by a utility: see public_services. "
                      "Source: seed (三).")
    heating: bool = F(False, "Follows the heating season (public_services.heating_factor). "
                      "Source: seed (三) 暖.")

    @model_validator(mode="after")
    def _shares(self) -> Category:
        if self.minor_share + self.major_share > 1 + 1e-12:
            raise ValueError("minor_share + major_share must not exceed 1")
        return self


class GridScenario(Section):
    """Everything the model needs. Sections mirror the seed's actors."""

    name: str = F("baseline", "Scenario name. Assumption: free text.")
    description: str = F("", "One line shown by `gridsim scenarios`. Assumption: free text.")
    run: Run = Field(default_factory=Run, description="Source: issue #2.")
    city: City = Field(default_factory=City, description="Source: domain brief §1.")
    district: District = Field(default_factory=District, description="Source: issue #2.")
    office_calendar: Calendar = Field(
        default_factory=Calendar,
        description="Departments' and township offices' staff, and deadlines in working days: "
                    "8:30, 8 hours, 5 days a week. Source: civil-service office hours 8:30–17:30 "
                    "with the lunch break left out (8 working hours, to 16:30 on the model's "
                    "clock); Labour Law art. 36 (8 hours a day, a 5-day week).")
    grid_calendar: Calendar = Field(
        default_factory=lambda: Calendar(open_hour=8.0, hours=10.0, workdays=7),
        description="Grid leaders: 8:00, 10 hours, every day. Assumption (grid work is daily; "
                    "8:00–18:00).")
    platform_calendar: Calendar = Field(
        default_factory=lambda: Calendar(open_hour=8.0, hours=10.0, workdays=7),
        description="Township platforms' operators: 8:00, 10 hours, every day. Assumption "
                    "(from office hours to 24 hours).")
    hotline_calendar: Calendar = Field(
        default_factory=lambda: Calendar(open_hour=0.0, hours=24.0, workdays=7),
        description="The district platform's hotline operators: 24 hours, every day. Source: "
                    "12345 hotlines answer 24 hours a day.")
    residents: Residents = Field(default_factory=Residents, description="Source: seed (二).")
    grid_leaders: GridLeaders = Field(default_factory=GridLeaders, description="Source: seed (二).")
    work_teams: WorkTeams = Field(default_factory=WorkTeams, description="Source: seed (七).")
    platform: Platform = Field(default_factory=Platform, description="Source: seed (五).")
    units: Units = Field(default_factory=Units, description="Source: seed (四), (五).")
    offloading: Offloading = Field(default_factory=Offloading, description="Source: seed (二).")
    grievances: Grievances = Field(default_factory=Grievances,
                                   description="Source: domain brief §3 (petitions −30 %, mass "
                                               "incidents −69 %, Zhengzhou 2013).")
    duties: Duties = Field(default_factory=Duties, description="Source: seed (四).")
    costs: Costs = Field(default_factory=Costs, description="Assumption: hourly costs.")
    campaign: Campaign = Field(default_factory=Campaign, description="Source: seed (六).")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Source: seed (八).")
    public_services: PublicServices = Field(default_factory=PublicServices,
                                            description="Source: seed (三).")
    training: Training = Field(default_factory=Training, description="Source: seed (九).")
    departments: list[Department] = Field(default_factory=list,
                                          description="Source: seed (四).")
    categories: list[Category] = Field(default_factory=list,
                                       description="Source: domain brief §1.")

    @model_validator(mode="after")
    def _consistent(self) -> GridScenario:
        names = [d.name for d in self.departments]
        if not names:
            raise ValueError("departments: at least one department is needed")
        if len(set(names)) != len(names):
            raise ValueError("departments: names must be unique")
        if not self.categories:
            raise ValueError("categories: at least one category is needed")
        for i, c in enumerate(self.categories):
            for role in ("lead", "co"):
                dep = getattr(c, role)
                if dep is not None and dep not in names:
                    raise ValueError(f"categories[{i}].{role}: unknown department {dep!r}")
        known = {c.name for c in self.categories}
        for i, name in enumerate(self.campaign.categories):
            if name not in known:
                raise ValueError(f"campaign.categories[{i}]: unknown category {name!r}")
        d, k = self.district, self.city.districts
        if d.grids_per_township is not None and d.grids_per_township < d.villages_per_township:
            raise ValueError(f"district.grids_per_township: fewer grids "
                             f"({d.grids_per_township}) than villages "
                             f"({d.villages_per_township}) in a township")
        n_agents = self.n_grids * d.resident_agents_per_grid
        if n_agents > self.population:
            raise ValueError(f"district.resident_agents_per_grid: more resident agents "
                             f"({n_agents}) than residents ({self.population})")
        staff = (sum(x.staff * (k if x.level == "district" else 1) for x in self.departments)
                 + self.n_townships * (self.units.township_staff
                                       + self.work_teams.members_per_township
                                       + self.platform.township_operators)
                 + k * self.platform.district_operators + (self.city.operators if k > 1 else 0)
                 + self.n_villages * self.grid_leaders.level2_per_village + self.n_grids)
        if staff > self.population:
            raise ValueError(f"district.population: fewer residents ({self.population}) than "
                             f"staff ({staff})")
        return self

    @property
    def population(self) -> int:
        """Residents of all districts."""
        return self.city.districts * self.district.population

    @property
    def n_townships(self) -> int:
        """Townships of all districts."""
        return self.city.districts * self.district.townships

    @property
    def n_villages(self) -> int:
        return self.n_townships * self.district.villages_per_township

    @property
    def n_grids(self) -> int:
        d = self.district
        per_town = d.grids_per_township or d.villages_per_township * d.grids_per_village
        return self.n_townships * per_town

    def village_of_grid(self) -> np.ndarray:
        """The village (level-2 grid) of each level-3 grid: a township's grids in order, spread
        over its villages as evenly as possible."""
        d = self.district
        grid = np.arange(self.n_grids)
        if d.grids_per_township is None:
            return grid // d.grids_per_village
        town, j = np.divmod(grid, d.grids_per_township)
        return town * d.villages_per_township + j * d.villages_per_township \
            // d.grids_per_township

    @property
    def ruling_k(self) -> float:
        """The ruling threshold as a number (``inf`` for never)."""
        k = self.platform.ruling_threshold
        return math.inf if k == "never" else float(k)


# ---------------------------------------------------------------------------------------------
# Loading, overriding and reporting errors


SCENARIO_DIR = resources.files("sim") / "scenarios"


def scenario_names() -> list[str]:
    return sorted(p.name[:-5] for p in SCENARIO_DIR.iterdir() if p.name.endswith(".toml"))


def _locate(name_or_path: str | Path) -> tuple[str, str]:
    """Return (label, text) for a scenario name or a path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        try:
            return str(p), p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            raise ScenarioError(str(p), "file", f"cannot read ({reason})") from None
    name = str(name_or_path)
    if name not in scenario_names():
        raise ScenarioError(name, "scenario",
                            f"unknown scenario (known: {', '.join(scenario_names())})")
    res = SCENARIO_DIR / f"{name}.toml"
    return f"sim/scenarios/{name}.toml", res.read_text(encoding="utf-8")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("int", "constrained-int", "literal['never']"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def validate(data: dict[str, Any], source: str) -> GridScenario:
    """Build a scenario from a dict, turning the first validation error into a ScenarioError."""
    try:
        return GridScenario.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        # a mistyped key is also a missing one: name the typo, which says what to fix
        e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        msg = e["msg"].removeprefix("Value error, ")
        branches = [x["msg"] for x in errors if _loc(x["loc"]) == _loc(e["loc"])]
        if len(branches) > 1:                          # a union: say every form it takes
            msg = _either(branches)
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + did_you_mean(e["loc"])
        named = re.match(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$", msg)
        if named and e["loc"] == ():                   # a cross-field check names its key
            raise ScenarioError(source, named[1], named[2]) from None
        raise ScenarioError(source, _loc(e["loc"]), msg) from None


def did_you_mean(loc: tuple, root: type[BaseModel] | None = None) -> str:
    """' (did you mean 'x'?)' for a mistyped key at ``loc`` of ``root`` (a scenario unless
    said), or ''."""
    import difflib
    import typing
    model: Any = root or GridScenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        ann = field.annotation
        for arg in (ann, *typing.get_args(ann)):    # a section, or a list of entries
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                model = arg
                break
        else:
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(getattr(model, "model_fields", {})),
                                      n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _either(messages: list[str]) -> str:
    """'Input should be a valid integer, ...' and 'Input should be 'never'' -> 'Input should
    be a valid integer or 'never''."""
    head = "Input should be "
    if not all(m.startswith(head) for m in messages):
        return " / ".join(messages)
    return head + " or ".join(m.removeprefix(head).split(",")[0] for m in messages)


def parse_value(text: str) -> Any:
    """Parse the value of a ``--set key=value`` as TOML, falling back to a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], source: str) -> None:
    """Set ``section.key`` (or ``section__key``) values in ``data`` in place. An entry of a
    list (``departments``, ``categories``) is named by its name: ``departments.housing.staff``.
    """
    for dotted, value in overrides.items():
        parts = dotted.replace("__", ".").split(".")
        node: Any = data
        model: Any = GridScenario
        i = 0
        while True:
            part, fields = parts[i], getattr(model, "model_fields", None)
            if fields is None or part not in fields:
                import difflib
                close = difflib.get_close_matches(part, list(fields or ()), n=1)
                hint = f" (did you mean '{'.'.join([*parts[:i], close[0]])}'?)" if close else ""
                raise ScenarioError(source, dotted, "unknown parameter" + hint)
            if i == len(parts) - 1:
                node[part] = value
                break
            entry = _entry_model(fields[part].annotation)
            if entry is not None:          # the entry named parts[i + 1]
                entries = [e for e in node.get(part) or [] if isinstance(e, dict)]
                name = parts[i + 1]
                found = [e for e in entries if e.get("name") == name]
                if not found:
                    known = ", ".join(str(e.get("name")) for e in entries)
                    raise ScenarioError(source, dotted, f"no entry named {name!r} in {part} "
                                        f"(known: {known})")
                if i + 2 >= len(parts):
                    raise ScenarioError(source, dotted, f"name one of its fields: "
                                        f"{part}.{name}.FIELD")
                node, model, i = found[0], entry, i + 2
                continue
            node = node.setdefault(part, {})
            ann = fields[part].annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            i += 1


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """The entries' model of a list of named entries (``list[Department]``), else None."""
    import typing
    if typing.get_origin(annotation) is not list:
        return None
    (arg,) = typing.get_args(annotation)
    named = isinstance(arg, type) and issubclass(arg, BaseModel) and "name" in arg.model_fields
    return arg if named else None


def value_at(data: dict[str, Any], dotted: str) -> Any:
    """The value of ``section.key`` in a scenario's data (entries of lists by their name, as
    :func:`apply_overrides` sets them); KeyError if there is none."""
    node: Any = data
    parts = dotted.replace("__", ".").split(".")
    i = 0
    while i < len(parts):
        if isinstance(node, list):
            found = [e for e in node if isinstance(e, dict) and e.get("name") == parts[i]]
            if not found:
                raise KeyError(dotted)
            node = found[0]
        elif isinstance(node, dict) and parts[i] in node:
            node = node[parts[i]]
        else:
            raise KeyError(dotted)
        i += 1
    return node


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge key by key, everything else (lists too) replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(name_or_path: str | Path, seen: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """A scenario's data with its ``base`` scenario (if any) merged underneath."""
    source, text = _locate(name_or_path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, "toml", f"malformed TOML ({err})") from None
    if not seen and "name" not in data:
        # a file's results are named after it, not after the scenario it extends (they would
        # replace that scenario's results in results/runs/)
        data["name"] = Path(source).stem
    base = data.pop("base", None)
    if base is None:
        return source, data
    if not isinstance(base, str):
        raise ScenarioError(source, "base", "must be a scenario name or a path")
    if source in seen:
        raise ScenarioError(source, "base", "scenarios extend each other in a circle")
    if "/" in base or base.endswith(".toml"):
        base = str(Path(source).parent / base)
    return source, _merge(_read(base, (*seen, source))[1], data)


def load_scenario(name_or_path: str | Path = "baseline",
                  overrides: dict[str, Any] | None = None,
                  label: str = "overrides") -> GridScenario:
    """Load a named scenario (``gridsim scenarios``) or a TOML file, then apply overrides.

    A file may start from another scenario with ``base = "baseline"`` (or a relative path) and
    set only what differs: tables merge key by key, lists (departments, categories) replace.
    """
    source, data = _read(name_or_path)
    if not overrides:
        return validate(data, source)
    before = copy.deepcopy(data)
    apply_overrides(data, overrides, label)
    try:
        return validate(data, source)
    except ScenarioError as err:
        raise _blame(err, overrides, before, source, label) from None


def _blame(err: ScenarioError, overrides: dict[str, Any], before: dict[str, Any],
           source: str, label: str) -> ScenarioError:
    """Name the ``--set`` behind an error rather than the file, when it is the cause: the
    error's key is (inside) an overridden one or contains it, or the file alone is valid."""
    overridden = [k.replace("__", ".") for k in overrides]

    def related(key: str) -> bool:
        return any(err.key == k or err.key.startswith((f"{k}.", f"{k}["))
                   or k.startswith((f"{err.key}.", f"{err.key}[")) for k in [key])

    named = [k for k in overridden if related(k)]
    if not named:
        try:
            validate(before, source)
        except ScenarioError:
            return err                       # the file is wrong whatever the overrides
        named = overridden
    if named == [err.key]:                   # "--set: key: message", the key said once
        return ScenarioError(label, err.key, err.message)
    return ScenarioError(f"{label} " + ", ".join(named), err.key, err.message)


def resolve(scenario: GridScenario | str | Path,
            overrides: dict[str, Any] | None = None, label: str = "overrides") -> GridScenario:
    """A scenario object, name or path, with ``section.key`` / ``section__key`` overrides;
    ``label`` names the overrides in errors (``--set`` on the command line)."""
    if not isinstance(scenario, GridScenario):
        return load_scenario(scenario, overrides, label)
    if not overrides:
        return scenario
    data = scenario.model_dump(mode="json")
    apply_overrides(data, overrides, label)
    return validate(data, label)


def resolved_dict(scenario: GridScenario) -> dict[str, Any]:
    """The fully resolved scenario as plain JSON-able data."""
    return scenario.model_dump(mode="json")

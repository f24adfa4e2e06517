"""What a run reports, by name: its headline metrics and the columns of its daily timeseries.

Both are defined in ``docs/outputs.md``. They are listed here, apart from the code that computes
them, so that an experiment file can be checked (``outcomes``, ``series``) without importing or
running the model; ``tests/test_experiment.py`` holds both lists to what a run reports.
"""

from __future__ import annotations

# headline metrics, in the order summary.json gives them (sim/metrics.py, then sim/api.py's
# costs); a metric whose set is empty is left out of a run's summary
METRICS: tuple[str, ...] = (
    "issues_arisen", "discovered_share", "lapsed_share",
    *(f"settled_by_{who}_share" for who in (
        "residents", "grid_l3", "grid_l2", "work_team", "department", "township")),
    "reported", "dispatched", "closure_rate", "on_time_rate", "dispatch_accuracy",
    "done_first_time", "territorial_share", "rejections_per_issue", "ruled_share",
    "reopen_share", "superficial_share",
    "time_to_close_q1_days", "time_to_close_median_days", "time_to_close_q3_days",
    "time_to_close_mean_days", "time_to_close_mean_over_median", "time_to_close_township_cv",
    "time_to_close_gap_urban_rural_days", "true_resolution_rate", "satisfaction_mean",
    "discovered_share_grid_p10", "petitions", "incidents", "leader_turnover",
    "leader_stress_mean", "leader_skill_mean", "hidden_stock_mean", "open_stock_mean",
    "leader_overload_share_mean", "trust_final", "circulating_stock_mean",
    "staff_hours_total", "cost_total", "cost_per_resolved_issue",
)

# where an open issue can be (sim.issues.Status before CLOSED, in its order)
_OPEN = ("hidden", "settling", "grid_l3", "grid_l2", "platform", "ruling", "screening",
         "queued", "in_service")

# the daily timeseries' columns, in order (sim/observe.py's daily row, then sim/tables.py's
# utilisation by kind of pool)
SERIES: tuple[str, ...] = (
    "day", "arisen", "discovered", "reported_to_platform", "dispatched", "rejections",
    "pushed_down", "handed_down", "rulings", "escalations", "closed", "reopened", "lapsed",
    "petitions", "incidents", "campaign", "surge",
    *(f"open_{s}" for s in _OPEN), "open_total", "open_overdue",
    *(f"avg_{s}" for s in _OPEN),
    "leader_hours_mean", "leader_demand_hours_mean", "leader_overload_share",
    "patrol_hours_mean", "admin_hours_mean", "service_hours_mean", "leader_stress_mean",
    "leader_skill_mean", "leader_turnover", "unit_effort_mean", "unit_readiness_mean",
    "unit_superficial_mean", "trust_mean",
    *(f"utilisation_{kind}" for kind in (
        "line", "territory", "platform_district", "platform_township")),
)

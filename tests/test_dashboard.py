"""The pilot scenario, the dashboard's model and figures, and the report, without a browser
(tests/test_browser.py looks at them in one)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cli import main
from sim.scenario import ScenarioError, load_scenario


def test_the_pilot_has_the_jianzhong_street_grids():
    sc = load_scenario("pilot")
    assert (sc.n_townships, sc.n_villages, sc.n_grids) == (1, 14, 44)
    per_village = np.bincount(sc.village_of_grid(), minlength=14)
    assert per_village.sum() == 44 and set(per_village) == {3, 4}      # as even as can be
    assert np.all(np.diff(sc.village_of_grid()) >= 0)                  # grids in village order


def test_uneven_grids_spread_over_every_township():
    sc = load_scenario("small", {"district.grids_per_township": 7})   # 3 villages a township
    village = sc.village_of_grid()
    assert sc.n_grids == 14
    assert np.bincount(village).tolist() == [3, 2, 2, 3, 2, 2]


def test_fewer_grids_than_villages_is_an_error():
    with pytest.raises(ScenarioError, match="grids_per_township"):
        load_scenario("small", {"district.grids_per_township": 2})


def test_the_dashboard_model_applies_its_levers():
    from sim.app import DashboardModel
    m = DashboardModel("pilot", seed=3, offloading_share=0.4, evaluation="two-way review",
                       ruling_threshold=6, joint_review_days=14, work_team_alignment=1.0,
                       self_governance=0.9)
    sc = m.scenario_spec
    assert sc.offloading.issue_share == 0.4
    assert sc.platform.ruling_threshold == "never" and sc.platform.joint_review_days == 14
    assert sc.work_teams.aligned == 1.0
    assert sc.residents.organiser_coverage_urban == sc.residents.organiser_coverage_rural == 0.9
    assert sc.evaluation.adapt and sc.evaluation.rule == "ranking"
    assert sc.evaluation.weights.grid_rating == 1.0
    for _ in range(3):
        m.step()
    assert m.day == 3 and len(m.satisfaction) == 3


def test_an_unknown_evaluation_design_is_refused():
    from sim.app import lever_overrides
    with pytest.raises(ValueError, match="evaluation"):
        lever_overrides(0.0, "bonuses for everyone", 2, 0, 0.5, 0.7)


def test_the_controls_start_from_the_scenario():
    from sim.app import initial_model, model_params
    params = model_params("pilot")
    sc = load_scenario("pilot")
    assert params["offloading_share"].value == sc.offloading.issue_share
    assert params["joint_review_days"].value == sc.platform.joint_review_days
    assert initial_model("pilot").scenario_spec == sc     # untouched controls change nothing


def test_the_map_colours_follow_the_model():
    from sim.app import MAP_MEASURES, DashboardModel, grid_backlog, map_figure, queues_figure
    m = DashboardModel("pilot")
    assert grid_backlog(m).sum() == 0                    # nothing known on day 0
    for _ in range(10):
        m.step()
    backlog = grid_backlog(m)
    assert len(backlog) == 44 and backlog.sum() > 0
    for measure, (values_of, _) in MAP_MEASURES.items():
        values = values_of(m)
        assert len(values) == 44 and np.all(np.isfinite(values))
        fig = map_figure(m, measure)
        assert np.allclose(fig.axes[0].collections[0].get_array(), values)
    queues = queues_figure(m)
    assert len(queues.axes[0].get_yticklabels()) == len(m.nodes) - m.first_platform_node


def test_viz_refuses_an_unknown_scenario(capsys):
    assert main(["viz", "no_such_scenario"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_scenario" in err[0]


def test_report_refuses_a_directory_without_an_experiment(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "experiment.toml" in err[0]
    assert not (tmp_path / "report.html").exists()


def test_a_report_from_a_fresh_clone_says_where_its_series_charts_are(tmp_path, capsys):
    """The committed results carry no runs (not in git): the report must say so."""
    import shutil
    from pathlib import Path
    committed = Path(__file__).resolve().parents[1] / "results" / "offloading"
    shutil.copytree(committed, tmp_path / "offloading", ignore=shutil.ignore_patterns("runs"))
    assert main(["report", str(tmp_path / "offloading")]) == 0
    capsys.readouterr()
    html = (tmp_path / "offloading" / "report.html").read_text(encoding="utf-8")
    assert "The daily series (open_hidden, leader_stress_mean, leader_overload_share, " \
        "leader_skill_mean) are drawn from the stored runs" in html


def test_viz_serves_this_machine_only_unless_told(monkeypatch, capsys):
    """The server command `gridsim viz` becomes: 127.0.0.1 by default, a real port for 0."""
    import os
    calls = []
    monkeypatch.setattr(os, "execve", lambda exe, cmd, env: calls.append((cmd, env)))
    main(["viz", "pilot", "--port", "0"])            # execve replaced: returns
    cmd, env = calls[-1]
    host, port = cmd[cmd.index("--host") + 1], int(cmd[cmd.index("--port") + 1])
    assert host == "127.0.0.1" and port > 0
    assert f"http://127.0.0.1:{port}/" in capsys.readouterr().out
    assert env["GRIDSIM_VIZ_SCENARIO"] == "pilot" and env["GRIDSIM_VIZ_LANG"] == "en"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    main(["viz", "small", "--host", "0.0.0.0", "--port", "9123"])
    cmd, env = calls[-1]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and "9123" in cmd
    assert env["GRIDSIM_VIZ_SCENARIO"] == "small"
    assert "warning" not in capsys.readouterr().err
    main(["viz", "zhengzhou", "--port", "9124"])      # a city: it starts, with a warning
    assert calls[-1][1]["GRIDSIM_VIZ_SCENARIO"] == "zhengzhou"
    assert "zhengzhou has 18,000 grids" in capsys.readouterr().err


def test_the_dashboard_asks_only_for_translated_text():
    """Every label the dashboard draws or shows has a Chinese translation."""
    from sim.app import (
        DashboardModel,
        design_names,
        lever_help,
        live_figure,
        map_figure,
        measure_names,
        model_params,
        queues_figure,
    )
    from sim.i18n import language, recording, table
    m = DashboardModel("pilot")
    m.step()
    with language("zh"), recording() as seen:
        for measure in ("backlog", "trust", "stress"):
            map_figure(m, measure)
        queues_figure(m)
        live_figure(m)
        live_figure(DashboardModel("pilot"))          # day 0: the "press Step" note
        model_params("pilot")
        lever_help()
        design_names()
        measure_names()
    assert len(seen) > 30
    assert not seen - set(table("zh")), sorted(seen - set(table("zh")))

"""Charts come out as readable PNGs, on full and sparse runs; docs/outputs.md lists every column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.api import Results, run
from sim.charts import write_charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED = ("open_stock", "time_to_close", "rejections", "leader_workload",
            "trust_satisfaction", "utilisation")
DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


@pytest.fixture(scope="module")
def small_run() -> Results:
    return run("small", days=60)


def _check_pngs(paths: list[Path], out: Path, min_bytes: int) -> None:
    assert sorted(p.name for p in paths) == sorted(f"{n}.png" for n in EXPECTED)
    for name in EXPECTED:
        path = out / f"{name}.png"
        assert path.is_file(), path
        assert path.read_bytes()[:8] == PNG_MAGIC, path
        assert path.stat().st_size > min_bytes, path


def test_write_charts(small_run: Results, tmp_path: Path) -> None:
    out = tmp_path / "charts"            # does not exist yet
    paths = write_charts(small_run, out)
    _check_pngs(paths, out, min_bytes=10_000)


def test_charts_on_a_tiny_run(tmp_path: Path) -> None:
    res = run("small", days=3)
    _check_pngs(write_charts(res, tmp_path), tmp_path, min_bytes=3_000)


def test_charts_without_closures_or_data(small_run: Results, tmp_path: Path) -> None:
    """No closures at all, then empty tables: every chart still comes out ("no data")."""
    iss = small_run.issues
    open_only = iss[iss["status"] != "closed"].assign(closed_day=float("nan"))
    sparse = Results(issues=open_only, events=small_run.events.iloc[:0],
                     timeseries=small_run.timeseries.iloc[:5], agents=small_run.agents.iloc[:0],
                     nodes=small_run.nodes.iloc[:0], summary=small_run.summary)
    _check_pngs(write_charts(sparse, tmp_path / "sparse"), tmp_path / "sparse", 3_000)
    empty = pd.DataFrame()
    nothing = Results(issues=empty, events=empty, timeseries=empty, agents=empty, nodes=empty,
                      summary={})
    _check_pngs(write_charts(nothing, tmp_path / "empty"), tmp_path / "empty", 3_000)


def test_outputs_doc_lists_every_column() -> None:
    res = run("small", days=30)
    doc = DOC.read_text(encoding="utf-8")
    tables = ("issues", "events", "timeseries", "agents", "nodes")
    missing = [f"{table}.{col}" for table in tables
               for col in getattr(res, table).columns if f"`{col}`" not in doc]
    assert not missing, f"docs/outputs.md does not mention: {missing}"


def test_results_written_whole_or_not_at_all(small_run: Results, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables (written in a thread) and charts (drawn beside them) all land; an error in
    either reaches the caller once the tables' thread is done, and the output directory is
    left as it was."""
    import sim.charts
    import sim.output as output
    out = output.write_results(small_run, tmp_path / "run")
    back = output.read_results(out)
    pd.testing.assert_frame_equal(back.issues, small_run.issues)
    _check_pngs(sorted((out / "charts").glob("*.png")), out / "charts", min_bytes=10_000)

    def table_fails(df: pd.DataFrame, path: Path) -> None:
        raise OSError(f"disk full writing {path.name}")

    def charts_fail(res: Results, out_dir: Path) -> list[Path]:
        raise RuntimeError("no font")

    for target, name, broken, error in ((output, "write_table", table_fails, OSError),
                                        (sim.charts, "write_charts", charts_fail,
                                         RuntimeError)):
        with monkeypatch.context() as m:
            m.setattr(target, name, broken)
            with pytest.raises(error):
                output.write_results(small_run, tmp_path / "run")
        assert output.read_results(out).issues.equals(back.issues)   # the old results stand
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing left behind


LONG_LABELS = ["Baseline: half posted by function, long term, engaged", "No work teams",
               "Posted at random", "All posted by function, full powers",
               "Rule on flagged issues at intake (k = 0)",
               "Never rule, joint review every 7 days",
               "Duties defined: half the ambiguity (职能界定)",
               "16 h a week in the area instead of 8"]


@pytest.mark.parametrize("n", [2, 4, 6, 8])
def test_outcome_chart_labels_do_not_overlap(n: int) -> None:
    """Variant names under the axis, and the differences over the points, stay apart however
    many variants share the axis (22-character lines overlapped from five on)."""
    from itertools import pairwise

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from sim.experiment_charts import outcome_chart
    variants = ["baseline", *(f"v{i}" for i in range(1, n))]
    table = pd.DataFrame({"outcome": "closure_rate", "variant": variants,
                          "mean": 0.9 + 0.0001 * np.arange(n), "ci": 0.0002,
                          "diff": 0.0001 * np.arange(n), "diff_ci": 0.00025,
                          "excludes_zero": True})
    fig = outcome_chart(table, "closure_rate", dict(zip(variants, LONG_LABELS, strict=False)))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    for group in (ax.get_xticklabels(), ax.texts):
        boxes = [t.get_window_extent(renderer) for t in group if t.get_text()]
        assert len(boxes) >= n - 1
        for a, b in pairwise(boxes):
            assert a.x1 <= b.x0, (n, a, b)


def test_adequacy_chart_does_not_grey_out_under_many_variants() -> None:
    """Six variants with the same final mean: the background inside their target bands stays
    white (their bands, filled one over another, once greyed out the whole chart)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from sim.sensitivity_charts import adequacy_chart
    k = np.arange(1, 11)
    curves = pd.DataFrame({"variant": np.repeat([f"v{i}" for i in range(6)], len(k)),
                           "k": np.tile(k, 6), "mean": 0.95, "ci": np.tile(0.01 / k, 6)})
    fig = adequacy_chart(curves, "closure_rate", {}, 0.05, 8)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    ax = fig.axes[0]
    x, y = ax.transData.transform((5.5, 0.95 * 0.975))    # in the band, away from the curves
    row, col = pixels.shape[0] - round(y), round(x)      # display y runs upwards
    assert pixels[row, col, :3].min() > 230, pixels[row, col]


def test_campaign_and_surge_days_are_flagged_and_marked():
    from sim.api import run
    from sim.charts import open_stock
    res = run("small", days=60, seed=2, overrides={
        "campaign.days": 10, "campaign.start_day": 20, "residents.surge_days": 5,
        "residents.surge_start_day": 40})
    ts = res.timeseries
    assert list(ts.loc[ts["campaign"] == 1, "day"]) == list(range(20, 30))
    assert list(ts.loc[ts["surge"] == 1, "day"]) == list(range(40, 45))
    labels = [t.get_text() for t in open_stock(res, 0).axes[0].get_legend().get_texts()]
    assert "campaign days (集中整治)" in labels and "demand surge" in labels
    plain = run("small", days=30, seed=2)
    assert plain.timeseries[["campaign", "surge"]].eq(0).all().all()

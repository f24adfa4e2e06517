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

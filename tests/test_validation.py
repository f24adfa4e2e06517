"""Validation (docs/validation.md): the formulas, the pattern detectors, and every check of the
fast configuration run through `run_validation`, as `gridsim validate --fast` runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.cli import main
from sim.validate import Outcome, run_validation
from sim.validate.config import load_validation
from sim.validate.patterns import is_s_shaped
from sim.validate.report import load_tables, write_report
from sim.validate.theory import MMc, jackson_rates


# --- formulas -------------------------------------------------------------------------------
@given(st.floats(0.05, 0.95), st.floats(0.1, 10))
def test_erlang_c_reduces_to_mm1(rho: float, mu: float) -> None:
    q = MMc(lam=rho * mu, mu=mu, c=1)
    assert q.p_wait == pytest.approx(rho)
    assert q.wait == pytest.approx(rho / (mu - rho * mu))


@given(st.integers(1, 30), st.floats(0.05, 0.95))
def test_erlang_c_is_a_probability_and_falls_with_staff(c: int, rho: float) -> None:
    q, bigger = MMc(rho * c, 1.0, c), MMc(rho * (c + 1), 1.0, c + 1)
    assert 0.0 < q.p_wait < 1.0
    assert bigger.p_wait < q.p_wait            # economies of scale at equal load
    assert q.p_wait_longer(0.0) == pytest.approx(q.p_wait)


def test_erlang_c_known_value() -> None:
    # M/M/2 at λ = 1.6, μ = 1: C = ρ²·2/(1 + ρ) with ρ = 0.8 → 0.7111
    assert MMc(1.6, 1.0, 2).p_wait == pytest.approx(0.711111, abs=1e-6)


@given(st.floats(0.0, 0.9), st.floats(0.1, 100))
def test_jackson_feedback_loop(p: float, gamma: float) -> None:
    routing = np.array([[0, 1, 0], [p, 0, 1 - p], [0, 0, 0]])
    lam = jackson_rates(routing, np.array([gamma, 0, 0]))
    np.testing.assert_allclose(lam, [gamma / (1 - p), gamma / (1 - p), gamma], rtol=1e-9)


def test_s_shape_detector() -> None:
    t = np.arange(36, dtype=float)
    logistic = 0.5 + 0.45 / (1 + np.exp(-0.4 * (t - 15)))
    assert is_s_shaped(logistic)[0]
    assert not is_s_shaped(0.5 + 0.01 * t)[0]                       # a line
    assert not is_s_shaped(0.95 - 0.45 * np.exp(-0.2 * t))[0]         # concave, no inflection
    assert not is_s_shaped(logistic[::-1])[0]                         # falling


# --- the fast configuration, end to end -----------------------------------------------------
@pytest.fixture(scope="module")
def fast() -> Outcome:
    return run_validation(load_validation(fast=True), jobs=2)


def test_mmc_agrees_with_erlang_c(fast: Outcome) -> None:
    assert len(fast.mmc) == 2 and fast.mmc["holds"].all(), fast.mmc


def test_feedback_agrees_with_jackson(fast: Outcome) -> None:
    fb = fast.feedback.set_index("statistic")
    assert fb["holds"].all(), fb
    assert fb.loc["visits", "estimate"] == pytest.approx(1 / 0.7, rel=0.02)


def test_littles_law_holds_for_every_node(fast: Outcome) -> None:
    little = fast.little
    assert set(little["scenario"]) == {"small", "mmc"}
    assert {"grid_l3", "grid_l2", "platform:district", "line:department"} <= set(
        little["subsystem"])
    assert (little["relative_error"] <= 1e-9).all(), little


def test_patterns_are_measured(fast: Outcome) -> None:
    """Every target has a value and a verdict (or is marked as reported only)."""
    for table in (fast.calibration, fast.patterns):
        assert table["holds"].map(lambda h: h is None or isinstance(h, bool)).all()
        checked = table[table["holds"].notna()]
        assert len(checked) >= 5
    pat = fast.patterns.set_index("pattern")
    tail = pat.filter(like="heavy right tail", axis=0)["value"].iloc[0]
    assert 1.0 < tail < 10.0
    assert fast.checks()["holds"].dtype == bool


def test_report_and_render_only(fast: Outcome, tmp_path: Path) -> None:
    doc = write_report(fast, tmp_path / "validation.md", {"commit": "abc", "date": "today"})
    text = doc.read_text(encoding="utf-8")
    for heading in ("## 1. Exact checks", "### M/M/c", "### Feedback", "### Little's law",
                    "## 2. Patterns", "### Held-out patterns", "## 3. Fitted parameters"):
        assert heading in text
    folder = tmp_path / "validation"
    assert (folder / "mmc.png").stat().st_size > 5_000
    assert (folder / "switch.png").stat().st_size > 5_000
    again = load_tables(folder)
    pd.testing.assert_frame_equal(again.mmc, fast.mmc, check_dtype=False)
    assert again.checks()["holds"].tolist() == fast.checks()["holds"].tolist()
    assert main(["validate", "--render-only", "--out", str(doc)]) == (0 if fast.passed else 1)
    assert doc.read_text(encoding="utf-8").split("git commit")[1:] != []


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["little.scenarios", "mmc.replications"])
def test_bad_validation_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         key: str) -> None:
    src = (Path(__file__).resolve().parents[1] / "experiments" / "validation.toml").read_text(
        encoding="utf-8")
    bad = {"little.scenarios": src.replace('scenarios = ["small", "mmc"]',
                                           'scenarios = ["small", "nowhere"]'),
           "mmc.replications": src.replace("replications = 10", "replications = 1")}[key]
    path = tmp_path / "v.toml"
    path.write_text(bad, encoding="utf-8")
    out = tmp_path / "doc.md"
    assert main(["validate", "--fast", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and key.split(".")[0] in err, err
    assert not out.exists()


def test_render_only_without_tables_is_bad_input(tmp_path: Path) -> None:
    assert main(["validate", "--render-only", "--out", str(tmp_path / "v.md")]) == 2


def test_a_page_written_elsewhere_links_its_own_figures(fast: Outcome, tmp_path: Path) -> None:
    doc = write_report(fast, tmp_path / "validation-fast.md",
                       {"commit": "abc", "date": "today", "tables": "results/validation-fast"})
    text = doc.read_text(encoding="utf-8")
    assert "](validation-fast/mmc.png)" in text and "](validation-fast/switch.png)" in text
    assert "`results/validation-fast/*.csv`" in text and "](validation/" not in text

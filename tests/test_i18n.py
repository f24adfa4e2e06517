"""Chart text goes through one translation table (sim/locale/zh.toml), and Chinese charts render.

Checks: every literal ``tr("...")`` in ``sim/`` has a Chinese entry; drawing every run,
experiment and sensitivity chart in Chinese asks only for templates in the table; the Chinese
templates have the English ones' fields; the vendored font holds every character; no glyph is
missing when the Chinese charts are saved; metric labels and units translate; the Markdown
report stays English.
"""

from __future__ import annotations

import ast
import io
import string
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

import sim.i18n
from sim.analysis import compare, comparison_markdown, metric_label, metric_unit
from sim.api import Results, run
from sim.charts import CHARTS
from sim.experiment_charts import outcome_chart, series_chart
from sim.i18n import language, recording, tr
from sim.sensitivity_charts import adequacy_chart, morris_chart, sobol_chart

SIM = Path(__file__).resolve().parents[1] / "sim"
ZH = sim.i18n.table("zh")
OUTCOMES = ["closure_rate", "time_to_close_median_days", "rejections_per_issue", "petitions"]
SERIES = ["open_total", "avg_hidden", "utilisation_line", "leader_hours_mean", "trust_mean",
          "closed"]           # one column per branch of series_unit
LABELS = {"baseline": "Baseline", "poor": "Poor dispatch"}


@pytest.fixture(scope="module")
def small_run() -> Results:
    return run("small", days=30, record_events=False)


def _run_figures(res: Results) -> list[Figure]:
    """Every run chart on ``res``, on a run without closures and on empty tables."""
    iss = res.issues
    open_only = iss[iss["status"] != "closed"].assign(closed_day=float("nan"))
    sparse = Results(issues=open_only, events=res.events.iloc[:0],
                     timeseries=res.timeseries.iloc[:5], agents=res.agents.iloc[:0],
                     nodes=res.nodes.iloc[:0], summary=res.summary)
    empty = pd.DataFrame()
    nothing = Results(issues=empty, events=empty, timeseries=empty, agents=empty, nodes=empty,
                      summary={})
    warmup = int(res.summary["warmup_days"])
    return [draw(r, warmup) for r in (res, sparse, nothing) for draw in CHARTS.values()]


def _metrics_frame() -> pd.DataFrame:
    """Synthetic per-run metrics: two variants x four replications."""
    rng = np.random.default_rng(1)
    rows = [{"variant": v, "replication": r, "seed": r,
             **{o: float(rng.uniform(0.2, 0.9)) for o in OUTCOMES}}
            for v in LABELS for r in range(4)]
    return pd.DataFrame(rows)


def _experiment_figures() -> list[Figure]:
    table = compare(_metrics_frame(), OUTCOMES)
    rows = [{"variant": v, "replication": r, "day": d, **{c: 0.1 * d + r for c in SERIES}}
            for v in LABELS for r in range(3) for d in range(12)]
    series = pd.DataFrame(rows)
    figs = [outcome_chart(table, o, LABELS) for o in OUTCOMES]
    figs += [series_chart(series, c, LABELS, warmup=3) for c in SERIES]
    figs.append(outcome_chart(table.iloc[:0], OUTCOMES[0], LABELS))        # no data
    figs.append(series_chart(series.iloc[:0], SERIES[0], LABELS, warmup=3))
    return figs


def _sensitivity_figures() -> list[Figure]:
    params = ["platform.dispatch_accuracy", "grid_leaders.level3_hours", "residents.trust"]
    sobol = pd.DataFrame({"parameter": params, "S1": [0.5, 0.2, 0.05],
                          "S1_conf": [0.05, 0.04, 0.03], "ST": [0.6, 0.3, 0.1],
                          "ST_conf": [0.06, 0.05, 0.04]})
    morris = pd.DataFrame({"parameter": params, "mu_star": [0.3, 0.1, 0.02],
                           "mu_star_conf": [0.03, 0.02, 0.01], "mu": [0.3, -0.1, 0.0],
                           "sigma": [0.1, 0.05, 0.01]})
    k = np.arange(1, 6)
    by_variant = pd.DataFrame({"variant": np.repeat(list(LABELS), 5), "k": np.tile(k, 2),
                               "mean": 0.5 + 0.1 / np.tile(k, 2), "ci": 0.2 / np.tile(k, 2)})
    by_point = by_variant.assign(point=np.repeat([0, 1], 5))
    figs = []
    for o in OUTCOMES[:2]:
        figs += [sobol_chart(sobol, o, 64), morris_chart(morris, o),
                 adequacy_chart(by_variant, o, LABELS, 0.05, 8),
                 adequacy_chart(by_point, o, LABELS, 0.05, 8)]
    figs += [sobol_chart(sobol.iloc[:0], "closure_rate", 64),
             morris_chart(morris.iloc[:0], "closure_rate"),
             adequacy_chart(by_variant.iloc[:0], "closure_rate", LABELS, 0.05, 8)]
    return figs


@pytest.fixture(scope="module")
def zh_figures(small_run: Results) -> tuple[dict[str, list[Figure]], set[str]]:
    """Every chart drawn in Chinese, by kind, and the templates asked for while drawing."""
    with language("zh"), recording() as seen:
        figs = {"run": _run_figures(small_run), "experiment": _experiment_figures(),
                "sensitivity": _sensitivity_figures()}
    return figs, seen


def _fields(template: str) -> list[tuple[str, str, str | None]]:
    return sorted((name, spec or "", conv) for _, name, spec, conv
                  in string.Formatter().parse(template) if name is not None)


def _literal_templates() -> dict[str, list[str]]:
    """Literal first arguments of ``tr(...)`` calls in sim/, with where they are."""
    found: dict[str, list[str]] = {}
    for path in sorted(SIM.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            arg = node.args[0]
            if name == "tr" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(f"{path.name}:{node.lineno}")
    return found


def test_every_literal_template_is_in_the_table() -> None:
    found = _literal_templates()
    assert len(found) > 50, "the scan found too few tr() calls: is it broken?"
    missing = {t: where for t, where in found.items() if t not in ZH}
    assert not missing, f"not in sim/locale/zh.toml: {missing}"


def test_charts_in_chinese_ask_only_for_known_templates(
        zh_figures: tuple[dict[str, list[Figure]], set[str]]) -> None:
    figs, seen = zh_figures
    assert all(figs.values())
    assert len(seen) > 50
    assert not seen - ZH.keys(), f"not in sim/locale/zh.toml: {sorted(seen - ZH.keys())}"
    # each kind of chart asks for its own wording
    for template in ("no data", "no closures", "Open issues by stage (day averages)",
                     "baseline mean", "{column}: mean over replications, shaded from min to max",
                     "Sobol' indices: {title}", "Morris screening: {title}",
                     "Replication adequacy: {title}", "{label}, point {point}"):
        assert template in seen, template


def test_charts_are_drawn_in_chinese(
        zh_figures: tuple[dict[str, list[Figure]], set[str]]) -> None:
    figs, _ = zh_figures
    open_stock = figs["run"][0]
    assert open_stock.axes[0].get_title() == ZH["Open issues by stage (day averages)"]
    assert figs["experiment"][0].axes[0].get_xlabel() == ZH["variant"]
    with language("en"):
        assert CHARTS["open_stock"](Results(*(pd.DataFrame(),) * 5, summary={}), 0) \
            .axes[0].get_title() == "Open issues by stage (day averages)"


def test_chinese_templates_have_the_english_fields() -> None:
    assert ZH, "empty table"
    bad = {en: zh for en, zh in ZH.items() if _fields(en) != _fields(zh)}
    assert not bad, f"fields differ: {bad}"
    assert all(zh.strip() for zh in ZH.values())


def test_the_vendored_font_holds_every_character() -> None:
    """Chinese characters (and full-width punctuation) must be in the vendored subset; the rest
    (Latin, digits, Greek, ±, –) comes from Matplotlib's DejaVu Sans or the subset."""
    cjk = TTFont(sim.i18n.FONT).getBestCmap()
    latin = TTFont(font_manager.findfont("DejaVu Sans", fallback_to_default=False)).getBestCmap()
    text = "".join(ZH.values())
    missing_cjk = sorted({c for c in text if ord(c) >= 0x2E80 and ord(c) not in cjk})
    missing = sorted({c for c in text if ord(c) < 0x2E80 and c != "\n"
                      and ord(c) not in cjk and ord(c) not in latin})
    assert not missing_cjk, f"not in {sim.i18n.FONT.name} (choose other words): {missing_cjk}"
    assert not missing, f"in no font: {missing}"


def test_the_vendored_font_holds_the_chinese_of_the_code() -> None:
    """Labels in the code (the dashboard's 推诿, 裁决 ...) render too: every Chinese character
    of ``sim/**/*.py`` is in the subset (else re-run scripts/subset_cjk_font.py)."""
    cjk = TTFont(sim.i18n.FONT).getBestCmap()
    root = Path(sim.i18n.__file__).parent
    text = "".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    missing = sorted({c for c in text if 0x3400 <= ord(c) <= 0x9FFF and ord(c) not in cjk})
    assert not missing, f"not in {sim.i18n.FONT.name}: {missing}"


def test_chinese_charts_render_without_missing_glyphs(
        zh_figures: tuple[dict[str, list[Figure]], set[str]]) -> None:
    """Saving draws every text with Matplotlib's font fallback: no glyph may be missing. One
    chart of each function is saved (saving is slow); every text of every chart is checked
    against the fonts' character maps."""
    figs, _ = zh_figures
    saved = [*figs["run"][:len(CHARTS)], figs["experiment"][0], figs["experiment"][len(OUTCOMES)],
             *figs["sensitivity"][:3]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fig in saved:
            fig.savefig(io.BytesIO(), format="png", dpi=30)
    glyphs = [str(w.message) for w in caught if "Glyph" in str(w.message)
              or "missing from font" in str(w.message)]
    assert not glyphs, glyphs[:5]
    fonts = (TTFont(sim.i18n.FONT).getBestCmap(),
             TTFont(font_manager.findfont("DejaVu Sans", fallback_to_default=False)).getBestCmap())
    texts = {t.get_text() for group in figs.values() for fig in group
             for t in fig.findobj(Text)}
    assert any(ord(c) >= 0x4E00 for text in texts for c in text), "no Chinese drawn"
    missing = {c for text in texts for c in text
               if c != "\n" and not any(ord(c) in cmap for cmap in fonts)}
    assert not missing, f"in no font: {sorted(missing)}"


def test_metric_labels_and_units_translate(small_run: Results) -> None:
    names = list(small_run.summary["metrics"])
    assert len(names) > 20
    with language("en"):
        english = {n: (metric_label(n), metric_unit(n)) for n in names}
    with language("zh"), recording() as seen:
        chinese = {n: (metric_label(n), metric_unit(n)) for n in names}
    assert not seen - ZH.keys(), f"not in sim/locale/zh.toml: {sorted(seen - ZH.keys())}"
    for n in names:
        label, unit = english[n]
        assert label in ZH and unit in ZH, (n, label, unit)
        assert chinese[n] == (ZH[label], ZH[unit]), n


def test_comparison_markdown_stays_english() -> None:
    exp = SimpleNamespace(labels=LABELS, design=None, variant_names=list(LABELS),
                          replications=4, title="T", question="", scenario="small", days=30,
                          warmup_days=7, seed=1, seeds="common")
    table = compare(_metrics_frame(), OUTCOMES)
    english = comparison_markdown(exp, table, 8)
    with language("zh"):
        assert comparison_markdown(exp, table, 8) == english
        assert metric_label("closure_rate") == ZH["closure rate"]     # the language is back
    assert "closure rate (share)" in english


def test_tr_fills_fields_after_translation() -> None:
    assert tr("warm-up ({days} days)", days=7) == "warm-up (7 days)"
    with language("zh"):
        assert tr("warm-up ({days} days)", days=7) == ZH["warm-up ({days} days)"] \
            .format(days=7)
        assert tr("not a template in the table") == "not a template in the table"

"""A self-contained HTML report of an experiment's results (``gridsim report results/NAME``).

One file, ``results/NAME/report.html`` (``report.zh.html`` in Chinese), that opens anywhere
without a network: the question, the scenario and variants, the comparison table with its
intervals, every chart (drawn afresh in the report's language and embedded as PNG), the
sensitivity results if ``gridsim analyze`` was run, and the manifest. Reads only the
documented tables of the results directory (``docs/outputs.md``); runs nothing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sim.analysis import load_series, metric_label, metric_unit, planned, pm
from sim.experiment import BASELINE, Experiment, read_experiment
from sim.i18n import font_face_css, language, tr
from sim.output import write_text
from sim.scenario import ScenarioError

TARGET = 0.05      # `gridsim analyze`'s default --target, for tables that do not record it
CSS = """
body { font-family: "Noto Sans SC", "DejaVu Sans", Roboto, Arial, sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
blockquote { margin: 1rem 0; padding: .5rem 1rem; background: #f4f6f8;
             border-left: 4px solid #0072B2; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f4f6f8; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; } code { font-size: .9em; }
pre { background: #f4f6f8; padding: .8rem; overflow-x: auto; font-size: .8rem; }
.sig { font-weight: bold; }
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure_html(fig: Figure, name: str, caption: str) -> str:
    return (f'<figure data-chart="{html.escape(name)}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{_png(fig)}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def _table(header: list[str], rows: list[list[str]], numeric_from: int | None = 1) -> str:
    """An HTML table; columns from ``numeric_from`` on (none if None) align as numbers."""
    numeric_from = len(header) if numeric_from is None else numeric_from
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _setup(exp: Experiment) -> str:
    """The scenario, the run plan and the variants with their settings."""
    plan = _table([tr("setting"), tr("value")], [
        [tr("scenario"), f"<code>{html.escape(exp.scenario)}</code>"],
        [tr("days per run"), tr("{days:,} (metrics after a {warmup:,}-day warm-up)",
                                days=exp.days, warmup=exp.warmup_days)],
        [tr("replications per variant"), str(exp.replications)],
        [tr("root seed"), tr("{seed} (common random numbers: replication r of every variant "
                             "uses the same seed)", seed=exp.seed)
         if exp.seeds == "common" else
         tr("{seed} (independent: each design point and replication has its own seed, shared "
            "by every variant)", seed=exp.seed) if exp.design is not None else
         tr("{seed} (independent: each variant and replication has its own seed)",
            seed=exp.seed)],
    ], numeric_from=None)
    rows = []
    for v in exp.variant_names:
        sets = exp.variant_overrides(v)
        text = ", ".join(f"<code>{html.escape(k)} = {html.escape(json.dumps(x))}</code>"
                         for k, x in sets.items()) or tr("the scenario as it is")
        rows.append([f"<code>{html.escape(v)}</code>", html.escape(exp.labels.get(v, v)), text])
    variants = _table([tr("variant"), tr("label"), tr("settings")], rows, numeric_from=None)
    design = ""
    if exp.design is not None:
        design = "<p>" + html.escape(tr("Each variant runs over a {method} design of {n} points "
                                        "in {k} parameters.", method=exp.design.method,
                                        n=exp.design.size(), k=len(exp.parameters))) + "</p>"
        design += _table([tr("parameter"), tr("values")], [
            [f"<code>{html.escape(name)}</code>", html.escape(
                ", ".join(json.dumps(v) for v in p.values) if p.values is not None
                else tr("from {low} to {high}", low=p.min, high=p.max))]
            for name, p in exp.design.parameters.items()], numeric_from=None)
    return plan + variants + design


def _comparison(exp: Experiment, table: pd.DataFrame) -> str:
    """Per outcome: each variant's mean ± CI and its paired difference from the baseline."""
    out = ["<p>" + html.escape(tr(
        "Mean ± half-width of the 95 % confidence interval (Student t over replications). The "
        "difference from the baseline is paired by replication (common random numbers); bold "
        "marks a difference whose interval excludes 0.") if exp.design is None else tr(
        "Mean ± half-width of the 95 % confidence interval (Student t over the runs: design "
        "points × replications, so it holds the spread between points as well as the seeds' "
        "noise). The difference from the baseline is paired by design point and replication; "
        "bold marks a difference whose interval excludes 0.")) + "</p>"]
    for outcome, part in table.groupby("outcome", sort=False):
        label, unit = html.escape(metric_label(outcome)), html.escape(metric_unit(outcome))
        out.append(f"<h3>{label} <small>({unit}; <code>{html.escape(outcome)}</code>)</small>"
                   "</h3>")
        rows = []
        for r in part.itertuples():
            if r.variant == BASELINE:
                diff = html.escape(tr("(baseline)"))
            else:
                diff = html.escape(pm(r.diff, r.diff_ci, sign=True))
                diff = f'<span class="sig">{diff}</span>' if r.excludes_zero else diff
            rows.append([html.escape(exp.labels.get(r.variant, r.variant)), str(r.n),
                         html.escape(pm(r.mean, r.ci)), diff])
        out.append(_table([tr("variant"), tr("n"), tr("mean ± CI"),
                           tr("difference from baseline ± CI")], rows))
    return "\n".join(out)


def _charts(exp: Experiment, table: pd.DataFrame, out: Path) -> str:
    from sim.experiment_charts import outcome_chart, series_chart
    parts = [_figure_html(outcome_chart(table, o, exp.labels), f"outcome_{o}",
                          tr("{label}: each variant's mean with its 95 % CI",
                             label=metric_label(o))) for o in exp.outcomes]
    if exp.series and exp.design is None:
        series = load_series(out / "runs", **planned(exp, out / "runs")) \
            if (out / "runs").is_dir() else None
        if series is None or series.empty:      # the runs are not in git
            parts.append("<p>" + html.escape(tr(
                "The daily series ({columns}) are drawn from the stored runs, which are not "
                "here: run the experiment (gridsim experiment run) to draw them.",
                columns=", ".join(exp.series))) + "</p>")
        else:
            parts += [_figure_html(series_chart(series, c, exp.labels, exp.warmup_days),
                                   f"series_{c}", tr("{column}: daily mean over replications",
                                                     column=c)) for c in exp.series]
    return "\n".join(parts)


def _sensitivity(exp: Experiment, out: Path) -> str:
    """What ``gridsim analyze`` wrote, if anything: its tables redrawn as charts."""
    from sim.sensitivity import MAX_CELLS
    from sim.sensitivity_charts import adequacy_chart, morris_chart, sobol_chart
    src = out / "sensitivity"
    parts: list[str] = []
    if (src / "sobol.csv").is_file():
        sobol = pd.read_csv(src / "sobol.csv")
        for (variant, outcome), rows in sobol.groupby(["variant", "outcome"], sort=False):
            parts.append(_figure_html(sobol_chart(rows, outcome, exp.design.size()
                                                  if exp.design else 0),
                                      f"sobol_{outcome}__{variant}",
                                      tr("Sobol' indices of {label} ({variant})",
                                         label=metric_label(outcome), variant=variant)))
    if (src / "morris.csv").is_file():
        morris = pd.read_csv(src / "morris.csv")
        for (variant, outcome), rows in morris.groupby(["variant", "outcome"], sort=False):
            parts.append(_figure_html(morris_chart(rows, outcome), f"morris_{outcome}__{variant}",
                                      tr("Morris screening of {label} ({variant})",
                                         label=metric_label(outcome), variant=variant)))
    if (src / "adequacy.csv").is_file() and (src / "cumulative.csv").is_file():
        adequacy = pd.read_csv(src / "adequacy.csv")
        curves = pd.read_csv(src / "cumulative.csv")
        # the target `gridsim analyze --target` used (older tables do not record it)
        target = float(adequacy["target"].iloc[0]) if "target" in adequacy and len(adequacy) \
            else TARGET
        by_point = "point" in adequacy.columns
        rows = [[html.escape(exp.labels.get(r.variant, r.variant)),
                 *([str(int(r.point))] if by_point else []),
                 html.escape(metric_label(r.outcome)), str(r.n), html.escape(pm(r.mean, r.ci)),
                 f"{r.rel_ci:.2%}", str(r.n_needed)]
                for r in adequacy.itertuples() if "variant" in adequacy.columns]
        parts.append("<p>" + html.escape(tr(
            "Replications needed for a 95 % interval within ±{target:.0%} of the mean.",
            target=target)) + "</p>")
        parts.append(_table([tr("variant"), *([tr("design point")] if by_point else []),
                             tr("outcome"), tr("n"), tr("mean ± CI"), tr("CI / mean"),
                             tr("replications needed")], rows,
                            numeric_from=3 if by_point else 2))
        for outcome in exp.outcomes:
            part = curves[curves["outcome"] == outcome]
            parts.append(_figure_html(adequacy_chart(part, outcome, exp.labels, target,
                                                     MAX_CELLS), f"adequacy_{outcome}",
                                      tr("Replication adequacy of {label}",
                                         label=metric_label(outcome))))
    return "\n".join(parts)


def _manifest(out: Path) -> str:
    path = out / "manifest.json"
    if not path.is_file():
        return "<p>" + html.escape(tr("No manifest.json in this directory.")) + "</p>"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    brief = {k: v for k, v in data.items() if k != "runs"}
    runs = data.get("runs", [])
    return ("<p>" + html.escape(tr("{done} of {planned} runs finished; {n} run files with their "
                                  "SHA-256 in the manifest.", done=data.get("runs_done", "?"),
                                  planned=data.get("runs_planned", "?"), n=len(runs)))
            + "</p><details><summary>" + html.escape(tr("manifest.json (without the runs)"))
            + f"</summary><pre>{html.escape(json.dumps(brief, indent=2, ensure_ascii=False))}"
            "</pre></details>")


def render(out_dir: str | Path, lang: str = "en") -> str:
    """The report of the results in ``out_dir`` as one HTML document."""
    out = Path(out_dir)
    if not (out / "experiment.toml").is_file():
        raise ScenarioError(str(out), "experiment.toml", "not found: not an experiment's "
                            "results directory (run `gridsim experiment run FILE` first)")
    if not (out / "comparison.csv").is_file():
        raise ScenarioError(str(out), "comparison.csv", "not found (run `gridsim experiment "
                            "compare` on it first)")
    exp = read_experiment(out / "experiment.toml")
    table = pd.read_csv(out / "comparison.csv")
    with language(lang):
        sens = _sensitivity(exp, out)
        sections = [
            (tr("Question"), f"<blockquote>{html.escape(exp.question or exp.title)}</blockquote>"),
            (tr("Scenario and variants"), _setup(exp)),
            (tr("Comparison"), _comparison(exp, table)),
            (tr("Charts"), _charts(exp, table, out)),
            *([(tr("Sensitivity and replication adequacy"), sens)] if sens else []),
            (tr("Manifest"), _manifest(out)),
        ]
        title = html.escape(exp.title)
        body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections)
        note = html.escape(tr("Report of the experiment in {path}, drawn by gridsim report.",
                              path=out.as_posix()))
        # Chinese glyphs (of the translation or the experiment's own text) from an embedded
        # cut of the vendored font: the file shows them on a machine without a Chinese font
        css = CSS + font_face_css(title + body + note)
        return textwrap.dedent(f"""\
            <!doctype html>
            <html lang="{'zh-Hans' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
            <title>{title}</title><style>{css}</style></head>
            <body><h1>{title}</h1><p><small>{note}</small></p>
            """) + body + "\n</body></html>\n"


def write_report(out_dir: str | Path, lang: str = "en") -> Path:
    """Write ``report.html`` (``report.<lang>.html`` for another language) into ``out_dir``."""
    out = Path(out_dir)
    path = out / ("report.html" if lang == "en" else f"report.{lang}.html")
    write_text(path, render(out, lang))
    return path

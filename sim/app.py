"""The seminar dashboard: Mesa's SolaraViz on a scenario small enough to watch day by day.

Start it with ``gridsim viz [SCENARIO]`` (default ``pilot``), or ``solara run sim/app.py`` with
``GRIDSIM_VIZ_SCENARIO`` set. A map of the grids (schematic: no real geography), the queues of
departments and platforms, live charts, and controls for the main policy levers; a lever takes
effect on *Reset*, which builds a new model from the scenario with the levers applied.

Works offline: Solara serves the front end of ``solara-assets`` (with ``ipyvue<3``), and every
component is drawn with Matplotlib.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import markdown
import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

from sim.charts import BLUE, GREEN, OKABE_ITO, ORANGE, PURPLE, RED, SKY
from sim.i18n import FONT_FAMILY, font_face_css, language, table, tr, use_cjk_font
from sim.issues import Status
from sim.model import GridModel
from sim.scenario import resolve

SCENARIO = os.environ.get("GRIDSIM_VIZ_SCENARIO", "pilot")
LANG = os.environ.get("GRIDSIM_VIZ_LANG", "en")       # labels in English or Chinese (--lang)

# 考核: the evaluation designs of experiments/evaluation.toml, as scenario overrides
EVALUATION_DESIGNS: dict[str, dict[str, Any]] = {
    "as in the scenario": {},
    "fixed behaviour": {"evaluation.adapt": False},
    "nobody evaluates": {"evaluation.adapt": True, "evaluation.rule": "none"},
    "punitive closure targets": {"evaluation.adapt": True, "evaluation.rule": "penalty",
                                 "evaluation.weights.closure": 1.0,
                                 "evaluation.weights.on_time": 1.0},
    "two-way review": {"evaluation.adapt": True, "evaluation.rule": "ranking",
                       "evaluation.weights.grid_rating": 1.0,
                       "evaluation.weights.rejections": 1.0},
    "residents' league table": {"evaluation.adapt": True, "evaluation.rule": "ranking",
                                "evaluation.weights.satisfaction": 1.0,
                                "evaluation.weights.closure": 0.5},
}
NEVER = 6          # the ruling-threshold slider's top: the platform never rules (不裁决)


def lever_overrides(offloading_share: float, evaluation: str, ruling_threshold: int,
                    joint_review_days: int, work_team_alignment: float,
                    self_governance: float) -> dict[str, Any]:
    """The dashboard's levers as scenario overrides (``section.key``)."""
    if evaluation not in EVALUATION_DESIGNS:
        raise ValueError(f"evaluation: unknown design {evaluation!r}")
    return {
        "offloading.issue_share": offloading_share,
        "platform.ruling_threshold": "never" if ruling_threshold >= NEVER else ruling_threshold,
        "platform.joint_review_days": joint_review_days,
        "work_teams.aligned": work_team_alignment,
        "residents.organiser_coverage": self_governance,      # urban and rural alike
        **EVALUATION_DESIGNS[evaluation],
    }


def as_overrides(scenario: str, levers: dict[str, Any]) -> dict[str, Any]:
    """The levers that differ from the scenario, as its overrides: untouched controls leave
    the scenario exactly as it is."""
    sc = resolve(scenario).model_dump(mode="json")

    def now(key: str) -> Any:
        section, _, name = key.partition(".")
        if key == "residents.organiser_coverage":
            return sc["residents"]["organiser_coverage_urban"]
        value = sc[section]
        for part in name.split("."):
            value = value[part]
        return value

    out: dict[str, Any] = {}
    for key, value in levers.items():
        if now(key) == value:
            continue
        if key == "residents.organiser_coverage":
            out["residents.organiser_coverage_urban"] = value
            out["residents.organiser_coverage_rural"] = value
        else:
            out[key] = value
    return out


class DashboardModel(GridModel):
    """The grid model with the dashboard's levers as keyword arguments (SolaraViz builds a new
    one with the controls' values on Reset)."""

    # not ``scenario``: SolaraViz would pass Mesa's own Scenario object under that name
    def __init__(self, scenario_name: str = SCENARIO, seed: int = 1, offloading_share: float = 0.0,
                 evaluation: str = "as in the scenario", ruling_threshold: int = 2,
                 joint_review_days: int = 0, work_team_alignment: float = 0.5,
                 self_governance: float = 0.7):
        evaluation = {v: k for k, v in design_names().items()}.get(evaluation, evaluation)
        levers = lever_overrides(offloading_share, evaluation, ruling_threshold,
                                 joint_review_days, work_team_alignment, self_governance)
        changed = as_overrides(scenario_name, levers)
        super().__init__(scenario_name, seed=int(seed), record_events=False,
                         **{k.replace(".", "__"): v for k, v in changed.items()})
        self.evaluation = evaluation             # the design's name (the rest is in the spec)
        self.satisfaction: list[float] = []      # mean rating of each day's closures

    def step(self) -> None:
        super().step()
        self.satisfaction.append(self.residents.satisfaction_today)


def design_names() -> dict[str, str]:
    """Each evaluation design's name as the controls show it, in :data:`LANG`."""
    with language(LANG):
        shown = [tr("as in the scenario"), tr("fixed behaviour"), tr("nobody evaluates"),
                 tr("punitive closure targets"), tr("two-way review"),
                 tr("residents' league table")]
    return dict(zip(EVALUATION_DESIGNS, shown, strict=True))


def model_params(scenario: str = SCENARIO) -> dict[str, Any]:
    """SolaraViz's controls, starting from the scenario's own values."""
    sc = resolve(scenario)
    k = sc.platform.ruling_threshold
    names = design_names()
    with language(LANG):
        return {
            "scenario_name": scenario,
            "seed": {"type": "InputText", "value": sc.run.seed, "label": tr("Seed")},
            # short labels: a long one squeezes its slider to nothing; the help explains them
            "offloading_share": Slider(tr("Offloading"), sc.offloading.issue_share, 0.0, 1.0,
                                       0.05),
            "evaluation": {"type": "Select", "value": names["as in the scenario"],
                           "label": tr("Evaluation (考核)"), "values": list(names.values())},
            "ruling_threshold": Slider(tr("Ruling (裁决)"), NEVER if k == "never"
                                       else min(int(k), NEVER), 0, NEVER, 1),
            "joint_review_days": Slider(tr("Joint review"), sc.platform.joint_review_days, 0,
                                        60, 1),
            "work_team_alignment": Slider(tr("Team alignment"), sc.work_teams.aligned, 0.0,
                                          1.0, 0.05),
            "self_governance": Slider(tr("Self-governance"),
                                      sc.residents.organiser_coverage_urban, 0.0, 1.0, 0.05),
        }


def lever_help() -> str:
    """What the controls mean (Markdown), in :data:`LANG`."""
    with language(LANG):
        return "\n\n".join([
            "*" + tr("The map is schematic: its cells are level-3 grids grouped by community; "
                     "no real geography.") + "*",
            tr("**Levers** (applied on *Reset*; the running model's values are shown above the "
               "map): *Offloading*: share of territorial orders a township hands down to "
               "level-3 grid leaders (一压了之). *Evaluation*: how units are evaluated (考核). "
               "*Ruling*: pass-backs after which the platform rules who must handle an issue "
               "({never} = never). *Joint review*: days between departments' joint review "
               "meetings (0 = none). *Team alignment*: share of work-team members posted by "
               "function (职能对口). *Self-governance*: share of buildings with an organiser "
               "(楼栋长).", never=NEVER)])


def initial_model(scenario: str = SCENARIO) -> DashboardModel:
    """A model built from the controls' starting values (what Reset rebuilds)."""
    params = model_params(scenario)
    values = {k: (v.value if isinstance(v, Slider) else v["value"] if isinstance(v, dict)
                  else v) for k, v in params.items()}
    return DashboardModel(**values)


# ---------------------------------------------------------------------------------------------
# What the map can colour the grids by
def grid_backlog(model: GridModel) -> np.ndarray:
    """Known open issues of each level-3 grid (reported or found, not yet closed)."""
    iss = model.issues
    known = (iss.status > Status.HIDDEN) & (iss.status < Status.CLOSED)
    return np.bincount(iss.grid_l3[known], minlength=model.scenario_spec.n_grids)


def grid_trust(model: GridModel) -> np.ndarray:
    """Residents' trust in each grid (weighted by the people each resident agent stands for)."""
    r = model.residents
    n = model.scenario_spec.n_grids
    return (np.bincount(r.grid, weights=r.trust * r.weight, minlength=n)
            / np.maximum(np.bincount(r.grid, weights=r.weight, minlength=n), 1e-12))


def grid_stress(model: GridModel) -> np.ndarray:
    """The level-3 grid leader's stress (1 = overloaded for long)."""
    return np.asarray(model.grid_leaders.stress, dtype=float)


MAP_MEASURES = {"backlog": (grid_backlog, "Oranges"), "trust": (grid_trust, "Blues"),
                "stress": (grid_stress, "Purples")}


def measure_names() -> dict[str, tuple[str, str]]:
    """Each map measure's button and colour-bar label, in the current language."""
    return {"backlog": (tr("backlog"), tr("known open issues")),
            "trust": (tr("trust"), tr("residents' trust (0–1)")),
            "stress": (tr("stress"), tr("grid leader's stress"))}


def map_layout(model: GridModel) -> tuple[np.ndarray, np.ndarray]:
    """Schematic cell positions (x, y) of the level-3 grids: each village/community a column
    of cells, villages side by side within their township, townships in a near-square block
    (left to right, then down), with a gap between them."""
    sc = model.scenario_spec
    per_town = sc.district.villages_per_township
    village = sc.village_of_grid()
    first = np.r_[0, np.flatnonzero(np.diff(village)) + 1]      # each village's first grid
    row = np.arange(len(village)) - first[village]
    town = village // per_town
    across = int(np.ceil(np.sqrt(sc.n_townships)))               # townships per block row
    x = (town % across) * (per_town + 0.6) + village % per_town
    y = (town // across) * (row.max() + 1.6) + row
    return x.astype(float), -y.astype(float)


def map_figure(model: GridModel, measure: str) -> Figure:
    use_cjk_font()
    values_of, cmap = MAP_MEASURES[measure]
    label = measure_names()[measure][1]
    values = values_of(model)
    x, y = map_layout(model)
    fig = Figure(figsize=(7.5, 3.9), layout="constrained")
    ax = fig.subplots()
    top = max(float(np.max(values, initial=0)), 1.0) if measure == "backlog" else 1.0
    # cells as large as the grid of them allows (points across the axes per column or row)
    side = 0.75 * min(7.5 * 72 * 0.8 / (np.ptp(x) + 1), 3.9 * 72 * 0.65 / (np.ptp(y) + 1))
    cells = ax.scatter(x, y, c=values, cmap=cmap, marker="s", s=side ** 2, edgecolors="0.3",
                       linewidths=0.5 if side > 6 else 0, vmin=0, vmax=top)
    fig.colorbar(cells, ax=ax, label=label, shrink=0.8)
    ax.set_title(tr("Level-3 grids by community — {label}, day {day}", label=label,
                    day=model.day))
    ax.set_xlabel(tr("communities (level-2 grids) side by side within each township\n"
                     "Schematic map: each cell a level-3 grid; no real geography"), fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(0.08)
    return fig


def queues_figure(model: GridModel) -> Figure:
    """Open issues at each platform and unit, by stage."""
    use_cjk_font()
    iss = model.issues
    st, node = iss.status, iss.node
    names = model.nodes[model.first_platform_node:]
    stages = [(tr("at the platform"), Status.PLATFORM, SKY),
              (tr("ruling (裁决)"), Status.RULING, PURPLE),
              (tr("screening"), Status.SCREENING, ORANGE), (tr("queued"), Status.QUEUED, RED),
              (tr("in service"), Status.IN_SERVICE, GREEN)]
    fig = Figure(figsize=(7.5, 0.9 + 0.32 * len(names)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for label, status, colour in stages:
        n = np.bincount(node[st == status] - model.first_platform_node,
                        minlength=len(names))[: len(names)]
        ax.barh(y, n, left=left, color=colour, label=label)
        left += n
    ax.set_yticks(y, [n.replace(":", ": ").replace("_", " ") for n in names])
    ax.set_xlim(0, max(float(left.max(initial=0)), 1.0) * 1.05)
    ax.invert_yaxis()
    ax.set_xlabel(tr("open issues"))
    ax.set_title(tr("Platforms and units: their queues, day {day}", day=model.day))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=5,
               frameon=False, fontsize="small")
    return fig


def live_charts() -> dict[str, tuple[list[tuple[str, str, str]], str]]:
    """The live charts: title -> ([(daily column, label, colour)], unit), in the current
    language."""
    return {
        tr("backlog by stage"): ([("open_hidden", tr("hidden"), OKABE_ITO[7]),
                                  ("open_grid_l3", tr("grid level 3"), GREEN),
                                  ("open_grid_l2", tr("grid level 2"), SKY),
                                  ("open_platform", tr("platform"), PURPLE),
                                  ("open_screening", tr("screening"), ORANGE),
                                  ("open_queued", tr("queued"), RED),
                                  ("open_in_service", tr("in service"), BLUE)],
                                 tr("open issues (end of day)")),
        tr("pass-backs and rulings"): ([("rejections", tr("pass-backs (推诿)"), RED),
                                        ("rulings", tr("rulings (裁决)"), PURPLE),
                                        ("escalations", tr("escalations"), BLUE)],
                                       tr("per day")),
        tr("grid-leader overload"): ([("leader_overload_share", tr("leaders overloaded"),
                                       ORANGE),
                                      ("leader_stress_mean", tr("mean stress"), PURPLE)],
                                     tr("share / score")),
        tr("trust and satisfaction"): ([("trust_mean", tr("trust"), BLUE),
                                        ("satisfaction",
                                         tr("satisfaction with the day's closures"), GREEN)],
                                       tr("score 0–1")),
    }


def live_figure(model: GridModel) -> Figure:
    """The four live charts, one panel each, from the model's daily rows."""
    use_cjk_font()
    fig = Figure(figsize=(7.5, 7.0), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    rows = model.daily
    day = np.array([r["day"] + 1 for r in rows])
    for ax, (title, (series, unit)) in zip(axes, live_charts().items(), strict=True):
        ax.set_title(title)
        ax.set_xlabel(tr("day"))
        ax.set_ylabel(unit)
        ax.grid(True, color="0.9")
        for key, label, colour in series:
            values = (getattr(model, "satisfaction", []) if key == "satisfaction"
                      else [r[key] for r in rows] if rows and key in rows[0] else [])
            if len(values) == len(day) and len(day):
                ax.plot(day, values, color=colour, label=label, linewidth=1.4)
        if rows:
            ax.legend(frameon=False, fontsize="x-small")
        else:
            ax.text(0.5, 0.5, tr("press Step or ▶"), transform=ax.transAxes, ha="center",
                    color="0.4")
    return fig


# ---------------------------------------------------------------------------------------------
# Solara components
@solara.component
def GridMap(model: GridModel):
    update_counter.get()
    measure, set_measure = solara.use_state("backlog")
    with language(LANG):
        buttons = {shown: key for key, (shown, _) in measure_names().items()}
        solara.ToggleButtonsSingle(value=next(b for b, k in buttons.items() if k == measure),
                                   values=list(buttons),
                                   on_value=lambda shown: set_measure(buttons[shown]))
        solara.FigureMatplotlib(map_figure(model, measure), format="png")


@solara.component
def Queues(model: GridModel):
    update_counter.get()
    with language(LANG):
        solara.FigureMatplotlib(queues_figure(model), format="png")


@solara.component
def LiveCharts(model: GridModel):
    update_counter.get()
    with language(LANG):
        solara.FigureMatplotlib(live_figure(model), format="png")


@solara.component
def DayCard(model: GridModel):
    """The day, the open issues and the levers the running model was built with."""
    update_counter.get()
    last = model.daily[-1] if model.daily else {}
    sc = model.scenario_spec              # what the running model was built with
    evaluation = design_names()[getattr(model, "evaluation", "as in the scenario")]
    k, review = sc.platform.ruling_threshold, sc.platform.joint_review_days
    with language(LANG):
        levers = " · ".join([
            tr("offloading {offloading:g}", offloading=sc.offloading.issue_share),
            tr("evaluation: {evaluation}", evaluation=evaluation),
            tr("no ruling") if k == "never" else tr("ruling after {k} pass-backs", k=k),
            tr("joint review every {review} days", review=review) if review else
            tr("no joint review"),
            tr("team alignment {aligned:g}", aligned=sc.work_teams.aligned),
            tr("self-governance {coverage:g}", coverage=sc.residents.organiser_coverage_urban)])
        text = "\n\n".join([
            tr("**Day {day}** · open issues {open:,} · scenario `{scenario}` · seed {seed}",
               day=model.day, open=int(last.get("open_total", 0)), scenario=sc.name,
               seed=model.seed_value), levers, lever_help()])
    # rendered here, not by solara.Markdown, whose front end fetches KaTeX (for formulas
    # this text has none) from a CDN: offline, a console error on every page
    solara.HTML(tag="div", unsafe_innerHTML=markdown.markdown(text))


@functools.cache
def font_css() -> str:
    """The Chinese characters of this page from the vendored font, embedded as CSS, so the
    browser needs no Chinese font of its own (offline, on any laptop)."""
    text = Path(__file__).read_text(encoding="utf-8") + SCENARIO
    if LANG != "en":
        text += "".join(table(LANG).values())
    return (font_face_css(text)
            + f"\n.v-application, .v-application .text-h6, .solara-markdown, .solara-markdown *"
            f" {{font-family: '{FONT_FAMILY}', Roboto, sans-serif !important;}}")


@solara.component
def Page():
    """The dashboard: SolaraViz with the map, the queues and the live charts; each browser
    session gets a model of its own."""
    model = solara.use_memo(initial_model, [])
    with language(LANG):
        title = tr("grid governance (网格化管理)")
    solara.Style(font_css())
    SolaraViz(model, components=[(DayCard, 0), (GridMap, 0), (Queues, 0), (LiveCharts, 0)],
              model_params=model_params(SCENARIO),
              name=f"gridsim · {SCENARIO} · {title}", play_interval=150)

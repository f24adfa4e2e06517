"""The scenario schema: documented parameters, the generated reference, the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.paramdoc import iter_fields, parameters_markdown
from sim.scenario import GridScenario, ScenarioError, load_scenario, scenario_names

REPO = Path(__file__).resolve().parents[1]
PARAMETERS_MD = REPO / "docs" / "parameters.md"
REGENERATE = "PYTHONPATH=. python -m sim.cli params --write docs/parameters.md"

LEAVES = list(iter_fields(GridScenario))


def test_schema_has_leaf_parameters():
    names = [name for name, _, _ in LEAVES]
    assert len(names) > 50
    assert len(names) == len(set(names))
    # list sections are documented per entry
    assert "categories[].rate" in names and "departments[].staff" in names
    assert "platform.ruling_threshold" in names


@pytest.mark.parametrize("name,info", [(n, i) for n, i, _ in LEAVES], ids=[n for n, _, _ in LEAVES])
def test_every_parameter_names_its_source_or_assumption(name, info):
    doc = (info.description or "").lower()
    assert "source" in doc or "assumption" in doc, (
        f"parameter {name!r} must document its source ('Source: ...') or say 'Assumption' "
        f"with a plausible range; got {info.description!r}")


def test_parameters_md_is_up_to_date():
    assert PARAMETERS_MD.is_file(), f"docs/parameters.md is missing; run `{REGENERATE}`"
    current = PARAMETERS_MD.read_text(encoding="utf-8")
    assert current == parameters_markdown(), (
        f"docs/parameters.md is stale; regenerate it with `{REGENERATE}`")


def test_parameters_md_lists_every_parameter():
    text = parameters_markdown()
    for name, _, _ in LEAVES:
        assert f"| `{name}` |" in text, name


@pytest.mark.parametrize("name", scenario_names())
def test_shipped_scenarios_load(name):
    spec = load_scenario(name)
    assert isinstance(spec, GridScenario)
    assert spec.name == name
    assert spec.description, f"scenario {name!r} has no description for `gridsim scenarios`"


def test_baseline_and_small_are_shipped():
    assert {"baseline", "small"} <= set(scenario_names())


@pytest.mark.parametrize("value", [0, 3, "never"])
def test_ruling_threshold_accepts(value):
    spec = load_scenario("small", {"platform.ruling_threshold": value})
    assert spec.platform.ruling_threshold == value
    assert spec.ruling_k == (float("inf") if value == "never" else float(value))


@pytest.mark.parametrize("value", [-1, "sometimes"])
def test_ruling_threshold_rejects(value):
    with pytest.raises(ScenarioError) as info:
        load_scenario("small", {"platform.ruling_threshold": value})
    err = info.value
    assert "ruling_threshold" in str(err)
    assert "\n" not in str(err)


def test_overlapping_campaigns_are_rejected():
    with pytest.raises(ScenarioError, match=r"campaign\.every"):
        load_scenario("small", {"campaign.days": 60, "campaign.every": 30})
    assert load_scenario("small", {"campaign.days": 60, "campaign.every": 60}).campaign.every == 60

"""What ``gridsim validate`` checks: scenarios, run lengths, seeds and tolerances, fixed in
advance in ``experiments/validation.toml`` (read here, validated like a scenario)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.scenario import ScenarioError, _merge

DEFAULT = Path(__file__).resolve().parents[2] / "experiments" / "validation.toml"


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MMcCheck(Part):
    """M/M/c against Erlang C over a grid of loads and staff numbers."""

    scenario: str = "mmc"
    loads: list[float] = Field(min_length=1)
    servers: list[int] = Field(min_length=1)
    days: list[int] = Field(min_length=1, description="measured days per replication, by load")
    arrivals_per_day: float = Field(gt=0)
    replications: int = Field(ge=2)
    warmup_days: float = Field(ge=0)
    max_relative_half_width: float = Field(gt=0)

    @model_validator(mode="after")
    def _shapes(self) -> MMcCheck:
        if len(self.days) != len(self.loads):
            raise ValueError("days: one value per load")
        if not all(0 < x < 1 for x in self.loads):
            raise ValueError("loads: each must be between 0 and 1")
        if not all(c >= 1 for c in self.servers) or not all(d >= 1 for d in self.days):
            raise ValueError("servers, days: each must be at least 1")
        return self


class FeedbackCheck(Part):
    """The platform → department loop against its Jackson network."""

    scenario: str = "feedback"
    replications: int = Field(ge=2)
    warmup_days: float = Field(ge=0)
    days: int = Field(ge=1)
    default_slice_hours: float = Field(gt=0, le=24)


class LittleCheck(Part):
    """Little's law for every node of every listed scenario."""

    scenarios: list[str] | Literal["all"] = Field(
        "all", description="scenario names, or 'all' for every shipped scenario")
    exclude: list[str] = Field(default_factory=list,
                               description="scenarios left out of 'all'")
    days: int | None = Field(default=None, ge=2)

    def names(self) -> list[str]:
        from sim.scenario import scenario_names
        if self.scenarios != "all":
            return list(self.scenarios)
        return [n for n in scenario_names() if n not in self.exclude]
    max_relative_error: float = Field(gt=0)


class Convergence(Part):
    """Headline metrics of a scenario as the time slice shrinks (a numerical setting)."""

    scenario: str
    slice_hours: list[float] = Field(min_length=2)
    replications: int = Field(ge=1)
    days: int = Field(ge=1)
    metrics: list[str] = Field(min_length=1)


class Patterns(Part):
    """Runs for the patterns from the field (pattern-oriented modelling)."""

    scenario: str = "baseline"
    before: str = Field("before_mechanism", description="the counterfactual, applied to "
                        "``scenario`` as overrides")
    replications: int = Field(ge=2)
    days: int = Field(ge=60)
    warmup_days: int = Field(ge=0)
    switch_days: int = Field(ge=60, description="length of the evaluation-switch runs")
    surge: dict[str, Any]
    gaming: dict[str, dict[str, Any]]
    switch: dict[str, Any]


class Validation(Part):
    title: str
    seed: int = Field(ge=0)
    within_se: float = Field(gt=0)
    mmc: MMcCheck
    feedback: FeedbackCheck
    little: LittleCheck
    convergence: Convergence
    patterns: Patterns

    def seed_for(self, *key: int) -> int:
        """The seed of one run, from the root seed and the run's place in the checks."""
        return int(np.random.SeedSequence([self.seed, *key]).generate_state(1)[0])


def _loc(loc: tuple[Any, ...]) -> str:
    return re.sub(r"\.(\d+)", r"[\1]", ".".join(str(x) for x in loc)) or "file"


def load_validation(path: str | Path | None = None, fast: bool = False) -> Validation:
    """The checks of ``path`` (default ``experiments/validation.toml``); with ``fast``, its
    ``[fast]`` table merged over them (the tests' configuration)."""
    path = Path(path) if path else DEFAULT
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(source, "file", "not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(source, "toml", f"malformed TOML ({err})") from None
    quick = data.pop("fast", {})
    if fast:
        data = _merge(data, quick)
    try:
        cfg = Validation.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        raise ScenarioError(source, _loc(e["loc"]), e["msg"].removeprefix("Value error, ")) \
            from None
    return check_validation(cfg, source)


def check_validation(cfg: Validation, source: str) -> Validation:
    """Every scenario and override the checks name exists and is valid (before any run)."""
    from sim.scenario import resolve

    pat = cfg.patterns
    names = [("mmc.scenario", cfg.mmc.scenario), ("feedback.scenario", cfg.feedback.scenario),
             ("convergence.scenario", cfg.convergence.scenario),
             ("patterns.scenario", pat.scenario), ("patterns.before", pat.before)] + [
        (f"little.scenarios[{i}]", name) for i, name in enumerate(cfg.little.names())]
    for key, name in names:
        try:
            resolve(name)
        except ScenarioError as err:
            raise ScenarioError(source, key, f"{name}: {err.message}") from None
    surge = {k: v for k, v in pat.surge.items() if k != "window_days"}
    for key, overrides in [("patterns.surge", surge), ("patterns.switch", pat.switch)] + [
            (f"patterns.gaming.{k}", v) for k, v in pat.gaming.items()]:
        try:
            resolve(pat.scenario, overrides)
        except ScenarioError as err:
            raise ScenarioError(source, f"{key}.{err.key}", err.message) from None
    if set(pat.gaming) != {"punitive", "verified"}:
        raise ScenarioError(source, "patterns.gaming", "needs exactly 'punitive' and 'verified'")
    return cfg


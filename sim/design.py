"""Designs of experiments: which parameter values the runs of a sweep take (SALib samplers).

An experiment file may add a ``[design]``: parameters with ranges or lists of values, and a
method that turns them into design points. Every point is run ``replications`` times (and for
each policy variant, if the file has any).

    method      points                       parameters need   analysis (``gridsim analyze``)
    factorial   every combination of values  ``values``        per-point means
    lhs         ``samples`` Latin hypercube  ``min``/``max``   adequacy, per-point means
    sobol       ``samples`` x (D + 2), or    ``min``/``max``   Sobol' S1 and ST with CIs
                x (2D + 2) with second order                   (and S2)
    morris      ``samples`` trajectories x   ``min``/``max``   Morris mu*, sigma
                (D + 1), on ``levels`` levels

A parameter whose scenario default is an integer takes integer values, each integer of its
range equally likely. The samplers' randomness (Latin hypercube, scrambled Sobol', Morris
trajectories) comes from the experiment's root seed (:func:`design_seed`), so a design is
reproducible.
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

METHODS = ("factorial", "lhs", "sobol", "morris")


class Parameter(BaseModel):
    """One design parameter: ``{ min = a, max = b }`` or ``{ values = [...] }``."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    values: list[Any] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _range_or_values(self) -> Parameter:
        if self.values is None and (self.min is None or self.max is None):
            raise ValueError("give min and max, or values")
        if self.values is not None and (self.min is not None or self.max is not None):
            raise ValueError("give min and max, or values, not both")
        if self.values is None and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
        return self


class Design(BaseModel):
    """``[design]`` of an experiment file."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["factorial", "lhs", "sobol", "morris"]
    samples: int | None = Field(default=None, ge=1)
    second_order: bool = False        # sobol: also the second-order indices S2
    levels: int = Field(default=4, ge=2)   # morris: grid levels
    parameters: dict[str, Parameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_method(self) -> Design:
        ranged = self.method != "factorial"
        for name, p in self.parameters.items():
            if ranged and p.values is not None:
                raise ValueError(f"parameters.{name}: a {self.method} design samples a range: "
                                 "give min and max, not values")
            if not ranged and p.values is None:
                raise ValueError(f"parameters.{name}: a factorial design crosses lists of "
                                 "values: give values, not min and max")
        # a key the method does not use would be ignored without a word
        given = self.model_fields_set
        for key, method in (("levels", "morris"), ("second_order", "sobol")):
            if key in given and self.method != method:
                raise ValueError(f"{key}: only a {method} design takes it, not {self.method}")
        if "samples" in given and not ranged:
            raise ValueError("samples: a factorial design takes no sample size (its points "
                             "are every combination of the values)")
        if ranged and self.samples is None:
            raise ValueError(f"samples: missing ({self.method} needs a sample size)")
        if self.method == "sobol" and len(self.parameters) < 2:
            raise ValueError("parameters: Sobol' indices need at least two parameters")
        return self

    @property
    def names(self) -> list[str]:
        return list(self.parameters)

    def problem(self) -> dict[str, Any]:
        """SALib's problem dictionary (ranged designs)."""
        return {"num_vars": len(self.parameters), "names": self.names,
                "bounds": [[p.min, p.max] for p in self.parameters.values()]}

    def size(self) -> int:
        """The number of design points."""
        d, n = len(self.parameters), self.samples or 0
        return {"factorial": math.prod(len(p.values or []) for p in self.parameters.values()),
                "lhs": n, "sobol": n * (2 * d + 2 if self.second_order else d + 2),
                "morris": n * (d + 1)}[self.method]


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def design_seed(root: int) -> int:
    """The samplers' seed, derived from the experiment's root seed (a child of its own)."""
    seq = np.random.SeedSequence([root, 0xDE5])    # 0xDE5: the design's own branch
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def sample(design: Design, root: int) -> np.ndarray:
    """The design's points as a (points x parameters) float array, in SALib's order."""
    if design.method == "factorial":
        levels = [p.values for p in design.parameters.values()]
        return np.array(list(itertools.product(*levels)), dtype=object)
    seed, problem = design_seed(root), design.problem()
    with warnings.catch_warnings():        # SALib's own power-of-two warning: see warn_design
        warnings.simplefilter("ignore")
        if design.method == "lhs":
            from SALib.sample import latin
            return latin.sample(problem, design.samples, seed=seed)
        if design.method == "sobol":
            from SALib.sample import sobol
            return sobol.sample(problem, design.samples, calc_second_order=design.second_order,
                                seed=seed)
        from SALib.sample import morris
        return morris.sample(problem, design.samples, num_levels=design.levels, seed=seed)


def points(design: Design, root: int, integer: dict[str, bool]) -> pd.DataFrame:
    """A row per design point (index ``point``), a column per parameter, as the runs set them.

    ``integer[name]`` says the scenario parameter is an integer: the range is cut into as many
    equal parts as it holds integers, each sampled value taking its part's integer, so that
    every integer is as likely (rounding would give the two ends half the weight of the
    others). Morris's grid values are cleared of floating-point residue (0.30000000000000004).
    """
    x = sample(design, root)
    frame = pd.DataFrame(x, columns=design.names)
    for name in design.names:
        if design.method == "factorial":
            continue                      # the user's values, as given
        p, values = design.parameters[name], frame[name].astype(float).to_numpy()
        if integer.get(name):
            low, high = math.ceil(p.min), math.floor(p.max)
            u = (values - p.min) / (p.max - p.min) if p.max > p.min else np.zeros(len(values))
            frame[name] = np.minimum(low + np.floor(u * (high - low + 1)), high).astype(int)
        elif design.method == "morris":
            frame[name] = [float(f"{v:.12g}") for v in values]
        else:
            frame[name] = values
    frame.index.name = "point"
    return frame


def warn_design(design: Design, source: str) -> None:
    """Tell the user (on stderr) when a Sobol' sample size is not a power of two."""
    if design.method == "sobol" and not is_power_of_two(design.samples or 0):
        print(f"gridsim: warning: {source}: design.samples: {design.samples} is not a power of "
              "two; Sobol' sequences converge as designed only for N = 2^k (e.g. "
              f"{1 << max(0, (design.samples or 1) - 1).bit_length()})", file=sys.stderr)

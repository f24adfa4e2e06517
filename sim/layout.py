"""The city's layout: districts, townships, units and platforms, and how they are numbered.

Numbering shared by the agents and the issue table:

- townships 0..T-1 across the city; township ``t`` lies in district ``t // townships`` (each
  district has ``district.townships``);
- units (who handle dispatched issues): the line departments (条) first, district 0's, then each
  further district's own; a city-level department (市直) appears once, among district 0's; then
  the township offices (块), unit ``n_line + t`` for township ``t``;
- platforms: the district platforms 0..K-1, township ``t``'s platform ``K + t``, and, with more
  than one district, the city platform last.

With one district this is the single-district numbering: units 0..D-1 then D + t, platform 0
for the district and 1 + t for township ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scenario import GridScenario


@dataclass(frozen=True)
class Layout:
    districts: int
    townships_per_district: int
    line_unit: np.ndarray        # (district, department) -> unit
    unit_department: np.ndarray  # line unit -> department (index in the scenario's list)
    unit_district: np.ndarray    # unit -> district; -1 for a city-level department
    line_names: tuple[str, ...]

    @classmethod
    def of(cls, sc: GridScenario) -> Layout:
        k, deps = sc.city.districts, sc.departments
        line_unit = np.zeros((k, len(deps)), dtype=np.int16)
        unit_department, unit_district, names = [], [], []
        for d in range(k):
            for j, dep in enumerate(deps):
                if dep.level == "city" and d > 0:      # one unit for the whole city
                    line_unit[d, j] = line_unit[0, j]
                    continue
                line_unit[d, j] = len(names)
                unit_department.append(j)
                city = dep.level == "city" and k > 1
                unit_district.append(-1 if city else d)
                names.append(dep.name if k == 1 or city else f"{dep.name}_d{d:02d}")
        towns = np.arange(sc.n_townships) // sc.district.townships
        return cls(k, sc.district.townships, line_unit, np.array(unit_department, dtype=np.int16),
                   np.concatenate([unit_district, towns]).astype(np.int16), tuple(names))

    @property
    def district_units(self) -> np.ndarray:
        """(district, position) -> unit: each district's departments (its own and the city's,
        in the scenario's order), then its township offices."""
        towns = self.n_line + np.arange(self.n_townships).reshape(self.districts, -1)
        return np.concatenate([self.line_unit, towns], axis=1)

    def position(self, unit: np.ndarray) -> np.ndarray:
        """Each unit's position in its district's row of :attr:`district_units`."""
        unit = np.asarray(unit)
        town = self.line_unit.shape[1] + (unit - self.n_line) % self.townships_per_district
        return np.where(unit < self.n_line, self.unit_department[np.minimum(unit, self.n_line - 1)],
                        town)

    @property
    def n_line(self) -> int:
        return len(self.line_names)

    @property
    def n_townships(self) -> int:
        return self.districts * self.townships_per_district

    @property
    def n_units(self) -> int:
        return self.n_line + self.n_townships

    @property
    def city_platform(self) -> int:
        """The city platform's index, or -1 with a single district (no city level)."""
        return self.districts + self.n_townships if self.districts > 1 else -1

    @property
    def n_platforms(self) -> int:
        return self.districts + self.n_townships + (self.districts > 1)

    def district_of(self, township: np.ndarray) -> np.ndarray:
        return township // self.townships_per_district

    def township_platform(self, township: np.ndarray) -> np.ndarray:
        return self.districts + township

    def district_name(self, d: int) -> str:
        return "district" if self.districts == 1 else f"district_{d:02d}"

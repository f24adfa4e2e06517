"""Working calendars: map calendar time (days) to a working-hours clock and back.

Work at the units happens in working hours only. The queueing engine runs on the working clock
(hours worked since day 0), where service is continuous; converting back to calendar time puts
nights and weekends in. A 24-hour, 7-day calendar is the identity up to scale (hours = 24·days),
which is what the M/M/c reduction uses.
"""

from __future__ import annotations

import numpy as np

from sim.scenario import Calendar


class WorkingCalendar:
    """Vectorised conversions for one :class:`~sim.scenario.Calendar`."""

    def __init__(self, spec: Calendar, start_weekday: int = 0, horizon_days: int = 400):
        self.open = spec.open_hour / 24.0
        self.length = spec.hours / 24.0          # fraction of a day open
        self.hours = spec.hours
        self.workdays = spec.workdays
        self.start_weekday = start_weekday
        self.always_open = spec.hours >= 24.0 and spec.workdays == 7
        self._grow(horizon_days)

    def _grow(self, days: int) -> None:
        d = np.arange(days + 1)
        self.is_workday = ((d + self.start_weekday) % 7) < self.workdays
        # hours worked before the start of day d
        self.cum = np.concatenate([[0.0], np.cumsum(self.is_workday * self.hours)])
        self.day_hours = np.where(self.is_workday, 24.0, 0.0)   # clock rate inside opening hours
        self.days = days

    def _ensure(self, t_max: float) -> None:
        if t_max >= self.days - 1:
            self._grow(int(max(t_max * 1.5, self.days * 2)) + 8)

    def to_work(self, t: np.ndarray) -> np.ndarray:
        """Working hours elapsed from day 0 to calendar time ``t`` (days, t >= 0)."""
        t = np.asarray(t, dtype=float)
        if self.always_open:
            return t * 24.0
        day = t.astype(np.int64)                 # t >= 0: truncation is the floor
        inside = np.minimum(np.maximum(t - day - self.open, 0.0), self.length)
        try:
            return self.cum[day] + inside * self.day_hours[day]
        except IndexError:                       # past the days tabled so far (rare)
            self._ensure(float(t.max()))
            return self.cum[day] + inside * self.day_hours[day]

    def from_work(self, w: np.ndarray) -> np.ndarray:
        """The calendar time at which the ``w``-th working hour is reached (work resumes)."""
        w = np.asarray(w, dtype=float)
        if self.always_open:
            return w / 24.0
        while w.size and w.max() >= self.cum[-1]:
            self._grow(self.days * 2)
        # the working day holding hour w: the last d with cum[d] <= w (a working day, since cum
        # is flat over days off); an hour on a boundary maps to the start of the next opening
        day = np.searchsorted(self.cum, w, side="right") - 1
        into = (w - self.cum[day]) / 24.0
        return day + self.open + into

    def add_work(self, t: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Calendar time when ``hours`` of work started at ``t`` are done (never before ``t``,
        which the round trip through the working clock could give by rounding)."""
        return np.maximum(t, self.from_work(self.to_work(t) + hours))

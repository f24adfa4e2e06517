"""Working calendars: map calendar time (days) to a working-hours clock and back.

Work at the units happens in working hours only. The queueing engine runs on the working clock
(hours worked since day 0), where service is continuous; converting back to calendar time puts
nights and weekends in. A 24-hour, 7-day calendar is the identity up to scale (hours = 24·days),
which is what the M/M/c reduction uses.
"""

from __future__ import annotations

import numpy as np

from sim.compiled import compile_kernel
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
        if _to_work_compiled is not None and t.ndim == 1:
            out = np.empty(len(t))
            while not _to_work_compiled(t, self.cum, self.day_hours, self.open, self.length,
                                        out):
                self._ensure(float(t.max()))       # past the days tabled so far (rare)
            return out
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
        if _from_work_compiled is not None and w.ndim == 1:
            out = np.empty(len(w))
            while not _from_work_compiled(w, self.cum, self.open, out):
                self._grow(self.days * 2)
            return out
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
        if _add_work_compiled is not None and not self.always_open and t.ndim == 1:
            # the tables grow as in the two conversions: first for t, then for the finish
            if len(t) and int(t.max()) >= len(self.day_hours):
                self._ensure(float(t.max()))
            out = np.empty(len(t))
            while not _add_work_compiled(t, hours, self.cum, self.day_hours, self.open,
                                         self.length, out):
                self._grow(self.days * 2)          # past the days tabled so far (rare)
            return out
        return np.maximum(t, self.from_work(self.to_work(t) + hours))


# The conversions value by value, compiled with numba: a few dozen calls a day, each of which
# is eight numpy passes in the vectorised form above. Same operations, same results
# (tests/test_queueing.py). Each returns False, having written nothing useful, when a time lies
# past the days tabled so far, for the caller to grow the table and call again.
def _to_work_loop(t: np.ndarray, cum: np.ndarray, day_hours: np.ndarray, open_: float,
                  length: float, out: np.ndarray) -> bool:
    days = len(day_hours)
    for i in range(len(t)):
        day = int(t[i])
        if day >= days:
            return False
        inside = min(max(t[i] - day - open_, 0.0), length)
        out[i] = cum[day] + inside * day_hours[day]
    return True


def _from_work_loop(w: np.ndarray, cum: np.ndarray, open_: float, out: np.ndarray) -> bool:
    n = len(cum)
    for i in range(len(w)):
        x = w[i]
        if x >= cum[n - 1]:
            return False
        lo, hi = 0, n                  # searchsorted(cum, x, side="right"), minus one
        if x != x:                     # nan sorts last, as in numpy
            lo = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if cum[mid] <= x:
                lo = mid + 1
            else:
                hi = mid
        day = lo - 1
        out[i] = day + open_ + (x - cum[day]) / 24.0
    return True


def _add_work_loop(t: np.ndarray, hours: np.ndarray, cum: np.ndarray, day_hours: np.ndarray,
                   open_: float, length: float, out: np.ndarray) -> bool:
    """:meth:`WorkingCalendar.add_work` value by value: to the working clock (the loop above),
    plus the hours, back (the loop above), never before ``t`` (as ``np.maximum``)."""
    w = np.empty(1)
    x = np.empty(1)
    for i in range(len(t)):
        if not _to_work_compiled(t[i:i + 1], cum, day_hours, open_, length, w):
            return False
        w[0] += hours[i]
        if not _from_work_compiled(w, cum, open_, x):
            return False
        a, b = t[i], x[0]
        out[i] = a if a != a else (b if b != b else (a if a >= b else b))
    return True


_to_work_compiled = compile_kernel(_to_work_loop)
_from_work_compiled = compile_kernel(_from_work_loop)
_add_work_compiled = compile_kernel(_add_work_loop)

"""Idiomatic Mesa peer of gridsim's reduced queueing model (behaviour off): a speed baseline.

    python benchmarks/mesa_peer.py --load 0.8 --servers 2 --days 60 [--arrivals 38.4] [--p 0.3]

Issues arrive as a Poisson process; the platform dispatches each one, instantly, to the
department, which passes it back with probability p (to be dispatched again) or queues it FIFO
for c servers with exponential service of mean ``hours``. Pass-backs never queue, so the queue
is M/M/c at the arrival rate λ (Erlang C), and an issue makes 1/(1 − p) visits on average.

Design: hourly ticks plus discrete events, the hybrid idiom of Mesa 3.5's wolf_sheep example.
Time is in hours. Mesa calls ``Model.step`` every time unit, and the step activates agents with
``shuffle_do("step")``: the platform's step draws the hour's arrivals (a Poisson number at
uniform times: a Poisson process) and schedules each ``Issue`` agent's arrival at its exact
time with ``Model.schedule_event``; service completions are events too, so time is continuous
and waits exact. A fixed step (say a minute) would be slow and wrong when services are shorter
than the step (14 s on average at 10,000 issues a day, load 0.8, c = 2). The deprecated
``mesa.experimental.devs`` simulators are not needed: Mesa 3.5 schedules events on the model.
"""

from __future__ import annotations

import argparse
import time
from collections import deque

import mesa


class Issue(mesa.Agent["PeerModel"]):
    """One issue, from its arrival to the end of its service; its own events drive it."""

    def __init__(self, model: PeerModel) -> None:
        super().__init__(model)
        self.arrived = self.queued = self.wait = 0.0
        self.visits = 0

    def arrive(self) -> None:
        self.arrived = self.model.time
        self.model.platform.dispatch(self)

    def finish(self) -> None:
        self.model.department.release()
        self.model.record(self)
        self.remove()


class Platform(mesa.Agent["PeerModel"]):
    """Receives the reports and dispatches every issue (new or passed back) to the department."""

    def __init__(self, model: PeerModel, arrivals_per_hour: float) -> None:
        super().__init__(model)
        self.rate = arrivals_per_hour

    def step(self) -> None:
        """Schedule the arrivals of the coming hour, each at its exact time."""
        now = self.model.time
        for u in self.rng.random(self.rng.poisson(self.rate)):
            self.model.schedule_event(Issue(self.model).arrive, at=now + float(u))

    def dispatch(self, issue: Issue) -> None:
        self.model.department.receive(issue)


class Department(mesa.Agent["PeerModel"]):
    """Passes an issue back with probability p, or queues it (FIFO) for ``servers`` servers."""

    def __init__(self, model: PeerModel, servers: int, hours: float, p: float) -> None:
        super().__init__(model)
        self.servers, self.service_rate, self.p, self.busy = servers, 1.0 / hours, p, 0
        self.queue: deque[Issue] = deque()

    def receive(self, issue: Issue) -> None:
        issue.visits += 1
        issue.queued = self.model.time
        if self.random.random() < self.p:
            self.model.platform.dispatch(issue)
        elif self.busy < self.servers:
            self.busy += 1
            self.start(issue)
        else:
            self.queue.append(issue)

    def start(self, issue: Issue) -> None:
        issue.wait = self.model.time - issue.queued
        self.model.schedule_event(issue.finish, after=self.random.expovariate(self.service_rate))

    def release(self) -> None:
        if self.queue:
            self.start(self.queue.popleft())
        else:
            self.busy -= 1


class PeerModel(mesa.Model):
    """The reduction: one platform, one department and the issues; records them on completion."""

    def __init__(self, arrivals_per_day: float, servers: int, hours: float, p: float,
                 warmup_days: float, seed: int) -> None:
        super().__init__(rng=seed)
        self.warmup = warmup_days * 24.0
        self.platform = Platform(self, arrivals_per_day / 24.0)
        self.department = Department(self, servers, hours, p)
        self.waits: list[float] = []  # of the issues that arrived after the warm-up
        self.sojourns: list[float] = []
        self.visits: list[int] = []
        self.platform.step()  # the first hour's arrivals; Mesa's ticks start at time 1

    def step(self) -> None:
        self.agents_by_type[Platform].shuffle_do("step")

    def record(self, issue: Issue) -> None:
        if issue.arrived >= self.warmup:
            self.waits.append(issue.wait)
            self.sojourns.append(self.time - issue.arrived)
            self.visits.append(issue.visits)


def run_peer(arrivals_per_day: float, servers: int, hours: float, p: float, days: float,
             warmup_days: float, seed: int) -> dict[str, float]:
    """Build and run the model; means over the issues recorded, ``seconds`` of wall time."""
    t0 = time.perf_counter()
    model = PeerModel(arrivals_per_day, servers, hours, p, warmup_days, seed)
    model.run_until(days * 24.0)
    seconds, n = time.perf_counter() - t0, len(model.waits)
    return {"issues": n, "wait_mean_hours": sum(model.waits) / n,
            "sojourn_mean_hours": sum(model.sojourns) / n, "visits_mean": sum(model.visits) / n,
            "seconds": seconds}


def main() -> None:
    from sim.validate.theory import MMc  # Erlang C; imported here to keep the peer Mesa-only
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--arrivals", type=float, default=38.4, help="issues a day")
    ap.add_argument("--p", type=float, default=0.0, help="pass-back probability")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--warmup", type=float, default=30.0, help="warm-up days")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    hours = a.load * a.servers * 24.0 / a.arrivals  # mean service, so that ρ = load
    r = run_peer(a.arrivals, a.servers, hours, a.p, a.days, min(a.warmup, a.days / 2), a.seed)
    q = MMc(lam=a.arrivals / 24.0, mu=1.0 / hours, c=a.servers)
    print(f"λ {a.arrivals}/day, c {a.servers}, service {hours:.4g} h, ρ {q.rho:.3f}, p {a.p}")
    print(f"issues completed after warm-up: {r['issues']}, wall time {r['seconds']:.2f} s")
    for name, key, theory in (("wait (h)", "wait_mean_hours", q.wait),
                              ("sojourn (h)", "sojourn_mean_hours", q.sojourn),
                              ("visits", "visits_mean", 1.0 / (1.0 - a.p))):
        print(f"{name:12} simulated {r[key]:8.4f}   theory {theory:8.4f}")


if __name__ == "__main__":
    main()

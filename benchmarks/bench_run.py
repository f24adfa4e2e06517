"""Benchmark: simulation time of a scenario, end-to-end `gridsim run` time, peak memory.

    python benchmarks/bench_run.py [SCENARIO] [--days N] [--repeat R]

Simulation time is model construction plus steps, in-process, excluding imports and output
writing (issue #2 target: baseline, 365 days, <= 2 s). The end-to-end time runs the console
command in a subprocess, writing every table and chart; its peak memory is the child's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def simulation_seconds(scenario: str, days: int | None, repeat: int) -> list[float]:
    from sim.api import prepare
    from sim.model import GridModel

    spec = prepare(scenario, days=days)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model = GridModel(spec)
        model.run()
        times.append(time.perf_counter() - t0)
    return times


def end_to_end(scenario: str, days: int | None) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sim.cli", "run", scenario, "--out", str(Path(tmp) / "o")]
        if days:
            cmd += ["--days", str(days)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="baseline")
    ap.add_argument("--days", type=int)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sims = simulation_seconds(args.scenario, args.days, args.repeat)
    wall, peak = end_to_end(args.scenario, args.days)
    days = args.days or "scenario's"
    print(f"scenario {args.scenario}, {days} days")
    print(f"simulation time (construct + steps): best {min(sims):.2f} s, "
          f"median {sorted(sims)[len(sims) // 2]:.2f} s over {len(sims)} runs")
    print(f"end-to-end `gridsim run` (incl. imports, tables, charts): {wall:.2f} s")
    print(f"peak memory of `gridsim run`: {peak:.0f} MiB")


if __name__ == "__main__":
    main()

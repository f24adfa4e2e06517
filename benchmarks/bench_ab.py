"""Benchmark: this checkout against another commit, timed in turn.

    python benchmarks/bench_ab.py REF [--scenario baseline] [--days 365] [--repeats 4]
    python benchmarks/bench_ab.py REF --scenario reduced      # the Mesa peer's reduced scenario

These machines' speed drifts by ±20 % from minute to minute, so two figures taken minutes apart
cannot tell a 10 % change from noise. This script checks ``REF`` out into a temporary git
worktree and times the same run there and here alternately, each run in a fresh process after a
short warm-up (compiled helpers loaded; an untimed first run on each side compiles them), and
prints both sets of times and the ratio of the best ones. Simulation time as everywhere: model
construction plus steps, no output written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = r"""
import sys, time
from sim.api import prepare
from sim.model import GridModel
scenario, days = sys.argv[1], int(sys.argv[2])
if scenario == "reduced":                 # bench_city.py's peer scenario at 750 issues a day
    arrivals, hours = 750.0, 0.7 * 3 * 24.0 / 750.0
    spec = prepare("feedback", days=days, overrides={
        "run.slice_hours": 24.0, "run.warmup_days": min(5, days // 4),
        "district.population": round(arrivals * 365 * 1000 / 730.0)})
    spec = spec.model_copy(update={"categories": [
        c.model_copy(update={"hours": hours}) for c in spec.categories]})
else:
    spec = prepare(scenario, days=days)
GridModel(prepare("small", days=5), record_events=False).run()      # warm-up
t0 = time.perf_counter()
GridModel(spec, record_events=False).run()
print(time.perf_counter() - t0)
"""


def timed(root: Path, scenario: str, days: int) -> float:
    out = subprocess.run([sys.executable, "-c", RUN, scenario, str(days)], cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench_ab: the run in {root} failed:\n{out.stderr.strip()[-2000:]}")
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref", help="the commit to compare with (e.g. HEAD~1, a tag, a hash)")
    ap.add_argument("--scenario", default="baseline",
                    help="a scenario name, or 'reduced' for the peer's reduced scenario")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "ref"
        made = subprocess.run(["git", "worktree", "add", "--detach", str(other), args.ref],
                              cwd=ROOT, capture_output=True, text=True)
        if made.returncode:
            sys.exit(f"bench_ab: cannot check out {args.ref!r}: {made.stderr.strip()}")
        try:
            # a first run on each side, untimed, compiles the helpers into its numba cache
            # (a fresh worktree's is empty, as is a checkout's after an edit): the warm-up
            # before each timed run reaches only some of them
            timed(other, args.scenario, args.days)
            timed(ROOT, args.scenario, args.days)
            times: dict[str, list[float]] = {args.ref: [], "this checkout": []}
            for _ in range(args.repeats):
                times[args.ref].append(timed(other, args.scenario, args.days))
                times["this checkout"].append(timed(ROOT, args.scenario, args.days))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT,
                           capture_output=True)
    print(f"{args.scenario}, {args.days} days, {args.repeats} runs each, in turn")
    for name, ts in times.items():
        print(f"  {name:>15}: best {min(ts):.2f} s, median {sorted(ts)[len(ts) // 2]:.2f} s  "
              f"({', '.join(f'{t:.2f}' for t in ts)})")
    best = min(times[args.ref]) / min(times["this checkout"])
    print(f"  this checkout is {best:.2f}x as fast as {args.ref} (best times)")


if __name__ == "__main__":
    main()

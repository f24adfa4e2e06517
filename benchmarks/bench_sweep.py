"""Benchmark: the experiment engine's throughput and overhead, and the driver's memory.

    python benchmarks/bench_sweep.py [--scenario baseline] [--days 365] [--runs 40] [--jobs 2]
                                     [--memory-runs 10000]

1. Single-run rate: ``--repeat`` plain in-process runs (the model and its tables as a sweep's
   worker builds them, no engine) of the scenario at district run length: t1 seconds a run.
2. Sweep rate: an experiment of ``--runs`` runs of the same scenario and length through the
   whole engine (``gridsim experiment run --jobs 2``: spawn workers, plan, run, store, runs
   table, comparison, charts, manifest), wall time W.
   Shortfall = 1 - (runs / W) / (jobs / t1), split into the engine's own time (W minus the
   runs' own seconds / jobs; issue #5 target: under 10 % of W) and the slowdown of each run
   when ``jobs`` run side by side on the machine (a worker's first run also imports the model
   and loads its compiled helpers).
3. With ``--memory-runs K``: a sweep of K tiny runs (the ``small`` scenario, 2 days), the
   driver's resident memory sampled as it goes (VmRSS, Linux /proc) at each quarter of the
   runs, and its peak (VmHWM). Target: flat, and under 1 GiB at 10,000 runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXPERIMENT = """\
title = "Sweep benchmark"
scenario = "{scenario}"
days = {days}
warmup_days = {warmup}
replications = {runs}
seed = 1
outcomes = ["closure_rate", "time_to_close_mean_days"]
series = ["open_total"]
"""


def single_run_seconds(scenario: str, days: int, repeat: int) -> list[float]:
    """The same work as a sweep's run in its worker (``sim.experiment.simulate``), in-process."""
    from sim.api import collect, prepare, run
    from sim.model import GridModel
    run(scenario, days=min(days, 30), seed=999)    # warm-up (imports, caches): not timed
    times = []
    for seed in range(repeat):
        t0 = time.perf_counter()
        model = GridModel(prepare(scenario, days=days, seed=1000 + seed,
                                  overrides={"run.warmup_days": days // 2}), record_events=False)
        model.run()
        collect(model, agents=False)
        times.append(time.perf_counter() - t0)
    return times


def sweep(scenario: str, days: int, runs: int, jobs: int) -> tuple[float, list[float]]:
    """Wall time of the whole engine over ``runs`` runs, and each run's own seconds."""
    import pandas as pd
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "bench.toml"
        exp.write_text(EXPERIMENT.format(scenario=scenario, days=days, warmup=days // 2,
                                         runs=runs), encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim.cli", "experiment", "run", str(exp),
                        "--jobs", str(jobs), "--out", str(Path(tmp) / "out")], check=True,
                       capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        table = pd.read_csv(Path(tmp) / "out" / "runs.csv")
        assert (table["status"] == "done").all()
        return wall, table["seconds"].tolist()


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024        # MiB
    except OSError:
        pass
    return out


def memory(runs: int, jobs: int) -> None:
    """Sample the driver's memory through a sweep of ``runs`` tiny runs."""
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "memory.toml"
        exp.write_text(EXPERIMENT.format(scenario="small", days=2, warmup=1, runs=runs),
                       encoding="utf-8")
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "experiment", "run", str(exp),
                                 "--jobs", str(jobs), "--out", str(out)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marks, seen, last = [runs // 4, runs // 2, 3 * runs // 4], [], {}
        while proc.poll() is None:
            st = _status(proc.pid)
            last = st or last
            runs_dir = out / "runs"
            done = sum(1 for _ in runs_dir.glob("*.parquet")) if runs_dir.is_dir() else 0
            while marks and done >= marks[0]:
                seen.append((marks.pop(0), st.get("VmRSS", -1)))
            time.sleep(1.0)
        wall = time.perf_counter() - t0
    print(f"\nmemory: {runs} runs of `small` (2 days) on {jobs} processes, {wall:.0f} s")
    for n, rss in seen:
        print(f"  driver RSS after {n:>6} runs: {rss:>5} MiB")
    print(f"  driver peak RSS (VmHWM, last sample before exit): {last.get('VmHWM', -1)} MiB "
          "(target < 1024 MiB, flat)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="baseline")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=40, help="runs in the sweep (default 40)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="single runs timed (default 3)")
    ap.add_argument("--memory-runs", type=int, default=0,
                    help="also sample the driver's memory over a sweep of this many tiny runs")
    args = ap.parse_args()

    t1s = single_run_seconds(args.scenario, args.days, args.repeat)
    t1 = statistics.mean(t1s)
    wall, seconds = sweep(args.scenario, args.days, args.runs, args.jobs)
    ideal = args.jobs * 3600 / t1
    rate = args.runs * 3600 / wall
    engine = wall - sum(seconds) / args.jobs
    print(f"scenario {args.scenario}, {args.days} days a run, {args.jobs} processes")
    print(f"  single run (in-process, no engine): {t1:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in t1s)}) -> {3600 / t1:.0f} runs/hour")
    print(f"  ideal on {args.jobs} processes ({args.jobs} x single):  {ideal:.0f} runs/hour")
    print(f"  sweep of {args.runs} runs through the engine: {wall:.1f} s wall -> "
          f"{rate:.0f} runs/hour")
    print(f"  shortfall against {args.jobs} x single: {1 - rate / ideal:.1%}, of which")
    print(f"    engine's own time (wall - run seconds / {args.jobs}): {engine:.1f} s = "
          f"{engine / wall:.1%} of the wall time (target < 10 %)")
    later = seconds[args.jobs:] or seconds     # the first ones also import and load the model
    print(f"    runs side by side: {statistics.mean(seconds):.2f} s a run against {t1:.2f} s "
          f"alone ({statistics.mean(seconds) / t1 - 1:+.1%}); after each worker's first run "
          f"{statistics.mean(later):.2f} s ({statistics.mean(later) / t1 - 1:+.1%})")
    if args.memory_runs:
        memory(args.memory_runs, args.jobs)


if __name__ == "__main__":
    main()

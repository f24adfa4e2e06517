"""Benchmark (issue #6): the city year, the district year, scaling with size, and the Mesa peer.

    python benchmarks/bench_city.py [--days 365] [--skip-end-to-end]

Prints, in one run:

1. the Zhengzhou scenario (``zhengzhou``, 9.2M residents): simulation time (model construction
   plus steps, in-process, excluding imports and output writing), best and median of 3 runs
   (these machines' speed drifts by ±20-30 %), and its peak memory; then the
   end-to-end ``gridsim run`` (tables streamed, charts) with its wall time and peak memory, and
   the mechanisms its summary shows acting;
2. the baseline district: simulation time, best of 3; and the same district with 1/60 of its
   residents, whose time is what a year costs whatever its volume (the days' fixed cost);
3. scaling: four sizes of the city spanning 180x in residents (1, 6, 36 and 180 townships of
   Zhengzhou's layout, staff in proportion), each in its own process: time, peak memory,
   issues, and the fitted exponents of time and memory against residents and issues; and
   whether a day's cost follows the open issues rather than the day of the year;
4. the peer: ``benchmarks/mesa_peer.py`` (idiomatic Mesa, an object per issue) and the model on
   the same reduced scenario (the ``feedback`` queueing reduction: Poisson arrivals, dispatch,
   pass-back with fixed p = 0.3, c = 3 servers in continuous time), at two arrival rates, for
   the same number of days as the rest (a year), each timed five times in turn.

Each measurement runs in a fresh child process (``--worker``), so peak memory is its own. A
first child compiles every helper into numba's cache (after a change to the sources it is
empty), and each child loads them with a short warm-up run before any timing. The smaller sizes
are timed twice each, the best kept. The city and scaling runs
keep no event log in memory (``gridsim run`` streams it to disk; the end-to-end figure includes
that); the district's runs keep it, as ``benchmarks/bench_run.py`` does.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))           # the checkout's `sim`, installed or not
SIZES = ((1, 1), (1, 6), (3, 12), (15, 12))       # (districts, townships per district)


# ---------------------------------------------------------------------------------------------
# Workers: one measurement each, in a child process
def sized_city(districts: int, townships: int, days: int) -> Any:
    """Zhengzhou's layout with fewer districts/townships: residents, department staff and
    the city department's staff in proportion (the full size is the scenario itself)."""
    from sim.api import prepare
    spec = prepare("zhengzhou", days=days)
    full_t = spec.district.townships
    share = townships / full_t
    city_share = districts * townships / (spec.city.districts * full_t)
    deps = [d.model_copy(update={"staff": max(1, round(d.staff * (
        city_share if d.level == "city" else share)))}) for d in spec.departments]
    district = spec.district.model_copy(update={
        "townships": townships, "population": round(spec.district.population * share)})
    return spec.model_copy(update={
        "city": spec.city.model_copy(update={"districts": districts}), "district": district,
        "departments": deps})


def warm_up() -> None:
    from sim.api import run
    run("small", days=3, record_events=False)          # loads numba's compiled recursion


def compile_everything(days: int) -> dict[str, Any]:
    """Runs that reach every compiled helper in every form the benchmarks use (compaction
    included), so that the timed runs load them from numba's cache instead of compiling them:
    after a change to the sources the cache is empty, and a helper compiled inside a timed run
    adds seconds to it."""
    from sim.api import prepare
    from sim.model import GridModel
    days = min(days, 30)                # long enough to compact; no longer than the timed runs
    GridModel(prepare("baseline", days=days), record_events=True).run()
    GridModel(sized_city(1, 1, days), record_events=False).run()
    return {}


def timed_run(spec: Any, per_day: bool = False, events: bool = False) -> dict[str, Any]:
    from sim.model import GridModel
    t0 = time.perf_counter()
    model = GridModel(spec, record_events=events)
    built = time.perf_counter() - t0
    days, open_issues = [], []
    for _ in range(spec.run.days):
        t = time.perf_counter()
        model.step()
        days.append(time.perf_counter() - t)
        open_issues.append(int(model.daily[-1]["open_total"]))
    total = time.perf_counter() - t0
    out = {"seconds": total, "build_seconds": built,
           "issues": int(model.issues.next_id), "residents": spec.population,
           "open_mean": float(np.mean(open_issues)),
           "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if per_day:
        out["day_seconds"], out["open"] = days, open_issues
    return out


def worker(task: dict[str, Any]) -> dict[str, Any]:
    warm_up()
    kind = task["kind"]
    if kind == "size":
        return timed_run(sized_city(task["districts"], task["townships"], task["days"]),
                         per_day=True)
    if kind == "district":
        from sim.api import prepare
        overrides = {"district.population": task["population"]} if "population" in task else {}
        spec = prepare("baseline", days=task["days"], overrides=overrides)
        runs = [timed_run(spec, events=True) for _ in range(3)]
        return {"seconds": sorted(r["seconds"] for r in runs),
                "issues": runs[0]["issues"]}
    if kind == "compile":
        return compile_everything(task["days"])
    if kind == "peer":
        return peer_pair(task["arrivals"], task["days"])
    raise ValueError(kind)


def peer_pair(arrivals: float, days: int, repeats: int = 5) -> dict[str, Any]:
    """The model and the Mesa peer on the same reduced scenario: λ a day, load 0.7, c = 3,
    p = 0.3, a 5-day warm-up (shorter in short runs). Each is timed ``repeats`` times, in turn,
    so that both meet the machine in the same moods; the model after a short warm-up run."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mesa_peer

    from sim.api import prepare
    from sim.model import GridModel
    servers, load, p = 3, 0.7, 0.3
    hours = load * servers * 24.0 / arrivals
    warmup = min(5, days // 4)
    spec = prepare("feedback", days=days, overrides={
        "run.slice_hours": 24.0, "run.warmup_days": warmup,
        "district.population": round(arrivals * 365 * 1000 / 730.0)})
    cats = [c.model_copy(update={"hours": hours}) for c in spec.categories]
    spec = spec.model_copy(update={"categories": cats})
    GridModel(spec, record_events=False).run(min(days, 10))
    model_s, peer_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = GridModel(spec, record_events=False)
        model.run()
        model_s.append(time.perf_counter() - t0)
        peer = mesa_peer.run_peer(arrivals, servers, hours, p, float(days), float(warmup), 1)
        peer_s.append(peer["seconds"])
    dispatched = int(sum(r["dispatched"] for r in model.daily))
    return {"arrivals": arrivals, "days": days, "model_seconds": sorted(model_s),
            "model_dispatches": dispatched, "peer_seconds": sorted(peer_s),
            "ratios": sorted(b / a for a, b in zip(model_s, peer_s, strict=True)),
            "peer_visits_mean": peer["visits_mean"], "peer_issues": peer["issues"]}


def in_child(task: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"bench_city: {task} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def end_to_end(days: int) -> dict[str, Any]:
    """`gridsim run zhengzhou` in a child: wall time, peak memory, its summary."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "zhengzhou"
        cmd = [sys.executable, "-m", "sim.cli", "run", "zhengzhou", "--days", str(days),
               "--out", str(out)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        sizes = {p.name: p.stat().st_size for p in out.glob("*.parquet")}
    return {"wall": wall, "peak_mib": max(peak, before) / 1024, "summary": summary,
            "bytes": sizes}


# ---------------------------------------------------------------------------------------------
def day_cost_fit(seconds: np.ndarray, open_issues: np.ndarray) -> tuple[float, float]:
    """Least squares of a day's time on its open issues and the day of the run: the change
    per 100 days elapsed at the same open issues, as a share of the mean day, and its
    standard error."""
    days = np.arange(len(seconds), dtype=float)
    x = np.column_stack([np.ones_like(days), open_issues, days])
    coef, *_ = np.linalg.lstsq(x, seconds, rcond=None)
    resid = seconds - x @ coef
    cov = resid @ resid / max(len(seconds) - 3, 1) * np.linalg.pinv(x.T @ x)
    scale = 100.0 / seconds.mean()
    return float(coef[2] * scale), float(np.sqrt(cov[2, 2]) * scale)


def exponent(x: list[float], y: list[float]) -> float:
    """Slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--skip-end-to-end", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    print(f"gridsim city benchmark, {args.days} days, {time.strftime('%Y-%m-%d')}\n")
    in_child({"kind": "compile", "days": args.days})
    # each size twice, the best kept (the city's time is taken from three runs below)
    sizes = [min((in_child({"kind": "size", "districts": k, "townships": t, "days": args.days})
                  for _ in range(2 if (k, t) != SIZES[-1] else 1)), key=lambda r: r["seconds"])
             for k, t in SIZES]
    city = sizes[-1]               # the largest size is the city itself; timed twice more
    full = {"kind": "size", "districts": SIZES[-1][0], "townships": SIZES[-1][1],
            "days": args.days}
    cities = sorted([city, *(in_child(full) for _ in range(2))], key=lambda r: r["seconds"])
    city = sizes[-1] = cities[0]
    print("1. Zhengzhou (zhengzhou.toml: 15 districts, 180 townships, 18,000 grids)")
    print(f"   residents {city['residents']:,}, issues arisen {city['issues']:,}, "
          f"open issues (mean) {city['open_mean']:,.0f}")
    print(f"   simulation time best {cities[0]['seconds']:.1f} s (construction "
          f"{cities[0]['build_seconds']:.1f} s), median {cities[1]['seconds']:.1f} s of 3"
          f"   target <= 15 s")
    print(f"   peak memory of the simulation {max(r['peak_mib'] for r in cities):,.0f} MiB")
    if not args.skip_end_to_end:
        e2e = end_to_end(args.days)
        mech = e2e["summary"]["mechanisms"]
        print(f"   end-to-end `gridsim run zhengzhou`: {e2e['wall']:.1f} s, peak memory "
              f"{e2e['peak_mib']:,.0f} MiB   target <= 3,072 MiB")
        print("   files: " + ", ".join(f"{k} {v / 2**20:,.0f} MiB"
                                      for k, v in sorted(e2e["bytes"].items())))
        print("   mechanisms over the year: " + ", ".join(f"{k} {v:,}" for k, v in mech.items()))
        quiet = [k for k in ("pass_backs", "rulings", "reopenings", "leader_turnover",
                             "campaign_days") if not mech.get(k)]
        print(f"   every mechanism acted: {'yes' if not quiet else 'no: ' + ', '.join(quiet)}")

    district = in_child({"kind": "district", "days": args.days})
    print("\n2. Baseline district (600,000 residents, 1,200 grids)")
    print(f"   simulation time best {district['seconds'][0]:.2f} s, median "
          f"{district['seconds'][1]:.2f} s of 3   target <= 0.5 s")
    # the same year with 1/60 of the residents: what a year costs whatever its volume
    floor = in_child({"kind": "district", "days": args.days, "population": 10_000})
    print(f"   the same district with 10,000 residents ({floor['issues']:,} issues instead of "
          f"{district['issues']:,}): best {floor['seconds'][0]:.2f} s, median "
          f"{floor['seconds'][1]:.2f} s: what the run costs whatever its volume")

    print("\n3. Scaling with size (each size in its own process; best of 2, the city of 3)")
    print(f"   {'districts x townships':>22} {'residents':>11} {'issues':>10} {'open':>8} "
          f"{'seconds':>8} {'µs/issue':>9} {'peak MiB':>9}")
    for (k, t), r in zip(SIZES, sizes, strict=True):
        print(f"   {f'{k} x {t}':>22} {r['residents']:>11,} {r['issues']:>10,} "
              f"{r['open_mean']:>8,.0f} {r['seconds']:>8.2f} "
              f"{r['seconds'] / r['issues'] * 1e6:>9.1f} {r['peak_mib']:>9,.0f}")
    res = [r["residents"] for r in sizes]
    print(f"   span {res[-1] / res[0]:.0f}x in residents; fitted exponents: time ~ residents^"
          f"{exponent(res, [r['seconds'] for r in sizes]):.2f}, time ~ issues^"
          f"{exponent([r['issues'] for r in sizes], [r['seconds'] for r in sizes]):.2f}, "
          f"memory ~ residents^{exponent(res, [r['peak_mib'] for r in sizes]):.2f} "
          f"(1.0 = linear)")
    day_s, open_n = np.array(city["day_seconds"]), np.array(city["open"], dtype=float)
    q = max(len(day_s) // 4, 1)
    early, late = slice(1, 1 + q), slice(len(day_s) - q, len(day_s))
    print(f"   city, a day's cost: days 2-{q + 1}: {day_s[early].mean() * 1e3:.0f} ms with "
          f"{open_n[early].mean():,.0f} open; last {q} days: {day_s[late].mean() * 1e3:.0f} ms "
          f"with {open_n[late].mean():,.0f} open; ms per 1,000 open issues "
          f"{day_s[early].sum() / open_n[early].sum() * 1e6:.2f} vs "
          f"{day_s[late].sum() / open_n[late].sum() * 1e6:.2f}")
    corr = np.corrcoef(day_s[1:], open_n[1:])[0, 1]
    print(f"   correlation of a day's time with its open issues {corr:.2f}, with the day of the "
          f"year {np.corrcoef(day_s[1:], np.arange(1, len(day_s)))[0, 1]:.2f}")
    # fitted in each of the city's three runs: the machine's speed drifts within a run, and
    # one run's standard error, which takes its days as independent, understates that
    fits = [day_cost_fit(np.array(r["day_seconds"])[1:], np.array(r["open"], dtype=float)[1:])
            for r in cities]
    print("   a day's time at the same open issues (fitted on both), per 100 days elapsed, in "
          "each run: " + ", ".join(f"{b:+.1%} ± {se:.1%}" for b, se in fits)
          + f"; mean {np.mean([b for b, _ in fits]):+.1%} (0: the date does not matter)")

    print("\n4. The Mesa peer on the same reduced scenario (load 0.7, c = 3, p = 0.3)")
    print("   each timed 5 times in turn; best times, and the median of the 5 paired ratios")
    for arrivals in (750.0, 2000.0):
        r = in_child({"kind": "peer", "arrivals": arrivals, "days": args.days})
        print(f"   {arrivals:,.0f} issues a day, {r['days']} days: model "
              f"{r['model_seconds'][0]:.2f} s, peer {r['peer_seconds'][0]:.2f} s: the model is "
              f"{r['peer_seconds'][0] / r['model_seconds'][0]:.1f}x faster (best times), "
              f"{r['ratios'][len(r['ratios']) // 2]:.1f}x (median ratio)   target >= 10x")


if __name__ == "__main__":
    main()

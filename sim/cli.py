"""The ``gridsim`` command line.

    gridsim run [SCENARIO] [--days N] [--seed S] [--set section.key=value ...] [--out DIR]
                [--lang en|zh]
    gridsim scenarios
    gridsim params [--write docs/parameters.md]
    gridsim experiment run experiments/NAME.toml [--jobs N | --dask-workers N |
                           --scheduler tcp://HOST:PORT] [--keep issues] [--out DIR]
    gridsim experiment compare results/NAME
    gridsim analyze results/NAME [--target W]
    gridsim validate [--fast] [--jobs N] [--config FILE] [--out docs/validation.md]
    gridsim reproduce results/NAME [--sample K] [--jobs N]
    gridsim viz [SCENARIO] [--port 8765] [--host 127.0.0.1] [--open] [--lang en|zh]
    gridsim report results/NAME [--lang en|zh]

Bad input gives one line naming the file and the key, exit status 2, and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from sim.i18n import LANGUAGES
from sim.scenario import ScenarioError, parse_value
from sim.signals import stop_on_signals

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"gridsim: error: {message}\n")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScenarioError("--set", pair, "expected section.key=value")
        out[key.strip()] = parse_value(value.strip())
    return out


def _count(least: int = 0):
    """An argparse type: a whole number of at least ``least``."""
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value
    return check


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gridsim", description="Agent-based simulation of urban grid governance.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a scenario and write its tables, summary and charts")
    r.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario name (see `gridsim scenarios`) or path to a TOML file")
    r.add_argument("--days", type=_count(1), help="days to simulate")
    r.add_argument("--seed", type=_count(), help="root seed")
    r.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a parameter (repeatable)")
    r.add_argument("--out", type=Path, help="output directory (default: results/runs/NAME)")
    r.add_argument("--no-charts", action="store_true", help="skip the charts")
    r.add_argument("--lang", choices=LANGUAGES, default="en",
                   help="language of the charts' labels and titles (default en)")
    sub.add_parser("scenarios", help="list the scenarios")
    pa = sub.add_parser("params", help="print the parameter reference (Markdown)")
    pa.add_argument("--write", type=Path, help="write it to this file instead")
    ex = sub.add_parser("experiment", help="run or analyse an experiment (experiments/README.md)")
    exs = ex.add_subparsers(dest="action", required=True, parser_class=_Parser)
    er = exs.add_parser("run", help="run (or resume) an experiment, then compare its variants")
    er.add_argument("file", type=Path, help="experiment file, e.g. experiments/demo.toml")
    er.add_argument("--jobs", type=_count(),
                    help="worker processes (default: the file's jobs, else all cores; 0 = all "
                         "cores; 1 = in-process)")
    er.add_argument("--out", type=Path, help="output directory (default: results/NAME)")
    er.add_argument("--keep", action="append", default=[], choices=["issues"],
                    help="also keep this per-run table (runs/issues/RUN.parquet; large)")
    er.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                    help="run on the Dask cluster at this scheduler address (needs "
                         "gridsim[dask]; workers need gridsim installed)")
    er.add_argument("--dask-workers", type=_count(), metavar="N",
                    help="start a local Dask cluster of N worker processes and run on it")
    ec = exs.add_parser("compare", help="redo the comparison and charts from stored runs")
    ec.add_argument("dir", type=Path, help="an experiment's results directory, e.g. results/demo")
    rp = sub.add_parser("reproduce", help="re-run an experiment's runs (all or a sample) and "
                        "check their contents against its manifest.json")
    rp.add_argument("dir", type=Path, help="an experiment's results directory, e.g. "
                    "results/rulings")
    rp.add_argument("--sample", type=_count(1),
                    help="re-run only this many runs, chosen evenly through the manifest")
    rp.add_argument("--jobs", type=_count(),
                    help="worker processes (default all cores; 1 = in-process)")
    an = sub.add_parser("analyze", help="sensitivity (Sobol', Morris) and replication "
                        "adequacy of an experiment's stored runs (experiments/README.md)")
    an.add_argument("dir", type=Path, help="an experiment's results directory, e.g. "
                    "results/sensitivity")
    an.add_argument("--target", type=float, default=0.05, metavar="W",
                    help="target half-width of the 95 %% CI, relative to the mean, for the "
                    "replications needed (default 0.05)")
    va = sub.add_parser("validate", help="check the model against queueing theory and field "
                        "patterns; write docs/validation.md (docs/validation.md)")
    va.add_argument("--fast", action="store_true",
                    help="the smaller configuration the tests use (the file's [fast] table)")
    va.add_argument("--jobs", type=_count(),
                    help="worker processes (default all cores; 1 = in-process)")
    va.add_argument("--config", type=Path, help="checks to run (default "
                    "experiments/validation.toml)")
    va.add_argument("--out", type=Path,
                    help="the document to write (default docs/validation.md; with --fast "
                    "results/validation-fast.md); tables and figures go to a folder beside it")
    va.add_argument("--render-only", action="store_true",
                    help="rewrite the document from its saved tables, without running")
    vz = sub.add_parser("viz", help="start the interactive dashboard (Mesa's SolaraViz) in a "
                        "local web server")
    vz.add_argument("scenario", nargs="?", default="pilot",
                    help="scenario name or TOML path, small enough to animate (default pilot)")
    vz.add_argument("--port", type=_count(), default=8765,
                    help="port (default 8765; 0 = any free port)")
    vz.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only)")
    vz.add_argument("--open", action="store_true", help="open it in the default browser")
    vz.add_argument("--lang", choices=LANGUAGES, default="en",
                    help="language of its labels and charts (Mesa's own controls stay English)")
    rr = sub.add_parser("report", help="write a self-contained HTML report of an experiment's "
                        "results (report.html)")
    rr.add_argument("dir", type=Path, help="an experiment's results directory, e.g. "
                    "results/rulings")
    rr.add_argument("--lang", choices=LANGUAGES, default="en",
                    help="language of the report and its charts (zh: report.zh.html)")
    return p


def cmd_reproduce(args: argparse.Namespace) -> int:
    from sim.experiment import cpu_count
    from sim.manifest import reproduce

    try:
        report = reproduce(args.dir, sample=args.sample, jobs=args.jobs or cpu_count(),
                           progress=True)
    except KeyboardInterrupt:
        print("gridsim: interrupted", file=sys.stderr)
        return 130
    for r in report:
        verdict = "same" if r["match"] else f"DIFFERENT ({r['error'] or 'contents differ'})"
        print(f"  {r['run']:<32} seed {r['seed']:<12} {verdict}")
    bad = [r for r in report if not r["match"]]
    print(f"{args.dir}: {len(report) - len(bad)} of {len(report)} runs reproduced exactly")
    return 1 if bad else 0


def cmd_validate(args: argparse.Namespace) -> int:
    import datetime

    from sim.experiment import cpu_count
    from sim.output import check_replaceable
    from sim.provenance import git_commit
    from sim.validate import run_validation
    from sim.validate.config import load_validation
    from sim.validate.report import FILES, load_tables, write_report

    # the fast configuration's short runs must not replace the committed page
    out = args.out or Path("results/validation-fast.md" if args.fast else "docs/validation.md")
    if out.suffix != ".md":
        raise ScenarioError(str(out), "--out", "must be a Markdown file (.md)")
    if args.render_only:
        folder = out.with_suffix("")
        if not (folder / "extra.json").is_file():
            raise ScenarioError(str(folder), "extra.json", "not found (run `gridsim validate`)")
        outcome = load_tables(folder)
    else:
        cfg = load_validation(args.config, fast=args.fast)
        check_replaceable(out.with_suffix(""), FILES)     # before the runs, not after them
        jobs = args.jobs or cpu_count()
        t0 = time.perf_counter()
        try:
            outcome = run_validation(cfg, jobs=jobs, progress=True)
        except KeyboardInterrupt:
            print("gridsim: interrupted; nothing was written", file=sys.stderr)
            return 130
        print(f"{outcome.extra['runs']} runs in {time.perf_counter() - t0:.0f} s on {jobs} "
              "process(es)")
    meta = {"commit": git_commit(), "date": datetime.date.today().isoformat(),
            "tables": out.with_suffix("").as_posix()}
    write_report(outcome, out, meta)
    checks = outcome.checks()
    for group, g in checks.groupby("group", sort=False):
        print(f"  {group:<28} {int(g['holds'].sum()):>3} of {len(g):<3} hold")
    for r in checks[~checks["holds"].astype(bool)].itertuples():
        print(f"  FAILS  {r.group}: {r.check}")
    if args.fast:
        print("\n--fast runs each check briefly, to show that the checks work; its runs are too "
              "short for the\ntargets, so failures here are expected. `gridsim validate` gives "
              "the verdict (docs/validation.md).")
    print(f"\nwrote {out} and {out.with_suffix('')}/")
    return 0 if outcome.passed else 1


def cmd_run(args: argparse.Namespace) -> int:
    from sim.api import collect, prepare
    from sim.compiled import Compiling
    from sim.i18n import language
    from sim.model import GridModel
    from sim.output import atomic_dir, write_into

    spec = prepare(args.scenario, days=args.days, seed=args.seed,
                   overrides=_overrides(args.overrides), label="--set")
    out = args.out or Path("results") / "runs" / spec.name
    compiling = Compiling()
    with atomic_dir(out) as tmp:     # checked first; nothing half-written if interrupted
        t0 = time.perf_counter()
        with compiling:
            model = GridModel(spec)
        model.events.stream_to(tmp / "events.parquet", model.nodes)   # written as it goes
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            bar = tqdm(total=spec.run.days, desc=spec.name, unit="day", leave=False)
        try:
            with compiling:
                model.run(progress=bar)
            sim_seconds = time.perf_counter() - t0
            res = collect(model, release=True)
        except BaseException:
            model.events.abort()    # no thread left writing into what atomic_dir removes
            raise
        finally:
            if bar is not None:
                bar.close()
        with language(args.lang):
            write_into(res, tmp, charts=not args.no_charts)
    print(summary_table(res.summary, sim_seconds, compiling.seconds))
    print(f"\nwrote {out}/: issues, events, timeseries, agents, nodes (.parquet), summary.json"
          + ("" if args.no_charts else ", charts/"))
    return 0


HEADLINE = (
    ("issues_arisen", "issues arisen", "{:,.0f}"),
    ("dispatched", "dispatched to units", "{:,.0f}"),
    ("closure_rate", "closure rate", "{:.1%}"),
    ("on_time_rate", "closed on time", "{:.1%}"),
    ("dispatch_accuracy", "dispatch accuracy", "{:.1%}"),
    ("done_first_time", "done first time", "{:.1%}"),
    ("territorial_share", "orders to territories (块)", "{:.1%}"),
    ("rejections_per_issue", "pass-backs per issue", "{:.3f}"),
    ("time_to_close_median_days", "time to close, median (days)", "{:.2f}"),
    ("time_to_close_mean_days", "time to close, mean (days, KM)", "{:.2f}"),
    ("true_resolution_rate", "truly resolved at closure", "{:.1%}"),
    ("satisfaction_mean", "residents' satisfaction", "{:.2f}"),
    ("hidden_stock_mean", "hidden issues (mean stock)", "{:,.0f}"),
    ("leader_overload_share_mean", "level-3 leaders overloaded", "{:.1%}"),
    ("trust_final", "residents' trust at the end", "{:.2f}"),
)


def summary_table(summary: dict[str, Any], sim_seconds: float,
                  compile_seconds: float = 0.0) -> str:
    m = summary["metrics"]
    compiled = f", of which {compile_seconds:.1f} s compiling the model's loops: once after " \
        "an install or an edit" if compile_seconds >= 0.5 else ""
    lines = [f"{summary['scenario']}: {summary['days']} days, seed {summary['seed']}, "
             f"metrics after a {summary['warmup_days']}-day warm-up "
             f"(simulated in {sim_seconds:.1f} s{compiled})"]
    for key, label, fmt in HEADLINE:
        value = m.get(key)
        shown = "n/a" if value is None or value != value else fmt.format(value)
        lines.append(f"  {label:<34} {shown:>10}")
    return "\n".join(lines)


def cmd_scenarios(_: argparse.Namespace) -> int:
    from sim.scenario import load_scenario, scenario_names
    for name in scenario_names():
        print(f"{name:<20} {load_scenario(name).description}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from sim.paramdoc import parameters_markdown
    text = parameters_markdown()
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from sim.analysis import analyse, summary_text
    from sim.experiment import (
        load_experiment,
        plan,
        read_experiment,
        run_experiment,
        write_tables,
    )
    from sim.manifest import write_manifest

    if args.action == "run":
        if args.scheduler is not None and args.dask_workers is not None:
            raise ScenarioError("--scheduler", "--dask-workers", "give one of them, not both")
        try:
            sweep = run_experiment(args.file, out_dir=args.out, jobs=args.jobs,
                                   keep=args.keep, scheduler=args.scheduler,
                                   dask_workers=args.dask_workers)
        except KeyboardInterrupt as err:
            sweep = getattr(err, "sweep", None)
            counts = f" ({sweep.text()})" if sweep is not None else ""
            print(f"gridsim: interrupted{counts}; finished runs are kept, run the same command "
                  "to resume", file=sys.stderr)
            if sweep is not None and sweep.cleared:
                print(f"removed {sweep.out}/sensitivity/: it was made from other runs",
                      file=sys.stderr)
            return 130
        out = sweep.out
        import pandas as pd
        table = pd.read_csv(out / "comparison.csv")
    else:
        out = args.dir
        if not (out / "experiment.toml").is_file():
            raise ScenarioError(str(out), "experiment.toml",
                                "not found (run `gridsim experiment run FILE` first)")
        if not any((out / "runs").glob("*__r*.parquet")):
            raise ScenarioError(str(out / "runs"), "runs", "no stored runs (they are not in "
                                "git): run `gridsim experiment run` to make them")
        from sim.store import locked
        with locked(out):                # not while a sweep is adding runs
            exp = load_experiment(out / "experiment.toml")
            specs = plan(exp, out / "runs")
            table = analyse(out, exp)
            write_tables(out, exp, specs)
            write_manifest(out, exp, specs)
    print(summary_text(read_experiment(out / "experiment.toml"), table))
    print(f"\nwrote {out}/: comparison.md, comparison.csv, metrics.csv, runs.csv, manifest.json, "
          "charts/" + (f"; runs in {out}/runs/" if args.action == "run" else ""))
    if args.action == "run":
        print(sweep.text())
        if sweep.cleared:
            print(f"removed {out}/sensitivity/: it was made from other runs; `gridsim analyze "
                  f"{out}` makes it again")
        if sweep.failed or sweep.not_run:
            print(f"gridsim: {sweep.failed} run(s) failed (errors in {out}/runs.csv, tracebacks "
                  f"in {out}/runs/*.failed.json); run `gridsim experiment run` again to retry "
                  "them", file=sys.stderr)
            return 1
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from sim.sensitivity import analyze

    if not args.target > 0:
        raise ScenarioError("--target", "--target", "must be positive")
    written = analyze(args.dir, target=args.target)
    for path in written:
        print(f"wrote {path}")
    return 0


VIZ_GRIDS = 2_000        # grids the dashboard animates comfortably (a district: 1,200)


def cmd_viz(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario
    spec = load_scenario(args.scenario)   # a bad name fails here, in one line, before a server
    if spec.n_grids > VIZ_GRIDS:
        print(f"gridsim viz: warning: {args.scenario} has {spec.n_grids:,} grids; the dashboard "
              f"is made for a district or less (up to ~{VIZ_GRIDS:,}): each step will take "
              "seconds and the map will be too dense to read", file=sys.stderr)
    if args.port == 0:                  # any free port, chosen here so it can be printed
        import socket
        with socket.socket() as sock:
            sock.bind((args.host, 0))
            args.port = sock.getsockname()[1]
    env = {**os.environ, "GRIDSIM_VIZ_SCENARIO": args.scenario, "GRIDSIM_VIZ_LANG": args.lang,
           "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}       # nothing leaves the machine
    print(f"gridsim viz: the {args.scenario} dashboard at http://{args.host}:{args.port}/ "
          "(Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "solara", "run", "sim.app", "--host", args.host,
           "--port", str(args.port), "--production", "--open" if args.open else "--no-open",
           "--log-level", "warning"]
    # become the server (no child process left behind when this one is stopped)
    os.execve(sys.executable, cmd, env)


def cmd_report(args: argparse.Namespace) -> int:
    from sim.report import write_report
    path = write_report(args.dir, args.lang)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"run": cmd_run, "scenarios": cmd_scenarios, "params": cmd_params,
               "experiment": cmd_experiment, "validate": cmd_validate,
               "reproduce": cmd_reproduce, "analyze": cmd_analyze, "viz": cmd_viz,
               "report": cmd_report}[args.command]
    with stop_on_signals() as came:
        try:
            code = handler(args)
        except ScenarioError as err:
            print(f"gridsim: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("gridsim: interrupted; nothing was written", file=sys.stderr)
            code = 130
        except BrokenPipeError:        # output piped into `head` and the like: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception:
            if not came:
                raise
            # a stop whose exception C code dropped can break what it interrupted
            print("gridsim: interrupted; nothing was written", file=sys.stderr)
            code = 130
        # 128 + the signal, as the shell reports a process the signal ended (130: Ctrl-C)
        return 128 + came[0] if came else code


if __name__ == "__main__":
    sys.exit(main())

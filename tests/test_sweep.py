"""Tests of designed sweeps: designs and seeds, the store (resume after a kill, failures, the
runs table, --keep), executors (1 process, N processes, Dask give identical tables) and the
sensitivity analysis (``gridsim analyze``)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.experiment as ex
from sim import design as dz
from sim import sensitivity as sa
from sim.cli import main
from sim.manifest import read_manifest, run_hash

REPO = Path(__file__).resolve().parents[1]
SWEEP = """\
title = "Tiny sweep"
scenario = "small"
days = 20
warmup_days = 5
replications = 1
seed = 11
outcomes = ["rejections_per_issue", "trust_final"]
series = ["open_total"]

[[variants]]
name = "poor"
set = { "platform.dispatch_accuracy" = 0.7 }

[design]
method = "sobol"
samples = 2
[design.parameters]
"units.pass_back_ambiguous" = { min = 0.2, max = 0.7 }
platform.ruling_threshold = { min = 0, max = 3 }
"""
POINTS = 2 * (2 + 2)             # N (D + 2)
N_SWEEP = 2 * POINTS             # variants x points


def cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


def write(tmp: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def runs(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("*.parquet"))


def hashes(out: Path) -> dict[str, str]:
    return {p.stem: run_hash(p) for p in runs(out)}


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep, run in-process."""
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "out"
    assert cli(["experiment", "run", str(write(tmp, SWEEP)), "--jobs", "1", "--out",
                str(out)]) == 0
    return out


# --- designs ---------------------------------------------------------------------------------
def design(**kw) -> dz.Design:
    return dz.Design.model_validate(kw)


def test_factorial_crosses_the_values() -> None:
    d = design(method="factorial", parameters={"a": {"values": [1, 2, 3]},
                                               "b": {"values": [0.5, "x"]}})
    pts = dz.points(d, 1, {})
    assert d.size() == len(pts) == 6
    assert list(map(tuple, pts.to_numpy())) == [(1, 0.5), (1, "x"), (2, 0.5), (2, "x"),
                                                (3, 0.5), (3, "x")]


@pytest.mark.parametrize(("method", "size"), [("lhs", 16), ("sobol", 16 * 5), ("morris", 16 * 4)])
def test_sampled_designs_stay_in_range_and_round_integers(method: str, size: int) -> None:
    params = {"a": {"min": 0.2, "max": 0.7}, "b": {"min": 0, "max": 3}, "c": {"min": 1, "max": 2}}
    d = design(method=method, samples=16, parameters=params)
    pts = dz.points(d, 5, {"b": True})
    assert d.size() == len(pts) == size
    assert pts["a"].between(0.2, 0.7).all() and pts["c"].between(1, 2).all()
    assert pts["b"].dtype.kind == "i" and set(pts["b"]) <= {0, 1, 2, 3}
    pd.testing.assert_frame_equal(pts, dz.points(d, 5, {"b": True}))     # reproducible
    assert not pts.equals(dz.points(d, 6, {"b": True}))                  # seeded by the root


def test_every_integer_of_a_range_is_as_likely() -> None:
    """Rounding a continuous sample would give 0 and 3 half the weight of 1 and 2."""
    d = design(method="lhs", samples=400, parameters={"k": {"min": 0, "max": 3}})
    counts = dz.points(d, 5, {"k": True})["k"].value_counts()
    assert sorted(counts.index) == [0, 1, 2, 3] and (counts == 100).all()   # LHS: exact strata


def test_morris_grid_values_are_clean() -> None:
    d = design(method="morris", samples=8, levels=4, parameters={
        "a": {"min": 0.1, "max": 0.4}, "b": {"min": 0, "max": 1}})
    assert set(dz.points(d, 5, {})["a"]) <= {0.1, 0.2, 0.3, 0.4}


def test_sobol_power_of_two_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex.load_experiment(write(tmp_path, SWEEP))
    assert "power of two" not in capsys.readouterr().err
    ex.load_experiment(write(tmp_path, SWEEP.replace("samples = 2", "samples = 6")))
    err = capsys.readouterr().err
    assert "design.samples: 6 is not a power of two" in err and "8" in err


def test_seeds_common_by_replication_or_independent(tmp_path: Path) -> None:
    text = SWEEP.replace("replications = 1", "replications = 2")
    common = ex.plan(ex.load_experiment(write(tmp_path, text)), tmp_path)
    assert {(s.replication, s.seed) for s in common} == \
        {(r, ex.replication_seed(11, r)) for r in (0, 1)}
    indep = ex.plan(ex.load_experiment(write(tmp_path, text.replace(
        "seed = 11", 'seed = 11\nseeds = "independent"'))), tmp_path)
    by_cell = {(s.point, s.replication): s.seed for s in indep}
    assert len(set(by_cell.values())) == len(by_cell) == POINTS * 2      # one per (i, r)
    assert all(s.seed == by_cell[(s.point, s.replication)] for s in indep)  # variants share
    assert by_cell[(3, 1)] == ex.run_seed(11, 1, 3)


BAD_DESIGN = [  # (replacement of the [design] block's lines, the key the error must name)
    ('method = "sobol"', 'method = "fast"', "design.method"),
    ("samples = 2\n", "", "design.samples"),
    ("min = 0.2, max = 0.7", "min = 0.7, max = 0.2", "design.parameters.units.pass_back_ambiguous"),
    ("min = 0.2, max = 0.7", "values = [0.2, 0.7]",
     "design.parameters.units.pass_back_ambiguous"),
    ("min = 0.2, max = 0.7", "min = 0.2, max = 1.7", "design.parameters.units.pass_back_ambiguous"),
    ('"units.pass_back_ambiguous"', '"units.pass_back_ambigous"',
     "design.parameters.units.pass_back_ambigous"),
    ("= 0.7 }", '= 0.7, "platform.ruling_threshold" = 2 }',
     "variants[0].set.platform.ruling_threshold"),
    ("samples = 2", "samples = 0", "design.samples"),
    ("samples = 2", "samples = 2\nlevels = 6", "design.levels"),          # Morris's, not Sobol's
    ('method = "sobol"\nsamples = 2', 'method = "lhs"\nsamples = 2\nsecond_order = true',
     "design.second_order"),
    ("samples = 2", "samples = 2\ncolour = 1", "design.colour"),
]


@pytest.mark.parametrize(("old", "new", "key"), BAD_DESIGN, ids=[b[2] for b in BAD_DESIGN])
def test_bad_design_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          old: str, new: str, key: str) -> None:
    assert old in SWEEP
    exp, out = write(tmp_path, SWEEP.replace(old, new, 1), "bad.toml"), tmp_path / "out"
    assert cli(["experiment", "run", str(exp), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"gridsim: error: {exp}: {key}"), err
    assert not out.exists()


# --- the store -------------------------------------------------------------------------------
def test_runs_table_design_table_and_records(serial: Path) -> None:
    table = pd.read_csv(serial / "runs.csv")
    assert len(table) == N_SWEEP and set(table["status"]) == {"done"}
    assert list(table.columns[:8]) == ["run", "variant", "point", "replication", "seed",
                                       "status", "seconds", "error"]
    pts = pd.read_csv(serial / "design.csv", index_col="point")
    assert len(pts) == POINTS and pts["platform.ruling_threshold"].dtype.kind == "i"
    first = table.iloc[0]
    assert first["run"] == "baseline__p0__r0" and first["seed"] == ex.replication_seed(11, 0)
    for path in runs(serial)[::7]:
        rec = ex.read_record(path)
        row = table.set_index("run").loc[path.stem]
        assert rec["params"] == {k: pts.loc[rec["point"], k] for k in pts.columns}
        assert rec["overrides"]["units.pass_back_ambiguous"] == \
            row["units.pass_back_ambiguous"]
    metrics = pd.read_csv(serial / "metrics.csv")
    assert list(metrics.columns[:5]) == ["variant", "point", "units.pass_back_ambiguous",
                                         "platform.ruling_threshold", "replication"]
    # the variant is paired with the baseline point by point
    comp = pd.read_csv(serial / "comparison.csv").set_index(["outcome", "variant"])
    assert comp.loc[("rejections_per_issue", "poor"), "n_pairs"] == POINTS
    assert comp.loc[("rejections_per_issue", "poor"), "excludes_zero"]


def test_plan_resolves_a_cell_once_to_the_same_fingerprints(serial: Path) -> None:
    """A cell's replications share one resolved scenario: each fingerprint must be the one its
    run's scenario, resolved with its seed, gives (every committed experiment, and a design)."""
    committed = [p for p in sorted((REPO / "experiments").glob("*.toml"))
                 if p.name != "validation.toml"]        # the validation's own file
    files = [*committed, serial / "experiment.toml"]
    for path in files:
        exp = ex.load_experiment(path)
        specs = ex.plan(exp, Path("runs"))
        for s in specs[:: max(1, len(specs) // 25)]:
            assert s.fingerprint == ex.fingerprint(exp.scenario_ref, exp.days, s.seed,
                                                   s.overrides, exp.series), (path, s.path)


def _runs_laid_out(serial: Path, tmp: Path, layout: str) -> Path:
    """The tiny sweep's run files as stored (design points), renamed as an experiment without
    a design stores them (point i as replication i), or half of each."""
    if layout == "design":
        return serial / "runs"
    import shutil
    out = tmp / "runs"
    out.mkdir()
    for path in runs(serial):
        m = re.fullmatch(r"(\w+?)__p(\d+)__r0", path.stem)
        assert m is not None, path
        plain = layout == "no design" or int(m[2]) % 2
        name = f"{m[1]}__r{m[2]}" if plain else path.stem
        shutil.copy(path, out / f"{name}.parquet")
    return out


@pytest.mark.parametrize("layout", ["design", "no design", "mixed"])
def test_stored_series_and_hashes_read_as_pandas_would(serial: Path, tmp_path: Path,
                                                       layout: str) -> None:
    """Series and content hashes are read through Arrow, a table for all runs: the same as a
    frame per run read by pandas (with and without design points, replications, variants)."""
    from sim.analysis import _run_files, load_series
    from sim.manifest import content_hash
    runs_dir = _runs_laid_out(serial, tmp_path, layout)
    frames = []
    for variant, point, rep, path in _run_files(runs_dir, None, None):
        df = pd.read_parquet(path)
        df.insert(0, "replication", rep)
        if point is not None:
            df.insert(0, "point", point)
        df.insert(0, "variant", variant)
        frames.append(df)
        assert run_hash(path) == content_hash(pd.read_parquet(path),
                                              ex.read_record(path)["metrics"])
    # mixed (left-over files of another design): pandas puts `point` last, we keep our order
    pd.testing.assert_frame_equal(load_series(runs_dir), pd.concat(frames, ignore_index=True),
                                  check_like=layout == "mixed")


def test_manifest_refuses_a_done_run_it_cannot_read(serial: Path, tmp_path: Path) -> None:
    """A run file whose record is intact but whose data is damaged is an error, not a run left
    out of the manifest."""
    import shutil

    import pyarrow as pa

    from sim.manifest import write_manifest
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    victim = runs(out)[0]
    data = bytearray(victim.read_bytes())
    data[8:72] = b"\xff" * 64                 # the first data page; the footer is untouched
    victim.write_bytes(bytes(data))
    exp = ex.load_experiment(out / "experiment.toml")
    assert ex.read_record(victim)["fingerprint"]
    with pytest.raises((OSError, pa.ArrowException)):
        write_manifest(out, exp, ex.plan(exp, out / "runs"))


def test_keep_issues_and_resume_adds_them(serial: Path, tmp_path: Path) -> None:
    import shutil
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    exp = write(tmp_path, SWEEP)
    assert cli(["experiment", "run", str(exp), "--jobs", "1", "--out", str(out),
                "--keep", "issues"]) == 0
    kept = sorted((out / "runs" / "issues").glob("*.parquet"))
    assert len(kept) == N_SWEEP
    issues = pd.read_parquet(kept[0])
    assert len(issues) > 10 and "issue_id" in issues
    assert hashes(out) == hashes(serial)                   # the run files are the same


def test_stale_temporary_files_are_removed(serial: Path, tmp_path: Path) -> None:
    import shutil
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    dead = out / "runs" / "baseline__p0__r0.parquet.tmp-999999999"
    dead.write_bytes(b"half a file")
    assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--jobs", "1",
                "--out", str(out)]) == 0
    assert not dead.exists()


def test_a_second_driver_is_refused(serial: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sim.store import locked
    with locked(serial):
        assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--out",
                    str(serial)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "another gridsim is running" in err


def _start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    # as from a terminal: a shell starts background jobs (e.g. CI's) with SIGINT ignored, and
    # the child would inherit that; restore Ctrl-C's default so the driver handles it
    return subprocess.Popen([sys.executable, "-m", "sim.cli", *argv], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_runs(out: Path, proc: subprocess.Popen, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(runs(out)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_interrupted_sweep_resumes_to_the_same_results(serial: Path, tmp_path: Path,
                                                       how: str) -> None:
    out, exp = tmp_path / "out", write(tmp_path, SWEEP)
    proc = _start(["experiment", "run", str(exp), "--jobs", "2", "--out", str(out)])
    _wait_for_runs(out, proc, 3)
    os.killpg(proc.pid, signal.SIGKILL if how == "kill -9" else signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if how == "Ctrl-C":
        assert proc.returncode == 130, err
        assert re.search(rf"interrupted \(runs: {N_SWEEP} planned, 0 already stored, \d+ done, "
                         r"0 failed, \d+ not run\)", err), err
        status = pd.read_csv(out / "runs.csv")["status"]
        assert set(status) <= {"done", "pending"} and (status == "pending").any()
    else:
        assert proc.returncode == -signal.SIGKILL
    done_before = len(runs(out))
    assert 3 <= done_before < N_SWEEP
    for path in runs(out):                 # every file present is whole
        ex.read_record(path)
        pd.read_parquet(path)
    assert cli(["experiment", "run", str(exp), "--jobs", "1", "--out", str(out)]) == 0
    assert not list((out / "runs").glob("*.tmp-*"))
    assert hashes(out) == hashes(serial)
    assert (out / "comparison.csv").read_bytes() == (serial / "comparison.csv").read_bytes()


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death "
                    "signal is Linux's")
def test_workers_end_with_a_driver_killed_outright(tmp_path: Path) -> None:
    """kill -9 of the driver alone (not its process group) must not leave workers behind."""
    out, exp = tmp_path / "out", write(tmp_path, SWEEP)
    proc = _start(["experiment", "run", str(exp), "--jobs", "2", "--out", str(out)])
    _wait_for_runs(out, proc, 1)
    workers = [k for k in _children(proc.pid)
               if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
    assert len(workers) == 2
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(w) for w in workers), "workers outlived their driver"


def test_another_experiment_is_refused_in_the_same_directory(
        serial: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in serial.iterdir())
    other = write(tmp_path, SWEEP.replace('title = "Tiny sweep"', 'title = "Another"'))
    assert cli(["experiment", "run", str(other), "--out", str(serial)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"gridsim: error: {serial}: --out: holds another experiment ('Tiny sweep'); "
                   "name another --out, or remove the directory")
    assert sorted(p.name for p in serial.iterdir()) == before


def test_a_smaller_design_leaves_its_dropped_runs_out(serial: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Tables come from the planned runs only, and an analysis of other runs is removed."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    assert cli(["analyze", str(out)]) == 0 and (out / "sensitivity").is_dir()
    smaller = write(tmp_path, SWEEP.replace("samples = 2", "samples = 1"))
    assert cli(["experiment", "run", str(smaller), "--jobs", "1", "--out", str(out)]) == 0
    assert f"removed {out}/sensitivity/" in capsys.readouterr().out
    assert not (out / "sensitivity").exists()
    points = POINTS // 2
    assert len(runs(out)) == N_SWEEP                     # the dropped runs' files stay...
    metrics = pd.read_csv(out / "metrics.csv")           # ...out of the tables
    assert len(metrics) == 2 * points and metrics["point"].max() == points - 1
    assert len(pd.read_csv(out / "runs.csv")) == 2 * points
    assert (pd.read_csv(out / "comparison.csv")["n"] == points).all()
    assert f"{2 * points} of {2 * points}" in (out / "comparison.md").read_text("utf-8")


def test_analysis_waits_for_a_running_sweep(serial: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from sim.store import locked
    with locked(serial):
        assert cli(["analyze", str(serial)]) == 2
        assert cli(["experiment", "compare", str(serial)]) == 2
    assert capsys.readouterr().err.count("another gridsim is running this experiment") == 2


# --- executors -------------------------------------------------------------------------------
HALF_SENT = r"""
import os, struct, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from sim.executors import stop_pool

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    pool.submit(time.sleep, 60)
    time.sleep(1.0)                       # the worker is up and busy
    # what a worker stopped halfway through sending its result leaves in the result pipe: a
    # message's header and the start of its body, which the pool's manager thread reads
    os.write(pool._result_queue._writer.fileno(), struct.pack("!i", 1000) + b"abc")
    time.sleep(0.5)
    stop_pool(pool)
    print("stopped", flush=True)
"""


def test_stopping_a_pool_never_hangs_on_a_half_sent_result() -> None:
    """A Ctrl-C that stops a worker halfway through sending its result must not leave the
    driver waiting for the rest at exit (the pool's manager thread, joined at exit)."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", HALF_SENT], cwd=root, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0 and "stopped" in out.stdout, out.stderr


def _same_tables(a: Path, b: Path) -> None:
    for name in ("metrics.csv", "comparison.csv", "design.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ta, tb = (pd.read_csv(p / "runs.csv").drop(columns="seconds") for p in (a, b))
    pd.testing.assert_frame_equal(ta, tb)
    assert [r["sha256"] for r in read_manifest(a)["runs"]] == \
        [r["sha256"] for r in read_manifest(b)["runs"]]
    assert hashes(a) == hashes(b)


def test_processes_give_identical_tables(serial: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--jobs", "2",
                "--out", str(out)]) == 0
    _same_tables(serial, out)


def test_dask_local_cluster_gives_identical_tables(serial: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--dask-workers", "2",
                "--out", str(out)]) == 0
    _same_tables(serial, out)


def test_dask_at_a_scheduler_address(serial: Path, tmp_path: Path) -> None:
    import distributed  # the dask extra: in requirements.lock, so the tests have it
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = tmp_path / "out"
        exp = write(tmp_path, SWEEP.replace("samples = 2", "samples = 1"))
        assert cli(["experiment", "run", str(exp), "--scheduler", cluster.scheduler_address,
                    "--out", str(out)]) == 0
    assert set(pd.read_csv(out / "runs.csv")["status"]) == {"done"}
    assert hashes(out) == {k: v for k, v in hashes(serial).items() if k in hashes(out)} != {}


def test_scheduler_and_workers_are_exclusive(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--scheduler",
                "tcp://127.0.0.1:1", "--dask-workers", "2"]) == 2
    assert "give one of them" in capsys.readouterr().err


# --- analysis --------------------------------------------------------------------------------
def _synthetic(method: str, f, samples: int = 256) -> tuple[ex.Experiment, pd.DataFrame,
                                                            pd.DataFrame]:
    """A design on two parameters and metrics y = f(a, b): known sensitivities."""
    exp = ex.Experiment.model_validate({
        "title": "t", "scenario": "small", "days": 2, "warmup_days": 0, "replications": 1,
        "seed": 3, "outcomes": ["y"],
        "design": {"method": method, "samples": samples,
                   "parameters": {"a": {"min": 0, "max": 1}, "b": {"min": 0, "max": 1}}}})
    x = dz.points(exp.design, exp.seed, {})
    metrics = pd.DataFrame({"variant": "baseline", "point": x.index, "replication": 0,
                            "y": f(x["a"].to_numpy(), x["b"].to_numpy())})
    return exp, metrics, x


def test_sobol_indices_of_a_known_function() -> None:
    # y = 2a + b on U(0,1)^2: variances 4/12 and 1/12, so S1 = ST = 0.8 and 0.2
    exp, metrics, _ = _synthetic("sobol", lambda a, b: 2 * a + b, samples=512)
    first, _ = sa.sobol_indices(exp, metrics)
    got = first.set_index("parameter")
    assert got.loc["a", "S1"] == pytest.approx(0.8, abs=0.05)
    assert got.loc["b", "ST"] == pytest.approx(0.2, abs=0.05)
    assert (got["S1_conf"] > 0).all()
    # an interaction a*b shows as ST > S1
    exp, metrics, _ = _synthetic("sobol", lambda a, b: (a - 0.5) * (b - 0.5), samples=512)
    got = sa.sobol_indices(exp, metrics)[0].set_index("parameter")
    assert (got["ST"] > 0.8).all() and (got["S1"].abs() < 0.1).all()


def test_morris_effects_of_a_known_function() -> None:
    exp, metrics, x = _synthetic("morris", lambda a, b: 3 * a + 0 * b, samples=20)
    got = sa.morris_effects(exp, metrics, x).set_index("parameter")
    assert got.loc["a", "mu_star"] == pytest.approx(3.0, rel=1e-6)
    assert got.loc["a", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert got.loc["b", "mu_star"] == pytest.approx(0.0, abs=1e-9)


def test_missing_points_are_reported(tmp_path: Path) -> None:
    exp, metrics, _ = _synthetic("sobol", lambda a, b: a + b, samples=8)
    with pytest.raises(sa.ScenarioError, match="1 of 32 design points lack"):
        sa.sobol_indices(exp, metrics.iloc[1:])


def test_a_point_short_of_replications_is_reported() -> None:
    """A point averaged over fewer replications than the others would break common random
    numbers between points (a failed run does that)."""
    exp, metrics, _ = _synthetic("sobol", lambda a, b: a + b, samples=8)
    exp = exp.model_copy(update={"replications": 2})
    both = pd.concat([metrics, metrics.assign(replication=1)], ignore_index=True)
    assert len(sa.point_means(exp, both, "baseline")) == 32
    with pytest.raises(sa.ScenarioError, match="1 of 32 design points lack some of their 2"):
        sa.point_means(exp, both.drop(index=len(metrics) + 5), "baseline")


def test_replications_needed() -> None:
    from scipy.special import stdtrit
    for sd, mean, target in [(1.0, 10.0, 0.05), (2.0, 3.0, 0.1), (0.1, 5.0, 0.01)]:
        n = sa.replications_needed(sd, mean, target)
        assert stdtrit(n - 1, 0.975) * sd / math.sqrt(n) <= target * mean
        assert n == 2 or stdtrit(n - 2, 0.975) * sd / math.sqrt(n - 1) > target * mean
    assert sa.replications_needed(1.0, 0.0, 0.05) == -1
    assert sa.replications_needed(0.0, 2.0, 0.05) == 2


def test_adequacy_and_cumulative_means() -> None:
    m = pd.DataFrame({"variant": ["baseline"] * 4, "replication": [3, 1, 0, 2],
                      "y": [4.0, 2.0, 1.0, 3.0]})
    ad = sa.adequacy(m, ["y"], 0.05).iloc[0]
    assert ad["n"] == 4 and ad["mean"] == 2.5
    assert ad["cv"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2.5)
    cum = sa.cumulative_means(m, ["y"])
    assert list(cum["k"]) == [1, 2, 3, 4] and list(cum["mean"]) == [1.0, 1.5, 2.0, 2.5]
    assert math.isnan(cum["ci"].iloc[0]) and cum["ci"].iloc[1] > cum["ci"].iloc[3]


def test_analyze_writes_tables_and_charts(serial: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["analyze", str(serial)]) == 0
    sens = serial / "sensitivity"
    table = pd.read_csv(sens / "sobol.csv")
    assert len(table) == 2 * 2 * 2            # variants x outcomes x parameters
    assert set(table.columns) >= {"S1", "S1_conf", "ST", "ST_conf"}
    for name in ("sobol_rejections_per_issue.png", "sobol_trust_final__poor.png"):
        assert (sens / name).stat().st_size > 1000, name
    assert not (sens / "adequacy.csv").exists()               # one replication per point
    assert cli(["analyze", str(tmp_path)]) == 2
    assert "experiment.toml" in capsys.readouterr().err


def test_analyze_adequacy_of_a_replicated_experiment(tmp_path: Path) -> None:
    text = SWEEP.replace("replications = 1", "replications = 3").split("[design]")[0]
    out = tmp_path / "out"
    assert cli(["experiment", "run", str(write(tmp_path, text)), "--jobs", "1", "--out",
                str(out)]) == 0
    assert cli(["analyze", str(out), "--target", "0.1"]) == 0
    ad = pd.read_csv(out / "sensitivity" / "adequacy.csv")
    assert list(ad["variant"].unique()) == ["baseline", "poor"] and (ad["n"] == 3).all()
    assert (ad["n_needed"] >= 2).all()
    assert (out / "sensitivity" / "adequacy_trust_final.png").stat().st_size > 1000
    assert json.loads((out / "manifest.json").read_text())["runs_done"] == 6


def _dies_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)                    # a worker that dies, as if killed or out of memory
    return x * x


def test_a_dead_worker_loses_only_its_runs() -> None:
    from sim.executors import processes
    got = dict(processes(_dies_on_three, range(12), 2, lambda item, err: f"lost: {item}"))
    assert set(got) == set(range(12)) and got[3] == "lost: 3"
    done = {k: v for k, v in got.items() if not str(v).startswith("lost")}
    assert all(v == k * k for k, v in done.items()) and len(done) >= 12 - 4


def test_the_adequacy_chart_of_a_design_shows_the_same_points_for_every_variant() -> None:
    from sim.sensitivity_charts import adequacy_chart
    curves = pd.DataFrame([{"variant": v, "point": p, "outcome": "y", "k": k,
                            "mean": 1.0 + p / 10, "ci": 0.1}
                           for v in ("baseline", "poor") for p in range(10) for k in (1, 2)])
    fig = adequacy_chart(curves, "y", {}, 0.05, 6)
    legend = fig.axes[0].get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [f"{v}, point {p}" for v in ("baseline", "poor") for p in (0, 4, 9)]
    assert legend.get_title().get_text().startswith("design points 0, 4, 9 of 10\n")


def test_the_morris_chart_leaves_room_for_the_names() -> None:
    from sim.sensitivity_charts import morris_chart
    rows = pd.DataFrame({"parameter": ["a", "b"], "mu_star": [2.0, 1.0],
                         "mu_star_conf": [0.5, 0.2], "sigma": [3.0, 1.0]})
    ax = morris_chart(rows, "y").axes[0]
    assert ax.get_ylim()[1] >= 3.0 * 1.2 and ax.get_xlim()[1] >= 2.5 * 1.3


def test_a_mistyped_key_is_named_with_a_suggestion(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """'repetitions' is both an unknown key and a missing 'replications': name the typo."""
    exp = write(tmp_path, SWEEP.replace("replications = 1", "repetitions = 1"), "typo.toml")
    assert cli(["experiment", "run", str(exp), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"gridsim: error: {exp}: repetitions: unknown key (did you mean 'replications'?)")


def test_a_design_over_a_department_s_staff(tmp_path: Path) -> None:
    """Staffing is a lever: a named entry's field is a design parameter, integer as it is."""
    text = SWEEP.split("[design]")[0] + (
        '[design]\nmethod = "lhs"\nsamples = 8\n[design.parameters]\n'
        '"departments.housing.staff" = { min = 1, max = 4 }\n')
    exp = ex.load_experiment(write(tmp_path, text))
    pts = ex.design_points(exp)
    assert pts["departments.housing.staff"].dtype.kind == "i"
    assert set(pts["departments.housing.staff"]) <= {1, 2, 3, 4}
    specs = ex.plan(exp, tmp_path / "runs")
    from sim.scenario import resolve
    sc = resolve(specs[0].scenario, specs[0].overrides)
    assert {d.name: d.staff for d in sc.departments}["housing"] == \
        pts["departments.housing.staff"].iloc[0]


def test_a_directory_that_is_not_an_experiment_s_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep writes and removes files (sensitivity/, design.csv) in its directory."""
    mine = tmp_path / "project"
    (mine / "sensitivity").mkdir(parents=True)
    (mine / "sensitivity" / "notes.md").write_text("mine", encoding="utf-8")
    assert cli(["experiment", "run", str(write(tmp_path, SWEEP)), "--out", str(mine)]) == 2
    assert "holds files but no experiment" in capsys.readouterr().err
    assert (mine / "sensitivity" / "notes.md").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in mine.iterdir()) == ["sensitivity"]


def test_runs_of_an_earlier_version_of_the_file_stay_out_of_the_tables(
        serial: Path, tmp_path: Path) -> None:
    """Edited (here: days) and not yet run again, the stored runs are not the plan's."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    toml = out / "experiment.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("days = 20", "days = 21"),
                    encoding="utf-8")
    assert cli(["experiment", "compare", str(out)]) == 0
    assert len(pd.read_csv(out / "metrics.csv")) == 0
    assert f"0 of {N_SWEEP} finished" in (out / "comparison.md").read_text(encoding="utf-8")
    assert set(pd.read_csv(out / "runs.csv")["status"]) == {"pending"}

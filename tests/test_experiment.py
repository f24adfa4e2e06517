"""Tests of experiments: the file format, the runner (parallel, resume, failures) and analysis.

An inline experiment on the small scenario (60 days, 3 replications) runs end to end through
the CLI; it has a variant identical to the baseline (its paired differences must be exactly 0,
by common random numbers) and one that really differs (a 60 % accurate first dispatch).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.experiment as ex
from sim.analysis import compare, load_metrics, load_series, pm
from sim.cli import main

REPO = Path(__file__).resolve().parents[1]
EXP = """\
title = "Test experiment"
question = "Does a poor dispatcher cause pass-backs?"
scenario = "small"
days = 60
warmup_days = 15
replications = 3
seed = 7
outcomes = ["rejections_per_issue", "closure_rate", "time_to_close_mean_days"]
series = ["open_total", "trust_mean"]

[baseline]
label = "Baseline"

[[variants]]
name = "same"
label = "Same as the baseline"

[[variants]]
name = "poor_dispatch"
label = "60 % accurate dispatch"
set = { "platform.dispatch_accuracy" = 0.6 }
"""
N_RUNS = 9


def cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


def write_exp(tmp: Path, text: str = EXP, name: str = "exp.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def run_files(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("*.parquet"))


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inline experiment, run once in-process through the CLI."""
    tmp = tmp_path_factory.mktemp("exp")
    out = tmp / "out"
    assert cli(["experiment", "run", str(write_exp(tmp)), "--jobs", "1", "--out", str(out)]) == 0
    return out


def test_end_to_end_via_cli(done: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(run_files(done)) == N_RUNS
    for name in ("experiment.toml", "metrics.csv", "comparison.csv", "comparison.md"):
        assert (done / name).is_file(), name
    for name in ("outcome_rejections_per_issue", "outcome_closure_rate",
                 "outcome_time_to_close_mean_days", "series_open_total", "series_trust_mean"):
        assert (done / "charts" / f"{name}.png").stat().st_size > 1000, name
    assert not list((done / "runs").glob("*.failed.json"))
    runs = pd.read_csv(done / "runs.csv")
    assert list(runs["status"]) == ["done"] * N_RUNS and (runs["seconds"] > 0).all()
    assert list(runs["run"][:3]) == ["baseline__r0", "baseline__r1", "baseline__r2"]
    assert json.loads(runs["overrides"].iloc[-1]) == {"platform.dispatch_accuracy": 0.6}
    assert (done / "experiment.toml").read_text(encoding="utf-8") == EXP
    metrics = pd.read_csv(done / "metrics.csv")
    assert list(metrics.columns[:3]) == ["variant", "replication", "seed"]
    assert list(metrics["variant"]) == ["baseline"] * 3 + ["same"] * 3 + ["poor_dispatch"] * 3
    md = (done / "comparison.md").read_text(encoding="utf-8")
    for needle in ("# Test experiment", "Does a poor dispatcher", "`small`", "60 per run",
                   "15-day warm-up", "| seed | 7", "9 of 9", "## `rejections_per_issue`",
                   "60 % accurate dispatch"):
        assert needle in md, needle
    # compare redoes the analysis from the stored runs, identically
    before = (done / "comparison.csv").read_bytes()
    capsys.readouterr()
    assert cli(["experiment", "compare", str(done)]) == 0
    assert "rejections_per_issue" in capsys.readouterr().out
    assert (done / "comparison.csv").read_bytes() == before


def test_common_random_numbers_and_stored_records(done: Path) -> None:
    for path in run_files(done):
        rec = ex.read_record(path)
        variant, rep = path.stem.split("__r")
        assert (rec["variant"], rec["replication"]) == (variant, int(rep))
        assert rec["seed"] == ex.replication_seed(7, int(rep))
        assert rec["days"] == 60 and rec["warmup_days"] == 15
        assert set(rec["metrics"]) >= {"rejections_per_issue", "closure_rate"}
        assert list(pd.read_parquet(path).columns) == ["day", "open_total", "trust_mean"]
    seeds = load_metrics(done / "runs").pivot(index="replication", columns="variant",
                                              values="seed")
    assert (seeds.nunique(axis=1) == 1).all() and seeds["baseline"].nunique() == 3


def test_seed_rule() -> None:
    expected = int(np.random.SeedSequence([2013, 4]).generate_state(1, dtype=np.uint32)[0])
    assert ex.replication_seed(2013, 4) == expected
    assert ex.replication_seed(2013, 4) != ex.replication_seed(2013, 5)


def test_paired_differences(done: Path) -> None:
    table = pd.read_csv(done / "comparison.csv")
    same = table[table["variant"] == "same"]
    assert len(same) == 3
    assert (same["diff"] == 0).all() and (same["diff_ci"] == 0).all()
    assert not same["excludes_zero"].any()
    poor = table[(table["variant"] == "poor_dispatch")
                 & (table["outcome"] == "rejections_per_issue")].iloc[0]
    assert poor["n"] == 3 and poor["n_pairs"] == 3
    assert poor["diff"] > 0 and poor["excludes_zero"]
    assert poor["diff"] - poor["diff_ci"] > 0


def test_compare_statistics() -> None:
    metrics = pd.DataFrame({"variant": ["baseline"] * 3 + ["v"] * 3, "replication": [0, 1, 2] * 2,
                            "seed": [1, 2, 3] * 2, "y": [1.0, 2.0, 3.0, 2.0, 3.0, 4.5]})
    t = compare(metrics, ["y"]).set_index("variant")
    t975 = 4.302652729749462                                 # Student t, 2 df
    assert t.loc["v", "mean"] == pytest.approx(9.5 / 3)
    assert t.loc["v", "ci"] == pytest.approx(t975 * np.std([2, 3, 4.5], ddof=1) / math.sqrt(3))
    assert t.loc["v", "diff"] == pytest.approx(3.5 / 3)
    assert t.loc["v", "diff_ci"] == pytest.approx(t975 * np.std([1, 1, 1.5], ddof=1) / 3 ** 0.5)
    assert bool(t.loc["v", "excludes_zero"])
    assert t.loc["baseline", "diff"] == 0 and not t.loc["baseline", "excludes_zero"]


def test_results_do_not_depend_on_jobs(done: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    assert cli(["experiment", "run", str(write_exp(tmp_path)), "--jobs", "2",
                "--out", str(out)]) == 0
    for name in ("metrics.csv", "comparison.csv", "comparison.md"):
        assert (out / name).read_bytes() == (done / name).read_bytes(), name
    pd.testing.assert_frame_equal(load_series(out / "runs"), load_series(done / "runs"))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record (variant, replication) of every run that is simulated (in-process, jobs 1)."""
    calls: list[tuple[str, int]] = []
    real = ex.simulate

    def simulate(spec: ex.RunSpec):
        calls.append((spec.variant, spec.replication))
        return real(spec)

    monkeypatch.setattr(ex, "simulate", simulate)
    return calls


def test_resume_skips_finished_runs(done: Path, tmp_path: Path,
                                    counted: list[tuple[str, int]]) -> None:
    out = tmp_path / "out"
    shutil.copytree(done, out)
    exp = write_exp(tmp_path)
    (out / "runs" / "same__r1.parquet").unlink()
    mtimes = {p.name: p.stat().st_mtime_ns for p in run_files(out)}
    assert cli(["experiment", "run", str(exp), "--jobs", "1", "--out", str(out)]) == 0
    assert counted == [("same", 1)]
    assert {p.name: p.stat().st_mtime_ns for p in run_files(out) if p.name in mtimes} == mtimes
    assert (out / "comparison.csv").read_bytes() == (done / "comparison.csv").read_bytes()
    # a changed variant is re-run (its stored runs no longer match), the others are not
    counted.clear()
    write_exp(tmp_path, EXP.replace("= 0.6", "= 0.7"))
    assert cli(["experiment", "run", str(exp), "--jobs", "1", "--out", str(out)]) == 0
    assert counted == [("poor_dispatch", r) for r in range(3)]


def test_failed_run_is_recorded_and_others_finish(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    real = ex.simulate

    def flaky(spec: ex.RunSpec):
        if (spec.variant, spec.replication) == ("poor_dispatch", 1):
            raise RuntimeError("the model broke\nsecond line")
        return real(spec)

    monkeypatch.setattr(ex, "simulate", flaky)
    exp, out = write_exp(tmp_path), tmp_path / "out"
    argv = ["experiment", "run", str(exp), "--jobs", "1", "--out", str(out)]
    assert cli(argv) == 1
    captured = capsys.readouterr()
    assert "runs: 9 planned, 0 already stored, 8 done, 1 failed, 0 not run" in captured.out
    assert "runs.csv" in captured.err
    failed = ex.read_failed(out)
    assert [(f["variant"], f["replication"], f["error"]) for f in failed] == \
        [("poor_dispatch", 1, "RuntimeError: the model broke")]
    assert failed[0]["seed"] == ex.replication_seed(7, 1)
    assert "second line" in failed[0]["traceback"]
    runs = pd.read_csv(out / "runs.csv").set_index("run")
    assert runs.loc["poor_dispatch__r1", "status"] == "failed"
    assert runs.loc["poor_dispatch__r1", "error"] == "RuntimeError: the model broke"
    assert (runs.drop(index="poor_dispatch__r1")["status"] == "done").all()
    assert len(run_files(out)) == N_RUNS - 1
    table = pd.read_csv(out / "comparison.csv")
    assert set(table.loc[table["variant"] == "poor_dispatch", "n"]) == {2}
    monkeypatch.setattr(ex, "simulate", real)                 # fixed: the retry finishes it
    assert cli(argv) == 0
    assert "8 already stored, 1 done, 0 failed" in capsys.readouterr().out
    assert len(run_files(out)) == N_RUNS and not ex.read_failed(out)
    assert set(pd.read_csv(out / "runs.csv")["status"]) == {"done"}


BAD = [  # (pattern, replacement, the key the error must name)
    (r"^seed = 7$", "seed = 7\ncolour = 3", "colour"),
    (r'label = "Same as the baseline"', 'labl = "x"', "variants[0].labl"),
    (r'"closure_rate"', '"closure_rte"', "outcomes[1]"),
    (r'"trust_mean"', '"trust_man"', "series[1]"),
    (r'name = "poor_dispatch"', 'name = "same"', "variants[1].name"),
    (r'name = "same"', 'name = "baseline"', "variants[0].name"),
    (r'name = "same"', 'name = "Same"', "variants[0].name"),
    (r'name = "same"', 'name = "sa__me"', "variants[0].name"),
    (r"^seed = 7$", 'seed = 7\nseeds = "random"', "seeds"),
    (r"dispatch_accuracy\"", 'dispatch_acuracy"', "variants[1].set.platform.dispatch_acuracy"),
    (r"= 0.6 }", "= 1.6 }", "variants[1].set.platform.dispatch_accuracy"),
    (r'^\[baseline\]$', '[baseline]\nset = { "units.nope" = 1 }', "baseline.set.units.nope"),
    (r"= 0.6 }", '= 0.6, "run.seed" = 3 }', "variants[1].set.run.seed"),
    (r'"small"', '"no_such_scenario"', "scenario"),
    (r'"small"', '"scenarios/missing.toml"', "scenario"),
    (r"^days = 60$", "days = 0", "days"),
    (r"^warmup_days = 15$", "warmup_days = 60", "warmup_days"),
    (r'^title = "Test experiment"$', "", "title"),
    (r"^replications = 3$", "replications = [", "toml"),
]


@pytest.mark.parametrize(("pattern", "replacement", "key"), BAD,
                         ids=[b[2] + f"-{i}" for i, b in enumerate(BAD)])
def test_bad_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        pattern: str, replacement: str, key: str) -> None:
    text, n = re.subn(pattern, replacement, EXP, count=1, flags=re.MULTILINE)
    assert n == 1, pattern
    exp, out = write_exp(tmp_path, text, "bad.toml"), tmp_path / "out"
    assert cli(["experiment", "run", str(exp), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"gridsim: error: {exp}: {key}:"), err
    assert not out.exists()


def test_missing_file_and_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["experiment", "run", str(tmp_path / "none.toml")]) == 2
    assert cli(["experiment", "compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "none.toml: file:" in err[0] and "experiment.toml" in err[1]


def test_scenario_path_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "sc").mkdir()
    shutil.copy(REPO / "sim" / "scenarios" / "small.toml", tmp_path / "sc" / "mine.toml")
    exp = ex.load_experiment(write_exp(tmp_path, EXP.replace('"small"', '"sc/mine.toml"')))
    assert exp.scenario_ref == str((tmp_path / "sc" / "mine.toml").resolve())


def test_declared_names_are_what_a_run_reports(done: Path) -> None:
    """Outcomes and series are checked against sim/columns.py without running the model: the
    lists must be what a run reports, in its order."""
    from sim.api import run
    from sim.columns import METRICS, SERIES
    res = run("small", days=30, seed=0, overrides={"run.warmup_days": 5}, record_events=False)
    assert tuple(res.summary["metrics"]) == METRICS
    assert tuple(res.timeseries.columns) == SERIES
    record = ex.read_record(run_files(done)[0])
    assert set(record["metrics"]) == set(METRICS)


def test_a_sweeps_driver_does_not_import_the_model(done: Path) -> None:
    """Checking an experiment, analysing it and writing its manifest import neither the model
    nor Mesa nor numba: the driver would spend seconds on them before its workers start."""
    import subprocess
    import sys
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import sim.experiment as ex\n"
        "from sim.analysis import analyse\n"
        "from sim.manifest import write_manifest\n"
        f"out = Path({str(done)!r})\n"
        "exp = ex.load_experiment(out / 'experiment.toml')\n"
        "analyse(out, exp)\n"
        "write_manifest(out, exp, ex.plan(exp, out / 'runs'))\n"
        "print(sorted(m for m in ('mesa', 'numba', 'sim.model', 'sim.api') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_import_meanwhile_goes_past_a_failed_import_and_leaves_ctrl_c_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The importing thread goes on after a failure, and blocks SIGINT: Ctrl-C must reach the
    main thread, which holds it while it starts workers."""
    import signal
    import sys
    (tmp_path / "gridsim_probe_mask.py").write_text(
        "import signal\nMASK = signal.pthread_sigmask(signal.SIG_BLOCK, [])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ex.import_meanwhile("sim.no_such_module", "gridsim_probe_mask").join(30)
    assert signal.SIGINT in sys.modules.pop("gridsim_probe_mask").MASK
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_demo_file_is_valid() -> None:
    exp = ex.load_experiment(REPO / "experiments" / "demo.toml")
    assert exp.scenario == "small" and exp.replications == 3 and len(exp.variants) == 2
    assert len(ex.plan(exp, Path("runs"))) == 9


# --- reproduction (manifest.json, gridsim reproduce) ----------------------------------------
def test_manifest_names_what_the_results_depend_on(done: Path) -> None:
    m = json.loads((done / "manifest.json").read_text(encoding="utf-8"))
    for key in ("experiment_sha256", "git_commit", "git_dirty", "lock_sha256", "packages",
                "python", "platform", "root_seed"):
        assert key in m
    assert m["git_dirty"] in (True, False, None)
    assert all(r["git_dirty"] in (True, False, None) for r in m["runs"])
    assert m["root_seed"] == 7 and m["runs_done"] == m["runs_planned"] == N_RUNS
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in m["runs"])
    # a hash of contents: the same series and metrics however the file was written
    from sim.manifest import content_hash, run_hash
    path = run_files(done)[0]
    frame = pd.read_parquet(path)
    assert run_hash(path) == content_hash(frame.copy(), ex.read_record(path)["metrics"])
    assert run_hash(path) != content_hash(frame.assign(trust_mean=frame["trust_mean"] + 1e-12),
                                          ex.read_record(path)["metrics"])


def test_reproduce_matches_and_reports_a_difference(done: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(done, copy, ignore=shutil.ignore_patterns("runs"))   # as committed
    assert cli(["reproduce", str(copy), "--sample", "2", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 runs reproduced exactly" in out
    m = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    m["runs"][-1]["sha256"] = "0" * 64                  # as if the model had changed
    (copy / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    assert cli(["reproduce", str(copy), "--sample", "2", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "1 of 2 runs reproduced exactly" in out


def test_reproduce_bad_input(tmp_path: Path, done: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["reproduce", str(tmp_path / "nowhere")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    copy = tmp_path / "edited"
    shutil.copytree(done, copy, ignore=shutil.ignore_patterns("runs"))
    before = (copy / "comparison.csv").read_bytes()       # as committed: no runs/ in git
    assert cli(["experiment", "compare", str(copy)]) == 2
    assert "no stored runs" in capsys.readouterr().err
    assert (copy / "comparison.csv").read_bytes() == before
    with (copy / "experiment.toml").open("a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    assert cli(["reproduce", str(copy), "--sample", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "experiment_sha256" in err


def test_a_difference_that_rounds_to_zero_has_no_minus_sign() -> None:
    assert pm(-0.001, 0.24, sign=True) == "+0.00 ± 0.24"
    assert pm(-0.001, 0.24) == "0.00 ± 0.24"
    assert pm(-0.0349, 0.0121, sign=True) == "-0.035 ± 0.012"

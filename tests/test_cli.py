"""End-to-end tests of the ``gridsim`` command line and of scenario errors.

Good input runs the small scenario and writes every output; bad input gives exit status 2, one
line on stderr naming the file (or the option) and the key, no traceback, and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.model import GridModel
from sim.scenario import ScenarioError, scenario_names

REPO = Path(__file__).resolve().parents[1]
SMALL_TOML = (resources.files("sim") / "scenarios" / "small.toml").read_text(encoding="utf-8")
TABLES = ("issues", "events", "timeseries", "agents")
SUMMARY_KEYS = ("schema_version", "warmup_days", "metrics", "resolved_scenario", "seed",
                "versions", "git_commit", "git_dirty")
RUN_SMALL = ["run", "small", "--days", "40", "--seed", "3"]


def cli(argv: list[str]) -> int:
    """``main`` in-process; argparse's errors exit through SystemExit, so catch that too."""
    try:
        return main(argv)
    except SystemExit as exc:  # argparse (usage errors)
        return int(exc.code or 0)


def small_variant(tmp_path: Path, pattern: str, replacement: str, name: str) -> Path:
    """The small scenario with exactly one line changed, written to ``tmp_path/name``."""
    text, n = re.subn(pattern, replacement, SMALL_TOML, count=1, flags=re.MULTILINE)
    assert n == 1, f"pattern {pattern!r} not found in small.toml"
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], out: Path,
                     *needles: str) -> str:
    """Exit 2, one stderr line 'gridsim: error: ...' containing every needle, nothing written."""
    rc = cli([*argv, "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 2, f"exit status {rc}, stderr: {cap.err!r}"
    assert "Traceback" not in cap.err
    lines = cap.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {cap.err!r}"
    line = lines[0]
    assert line.startswith("gridsim: error:"), line
    for needle in needles:
        assert needle in line, f"{needle!r} not named in {line!r}"
    assert not out.exists(), "the output directory was created despite bad input"
    assert cap.out == ""
    return line


# ---------------------------------------------------------------------------------------------
# Good input


def _check_outputs(out: Path) -> dict:
    for name in TABLES:
        assert (out / f"{name}.parquet").is_file(), name
    issues = pd.read_parquet(out / "issues.parquet")
    ts = pd.read_parquet(out / "timeseries.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert len(issues) > 0 and len(events) > 0
    assert len(ts) == 40
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in SUMMARY_KEYS:
        assert key in summary, key
    assert summary["seed"] == 3
    assert summary["days"] == 40
    assert summary["resolved_scenario"]["name"] == "small"
    assert summary["resolved_scenario"]["run"]["days"] == 40
    assert isinstance(summary["metrics"], dict) and summary["metrics"]
    return summary


def test_run_small_writes_tables_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli([*RUN_SMALL, "--out", str(out), "--no-charts"]) == 0
    cap = capsys.readouterr()
    _check_outputs(out)
    assert not (out / "charts").exists()
    # a summary table and the output path
    assert "small: 40 days, seed 3" in cap.out
    assert "closure rate" in cap.out
    assert str(out) in cap.out
    # nothing left behind next to the output directory (temporary or old copies)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_run_small_writes_charts(tmp_path, capsys):
    """Needs ``sim/charts.py`` (``write_charts``)."""
    out = tmp_path / "run"
    assert cli([*RUN_SMALL, "--out", str(out)]) == 0
    cap = capsys.readouterr()
    _check_outputs(out)
    pngs = sorted((out / "charts").glob("*.png"))
    assert pngs, "no charts/*.png written"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
    assert "charts" in cap.out


def test_rerun_replaces_output_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli([*RUN_SMALL, "--days", "3", "--out", str(out)]) == 0
    first = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (out / "charts").is_dir()
    assert cli(["run", "small", "--days", "30", "--seed", "4", "--out", str(out),
                "--no-charts"]) == 0
    capsys.readouterr()
    assert not (out / "charts").exists(), "re-running must replace the directory, not add to it"
    second = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (first["days"], first["seed"]) == (3, 3)
    assert (second["days"], second["seed"]) == (30, 4)
    assert len(pd.read_parquet(out / "timeseries.parquet")) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (out.stat().st_mode & 0o777) == 0o777 & ~_umask()    # not mkdtemp's 0700


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_directory_of_other_files_is_never_replaced(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "notes.txt").write_text("a week's work", encoding="utf-8")
    assert cli([*RUN_SMALL, "--days", "2", "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("holds files gridsim did not write (notes.txt); name a new or empty "
                        "directory: the results replace it whole")
    assert err.startswith(f"gridsim: error: {mine}: --out: ") and "\n" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]     # no temporary left
    monkeypatch.chdir(mine)
    for out in (".", "", "..", str(tmp_path)):
        assert cli([*RUN_SMALL, "--days", "2", "--out", out]) == 2
        assert "is the working directory or above it" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_an_unwritable_place_is_one_line_before_the_run(tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was built for a place that cannot be written")
    monkeypatch.setattr(GridModel, "__init__", never)          # refused before any run
    assert cli(["run", "baseline", "--out", "/proc/gridsim-test/run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gridsim: error: /proc/gridsim-test/run: --out: cannot be written (")
    assert "\n" not in err


def test_sigterm_leaves_nothing_half_written(tmp_path):
    """A batch job's time limit sends SIGTERM: it is taken as Ctrl-C is (exit 128 + 15)."""
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", "baseline", "--out", "out"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)                  # the run has started writing into its temporary
    assert list(tmp_path.glob(".out.*.tmp")), "the run never started"
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err.strip() == "gridsim: interrupted; nothing was written"
    assert list(tmp_path.iterdir()) == []


def test_a_stop_whose_exception_was_lost_still_stops_the_commit(tmp_path):
    """A signal that comes while C code calls back into Python (numba's compiler) has its
    KeyboardInterrupt printed and dropped: the results must not be committed all the same."""
    import signal

    from sim.output import atomic_dir
    from sim.signals import stop_on_signals
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as came:
        with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "out") as tmp:
            (tmp / "summary.json").write_text("{}", encoding="utf-8")
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)                     # the handler runs here and raises
            except KeyboardInterrupt:
                pass                              # dropped, as such a callback does
        assert came == [signal.SIGTERM]
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before             # put back as it was


def test_scenarios_lists_one_line_each(capsys):
    assert cli(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "baseline" in names and "small" in names
    assert sorted(names) == sorted(scenario_names())
    assert len(names) == len(set(names))
    for line in lines:
        assert len(line.split(maxsplit=1)) == 2, f"no description on {line!r}"


# ---------------------------------------------------------------------------------------------
# Bad input: exit 2, one line naming the file (or option) and the key, nothing written


def test_unknown_scenario_name(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "no_such_scenario"], tmp_path / "out",
                     "no_such_scenario", "scenario")


def test_toml_unknown_key(tmp_path, capsys):
    path = small_variant(tmp_path, r"^(warmup_days = 30)$", r"\1\nwarmup_weeks = 4",
                         "unknown_key.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "unknown_key.toml", "warmup_weeks")


def test_toml_unknown_top_level_key(tmp_path, capsys):
    path = small_variant(tmp_path, r'^(name = "small")$', r'\1\ncolour = "blue"', "top.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out", "top.toml", "colour")


def test_toml_wrong_type(tmp_path, capsys):
    path = small_variant(tmp_path, r"^days = 120$", 'days = "many"', "wrong_type.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "wrong_type.toml", "run.days")


def test_toml_out_of_range_probability(tmp_path, capsys):
    path = small_variant(tmp_path, r"^(\[platform\])$", r"\1\ndispatch_accuracy = 1.5",
                         "accuracy.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "accuracy.toml", "platform.dispatch_accuracy")


def test_toml_negative_category_rate(tmp_path, capsys):
    path = small_variant(tmp_path, r"^rate = 40$", "rate = -5", "negative_rate.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "negative_rate.toml", "categories[1].rate")


def test_toml_more_resident_agents_than_residents(tmp_path, capsys):
    # small: 24 grids x 3 resident agents = 72 agents for 50 residents
    path = small_variant(tmp_path, r"^population = 12_000$", "population = 50",
                         "crowded.toml")
    line = assert_bad_input(capsys, ["run", str(path)], tmp_path / "out", "crowded.toml")
    assert "resident_agents_per_grid" in line or "district.population" in line, (
        f"the key (district.population / district.resident_agents_per_grid) is not named: "
        f"{line!r}")


def test_toml_unknown_lead_department(tmp_path, capsys):
    path = small_variant(tmp_path, r'^lead = "housing"$', 'lead = "ministry_of_magic"',
                         "lead.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "lead.toml", "categories[3].lead", "ministry_of_magic")


def test_toml_shares_exceed_one(tmp_path, capsys):
    # public_safety (categories[1]) has major_share 0.1
    path = small_variant(tmp_path, r"^minor_share = 0\.3$", "minor_share = 0.95",
                         "shares.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out",
                     "shares.toml", "categories[1]", "minor_share")


def test_days_zero(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--days", "0"], tmp_path / "out", "--days")


def test_seed_negative(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--seed", "-1"], tmp_path / "out", "--seed")


def test_malformed_toml(tmp_path, capsys):
    path = small_variant(tmp_path, r"^days = 120$", "days = ", "malformed.toml")
    lineno = SMALL_TOML.splitlines().index("days = 120") + 1
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out", "malformed.toml",
                     f"line {lineno}")


def test_missing_file(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "/nonexistent/x.toml"], tmp_path / "out",
                     "/nonexistent/x.toml", "file")


def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00name = 1")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out", "binary.toml")


def test_set_unknown_key(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--set", "platform.nope=1"], tmp_path / "out",
                     "--set", "platform.nope")


def test_set_bad_value(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--set", "platform.dispatch_accuracy=lots"],
                     tmp_path / "out", "--set", "platform.dispatch_accuracy")


def test_set_out_of_range_value(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--set", "platform.dispatch_accuracy=1.5"],
                     tmp_path / "out", "--set", "platform.dispatch_accuracy")


def test_set_negative_ruling_threshold(tmp_path, capsys):
    # checked by a model-level validator: the error must still blame --set and the key
    assert_bad_input(capsys, ["run", "small", "--set", "platform.ruling_threshold=-1"],
                     tmp_path / "out", "--set", "platform.ruling_threshold")


def test_set_without_equals(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--set", "platform.dispatch_accuracy"],
                     tmp_path / "out", "--set", "platform.dispatch_accuracy")


@pytest.mark.parametrize(("setting", "key"), [
    (["office_calendar.open_hour=20"], "office_calendar"),            # a cross-field check
    (["units.severity_hours=[1,2]"], "units.severity_hours[2]"),       # inside the list set
    (['campaign.categories=["nope"]', "campaign.days=2"], "campaign.categories[0]"),
    (["district.population=10"], "district.resident_agents_per_grid"),  # another key fails
])
def test_an_error_caused_by_set_blames_the_set(tmp_path, capsys, setting, key):
    argv = ["run", "small"] + [a for s in setting for a in ("--set", s)]
    line = assert_bad_input(capsys, argv, tmp_path / "out", "--set", key)
    assert "small.toml" not in line, "the file is not at fault"
    blamed = line.split(": ")[2]
    assert blamed.startswith("--set ") and setting[0].split("=")[0] in blamed


def test_a_bad_file_is_blamed_even_with_a_set(tmp_path, capsys):
    path = small_variant(tmp_path, r"^days = 120$", 'days = "many"', "wrong.toml")
    assert_bad_input(capsys, ["run", str(path), "--set", "platform.ruling_threshold=1"],
                     tmp_path / "out", "wrong.toml: run.days")


def test_mistyped_keys_get_a_suggestion(tmp_path, capsys):
    path = small_variant(tmp_path, r"^(\[platform\])$", r"\1\nruling_treshold = 1", "typo.toml")
    assert_bad_input(capsys, ["run", str(path)], tmp_path / "out", "platform.ruling_treshold",
                     "unknown key (did you mean 'ruling_threshold'?)")
    assert_bad_input(capsys, ["run", "small", "--set", "platform.ruling_treshold=1"],
                     tmp_path / "out", "did you mean 'platform.ruling_threshold'?")


def test_a_value_of_either_form_says_both(tmp_path, capsys):
    assert_bad_input(capsys, ["run", "small", "--set", "platform.ruling_threshold=sometimes"],
                     tmp_path / "out", "Input should be a valid integer or 'never'")


def test_a_file_extending_a_scenario_is_named_after_the_file(tmp_path, monkeypatch, capsys):
    """Its results must not replace the results of the scenario it extends."""
    (tmp_path / "quick_rulings.toml").write_text(
        'base = "small"\n[platform]\nruling_threshold = 0\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli(["run", "quick_rulings.toml", "--days", "2"]) == 0
    capsys.readouterr()
    summary = json.loads(Path("results/runs/quick_rulings/summary.json").read_text("utf-8"))
    assert summary["scenario"] == "quick_rulings"
    assert summary["resolved_scenario"]["platform"]["ruling_threshold"] == 0
    assert not Path("results/runs/small").exists()


def test_bad_input_in_a_subprocess(tmp_path):
    """The real entry point: exit 2, one line on stderr, no traceback, nothing written."""
    (tmp_path / "bad.toml").write_text('name = "bad"\nbogus_key = 1\n', encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "bad.toml", "--out", "out"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gridsim: error:")
    assert "bad.toml" in lines[0] and "bogus_key" in lines[0]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Python API


def test_model_accepts_flat_overrides():
    model = GridModel(scenario="small", **{"platform__ruling_threshold": "never"})
    assert model.scenario_spec.platform.ruling_threshold == "never"
    assert model.scenario_spec.name == "small"
    model.run(days=3)
    assert model.day == 3


def test_model_rejects_unknown_override():
    with pytest.raises(ScenarioError) as info:
        GridModel("small", platform__nope=1)
    assert "nope" in str(info.value)
    assert "\n" not in str(info.value)


def test_set_an_entry_of_a_list_by_its_name(tmp_path, capsys):
    from sim.scenario import load_scenario
    sc = load_scenario("small", {"departments.housing.staff": 7,
                                 "categories__sanitation__rate": 0.0})
    assert {d.name: d.staff for d in sc.departments}["housing"] == 7
    assert {c.name: c.rate for c in sc.categories}["sanitation"] == 0.0
    assert GridModel("small", departments__housing__staff=5).scenario_spec.departments[2].staff \
        == 5
    assert_bad_input(capsys, ["run", "small", "--set", "departments.hosing.staff=1"],
                     tmp_path / "out", "no entry named 'hosing' in departments (known: "
                     "urban_management, public_security, housing, utilities)")
    assert_bad_input(capsys, ["run", "small", "--set", "departments.housing=1"],
                     tmp_path / "out", "name one of its fields: departments.housing.FIELD")
    assert_bad_input(capsys, ["run", "small", "--set", "departments.housing.staff=0"],
                     tmp_path / "out", "--set departments.housing.staff", "staff")

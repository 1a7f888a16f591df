"""``loadsim generate`` when things go wrong: a full disk, a file where the folder should be, a kill,
options past what a dataset holds. Each gets one line naming what is wrong (never a traceback, never
a usage text for a command line that was fine), and nothing is left looking finished or filling the
disk. And the dataset's README says how to make it again, exactly.

Real subprocesses of the CLI; the full-disk case mounts a small tmpfs (root only, skipped elsewhere).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.dataset import check_dataset
from simulator.dataset.shards import SHARD_RECORDS
from simulator.dataset.writer import DATASET_MARK, RUNS_MARK
from tests.conftest import loadsim, subprocess_env
from tests.integration.faults import small_disk

pytestmark = pytest.mark.integration


def one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr, done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr


@pytest.fixture
def disk(tmp_path: Path) -> Any:
    with small_disk(tmp_path, "3m") as mnt:
        yield mnt


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("table_format", ["csv", "parquet"])
def test_a_full_disk_is_one_line_and_leaves_no_half_dataset(disk: Path, jobs: str, table_format: str) -> None:
    if table_format == "parquet":
        pytest.importorskip("pyarrow")
    out = disk / "d"
    done = loadsim(
        disk.parent, "generate", "ecommerce", "--out", str(out), "--users", "2000", "--days", "3", "--quiet",
        "--jobs", jobs, "--format", table_format,
    )  # fmt: skip
    one_line_error(done, "No space left on device", "no dataset was written")
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name != DATASET_MARK)  # the folder's claim
    assert left in ([], ["requests"]), f"half-written files keep the disk full: {left}"


def test_an_out_that_is_a_file_or_empty_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine\n")
    done = loadsim(tmp_path, "generate", "ecommerce", "--out", "afile", "--users", "30", "--days", "1")
    one_line_error(done, "cannot write afile")
    assert (tmp_path / "afile").read_text() == "mine\n"
    done = loadsim(tmp_path, "generate", "ecommerce", "--out", "", "--users", "30", "--days", "1")
    assert done.returncode == 2 and "--out: must name a folder" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"], "nothing written into the current folder"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--start", "9999-12-25", "--days", "10"], "run past the year 9999: at most 5 days from 9999-12-25"),
        # Before: "--start 9999-12-31 and --days 1 run past the year 9999: at most 0 days from 9999-12-31".
        (
            ["--start", "9999-12-31", "--days", "1"],
            "--start 9999-12-31 leaves no day before the year 9999 ends: a dataset's last local day, and the UTC "
            "day after it, are dates; start by 9999-12-29",
        ),
        (["--days", "99999999"], "run past the year 9999"),
        (["--users", "2000000000"], "past the 268,435,456 devices a dataset holds"),
        # Before: an OverflowError traceback from the install weights (growth**day), after the
        # folder was claimed. The limit named is the real one: the most days at this growth.
        (
            ["--days", "100000"],
            "--days 100,000 with time.install_growth 0.03 grows a day's installs 1.03^99,999-fold, "
            "past what a float holds: at most 23,",
        ),
        (["--days", "2900000"], "--days 2,900,000 with time.install_growth 0.03 grows a day's installs"),
        # Before: the folder claimed, then only Android named; a retry from its date refused for iOS.
        (
            ["--start", "2020-06-30"],
            "--start 2020-06-30: the catalogue has no Android or iOS device on 2020-06-30 (its Android rows start "
            "2020-07-01, its iOS rows start 2024-05-20): simulate 2024-05-20 or later",
        ),
        # Before: a dataset whose devices all ran app 3.1.0, released 2025-05-12.
        (
            ["--start", "2024-06-15"],
            "--start 2024-06-15: app.releases: the app's first release, 3.1.0, came out 2025-05-12, after "
            "2024-06-15: simulate 2025-05-12 or later",
        ),
    ],
)
def test_options_past_what_a_dataset_holds_are_usage_errors(tmp_path: Path, args: list[str], said: str) -> None:
    done = loadsim(tmp_path, "generate", "ecommerce", "--out", "d", *args, timeout=60)
    refused_before_writing(done, said, tmp_path / "d")


def test_a_population_problem_is_the_scenarios_not_the_start_dates(tmp_path: Path) -> None:
    """Before (f578231's parent): "time.start 2026-01-01 (in bad.toml): population: unknown country 'XX'",
    with argparse's usage line: every population problem was blamed on the start date."""
    (tmp_path / "bad.toml").write_text('extends = "smoke"\n[population]\ncountries = { XX = 1.0 }\n')
    done = loadsim(tmp_path, "generate", "bad.toml", "--out", "d", "--users", "5", "--days", "1")
    one_line_error(done, 'bad.toml: population.countries.XX: unknown country "XX"')
    assert "time.start" not in done.stderr and "--start" not in done.stderr, done.stderr
    assert not (tmp_path / "d").exists(), "found before --out is claimed"


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            '[time]\nstart = "2019-01-01"\n',
            "old.toml: time.start: the catalogue has no Android or iOS device on 2019-01-01 (its Android rows "
            "start 2020-07-01, its iOS rows start 2024-05-20): simulate 2024-05-20 or later",
        ),
        (
            '[app]\nreleases = [{version = "9.0", build = 900, released = "2027-06-01"}]\n',
            "old.toml: time.start: app.releases: the app's first release, 9.0, came out 2027-06-01, after "
            "2026-01-01: simulate 2027-06-01 or later",
        ),
    ],
    ids=["before-the-catalogue", "before-the-first-release"],
)
def test_a_time_start_with_no_device_is_the_scenarios_problem_in_generate_and_validate(
    tmp_path: Path, toml: str, said: str
) -> None:
    """Before: validate said ok; generate printed argparse's usage line above the problem, as if the
    command line were wrong, for a date the scenario file chose."""
    (tmp_path / "old.toml").write_text(f'extends = "smoke"\n{toml}')
    done = loadsim(tmp_path, "generate", "old.toml", "--out", "d", "--users", "5", "--days", "1")
    one_line_error(done, said)
    assert not (tmp_path / "d").exists(), "refused before --out is claimed"
    checked = loadsim(tmp_path, "validate", "old.toml")
    assert checked.returncode == 1 and said in checked.stdout, (checked.returncode, checked.stdout, checked.stderr)


def refused_before_writing(done: subprocess.CompletedProcess[str], said: str, out: Path) -> None:
    """Exit 2 and one line (beside argparse's usage line) that says ``said``; ``out`` not made."""
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len([line for line in done.stderr.splitlines() if not line.startswith("usage:")]) == 1, (
        f"one line says what is wrong, no note or traceback beside it: {done.stderr}"
    )
    assert not out.exists(), "refused before anything is written"


@pytest.mark.parametrize(
    ("where", "args", "said"),
    [
        # Before: MemoryError after the folder was claimed (a UTC offset per hour per zone, for
        # every day), or, just past the limit, a dataset made at ~1 GB a process.
        ("flag", ["--days", "2900000"], "--days 2,900,000 is past the 36,525 days (100 years) a dataset spans"),
        ("flag", ["--days", "36526"], "--days 36,526 is past the 36,525 days (100 years) a dataset spans"),
        ("scenario", [], "flat.toml: time.days: expected at most 36,525 days (100 years) a dataset spans, got 40,000"),
    ],
)
def test_more_days_than_a_dataset_spans_are_refused(tmp_path: Path, where: str, args: list[str], said: str) -> None:
    # No growth: the install weights would stay floats over any number of days.
    days = "40000" if where == "scenario" else "7"
    (tmp_path / "flat.toml").write_text(f'extends = "smoke"\n[time]\ninstall_growth = 0.0\ndays = {days}\n')
    done = loadsim(tmp_path, "generate", "flat.toml", "--out", "d", "--users", "10", *args, timeout=60)
    refused_before_writing(done, said, tmp_path / "d")


@pytest.mark.parametrize(
    ("time_table", "said"),
    [
        ("install_growth = 1e200", "time.install_growth: 1e+200 a day over time.days 7 grows a day's installs"),
        ("install_growth = 3.0\ndays = 600", "time.install_growth: 3.0 a day over time.days 600 grows"),
    ],
    ids=["huge-growth", "growth-over-many-days"],
)
def test_a_scenario_whose_installs_grow_past_a_float_is_refused(tmp_path: Path, time_table: str, said: str) -> None:
    """Before: an OverflowError traceback (exit 1), and the --out folder claimed."""
    (tmp_path / "big.toml").write_text(f'extends = "smoke"\n[time]\n{time_table}\n')
    done = loadsim(tmp_path, "generate", "big.toml", "--out", "d", "--users", "10", timeout=60)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "past what a float holds: at most " in done.stderr, done.stderr
    assert not (tmp_path / "d").exists(), "refused before anything is written"


@pytest.mark.parametrize(
    ("time_table", "args", "said"),
    [
        (
            'start = "9999-12-01"\ndays = 60',
            [],
            "late.toml: time.days: 60 days from time.start 9999-12-01 run past the year 9999: "
            "at most 29 days from that start",
        ),
        (
            'start = "9999-12-01"\ndays = 20',
            ["--days", "60"],
            "time.start 9999-12-01 (in late.toml) and --days 60 run past the year 9999: "
            "at most 29 days from 9999-12-01",
        ),
        (
            "days = 60",
            ["--start", "9999-12-01"],
            "--start 9999-12-01 and time.days 60 (in late.toml) run past the year 9999: "
            "at most 29 days from 9999-12-01",
        ),
    ],
    ids=["scenario", "scenario-start-flag-days", "flag-start-scenario-days"],
)
def test_a_run_past_the_year_9999_names_where_each_value_came_from(
    tmp_path: Path, time_table: str, args: list[str], said: str
) -> None:
    """Before: "--start 9999-12-01 and --days 60 run past the year 9999" whichever was given, flags or not."""
    (tmp_path / "late.toml").write_text(f'extends = "smoke"\n[time]\ninstall_growth = 0.0\n{time_table}\n')
    done = loadsim(tmp_path, "generate", "late.toml", "--out", "d", "--users", "10", *args, timeout=60)
    refused_before_writing(done, said, tmp_path / "d")
    given = {a for a in args if a.startswith("--")}
    assert given == {f for f in ("--start", "--days") if f in done.stderr}, "only the flags given are named"


@pytest.mark.parametrize(
    ("time_table", "args", "said"),
    [
        (
            "days = 7",
            ["--start", "2026-01-03", "--days", "2"],
            "--start 2026-01-03 and --days 2 span Saturday, Sunday only, whose time.weekly weights (in "
            "weekend.toml) are all 0: no device could install or come back",
        ),
        (
            'start = "2026-01-03"\ndays = 7',
            ["--days", "1"],
            "time.start 2026-01-03 (in weekend.toml) and --days 1 span Saturday only",
        ),
    ],
    ids=["flags", "scenario-start-flag-days"],
)
def test_a_period_of_weekdays_weighted_0_is_refused(
    tmp_path: Path, time_table: str, args: list[str], said: str
) -> None:
    """Before: a dataset whose devices all installed on the last day, with one session each, exit 0."""
    weekly = "weekly = [1, 1, 1, 1, 1, 0, 0]"
    (tmp_path / "weekend.toml").write_text(f'extends = "smoke"\n[time]\n{weekly}\n{time_table}\n')
    done = loadsim(tmp_path, "generate", "weekend.toml", "--out", "d", "--users", "10", *args, timeout=60)
    refused_before_writing(done, said, tmp_path / "d")


def test_a_campaign_factor_that_would_never_end_is_refused(tmp_path: Path) -> None:
    """Before: generate hung (killed here by the timeout), the --out folder claimed."""
    sale = 'extends = "smoke"\n[[time.campaigns]]\nday = 2\nname = "s"\nsessions = 1e308\n'
    (tmp_path / "sale.toml").write_text(sale)
    done = loadsim(tmp_path, "generate", "sale.toml", "--out", "d", "--users", "10", timeout=30)
    said = "sale.toml: time.campaigns[0].sessions: expected a factor of at most 1,000"
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "d").exists(), "refused before anything is written"


def _stopped(tmp_path: Path, args: list[str], ready: Callable[[], bool], sig: int = signal.SIGINT) -> tuple[int, str]:
    """``loadsim ARGS`` sent ``sig`` once ``ready()`` (polled for at most 60 s); its exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before the signal: make the dataset bigger"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def _playing(out: Path) -> Callable[[], bool]:
    """Well into the devices: a second after the temporary runs began."""
    began: list[float] = []

    def ready() -> bool:
        if not began and list(out.glob(".runs-*/*")):
            began.append(time.monotonic())
        return bool(began) and time.monotonic() - began[0] > 1.0

    return ready


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_mid_generate_leaves_no_temporary_runs_and_no_finished_look(tmp_path: Path, jobs: str) -> None:
    """kill (or a Job's pod stopped) used to leave the sorted runs, about the dataset's size, in a
    hidden folder that no later run removed."""
    out = tmp_path / "d"
    args = ["generate", "ecommerce", "--out", str(out), "--users", "20000", "--days", "14", "--quiet", "--jobs", jobs]
    code, err = _stopped(tmp_path, args, _playing(out), signal.SIGTERM)
    assert code == 143, (code, err)
    assert "interrupted: no dataset was written" in err and "Traceback" not in err, err
    assert not list(out.glob(".runs-*")), "the temporary runs were left behind"
    assert not (out / "summary.json").exists()


def test_a_run_killed_hard_leaves_runs_the_next_one_removes(tmp_path: Path) -> None:
    out = tmp_path / "d"
    stale = out / ".runs-abcd1234"
    stale.mkdir(parents=True)
    (stale / RUNS_MARK).write_text("")  # what a SIGKILL leaves: the folder as the generator marks it
    (stale / "run-000000.run").write_bytes(b"x" * 1000)
    done = loadsim(tmp_path, "generate", "smoke", "--out", str(out), "--users", "20", "--days", "1")
    assert done.returncode == 0, done.stderr
    assert not stale.exists()


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing of the generator's own cleans up after it."""


def test_no_moment_of_making_the_runs_folder_leaves_one_no_later_run_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a SIGKILL between mkdtemp and its mark left an empty, unmarked .runs-* folder, which
    _own_runs takes for the user's: no later run removed it. A kill cannot be aimed at that window from
    outside, so the property is tested in-process: an audit hook sees each filesystem step of the
    folder's making before it happens, checks that no .runs-* folder is unmarked, and stops the making
    at each step in turn (a kill there); the next run then leaves nothing but the dataset's files."""
    import threading

    from simulator.dataset import generate, writer

    out = tmp_path / "d"
    args: dict[str, Any] = {"out": out, "users": 4, "days": 1, "quiet": True}
    generate("smoke", **args)
    seen: list[str] = []
    unmarked: list[str] = []
    watch: dict[str, Any] = {"on": False, "kill_at": None, "thread": threading.get_ident()}

    def check() -> None:
        unmarked.extend(p.name for p in out.glob(".runs-*") if p.is_dir() and not (p / RUNS_MARK).exists())

    def hook(event: str, _: tuple[Any, ...]) -> None:
        if not watch["on"] or threading.get_ident() != watch["thread"] or event.split(".")[0] not in ("os", "open"):
            return
        watch["on"] = False  # the check's own scandir is not a step
        try:
            check()
        finally:
            watch["on"] = True
        seen.append(event)
        if len(seen) == watch["kill_at"]:
            raise _Killed(event)

    def watched(out_dir: Path) -> Path:
        watch["on"] = True
        try:
            made: Path = made_by(out_dir)
        finally:
            watch["on"] = False
        check()
        return made

    made_by = writer._runs_folder
    sys.addaudithook(hook)  # for the process's life: inert but inside ``watched``
    monkeypatch.setattr(writer, "_runs_folder", watched)
    generate("smoke", **args)
    steps = len(seen)
    assert steps >= 2 and not unmarked, (seen, unmarked)
    for k in range(1, steps + 1):
        seen.clear()
        watch["kill_at"] = k
        with pytest.raises(_Killed):
            generate("smoke", **args)
        watch["kill_at"] = None
        generate("smoke", **args)
        left = sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != DATASET_MARK)
        assert not unmarked and not left, (k, seen, unmarked, left)
    mine = out / f"{writer.RUNS_MAKING}mine"  # the name of a folder being made, holding what it never does
    mine.mkdir()
    (mine / "file").write_text("precious\n")
    generate("smoke", **args)
    assert (mine / "file").read_text() == "precious\n"


def test_a_runs_folder_of_the_users_own_is_never_removed(tmp_path: Path) -> None:
    """Before: a folder the user named .runs-mine was taken for a killed run's and deleted, with what it
    held, exit 0; in a folder holding nothing else it was not even counted as the user's."""
    out = tmp_path / "d"
    (out / ".runs-mine").mkdir(parents=True)
    (out / ".runs-mine" / "file").write_text("precious\n")
    done = loadsim(tmp_path, "generate", "smoke", "--out", str(out), "--users", "8", "--days", "1")
    assert done.returncode == 2 and "d holds files and is not a dataset folder (.runs-mine)" in done.stderr, done.stderr
    (out / DATASET_MARK).write_text("")  # a dataset's folder: generated into, the user's folder beside it stays
    done = loadsim(tmp_path, "generate", "smoke", "--out", str(out), "--users", "8", "--days", "1")
    assert done.returncode == 0, done.stderr
    assert (out / ".runs-mine" / "file").read_text() == "precious\n"


def test_the_readme_says_how_to_make_the_same_dataset_again(tmp_path: Path) -> None:
    """Its "Generated by" command, run as written, writes the same files byte for byte (it used to
    leave out --users, --format and --gzip, and so made another dataset)."""
    pytest.importorskip("pyarrow")
    first = tmp_path / "first"
    done = loadsim(
        tmp_path, "generate", "ecommerce", "--out", str(first), "--users", "120", "--days", "2", "--seed", "9",
        "--format", "parquet", "--gzip", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(x for x in (first / "README.md").read_text().splitlines() if x.startswith("Generated by `"))
    command = shlex.split(line.split("`")[1])
    assert command[:2] == ["loadsim", "generate"], command
    again = tmp_path / "again"
    done = loadsim(tmp_path, *command[1:], "--out", str(again), "--quiet")
    assert done.returncode == 0, done.stderr
    files = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_shards_of_one_scenario_file_kept_at_two_paths_merge(tmp_path: Path) -> None:
    """Two hosts, two checkouts: the same scenario file at different paths is the same scenario.
    Before: named by their absolute paths (or bundled in two installs), the two were refused as
    different scenarios: the fingerprint hashed the file's path with its content."""
    text = (Path(__file__).parents[2] / "simulator" / "scenarios" / "smoke.toml").read_text()
    for k, host in enumerate(("hostA", "hostB")):
        (tmp_path / host).mkdir()
        (tmp_path / host / "shop.toml").write_text(text)
        done = loadsim(
            tmp_path / host, "generate", str(tmp_path / host / "shop.toml"), "--out", str(tmp_path / "shards" / str(k)),
            "--users", "40", "--days", "1", "--quiet", "--shard", f"{k}/2",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    shards = [str(tmp_path / "shards" / k) for k in "01"]
    done = loadsim(tmp_path, "generate", "--merge", str(tmp_path / "m"), *shards)
    assert done.returncode == 0, done.stderr
    (tmp_path / "hostB" / "shop.toml").write_text(text.replace("think_time_scale = 0.003", "think_time_scale = 0.004"))
    done = loadsim(
        tmp_path / "hostB", "generate", "shop.toml", "--out", str(tmp_path / "shards" / "1"), "--users", "40",
        "--days", "1", "--quiet", "--shard", "1/2",
    )  # fmt: skip
    done = loadsim(tmp_path, "generate", "--merge", str(tmp_path / "m2"), *shards)
    assert done.returncode == 2 and "the scenario's content" in done.stderr, done.stderr
    assert os.path.isdir(tmp_path / "m") and not (tmp_path / "m2" / "summary.json").exists()


def test_a_shard_and_a_dataset_in_turn_in_one_folder_leave_none_of_the_others_files(tmp_path: Path) -> None:
    """Before: a dataset generated where a shard was kept the shard's records.run (bigger than the new
    events.csv) and devices.part.csv; a shard generated where a dataset was kept its README.md, which
    described files no longer there, and an empty requests/."""
    out = tmp_path / "d"
    common = ["generate", "smoke", "--out", str(out), "--users", "20", "--days", "1", "--quiet"]

    def generated(*extra: str) -> list[str]:
        done = loadsim(tmp_path, *common, *extra)
        assert done.returncode == 0, done.stderr
        return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name != DATASET_MARK)

    alone = generated("--shard", "0/2")
    dataset = generated()
    assert not {SHARD_RECORDS, "devices.part.csv", "shard.json"} & set(dataset), dataset
    assert generated("--shard", "0/2") == alone


def test_regenerating_in_another_format_leaves_no_tables_of_the_first(tmp_path: Path) -> None:
    out = tmp_path / "d"
    for extra in ([], ["--format", "jsonl", "--gzip"]):
        done = loadsim(
            tmp_path, "generate", "smoke", "--out", str(out), "--users", "20", "--days", "1", "--quiet", *extra
        )
        assert done.returncode == 0, done.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        DATASET_MARK,
        "README.md",
        "devices.jsonl.gz",
        "events.jsonl.gz",
        "requests/events.jsonl.gz",
        "requests/externalIds.jsonl.gz",
        "requests/identify.jsonl.gz",
        "summary.json",
    ], files


@pytest.mark.parametrize("how", ["generate", "shard", "merge"])
def test_a_folder_of_someone_elses_files_is_refused_and_left_as_it_was(tmp_path: Path, how: str) -> None:
    """Before: ``generate --out .`` in a project wrote over its README.md and events.csv (and would delete
    its devices.parquet, a table name of another format) without a word. A folder is written into only
    if it is new, empty, or one a dataset (or a shard) was generated into."""
    mine = tmp_path / "project"
    mine.mkdir()
    files = {"README.md": "# my project\n", "events.csv": "mine,1\n", "devices.parquet": "not ours\n"}
    for name, text in files.items():
        (mine / name).write_text(text)
    if how == "merge":
        shard = tmp_path / "shard0"
        done = loadsim(tmp_path, "generate", "smoke", "--out", str(shard), "--users", "8", "--days", "1",
                       "--shard", "0/1")  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = loadsim(tmp_path, "generate", "--merge", "project", str(shard))
    else:
        shard_args = ["--shard", "0/2"] if how == "shard" else []
        done = loadsim(tmp_path, "generate", "smoke", "--out", "project", "--users", "8", "--days", "1", *shard_args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr  # a usage error: --out is to fix
    assert "project holds files and is not a dataset folder (README.md, devices.parquet" in done.stderr, done.stderr
    assert {p.name: p.read_text() for p in mine.iterdir()} == files, "nothing written, nothing removed"


def test_a_dataset_folder_is_written_again_and_keeps_what_the_user_added(tmp_path: Path) -> None:
    """The other side of the refusal: generating again over a dataset (finished, or one cut off before
    its summary.json) is how a dataset is remade, and a file the user put beside it stays."""
    args = ["generate", "smoke", "--out", "data", "--users", "8", "--days", "1"]
    assert loadsim(tmp_path, *args).returncode == 0
    (tmp_path / "data" / "notes.txt").write_text("kept\n")
    (tmp_path / "data" / "summary.json").unlink()  # as a run cut off before its end leaves it
    done = loadsim(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "summary.json").is_file()
    assert (tmp_path / "data" / "notes.txt").read_text() == "kept\n"


def test_a_load_test_report_folder_is_not_taken_for_a_dataset(tmp_path: Path) -> None:
    """A run's report folder has a summary.json too (its verdict). Before: ``generate --out
    reports/<run>`` took it for an old dataset's, wrote over its README-less folder and deleted the
    report's summary.json, exit 0."""
    report = tmp_path / "reports" / "20261203-101500-smoke"
    report.mkdir(parents=True)
    files = {"summary.json": '{"schema_version": 1, "result": "PASSED"}\n', "junit.xml": "<testsuites/>\n"}
    for name, text in files.items():
        (report / name).write_text(text)
    done = loadsim(tmp_path, "generate", "smoke", "--out", str(report), "--users", "8", "--days", "1")
    assert done.returncode == 2 and "holds files and is not a dataset folder" in done.stderr, done.stderr
    assert {p.name: p.read_text() for p in report.iterdir()} == files, "nothing written, nothing removed"


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", ["generate", "merge"])
def test_a_stop_while_writing_over_a_dataset_leaves_it_whole(tmp_path: Path, how: str) -> None:
    """Regenerating is how a dataset is remade, so a stop midway (Ctrl-C, a Job's pod stopped) must
    not cost the one already there. Before: its summary.json went at the start, so the folder no
    longer read as a dataset, and the message said none was written; one stopped while writing
    lost its tables too."""
    out = tmp_path / "d"
    small = ["smoke", "--users", "20", "--days", "1", "--quiet"]
    assert loadsim(tmp_path, "generate", *small, "--out", str(out)).returncode == 0
    before = _files(out)
    big = ["ecommerce", "--users", "20000", "--days", "14", "--quiet"]
    if how == "merge":
        shard = tmp_path / "shard"
        assert loadsim(tmp_path, "generate", *big, "--shard", "0/1", "--out", str(shard)).returncode == 0
        command = ["generate", "--merge", str(out), str(shard), "--quiet"]
    else:
        command = ["generate", *big, "--out", str(out)]
    # Into the writing of the new files (a merge goes there at once; a run after its devices), or
    # past the moment a stop would cost the old dataset its summary.json.
    code, err = _stopped(
        tmp_path,
        command,
        lambda: bool(list(out.glob(".runs-*/out/requests/*"))) or not (out / "summary.json").exists(),
    )
    assert code == 130, (code, err)
    assert f"interrupted: the dataset already in {out} is unchanged" in err and "Traceback" not in err, err
    assert _files(out) == before
    check_dataset(out)  # still a whole dataset, as replay reads it


def test_a_full_disk_while_writing_over_a_dataset_leaves_it_whole(disk: Path) -> None:
    """The new dataset is written beside the old one, so a disk that cannot hold both refuses the new
    one. Before: the old one's summary.json and tables were deleted, and the disk left without either."""
    out = disk / "d"
    small = ["smoke", "--users", "20", "--days", "1", "--quiet"]
    assert loadsim(disk.parent, "generate", *small, "--out", str(out)).returncode == 0
    before = _files(out)
    done = loadsim(disk.parent, "generate", "ecommerce", "--out", str(out), "--users", "2000", "--days", "3", "--quiet")
    one_line_error(done, "No space left on device", f"the dataset already in {out} is unchanged")
    assert _files(out) == before
    assert not list(out.glob(".runs-*")), "the staged files keep the disk full"


@pytest.mark.parametrize(("how", "jobs"), [("generate", "2"), ("shard", "1")])
def test_a_regenerate_stopped_midway_leaves_the_old_dataset_whole(tmp_path: Path, how: str, jobs: str) -> None:
    """Stopped while its devices are played, with --jobs 2, or regenerating a shard: the old dataset or
    shard stays, byte for byte, and the message says so naming the folder. Before (dec61f2 kept the
    files): "interrupted: no dataset was written (a dataset already in the folder is as it was)",
    for a shard too."""
    out = tmp_path / "d"
    shard = ["--shard", "0/2"] if how == "shard" else []
    done = loadsim(tmp_path, "generate", "ecommerce", "--out", str(out), "--users", "60", "--days", "2", *shard)
    assert done.returncode == 0, done.stderr
    before = _files(out)
    args = ["generate", "ecommerce", "--out", str(out), "--users", "20000", "--days", "14", "--seed", "5"]
    code, err = _stopped(tmp_path, [*args, "--quiet", "--jobs", jobs, "--format", "jsonl", *shard], _playing(out))
    assert code == 130, (code, err)
    what = "shard" if how == "shard" else "dataset"
    assert f"interrupted: the {what} already in {out} is unchanged" in err and "Traceback" not in err, err
    assert _files(out) == before, "the old dataset is byte for byte as it was"
    assert not list(out.glob(".runs-*")), "no temporary folder left"
    if how == "generate":
        check_dataset(out)  # reads as a dataset, every line
    else:
        other = tmp_path / "s1"
        done = loadsim(tmp_path, "generate", "ecommerce", "--out", str(other), "--users", "60", "--days", "2",
                       "--shard", "1/2")  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = loadsim(tmp_path, "generate", "--merge", str(tmp_path / "m"), str(out), str(other))
        assert done.returncode == 0, done.stderr
        check_dataset(tmp_path / "m")


def test_a_merge_that_fails_over_a_dataset_leaves_it_whole(tmp_path: Path) -> None:
    """A damaged shard refused: the message says the dataset in the output folder is untouched.
    Before: it named the shard only, and a user could not tell what became of the old dataset."""
    shard = tmp_path / "s"
    done = loadsim(tmp_path, "generate", "smoke", "--out", str(shard), "--users", "20", "--days", "1",
                   "--shard", "0/1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "m"
    done = loadsim(tmp_path, "generate", "--merge", str(out), str(shard))
    assert done.returncode == 0, done.stderr
    before = _files(out)
    records = shard / SHARD_RECORDS
    data = records.read_bytes()
    records.write_bytes(data[: len(data) // 2] + b"\xff" * (len(data) - len(data) // 2))  # same size, damaged
    done = loadsim(tmp_path, "generate", "--merge", str(out), str(shard))
    assert done.returncode == 2 and "cannot be read" in done.stderr, done.stderr
    assert f"the dataset already in {out} is unchanged" in done.stderr, done.stderr
    assert _files(out) == before, "the old dataset is byte for byte as it was"


def _address_space(limit: int) -> Callable[[], None]:
    """A child's ``ulimit -v``: the limit the memory check of generate reads, the same on any host."""

    def limit_it() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return limit_it


@pytest.mark.parametrize(
    ("scenario", "args", "said"),
    [
        ("ecommerce", ["--users", "20000000"], "--users 20,000,000 needs about 4.2 GiB"),
        ("big.toml", [], "population.devices 8,000,000 (in big.toml) needs about 1.7 GiB"),
    ],
    ids=["--users", "population.devices"],
)
def test_a_population_past_the_memory_left_is_refused_before_it_is_built(
    tmp_path: Path, scenario: str, args: list[str], said: str
) -> None:
    """Before: a numpy _ArrayMemoryError traceback seconds into the build (under ulimit -v 1.5 GB); without
    a limit, minutes of building until the OOM killer ends the process with no word."""
    (tmp_path / "big.toml").write_text('extends = "ecommerce"\n[population]\ndevices = 8_000_000\n')
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "generate", scenario, "--out", "d", "--days", "1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
        cwd=tmp_path,
        preexec_fn=_address_space(3 << 29),
    )
    refused_before_writing(done, said, tmp_path / "d")
    assert "the address-space limit (ulimit -v) leaves this process about" in done.stderr, done.stderr

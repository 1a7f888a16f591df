"""loadsim generate --jobs N: the same files for any N, a failing worker stops the run cleanly."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from simulator import machine
from simulator.cli import main
from simulator.dataset import DatasetError, generate, parallel
from simulator.dataset.rows import Generator
from simulator.dataset.stats import Stats

fork_only = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(),
    reason="the failing device is patched in the parent: workers must be forked",
)


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def campaign_scenario(tmp_path: Path) -> Path:
    # A campaign day: its conversion is engine state set per session, which must not leak across blocks.
    path = tmp_path / "sale.toml"
    path.write_text(
        'extends = "ecommerce"\nname = "sale"\n[time]\nchurn = 0.1\n[[time.campaigns]]\nday = 2\n'
        'name = "flash sale"\nsessions = 3\nconversion = 3\n',
        encoding="utf-8",
    )
    return path


def _campaign_sold(summary: dict[str, Any]) -> bool:
    return bool(summary["revenue_by_currency"]) and summary["daily"][1]["campaign"] == "flash sale"


@pytest.mark.parametrize(
    ("scenario", "options", "runs", "written", "check"),
    [
        pytest.param(
            "sale",
            {"users": 300, "days": 3, "seed": 11},
            # Small chunks: each worker spills several runs, and the parent merges them all in groups.
            [{"jobs": 3, "chunk_records": 400}, {"jobs": 0}],
            {
                "README.md",
                "devices.csv",
                "events.csv",
                "summary.json",
                "requests/events.jsonl",
                "requests/externalIds.jsonl",
                "requests/identify.jsonl",
            },
            _campaign_sold,
            id="csv, a campaign day, spilled runs, every core",
        ),
        pytest.param(
            "bad-clients",
            {"users": 240, "days": 3, "seed": 5, "table_format": "jsonl", "gzip_output": True},
            [{"jobs": 3}],
            {"events.jsonl.gz", "devices.jsonl.gz"},  # devices in the chosen format
            lambda summary: bool(summary["requests"]["faulty"]),
            id="jsonl, gzip, faulty SDKs",
        ),
        pytest.param("smoke", {"users": 3, "days": 2}, [{"jobs": 8}], set(), bool, id="more jobs than devices"),
    ],
)
def test_any_number_of_jobs_writes_the_same_bytes(
    tmp_path: Path,
    scenario: str,
    options: dict[str, Any],
    runs: list[dict[str, Any]],
    written: set[str],
    check: Any,
) -> None:
    sc: str | Path = campaign_scenario(tmp_path) if scenario == "sale" else scenario
    one = generate(sc, out=tmp_path / "one", **options)
    assert check(one)
    want = files(tmp_path / "one")
    assert written <= set(want)
    for k, more in enumerate(runs):
        other = generate(sc, out=tmp_path / f"jobs-{k}", **options, **more)
        assert other == one, more
        assert files(tmp_path / f"jobs-{k}") == want, more
        assert not list((tmp_path / f"jobs-{k}").glob(".runs-*")), "temporary runs are removed"


def test_progress_shows_with_jobs_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate("smoke", out=tmp_path, users=40, days=1, progress=True, jobs=2)
    err = capsys.readouterr().err
    assert "devices" in err and "40/40" in err and "writing" in err


def test_spawned_workers_build_the_same_population(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate("smoke", out=tmp_path / "one", users=60, days=2)
    monkeypatch.setattr(parallel, "_mp_context", lambda: multiprocessing.get_context("spawn"))
    generate("smoke", out=tmp_path / "spawn", users=60, days=2, jobs=2)
    assert files(tmp_path / "spawn") == files(tmp_path / "one")


def test_stats_merge_names_every_field() -> None:
    s = Stats
    merged = {"days", "revenue", *s.SUMS, *s.LISTS, *s.COUNTS}
    assert merged == {f.name for f in dataclasses.fields(s)}, "a new Stats field needs its place in merge()"


def test_stats_merge_adds_revenue_exactly_in_any_order() -> None:
    def block(values: list[float]) -> Stats:
        s = Stats(1)
        s.revenue["USD"] = [len(values), sum((Fraction(v) for v in values), Fraction(0))]
        s.devices, s.daily_active, s.requests["events"] = len(values), [1], 2
        return s

    one, other = Stats(1), Stats(1)
    for b in (block([0.1, 0.2]), block([0.3])):
        one.merge(b)
    for b in (block([0.1]), block([0.2, 0.3])):
        other.merge(b)
    # As floats, (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3): split differently, the sums would differ.
    assert one.revenue == other.revenue == {"USD": [3, Fraction(0.1) + Fraction(0.2) + Fraction(0.3)]}
    assert (one.devices, one.daily_active, one.requests["events"]) == (3, [2], 4)
    assert other.daily_active == [2]


def failing_device(monkeypatch: pytest.MonkeyPatch, at: int, fail: Any) -> None:
    play = Generator.device

    def device(self: Any, i: int, out: Any, rows: Any) -> None:
        if i == at:
            fail()
        play(self, i, out, rows)

    monkeypatch.setattr(Generator, "device", device)


@fork_only
def test_a_failing_worker_stops_the_run_naming_it_and_leaves_the_earlier_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    generate("smoke", out=out, users=30, days=1)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom() -> None:
        raise RuntimeError("disk on fire")

    failing_device(monkeypatch, 250, boom)
    with pytest.raises(DatasetError) as e:
        generate("smoke", out=out, users=300, days=2, jobs=3)
    msg = str(e.value)
    assert "worker 3 of 3 (devices 200 to 299) failed: RuntimeError: disk on fire" in msg
    assert "--jobs 1" in msg  # what to do
    assert not list(out.glob(".runs-*"))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before, "the earlier dataset, as it was"
    assert not multiprocessing.active_children()


@fork_only
def test_a_worker_that_dies_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_device(monkeypatch, 10, lambda: os._exit(3))
    with pytest.raises(
        DatasetError,
        match=r"worker 1 of 2 \(devices 0 to 99\) stopped without an answer "
        r"\(exit code 3",
    ):
        generate("smoke", out=tmp_path, users=200, days=2, jobs=2)
    assert not list(tmp_path.glob(".runs-*"))
    assert not multiprocessing.active_children()


@fork_only
def test_cli_jobs_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["generate", "smoke", "--out", str(tmp_path / "x"), "--jobs", "-1"])
    assert e.value.code == 2
    assert "--jobs must be 0 (one process per core) or a number of processes, got -1" in capsys.readouterr().err
    assert (
        main(["generate", "smoke", "--out", str(tmp_path / "ok"), "--users", "40", "--days", "1", "--jobs", "2"]) == 0
    )
    assert "40 devices" in capsys.readouterr().out

    def boom() -> None:
        raise ValueError("bad row")

    failing_device(monkeypatch, 5, boom)
    # A worker's failure is not the command line's: one line, no usage text.
    assert (
        main(["generate", "smoke", "--out", str(tmp_path / "bad"), "--users", "40", "--days", "1", "--jobs", "2"]) == 2
    )
    err = capsys.readouterr().err
    assert "worker 1 of 2 (devices 0 to 19) failed: ValueError: bad row" in err and "usage:" not in err


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers in /proc")
def test_ctrl_c_stops_the_workers_and_the_parent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = (
        f"from simulator.cli import main; raise SystemExit(main(['generate', 'ecommerce', '--out', {str(out)!r}, "
        "'--users', '20000', '--days', '14', '--jobs', '2']))"
    )
    # Its own process group, as a shell gives a command: Ctrl-C signals the whole group, workers too.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob(".runs-*/devices-*.csv"))) < 2:  # both workers are playing
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list(out.glob(".runs-*")) and not (out / "summary.json").exists()


def test_the_sort_key_orders_by_time_device_sequence_and_refuses_what_would_overlap() -> None:
    from simulator.dataset.runs import LIMITS, sort_key, split_key

    keys = [
        sort_key(1000, 7, 0, 300, 2),
        sort_key(1000, 7, 1, 90, 0),  # the same millisecond: the device's order
        sort_key(1000, 8, 0, 10, 1),
        sort_key(1001, 0, 0, LIMITS["length"] - 1, 3),
    ]
    assert keys == sorted(keys)
    assert [split_key(k) for k in keys] == [(300, 2), (90, 0), (10, 1), (LIMITS["length"] - 1, 3)]
    for field, args in (
        ("device", (0, LIMITS["device"], 0, 0, 0)),
        ("sequence", (0, 0, LIMITS["sequence"], 0, 0)),
        ("length", (0, 0, 0, LIMITS["length"], 0)),
        ("endpoint", (0, 0, 0, 0, LIMITS["endpoint"])),
    ):
        with pytest.raises(OverflowError, match=field):
            sort_key(*args)


_ONE_CPU = """
import os, sys
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from simulator import machine
from simulator.dataset import writer
def refuse(*args, **kwargs):
    raise SystemExit("play_parallel was called: --jobs 0 counted CPUs this process may not run on")
writer.play_parallel = refuse
writer.generate("smoke", out=sys.argv[1], users=40, days=1, quiet=True, jobs=0)
print(machine.usable_cpus())
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_jobs_0_counts_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    """Before: ``--jobs 0`` took ``os.cpu_count()``, the machine's CPUs: under taskset, or in a
    container or pod limited to a few CPUs of a large host, it started one worker per host CPU, each
    with its own chunk of records in memory."""
    done = subprocess.run(
        [sys.executable, "-c", _ONE_CPU, str(tmp_path / "d")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"0::/": None, "cpu.max": "max 100000"}, 64),
        ({"0::/": None, "cpu.max": "150000 100000"}, 2),  # 1.5 CPUs: two processes, each busy part of the time
        ({"0::/": None, "cpu.max": "100000 100000"}, 1),
        ({"0::/pod/app": None, "cpu.max": "max 100000", "pod/cpu.max": "300000 100000", "pod/app/cpu.max": "max"}, 3),
        ({"0::/": None, "cpu.max": "garbage"}, 64),  # unreadable: the affinity alone
        ({"0::/": None, "cpu.max": "100000 0"}, 64),
        ({"no colons here": None}, 64),
        ({"1:cpu,cpuacct:/": None, "cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2),  # v1
        ({"1:cpu,cpuacct:/": None, "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 64),
    ],
)
def test_a_cgroup_cpu_quota_bounds_the_cpus(tmp_path: Path, files: dict[str, str | None], expected: int) -> None:
    """A container's --cpus or a pod's CPU limit is a cgroup quota, which the affinity mask does not show."""
    cgroup_line = next(k for k, v in files.items() if v is None)
    (tmp_path / "self-cgroup").write_text(cgroup_line + "\n")
    for name, text in files.items():
        if text is not None:
            (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "fs" / name).write_text(text + "\n")
    got = machine.cgroup_cpu_limit(tmp_path / "self-cgroup", tmp_path / "fs")
    assert min(64, got or 64) == expected

"""loadsim replay: a generated dataset sent to the mock on loopback through the harness, reported like a run."""

from __future__ import annotations

import http.server
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from simulator.dataset import ENDPOINT_NAMES, generate, read_dataset
from tests.conftest import loadsim, start_loadsim, subprocess_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def start_mock(store: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    mock = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--host", "127.0.0.1", "--port", "0", "--store", str(store), *flags],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert mock.stdout is not None
    return mock, mock.stdout.readline().rsplit(" ", 1)[-1].strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def replay(directory: Path, url: str, report: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "replay",
            str(directory),
            "--host",
            url,
            "--users",
            "4",
            "--run-time",
            "90s",
            "--report-dir",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=subprocess_env(),
        cwd=report.parent,
    )
    return done, time.monotonic() - started


def stored(store: Path) -> tuple[Counter[tuple[str, bytes]], int]:
    with sqlite3.connect(store) as db:
        accepted = Counter((ep, bytes(body)) for ep, body in db.execute("SELECT endpoint, body FROM accepted"))
        rejected = db.execute("SELECT count(*) FROM rejected").fetchone()[0]
    return accepted, rejected


def test_the_mock_accepts_exactly_the_healthy_lines_and_rejects_the_faulty_ones(tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    summary = generate("bad-clients", out=data, users=30, days=2, seed=3)
    healthy = Counter((r.request.endpoint, r.data) for r in read_dataset(data) if not r.request.faulty)
    assert summary["requests"]["faulty"] > 0 and sum(healthy.values()) > 100
    store = tmp_path / "mock.sqlite3"
    mock, url = start_mock(store)
    try:
        done, _ = replay(data, url, tmp_path / "report")
    finally:
        stop(mock)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    accepted, rejected = stored(store)
    assert accepted == healthy  # byte for byte, each line once
    assert rejected == summary["requests"]["faulty"]
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert report["passed"] is True
    assert report["reconciliation"]["ok"] is True
    per_endpoint = Counter(ep for ep, _ in healthy.elements())
    assert {ep: e["acknowledged"] for ep, e in report["reconciliation"]["endpoints"].items()} == per_endpoint


@pytest.mark.parametrize("users", [1, 8])
def test_the_funnel_is_the_datasets_whatever_the_number_of_users(tmp_path: Path, users: int) -> None:
    """Before: a lane carries many devices' sessions interleaved, and each change of sid threw the session
    under way's progress away: this dataset's 37 carts and 14 purchases replayed as 20 and 6 with --users 1,
    33 and 14 with --users 8 (every request answered 200)."""
    data = tmp_path / "dataset"
    dataset = generate("ecommerce", out=data, users=200, days=3, seed=3)
    assert dataset["requests"]["faulty"] == 0
    done = loadsim(tmp_path, "replay", str(data), "--users", str(users), "--report-dir", "report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stages = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())["funnel"]["stages"]
    # The dataset names its stages by event ("Add to Cart"); the report's name their steps ("event:Add to Cart").
    of_dataset = {f"event:{row['step']}": row["sessions"] for row in dataset["funnel"]}
    expected = [dataset["sessions"], *(of_dataset[st["steps"][0]] for st in stages[1:])]
    assert [st["count"] for st in stages] == expected, stages
    assert expected[-1] > 0  # purchases to count: a funnel of zeros would prove nothing


def test_a_faulty_sdks_funnel_is_the_same_in_the_dataset_and_in_its_replay(tmp_path: Path) -> None:
    """Before: bad-clients, 100 devices over a day: the dataset's funnel put its 13 carts over 119 sessions
    (0.1092), its replay over 108 (12.0%): the 11 session starts a faulty SDK malformed, answered 400, were
    sessions of the dataset's funnel only."""
    data = tmp_path / "dataset"
    dataset = generate("bad-clients", out=data, users=100, days=1)
    starts = [r.request.faulty for r in read_dataset(data) if r.request.endpoint == "externalIds"]
    assert dataset["sessions"] == len(starts) > starts.count(False) > 0  # every session, faulty starts too
    done = loadsim(tmp_path, "replay", str(data), "--report-dir", "report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stages = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())["funnel"]["stages"]
    of_dataset = {f"event:{row['step']}": row for row in dataset["funnel"]}
    got = [(st["count"], st["conversion"]) for st in stages[1:]]
    assert got == [
        (of_dataset[st["steps"][0]]["sessions"], of_dataset[st["steps"][0]]["of_sessions"]) for st in stages[1:]
    ]
    assert got[0][0] > 0  # carts to count
    assert stages[0]["count"] == dataset["accepted_sessions"] == starts.count(False)


@pytest.mark.parametrize("users", [1, 8])
def test_the_devices_started_are_the_devices_whose_requests_were_sent(tmp_path: Path, users: int) -> None:
    """Before: every request of the 200 devices was sent and stored, and the report said "devices started 0"
    (summary.json, the funnel, the page): only a run's users counted a device as they began its life."""
    data = tmp_path / "dataset"
    dataset = generate("ecommerce", out=data, users=200, days=2, seed=3)
    done = loadsim(tmp_path, "replay", str(data), "--users", str(users), "--report-dir", "report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert report["replay"]["sent"] == dataset["requests"]["total"]
    assert report["devices_started"] == report["funnel"]["devices"] == dataset["devices"]["active"] == 200
    assert "<dt>devices started</dt><dd>200</dd>" in (tmp_path / "report" / "report.html").read_text()


def test_speed_plays_simulated_time_scaled_and_restamp_moves_added_at_to_now(tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    records = list(read_dataset(data))
    span = records[-1].time - records[0].time
    assert span > 3600  # the day's sessions are hours apart
    speed = span / 4.0  # the whole simulated span in about 4 seconds
    store = tmp_path / "mock.sqlite3"
    mock, url = start_mock(store)
    try:
        before = time.time()
        done, took = replay(data, url, tmp_path / "report", "--speed", f"{speed:.3f}", "--restamp")
    finally:
        stop(mock)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with sqlite3.connect(store) as db:
        rows = list(db.execute("SELECT endpoint, received_at, body FROM accepted ORDER BY id"))
    assert len(rows) == len(records)
    received = [r[1] for r in rows]
    assert max(received) - min(received) >= 3.0  # paced: not all at once
    for ep, _, body in rows:
        if ep in ENDPOINT_NAMES[1:]:
            added = orjson.loads(body)["added_at"]
            assert added >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - 1))
    assert took < 60


def damage(data: Path) -> None:
    """The reproduction of a damaged dataset: line 6 of requests/events.jsonl cut to 40 bytes, line 8 emptied."""
    path = data / "requests" / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[5], lines[7] = lines[5][:40], b""
    path.write_bytes(b"\n".join(lines))


#: The rows of the events table a cut copy keeps.
CUT = 300


def first_rows_endpoints(data: Path, rows: int) -> Counter[str]:
    """The requests per endpoint among the first ``rows`` rows of the events table (its endpoint column)."""
    body = (data / "events.csv").read_bytes().splitlines()[1 : rows + 1]
    return Counter(line.split(b",")[3].decode() for line in body)


def cut_short(data: Path, rows: int) -> None:
    """A copy that stopped early: only the first ``rows`` rows of the table and their request lines, whole."""
    kept = first_rows_endpoints(data, rows)
    cut_table(data, rows)
    for ep in ENDPOINT_NAMES:
        path = data / "requests" / f"{ep}.jsonl"
        path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[: kept[ep]]))


def cut_table(data: Path, rows: int) -> None:
    """Only the events table cut after ``rows`` rows, the request files whole (a copy that lost its end)."""
    table = data / "events.csv"
    table.write_bytes(b"".join(table.read_bytes().splitlines(keepends=True)[: rows + 1]))


def locust_replay(data: Path, url: str, report: Path) -> subprocess.CompletedProcess[str]:
    """The locustfile on its own (no loadsim replay around it, so no check before the run)."""
    from simulator.locustfiles import path

    return subprocess.run(
        [
            *(sys.executable, "-m", "locust", "-f", str(path("replay")), "--headless", "--host", url),
            *("--dataset", str(data), "--users", "4", "--spawn-rate", "4", "--run-time", "90s"),
            *("--report-dir", str(report), "--only-summary"),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=subprocess_env(),
        cwd=report.parent,
    )


def locust_replay_spoiled(
    tmp_path: Path, spoil: Callable[[Path], None]
) -> tuple[int, subprocess.CompletedProcess[str], dict[str, Any]]:
    """A 50-device smoke dataset spoiled, then played by the locustfile alone against a mock: the
    dataset's request count, Locust's process and its summary.json."""
    data = tmp_path / "dataset"
    total = generate("smoke", out=data, users=50, days=1, seed=1)["requests"]["total"]
    spoil(data)
    mock, url = start_mock(tmp_path / "mock.sqlite3")
    try:
        done = locust_replay(data, url, tmp_path / "report")
    finally:
        stop(mock)
    return total, done, orjson.loads((tmp_path / "report" / "summary.json").read_bytes())


@pytest.mark.parametrize(
    ("spoil", "named"),
    [
        (damage, "requests/events.jsonl line 6: not valid JSON"),
        (lambda data: cut_short(data, CUT), "requests/externalIds.jsonl holds {kept} lines, summary.json says {total}"),
        (lambda data: cut_table(data, CUT), "events.csv has {kept} externalIds rows, summary.json says {total}"),
    ],
    ids=["damaged-line", "cut-short", "table-cut-short"],
)
def test_a_damaged_dataset_is_named_in_one_line_before_anything_is_sent(
    tmp_path: Path, spoil: Callable[[Path], None], named: str
) -> None:
    """Before: `loadsim replay` of this dataset sent 7 of its 463 requests and printed PASSED, exit 0; with
    only its table cut short, it sent its first 300 rows' requests before failing on the lines the
    table no longer named."""
    data = tmp_path / "dataset"
    total = generate("smoke", out=data, users=50, days=1, seed=1)["requests"]["externalIds"]
    kept = first_rows_endpoints(data, CUT)["externalIds"]  # the seed's lives decide how many
    assert 0 < kept < total
    spoil(data)
    refused_before_sending(tmp_path, data, named.format(kept=kept, total=total))


class _Collector(http.server.BaseHTTPRequestHandler):
    """A collector of the user's own: every request answered as the reference says, no admin API."""

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = (
            b""
            if self.path.startswith("/webhook/")
            else orjson.dumps(
                {"user_id": body.get("uid", ""), "external_ids": {}, "additional_info": {}, "user_traits": {}}
            )
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *_: Any) -> None:
        pass


def test_a_replay_to_a_collector_of_your_own_is_reconciled_only_if_asked(tmp_path: Path) -> None:
    """Before: every request answered 200 and every SLO held, yet FAILED "reconciliation: could not read
    the mock's stats at http://127.0.0.1:...: HTTP Error 404", exit 1, with no way to say it is no mock."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=20, days=1, seed=1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        unsaid, _ = replay(data, url, tmp_path / "unsaid")
        said, _ = replay(data, url, tmp_path / "said", "--mock-admin", "none")
    finally:
        server.shutdown()
    # Taken for the mock (the dataset's target), it fails, and says how to say it is not one.
    assert unsaid.returncode == 1, unsaid.stderr[-3000:]
    assert "--mock-admin none" in orjson.loads((tmp_path / "unsaid" / "summary.json").read_bytes())["reason"]
    assert said.returncode == 0, said.stderr[-3000:]
    report = orjson.loads((tmp_path / "said" / "summary.json").read_bytes())
    assert report["result"] == "PASSED" and report["reconciliation"] is None, report["reason"]
    assert report["replay"]["sent"] == report["replay"]["dataset_requests"] > 0


def test_a_dataset_whose_scenario_file_moved_is_replayed_with_scenario(tmp_path: Path) -> None:
    """Before: a dataset generated from ./shop (a scenario file named without .toml) recorded its scenario as
    "shop", relative to where generate ran; and a dataset whose scenario file moved (copied to another
    machine for a demo) could not be replayed at all: "loadsim: .../shop.toml: no such scenario file or
    bundled name", naming neither summary.json nor a way out."""
    (tmp_path / "shop").write_text((ROOT / "simulator" / "scenarios" / "smoke.toml").read_text())
    done = loadsim(tmp_path, "generate", "shop", "--out", "data", "--users", "20", "--days", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = orjson.loads((tmp_path / "data" / "summary.json").read_bytes())
    assert summary["dataset"]["scenario_ref"] == str(tmp_path / "shop"), summary["dataset"]  # where it was
    (tmp_path / "shop").rename(tmp_path / "moved.toml")
    done = loadsim(tmp_path, "replay", "data", "--report-dir", str(tmp_path / "report"))
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stderr.strip().splitlines()[-1]
    assert f"the scenario it was generated with, {tmp_path / 'shop'} (summary.json's scenario_ref)" in said, said
    assert "--scenario FILE" in said and not (tmp_path / "report").exists(), said
    done = loadsim(tmp_path, "replay", "data", "--scenario", "moved.toml", "--report-dir", str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # A scenario file still there but edited since is its own problems, every one, not "moved" (2d1cd9a).
    (tmp_path / "moved.toml").rename(tmp_path / "shop")
    with (tmp_path / "shop").open("a") as f:
        f.write("\n[populaton]\ndevices = 3\n")
    done = loadsim(tmp_path, "replay", "data", "--report-dir", str(tmp_path / "again"))
    assert done.returncode == 2 and "populaton: unknown key" in done.stderr, done.stderr
    assert "--scenario FILE" not in done.stderr and not (tmp_path / "again").exists(), done.stderr


def misdate(data: Path) -> None:
    """Row 10 of the events table with a time that is no time (the request files whole)."""
    table = data / "events.csv"
    lines = table.read_bytes().splitlines(keepends=True)
    lines[10] = b"20X6" + lines[10][4:]  # the year of 2026-01-01T...
    table.write_bytes(b"".join(lines))


def test_a_damaged_time_in_the_events_table_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    """Before: the check passed it; the replay sent 9 requests, then FAILED with "the dataset reader failed
    after 9 requests: ValueError('Invalid isoformat string: ...')", naming neither the file nor the row."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=50, days=1, seed=1)
    misdate(data)
    refused_before_sending(tmp_path, data, "events.csv row 10: its time")


def test_a_gzip_stream_damaged_inside_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    """Before: a byte flipped inside devices.csv.gz's deflate stream: a zlib.error traceback, exit 1."""
    import gzip
    import zlib

    data = tmp_path / "dataset"
    generate("smoke", out=data, users=50, days=1, seed=1, gzip_output=True)
    path = data / "devices.csv.gz"
    whole = path.read_bytes()
    for at in range(len(whole) // 2, len(whole) - 8):  # the first flip zlib itself finds (the bytes are seeded)
        spoiled = bytearray(whole)
        spoiled[at] ^= 0x55
        try:
            gzip.decompress(bytes(spoiled))
        except zlib.error:
            break
        except (OSError, EOFError):
            continue
    else:
        pytest.fail("no flip of devices.csv.gz damages its deflate stream")
    path.write_bytes(bytes(spoiled))
    refused_before_sending(tmp_path, data, "devices.csv.gz: cannot be read")


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d.write_text("x\n"),
        lambda d: (d.mkdir(), (d / "summary.json").write_text("[1]")),
        lambda d: (d.mkdir(), (d / "summary.json").write_text('{"dataset": 5}')),
        lambda d: (d.mkdir(), (d / "summary.json").mkdir()),
        lambda d: (d.mkdir(), (d / "summary.json").write_text('{"result": "PASSED", "total": {"count": 3}}')),
    ],
    ids=["a-file", "summary-a-list", "dataset-a-number", "summary-a-folder", "a-load-tests-report"],
)
def test_a_folder_that_is_no_dataset_is_named_in_one_line(tmp_path: Path, make: Callable[[Path], Any]) -> None:
    """Before: NotADirectoryError, AttributeError ('list' object has no attribute 'get'), IsADirectoryError
    tracebacks, exit 1; a load test's report folder: "dataset format None, this loadsim reads 1"."""
    data = tmp_path / "dataset"
    make(data)
    refused_before_sending(tmp_path, data, "is not a loadsim dataset")


def refused_before_sending(tmp_path: Path, data: Path, named: str) -> None:
    """``loadsim replay`` of ``data`` exits 2 saying ``named`` (with the dataset's path) in one line, before
    a mock or Locust starts."""
    done = loadsim(tmp_path, "replay", str(data), "--report-dir", str(tmp_path / "report"))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    said = [line for line in out.splitlines() if named in line]
    assert len(said) == 1 and str(data) in said[0], out[-3000:]
    assert "mock collector at" not in out and "PASSED" not in out, out[-3000:]
    assert not (tmp_path / "report").exists()


def cut_devices(path: Path) -> None:
    """A devices table that lost its end: a csv's last 20 rows, a gzip stream's last half."""
    if path.suffix == ".gz":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:31]))


@pytest.mark.parametrize(
    ("table_format", "gzip_output", "spoil", "named"),
    [
        ("csv", False, Path.unlink, "devices.csv: cannot be read"),
        ("jsonl", True, Path.unlink, "devices.jsonl.gz: cannot be read"),
        ("parquet", False, Path.unlink, "devices.parquet: cannot be read"),
        ("parquet", False, lambda p: p.write_bytes(p.read_bytes()[:100]), "devices.parquet: cannot be read"),
        ("jsonl", True, cut_devices, "devices.jsonl.gz: cannot be read"),
        ("csv", False, cut_devices, "devices.csv has 30 rows, summary.json says 50"),
    ],
    ids=["csv-missing", "jsonl-gz-missing", "parquet-missing", "parquet-cut", "jsonl-gz-cut", "csv-cut"],
)
def test_a_missing_or_damaged_devices_table_is_named_before_anything_is_sent(
    tmp_path: Path, table_format: str, gzip_output: bool, spoil: Callable[[Path], None], named: str
) -> None:
    """Before: without devices.csv the mock and Locust started, then the run FAILED with "the dataset reader
    failed after 0 requests: FileNotFoundError(2, 'No such file or directory')", naming no file."""
    data = tmp_path / "dataset"
    summary = generate("smoke", out=data, users=50, days=1, seed=1, table_format=table_format, gzip_output=gzip_output)
    spoil(data / summary["dataset"]["files"]["devices_table"])
    refused_before_sending(tmp_path, data, named)


def test_damage_found_mid_run_fails_the_verdict_and_the_report_says_what_was_sent(tmp_path: Path) -> None:
    """Before: the reader's JSONDecodeError ended the replay as if played out: PASSED, exit 0, 7 of 463 sent."""
    total, done, report = locust_replay_spoiled(tmp_path, damage)
    assert done.returncode == 2, done.stderr[-3000:]
    assert report["result"] == "FAILED" and not report["passed"]
    assert "requests/events.jsonl line 6: not valid JSON" in report["reason"], report["reason"]
    replayed = report["replay"]
    assert replayed["dataset_requests"] == total and 0 < replayed["sent"] < total, replayed
    assert replayed["sent"] == report["total"]["count"]
    assert "line 6" in (replayed["problem"] or "")
    md = (tmp_path / "report" / "summary.md").read_text()
    assert f"sent {replayed['sent']} of the dataset's {total} requests" in md, md
    page = (tmp_path / "report" / "report.html").read_text()
    assert escape(f"sent {replayed['sent']} of the dataset's {total} requests") in page


def test_a_replay_that_sends_less_than_the_dataset_holds_fails(tmp_path: Path) -> None:
    """Before: a dataset cut after 300 rows (the files whole, summary.json saying 463) replayed as PASSED."""
    total, done, report = locust_replay_spoiled(tmp_path, lambda data: cut_short(data, 300))
    assert done.returncode == 1, done.stderr[-3000:]
    assert report["result"] == "FAILED"
    assert report["replay"]["sent"] == 300 and report["replay"]["dataset_requests"] == total
    row = next(v for v in report["slo"] if v["name"].startswith("dataset replayed in full"))
    assert row == {**row, "threshold": total, "actual": 300, "passed": False}
    assert row["name"] in report["reason"]


def test_a_replay_cut_short_by_run_time_names_what_it_sent_beside_the_verdict(tmp_path: Path) -> None:
    """--run-time is the run's plan, as in loadsim run: reaching it is no failure, but the shortfall is named."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    records = list(read_dataset(data))
    speed = (records[-1].time - records[0].time) / 60.0  # a minute of play, cut after 3 s
    done = loadsim(
        tmp_path, "replay", str(data), "--speed", f"{speed:.3f}", "--run-time", "3s", "--report-dir", "report"
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    sent = report["replay"]["sent"]
    assert sent < len(records) and report["replay"]["dataset_requests"] == len(records)
    note = f"--run-time ended the replay after {sent} of the dataset's {len(records)} requests"
    assert any(note in w for w in report["warnings"]), report["warnings"]
    assert f"WARNING: {note}" in done.stdout, done.stdout[-3000:]
    # The whole run time: Locust's timer once counted from gevent's stale start-up clock (1.4 s of 3).
    assert report["timing"]["duration_s"] >= 2.8, report["timing"]


def output_or_fail(proc: subprocess.Popen[str], what: str, timeout: float = 60) -> str:
    """``proc``'s output once it ends; a hang is killed whole (loadsim, its mock and Locust's processes,
    each in a session of its own) and fails the test after ``timeout`` seconds."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for child in [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]:
            child.kill()
        proc.communicate()
        pytest.fail(f"{what} hung for {timeout:g} s")
    return out


def test_processes_is_refused_up_front_not_a_hang(tmp_path: Path) -> None:
    """Before: `loadsim replay DIR -- --processes 2` sent about half the dataset and then hung."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    proc = start_loadsim(tmp_path, "replay", str(data), "--report-dir", "report", "--", "--processes", "2")
    out = output_or_fail(proc, "loadsim replay -- --processes 2")
    assert proc.returncode == 2, out[-3000:]
    assert len([line for line in out.splitlines() if "--processes" in line]) == 1, out
    assert "mock collector at" not in out and not (tmp_path / "report").exists(), out


def interrupt_replay(tmp_path: Path, *args: str, sig: int = signal.SIGINT) -> tuple[int, str]:
    """``loadsim replay ARGS`` signalled 2 s after its users are sending: its exit code and output."""
    proc = start_loadsim(tmp_path, "replay", *args)
    try:
        assert proc.stdout is not None
        head = []
        for line in proc.stdout:  # until the users are sending (start-up takes seconds on a loaded host)
            head.append(line)
            if "All users spawned" in line:
                break
        time.sleep(2)
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
        return proc.returncode, "".join(head) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_an_interrupted_replay_names_what_it_sent_and_no_planned_time(tmp_path: Path) -> None:
    """Ctrl-C mid-replay: INTERRUPTED (exit 3), what was sent named. Before, the report said
    "INTERRUPTED after 3 s of 300 s planned": the scenario's run time, which a replay never plans."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    records = list(read_dataset(data))
    speed = (records[-1].time - records[0].time) / 60.0  # a minute of play, interrupted 2 s in
    code, out = interrupt_replay(tmp_path, str(data), "--speed", f"{speed:.3f}", "--report-dir", "report")
    assert code == 3, out[-3000:]
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert report["result"] == "INTERRUPTED" and report["timing"]["planned_s"] is None, report["timing"]
    sent = report["replay"]["sent"]
    assert 0 < sent < len(records), report["replay"]
    assert f"the replay was interrupted after {sent} of the dataset's {len(records)} requests" in out, out[-3000:]
    assert "planned" not in (tmp_path / "report" / "summary.md").read_text().split("\n", 1)[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_replay_stopped_mid_flight_reconciles_what_was_cut_off(tmp_path: Path, sig: int) -> None:
    """Ctrl-C (or a TERM) to a replay sending as fast as the mock answers, many requests in flight.
    Before: FAILED, exit 1: Locust's shutdown reconciled with the users still sending, so bodies the
    mock stored after the count were "extra: 2 beyond 0 cut off at stop" and rows it had not yet
    committed were "lost" (4 of 4 tries)."""
    data = tmp_path / "dataset"
    total = generate("ecommerce", out=data, users=3000, days=7, seed=3)["requests"]["total"]
    code, out = interrupt_replay(tmp_path, str(data), "--users", "50", "--report-dir", "report", sig=sig)
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert report["result"] == "INTERRUPTED", report["reason"]
    assert report["reconciliation"]["ok"], report["reconciliation"]["differences"]
    assert 0 < report["replay"]["sent"] < total, report["replay"]
    assert_the_figures_add_up(report, report["replay"]["note"])
    assert report["replay"]["note"] in out, out[-3000:]
    assert code == 3, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (["--speed", "1e-320"], "1e-320"),
        (["--speed", "5e-324"], "5e-324"),
        (["--speed", "0.001"], "0.001"),
        (["--", "--speed", "1e-320"], "1e-320"),
        (["--", "--speed=1e-09"], "1e-09"),
    ],
    ids=["overflow", "smallest-float", "years", "after-dashes", "after-dashes-centuries"],
)
def test_a_speed_that_would_take_longer_than_a_year_is_refused_before_anything_starts(
    tmp_path: Path, args: list[str], value: str
) -> None:
    """A speed is simulated seconds per real second: this dataset's day at 1e-320 is 8.6e324 seconds
    (past the largest float: inf), at 0.001 nearly three years. Before: each was taken, a request or
    two sent, and the replay then waited for the next one (forever; only a signal ended it)."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    records = list(read_dataset(data))
    span = records[-1].time - records[0].time
    assert 3600 < span <= 2 * 86400
    proc = start_loadsim(tmp_path, "replay", str(data), "--report-dir", "report", *args)
    out = output_or_fail(proc, f"loadsim replay {' '.join(args)}")
    assert proc.returncode == 2, out[-3000:]
    said = [line for line in out.splitlines() if f"--speed {value}:" in line]
    assert len(said) == 1, out[-3000:]
    assert "more than 365 days" in said[0], said[0]
    slowest = float(said[0].split("give --speed ", 1)[1].split()[0])  # the dataset's span in a year, rounded up
    assert span / (365 * 86400) <= slowest <= span / (365 * 86400) * 1.01, said[0]
    assert "Traceback" not in out and "mock collector at" not in out, out[-3000:]
    assert not (tmp_path / "report").exists()


def test_the_slowest_speed_a_refusal_names_is_taken(tmp_path: Path) -> None:
    """The bound is no slower than it says: the speed the refusal gives is accepted (and paced: a request
    or two in 2 s of --run-time)."""
    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    refused = output_or_fail(start_loadsim(tmp_path, "replay", str(data), "--speed", "1e-9"), "--speed 1e-9")
    slowest = refused.split("give --speed ", 1)[1].split()[0]
    done = loadsim(tmp_path, "replay", str(data), "--speed", slowest, "--run-time", "2s", "--report-dir", "report")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "--run-time ended the replay after" in done.stdout, done.stdout[-3000:]


def assert_the_figures_add_up(report: dict[str, Any], said: str) -> None:
    """A stopped replay's summary.json: what the mock stored was sent; sent = answered + cut off; the cut
    off are those reconciliation allowed for (in flight at the stop), and ``said`` counts them."""
    endpoints = report["reconciliation"]["endpoints"].values()
    answered = sum(e["acknowledged"] for e in endpoints)  # every request of these datasets is answered 200
    stored_rows = sum(e["stored"] for e in endpoints)
    in_flight = sum(e["interrupted"] for e in endpoints)
    sent, cut_off = report["replay"]["sent"], report["replay"].get("cut_off", 0)
    assert answered <= stored_rows <= sent, report["replay"] | {"answered": answered, "stored": stored_rows}
    assert sent == answered + cut_off and cut_off == in_flight, report["replay"] | {"in_flight": in_flight}
    assert f"{sent} of the dataset's" in said, said
    assert (f"{cut_off} of them cut off at the stop" in said) if cut_off else ("cut off" not in said), said


def test_a_replay_run_time_ends_counts_the_requests_in_flight_as_sent_and_cut_off(tmp_path: Path) -> None:
    """--run-time ends a replay of 50 users against a mock that stores each request, then answers it
    50 to 150 ms later: many are in flight at the end, stored. Before: those were not "sent":
    "--run-time ended the replay after 803 of the dataset's 26112 requests", with 832 stored (29 cut
    off, every one stored), and no word of a cut off."""
    data = tmp_path / "dataset"
    total = generate("ecommerce", out=data, users=1500, days=7, seed=3)["requests"]["total"]
    mock, url = start_mock(tmp_path / "mock.sqlite3", "--latency", "uniform:50ms-150ms")
    try:
        done = loadsim(
            tmp_path, "replay", str(data), "--host", url, "--users", "50", "--run-time", "2s", "--report-dir", "report"
        )
    finally:
        stop(mock)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = orjson.loads((tmp_path / "report" / "summary.json").read_bytes())
    assert report["reconciliation"]["ok"], report["reconciliation"]["differences"]
    assert report["replay"]["sent"] < total, report["replay"]
    note = next(w for w in report["warnings"] if w.startswith("--run-time ended the replay"))
    assert_the_figures_add_up(report, note)
    assert report["replay"]["cut_off"] > 0, report["replay"]  # users waiting 50 to 150 ms for each answer
    assert f"WARNING: {note}" in done.stdout, done.stdout[-3000:]
    assert note in (tmp_path / "report" / "summary.md").read_text()
    assert escape(note) in (tmp_path / "report" / "report.html").read_text()

"""loadsim generate: deterministic files, every body valid (faulty ones flagged), a calendar that shows."""

from __future__ import annotations

import csv
import datetime
import gzip
import tracemalloc
from collections import Counter
from pathlib import Path

import orjson
import pytest

from simulator import contract, dataset
from simulator.cli import main
from simulator.dataset import ENDPOINT_NAMES, TABLE_COLUMNS, generate, read_dataset, runs
from simulator.dataset.calendar import Calendar
from simulator.scenario import ScenarioError, TimeConfig, load_scenario, parse_scenario
from tests import realism


def scenario_file(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'extends = "smoke"\nname = "{name}"\n{text}', encoding="utf-8")
    return path


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def table(directory: Path) -> list[dict[str, str]]:
    with (directory / "events.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_scenario_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    a = generate("bad-clients", out=tmp_path / "a", users=40, days=3, seed=7, gzip_output=True)
    # Small chunks: many sorted runs merged in groups; the files must not depend on it.
    b = generate("bad-clients", out=tmp_path / "b", users=40, days=3, seed=7, gzip_output=True, chunk_records=50)
    generate("bad-clients", out=tmp_path / "c", users=40, days=3, seed=8, gzip_output=True)
    assert a == b
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["requests/events.jsonl.gz"] != files(tmp_path / "c")["requests/events.jsonl.gz"]
    assert not list((tmp_path / "a").glob(".runs-*")), "temporary runs are removed"


def test_many_runs_merge_in_groups_to_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate("smoke", out=tmp_path / "one", users=30, days=2)
    monkeypatch.setattr(runs, "MAX_FAN_IN", 2)  # the merge reads it at each call
    generate("smoke", out=tmp_path / "many", users=30, days=2, chunk_records=7)
    assert files(tmp_path / "one") == files(tmp_path / "many")


def test_every_healthy_line_passes_the_contract_and_every_faulty_one_is_flagged(tmp_path: Path) -> None:
    summary = generate("bad-clients", out=tmp_path, users=60, days=3)
    rows = table(tmp_path)
    faulty_rows = [r for r in rows if r["faulty"] == "1"]
    assert faulty_rows and len(faulty_rows) == summary["requests"]["faulty"]
    seen = Counter()
    for rec in read_dataset(tmp_path):
        problems = contract.validate(rec.request.endpoint, rec.request.body)
        assert bool(problems) == rec.request.faulty, (rec.request.fault, problems, rec.data[:300])
        # What the body says must also be true of a real device and person (tests/realism.py).
        body = rec.request.body
        if isinstance(body.get("additional_info"), dict) and not rec.request.faulty:
            assert not realism.device_problems(body["additional_info"]), body["additional_info"]
        if isinstance(body.get("traits"), dict):
            assert not realism.postcode_problems(body["traits"]), body["traits"]
        assert orjson.loads(rec.data) == rec.request.body
        seen[rec.request.endpoint] += 1
    assert dict(seen) == {ep: summary["requests"][ep] for ep in ENDPOINT_NAMES}
    assert len(rows) == summary["requests"]["total"]


def test_request_files_are_in_added_at_order_and_each_device_in_its_own_order(tmp_path: Path) -> None:
    generate("identity", out=tmp_path, users=80, days=4)
    for ep in ("identify", "events"):  # externalIds bodies carry no added_at: the table's time orders them
        lines = (tmp_path / f"requests/{ep}.jsonl").read_bytes().splitlines()
        stamps = [orjson.loads(line)["added_at"] for line in lines]
        assert stamps == sorted(stamps), ep
    rows = table(tmp_path)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    sessions: dict[str, list[int]] = {}
    for r in rows:
        sessions.setdefault(r["device"], []).append(int(r["session_number"]))
    assert all(s == sorted(s) for s in sessions.values())
    first = [r for r in rows if r["endpoint"] == "externalIds"]
    # A session's GA session id is its (calendar) start second.
    for line, row in zip((tmp_path / "requests/externalIds.jsonl").read_bytes().splitlines(), first, strict=True):
        body = orjson.loads(line)
        start = datetime.datetime.fromisoformat(row["time"].replace("Z", "+00:00")).timestamp()
        assert body["external_ids"]["google_analytics__app_session_id"] == str(int(start))


def test_no_session_starts_in_the_local_hours_the_daily_curve_leaves_empty(tmp_path: Path) -> None:
    night = [0.0] * 8 + [1.0] * 16  # nobody opens the app from midnight to 8 am, local time
    path = scenario_file(tmp_path, f"[time]\ndays = 4\ndaily = {night}\nchurn = 0.0\n")
    summary = generate(path, out=tmp_path / "out", users=150)
    starts = [r for r in table(tmp_path / "out") if r["endpoint"] == "externalIds"]
    local_hours = Counter(int(r["local_time"][11:13]) for r in starts)
    utc_hours = Counter(int(r["time"][11:13]) for r in starts)
    # Sessions may run past 8 am, but none starts before it in the device's own zone ...
    assert not any(local_hours[h] for h in range(8)), local_hours
    assert summary["session_starts_by_local_hour"][:8] == [0] * 8
    # ... while in UTC they do (devices live in many zones), so the curve is local.
    assert any(utc_hours[h] for h in range(8))
    assert len({r["timezone"] for r in starts}) > 3


def test_a_campaign_day_raises_sessions_and_conversion(tmp_path: Path) -> None:
    base = "[population]\ndevices = 600\n[time]\ndays = 4\nchurn = 0.0\ninstall_growth = 0.0\n"
    plain = generate(scenario_file(tmp_path, base, "plain"), out=tmp_path / "plain")
    sale = generate(
        scenario_file(
            tmp_path, base + '[[time.campaigns]]\nday = 3\nname = "flash sale"\nsessions = 4\nconversion = 3\n', "sale"
        ),
        out=tmp_path / "sale",
    )
    p, s = plain["daily"][2], sale["daily"][2]
    assert s["campaign"] == "flash sale" and p["campaign"] is None
    assert s["sessions"] > 1.3 * p["sessions"]
    assert s["purchases"] / s["sessions"] > 1.3 * p["purchases"] / p["sessions"]
    assert sale["dataset"]["campaigns"] == {"3": "flash sale"}


def test_installs_grow_and_churned_devices_do_not_come_back(tmp_path: Path) -> None:
    grow = generate(
        scenario_file(
            tmp_path,
            "[population]\ndevices = 400\n[time]\ndays = 5\ninstall_growth = 0.6\nweekly = [1, 1, 1, 1, 1, 1, 1]\n",
        ),
        out=tmp_path / "grow",
    )
    installs = [d["installs"] for d in grow["daily"]]
    assert sum(installs) == 400
    assert installs[-1] > 2 * installs[0]
    gone = generate(scenario_file(tmp_path, "[time]\nchurn = 1.0\n", "gone"), out=tmp_path / "gone")
    assert gone["sessions"] == gone["devices"]["total"]  # each device opened the app once, never again


def test_only_the_shape_of_the_curves_counts_however_large_their_weights(tmp_path: Path) -> None:
    """Before: weights of 1e308 summed to inf, every weight became 0, and the dataset had no returning
    sessions and every install on the last day."""
    base = "[population]\ndevices = 40\n[time]\ndays = 3\n"
    ones = generate(
        scenario_file(tmp_path, base + f"weekly = {[1] * 7}\ndaily = {[1] * 24}\n", "ones"), out=tmp_path / "a"
    )
    huge = generate(
        scenario_file(tmp_path, base + f"weekly = {[1e308] * 7}\ndaily = {[1e308] * 24}\n", "huge"), out=tmp_path / "b"
    )
    assert huge["daily"] == ones["daily"] and huge["sessions"] == ones["sessions"] > 40
    assert files(tmp_path / "a")["events.csv"] == files(tmp_path / "b")["events.csv"]


def test_installs_shrinking_near_minus_1_a_day_all_come_on_the_first_day(tmp_path: Path) -> None:
    """(1 - 0.999999) ** day underflows to 0 from day 54: harmless, as it is the shape (a day gets a
    millionth of the day before's installs; 200 devices, none after the first day)."""
    text = "[population]\ndevices = 200\n[time]\ndays = 60\ninstall_growth = -0.999999\n"
    s = generate(scenario_file(tmp_path, text), out=tmp_path / "d")
    assert [d["installs"] for d in s["daily"]] == [200] + [0] * 59


def test_installs_keep_their_shape_when_every_day_s_weight_underflows(tmp_path: Path) -> None:
    """Only the shape of the install weights counts: factors of 5e-324 (the smallest float) on every
    day make each day's weight, growth ** day x weekday x campaign, 0 or all but 0, yet the days
    must share the installs as with factors of 1. Before: every weight was 0 and every install fell
    on the last day (200 of 200, where ~80 % belong on the first)."""
    base = (
        "[population]\ndevices = 200\n[time]\nstart = '2026-01-05'\ndays = 2\ninstall_growth = -0.9\n"
        f"weekly = {[0.4] + [1] * 6}\n"
    )
    runs = {}
    for name, factor in (("ones", "1.0"), ("tiny", "5e-324")):
        campaigns = "".join(f"[[time.campaigns]]\nday = {d}\nname = 'c{d}'\ninstalls = {factor}\n" for d in (1, 2))
        runs[name] = generate(scenario_file(tmp_path, base + campaigns, name), out=tmp_path / name)
    installs = [d["installs"] for d in runs["tiny"]["daily"]]
    assert installs == [d["installs"] for d in runs["ones"]["daily"]] and installs[0] > 2 * installs[1], installs
    assert files(tmp_path / "ones")["events.csv"] == files(tmp_path / "tiny")["events.csv"]


def test_summary_adds_up(tmp_path: Path) -> None:
    s = generate("ecommerce", out=tmp_path, users=120, days=3)
    rows = table(tmp_path)
    assert s["sessions"] == s["requests"]["externalIds"] == sum(d["sessions"] for d in s["daily"])
    assert sum(s["events_by_name"].values()) == sum(1 for r in rows if r["endpoint"] == "events")
    purchases = [r for r in rows if r["event_name"] == "Purchase"]
    assert sum(v["orders"] for v in s["revenue_by_currency"].values()) == len(purchases)
    usd = sum(float(r["value"]) for r in purchases if r["currency"] == "USD")
    assert s["revenue_by_currency"].get("USD", {"revenue": 0.0})["revenue"] == pytest.approx(usd, abs=0.01)
    steps = [f["sessions"] for f in s["funnel"]]
    # an ordered funnel of distinct sessions: each step only after the one before, never more than it
    assert steps == sorted(steps, reverse=True), s["funnel"]
    assert all(f["of_previous"] <= 1 for f in s["funnel"]), s["funnel"]
    assert s["daily_active_devices"] == [d["active_devices"] for d in s["daily"]]
    assert all(0 < n <= 120 for n in s["daily_active_devices"])
    assert "# Synthetic dataset: ecommerce" in (tmp_path / "README.md").read_text()
    assert list(rows[0]) == list(TABLE_COLUMNS)


def test_parquet_and_jsonl_tables_hold_the_same_rows(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    generate("bad-clients", out=tmp_path / "csv", users=25, days=2)
    generate("bad-clients", out=tmp_path / "pq", users=25, days=2, table_format="parquet")
    generate("bad-clients", out=tmp_path / "jl", users=25, days=2, table_format="jsonl", gzip_output=True)
    rows = table(tmp_path / "csv")
    t = pq.read_table(tmp_path / "pq" / "events.parquet").to_pylist()
    with gzip.open(tmp_path / "jl" / "events.jsonl.gz") as f:
        jl = [orjson.loads(line) for line in f]
    assert len(t) == len(jl) == len(rows)
    for a, b, c in zip(rows, t, jl, strict=True):
        assert a["time"] == c["time"] and int(a["device"]) == b["device"] == c["device"]
        assert b["time"] == datetime.datetime.fromisoformat(a["time"])  # Parquet's is a UTC timestamp
        assert (a["faulty"] == "1") == b["faulty"] == c["faulty"]
        assert (float(a["value"]) if a["value"] else None) == b["value"] == c["value"]
    assert [r.data for r in read_dataset(tmp_path / "pq")] == [r.data for r in read_dataset(tmp_path / "jl")]


def test_time_table_errors_name_file_field_and_value() -> None:
    text = 'extends = "smoke"\n[time]\nstart = "2026-02-30"\ndaily = [1, 2]\nchurn = 1.5\ndayz = 3\n'
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, file="demo.toml")
    msg = str(e.value)
    assert "demo.toml: time.churn: expected a probability between 0 and 1, got 1.5" in msg
    assert "demo.toml: time.dayz: unknown key; did you mean 'days'?" in msg
    text = 'extends = "smoke"\n[time]\nstart = "2026-02-30"\ndaily = [1, 2]\ndays = 3\n[[time.campaigns]]\nday = 5\n'
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, file="demo.toml")
    msg = str(e.value)
    assert 'demo.toml: time.start: expected an ISO date such as "2026-01-05", got "2026-02-30"' in msg
    assert "demo.toml: time.daily: expected 24 weights (one per local hour, 0 to 23), got 2" in msg
    assert "demo.toml: time.campaigns[0].day: day 5 is after the last simulated day (3)" in msg
    assert load_scenario("smoke").time.days == 7


def test_cli_generate_is_quiet_off_a_terminal_and_checks_its_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "smoke", "--out", str(tmp_path), "--users", "10", "--days", "2"]) == 0
    out, err = capsys.readouterr()
    assert "10 devices" in out and err == ""
    for bad in (["--days", "0"], ["--start", "yesterday"], ["--users", "0"]):
        with pytest.raises(SystemExit) as e:
            main(["generate", "smoke", "--out", str(tmp_path / "x"), *bad])
        assert e.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_reading_something_that_is_not_a_dataset_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(dataset.DatasetError, match="loadsim generate"):
        next(read_dataset(tmp_path))


def test_progress_goes_to_stderr_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate("smoke", out=tmp_path / "a", users=10, days=1, progress=True)
    err = capsys.readouterr().err
    assert "devices" in err and "writing" in err and "10/10" in err
    generate("smoke", out=tmp_path / "b", users=10, days=1, progress=True, quiet=True)
    assert capsys.readouterr().err == ""


def test_a_start_before_the_catalogues_devices_is_a_clear_error(tmp_path: Path) -> None:
    # The flag first, as every generate error names where its value came from.
    with pytest.raises(dataset.DatasetError, match=r"^--start 2023-01-01: the catalogue has no iOS device on 2023-01"):
        generate("smoke", out=tmp_path, users=10, days=1, start="2023-01-01")


def test_a_long_calendar_holds_its_hours_compactly_and_a_zone_s_offsets_by_their_changes() -> None:
    """A dataset of 10,000 days holds every hour's session intensity and each zone's UTC offsets
    over the whole period (issue #19: memory flat in days). Offsets change only at DST, so they
    must not grow with every hour; the intensities are doubles, not float objects. Before: 9.1 MB
    for the calendar and, as a list of every hour's offset, 9.7 MB for New York (~0.9 GB peak RSS
    at 36,525 days, 2,000 devices)."""
    tracemalloc.start()
    try:
        cal = Calendar(TimeConfig(), start=datetime.date(2026, 1, 1), days=10_000, mean_gap=3600.0)
        built = tracemalloc.get_traced_memory()[0]
        zones = {"America/New_York": cal.offsets("America/New_York")}
        offsets = tracemalloc.get_traced_memory()[0] - built
    finally:
        tracemalloc.stop()
    assert built < 5_000_000, f"{built:,} bytes for a calendar of 10,000 days"
    assert offsets < 50_000, f"{offsets:,} bytes for a zone's offsets over 10,000 days"
    zones |= {tz: cal.offsets(tz) for tz in ("Australia/Sydney", "Asia/Kolkata")}

    def at(tz: str, iso: str) -> int:
        return cal.offset_at(zones[tz], datetime.datetime.fromisoformat(iso).timestamp())

    # Still exact to the hour, in both hemispheres and 27 years on.
    assert at("America/New_York", "2026-03-08T06:59:59+00:00") == -5 * 3600
    assert at("America/New_York", "2026-03-08T07:00:00+00:00") == -4 * 3600
    assert at("America/New_York", "2052-07-01T12:00:00+00:00") == -4 * 3600
    assert at("Australia/Sydney", "2026-01-15T12:00:00+00:00") == 11 * 3600
    assert at("Australia/Sydney", "2040-06-15T12:00:00+00:00") == 10 * 3600
    assert at("Asia/Kolkata", "2030-06-15T12:00:00+00:00") == 19_800

"""The ``loadsim`` command: thin, clear errors, exit codes as documented, secrets never printed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from simulator import contract
from simulator.cli import main

SECRET_URL = "https://io.v2.customerlabs.co/webhook/5f2a9c0e7b1d4a3f?token=s3cr3t"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_sample_json_lines_are_valid_requests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "sample", "--json", "--count", "3", "--seed", "5")
    assert code == 0
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert {r["endpoint"] for r in lines} == {"externalIds", "identify", "events"}
    for r in lines:
        assert r["method"] == "POST" and r["headers"]["Content-Type"] == "application/json"
        assert r["headers"]["CL-User-Agent"].startswith("Mozilla/5.0")
        assert (contract.validate(r["endpoint"], r["body"]) == []) != r["faulty"]


def test_sample_is_reproducible_from_its_seed(capsys: pytest.CaptureFixture[str]) -> None:
    def ids(seed: str) -> list[str]:
        _, out = run(capsys, "sample", "--json", "--count", "2", "--seed", seed)
        return [orjson.loads(line)["body"]["uid"] for line in out.splitlines()]

    assert ids("9") == ids("9") != ids("10")


def test_faulty_sdk_requests_are_marked(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(capsys, "sample", "--json", "--count", "40", "--scenario", "bad-clients")
    faulty = [orjson.loads(line) for line in out.splitlines() if orjson.loads(line)["faulty"]]
    assert faulty and all(contract.validate(r["endpoint"], r["body"]) for r in faulty)


def test_contract_openapi_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "contract", "--openapi")
    assert code == 0 and orjson.loads(out)["openapi"] == "3.1.0"


def test_unknown_scenario_is_exit_2_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "run", "smok", "--dry-run")
    assert code == 2 and "did you mean 'smoke'" in out


def test_real_target_needs_every_safeguard(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "run", "smoke", "--target", "customerlabs", "--dry-run")
    assert code == 2
    assert "--confirm-real-target" in out and "--rate-cap" in out and "--webhook-url" in out


@pytest.mark.parametrize("command", ["run", "replay"])
def test_a_customerlabs_host_for_the_mock_target_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """The mock target has none of the real one's safeguards (confirmation, rate cap). Before:
    `loadsim run smoke --host https://api.customerlabs.co` planned "target mock at ..." and would
    have sent it the whole load, unconfirmed and uncapped (replay did: 47 requests, cut short only
    by the name not resolving here). A .invalid name never resolves (RFC 6761), whatever the code does."""
    if command == "replay":
        from simulator.dataset import generate

        generate("smoke", out=tmp_path / "ds", users=3, days=1, quiet=True)
        code, out = run(capsys, "replay", str(tmp_path / "ds"), "--host", "https://api.customerlabs.invalid")
    else:
        code, out = run(capsys, "run", "smoke", "--host", "https://api.customerlabs.invalid", "--dry-run")
    assert code == 2, out
    assert "--host https://api.customerlabs.invalid is CustomerLabs'" in out and "--confirm-real-target" in out, out
    if command == "run":  # the scenario's own host, named by its field and file
        sc = tmp_path / "s.toml"
        sc.write_text('extends = "smoke"\nname = "s"\n[target]\nhost = "https://api.customerlabs.invalid"\n')
        code, out = run(capsys, "run", str(sc), "--dry-run")
        assert code == 2 and f"target.host https://api.customerlabs.invalid (in {sc}) is CustomerLabs'" in out, out


def test_the_real_target_with_the_scenarios_mock_host_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: --target customerlabs with a scenario whose target.host is a mock planned externalIds
    and identify to the mock and events to the real webhook: one test, two collectors."""
    sc = tmp_path / "s.toml"
    sc.write_text('extends = "smoke"\nname = "s"\n[target]\nhost = "http://127.0.0.1:9"\n')
    code, out = run(
        capsys, "run", str(sc), "--target", "customerlabs", "--confirm-real-target", "--rate-cap", "5",
        "--webhook-url", SECRET_URL, "--dry-run",
    )  # fmt: skip
    assert code == 2, out
    assert f"target.host http://127.0.0.1:9 (in {sc}) is not CustomerLabs'" in out and "REAL TARGET" not in out, out


def test_a_new_run_clears_an_earlier_report_but_not_a_mock_store_it_did_not_start(tmp_path: Path) -> None:
    """The README's way to keep every run's rows: `loadsim mock --store FILE` and `run --host`. Before:
    a --host run whose --report-dir held that store deleted it, and its -wal and -shm, under the live mock."""
    from simulator.loadtest.runner import clear_report_dir

    names = ("summary.json", "junit.xml", "mock.sqlite3", "mock.sqlite3-wal", "mock.log", "notes.txt")
    for mock in (False, True):
        for name in names:
            (tmp_path / name).write_text("x")
        clear_report_dir(tmp_path, mock=mock)
        left = sorted(p.name for p in tmp_path.iterdir())
        mine = ["notes.txt"]
        assert left == (mine if mock else sorted(["mock.log", "mock.sqlite3", "mock.sqlite3-wal", *mine])), left


def test_real_target_plan_never_shows_the_webhook_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        capsys,
        "run",
        "smoke",
        "--target",
        "customerlabs",
        "--confirm-real-target",
        "--rate-cap",
        "5",
        "--webhook-url",
        SECRET_URL,
        "--dry-run",
    )
    assert code == 0 and "REAL TARGET" in out and "at most 5 requests/s" in out
    assert "s3cr3t" not in out and "5f2a9c0e7b1d4a3f" not in out


def test_locust_flags_pass_through_after_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", "--loglevel", "DEBUG")
    assert code == 0 and out.rstrip().endswith("--loglevel DEBUG")


@pytest.mark.parametrize("argv", [["run", "smoke", "--users", "0"], ["sample", "--count", "0"], ["nosuch"]])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert run(capsys, *argv)[0] == 2


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out = run(capsys, "--version")
    assert code == 0 and out.split() == ["loadsim", version("loadsim")]


@pytest.mark.parametrize("name", ["tracking", "endpoint", "replay"])
def test_locustfile_prints_a_bundled_file_inside_the_package(capsys: pytest.CaptureFixture[str], name: str) -> None:
    from pathlib import Path

    import simulator

    code, out = run(capsys, "locustfile", name)
    path = Path(out.strip())
    assert code == 0 and path.name == f"{name}.py" and path.is_file()
    assert path.is_relative_to(Path(simulator.__file__).parent)  # shipped in the wheel, not beside it
    assert "Usage: locust -f" in path.read_text()


def test_sample_is_the_same_bytes_for_the_same_seed_whatever_the_clock(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """added_at and the GA session id come from the scenario's calendar, not the wall clock."""
    import time

    _, first = run(capsys, "sample", "--json", "--count", "3")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400 * 3)  # three days later
    _, later = run(capsys, "sample", "--json", "--count", "3")
    assert first and first == later
    added = [b["added_at"] for b in (orjson.loads(line)["body"] for line in first.splitlines()) if "added_at" in b]
    # From smoke's [time] start: the first session opens then, returning ones days later.
    assert added and added[0].startswith("2026-01-01T") and all("2026-01-01T" <= a < "2026-02-01T" for a in added)


def test_sample_at_sets_the_clock(capsys: pytest.CaptureFixture[str]) -> None:
    import datetime
    import time

    def first(*argv: str) -> tuple[str, str]:
        """The first added_at and the first GA session id (Unix seconds of the session's start)."""
        _, out = run(capsys, "sample", "--json", *argv)
        bodies = [orjson.loads(line)["body"] for line in out.splitlines()]
        added = next(b["added_at"] for b in bodies if "added_at" in b)
        return added, next(b["external_ids"]["google_analytics__app_session_id"] for b in bodies if "external_ids" in b)

    added, ga = first("--at", "2025-06-01T12:00:00Z")
    assert added.startswith("2025-06-01T12:") and ga == "1748779200"
    assert first("--at", "2025-06-01T14:00:00+02:00") == (added, ga)
    added, ga = first("--at", "now")
    at = datetime.datetime.fromisoformat(added.replace("Z", "+00:00")).timestamp()
    assert abs(at - time.time()) < 3600 and abs(int(ga) - time.time()) < 3600
    code, out = run(capsys, "sample", "--at", "yesterday")
    assert code == 2 and "--at" in out and "yesterday" in out
    # Before: bodies stamped 10000-01-01T00:05:08Z and 0000-12-31T10:00:00Z, not marked faulty, that the
    # contract (and so the mock) refuses: a sample's lives run on for days after --at.
    for at in ("9999-12-31T23:59:59Z", "9999-06-01", "0001-01-01T00:00:00+14:00"):
        code, out = run(capsys, "sample", "--at", at)
        assert code == 2 and f"--at {at!r}" in out and "0001-01-01 to 9998-12-31" in out, (at, out)


def test_every_harness_option_is_accepted_without_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        capsys, "run", "smoke", "--app-id", "my-app", "--think-scale", "0.5", "--endpoint", "events", "--dry-run"
    )
    assert code == 0, out
    command = out.strip().splitlines()[-1].split()
    for flag, value in (("--app-id", "my-app"), ("--think-scale", "0.5"), ("--endpoint", "events")):
        assert command[command.index(flag) + 1] == value
    code, out = run(capsys, "run", "smoke", "--endpoint", "nosuch", "--dry-run")
    assert code == 2 and "--endpoint" in out and "nosuch" in out


def test_an_slo_an_endpoint_run_never_sends_to_is_refused_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `loadsim run smoke --endpoint identify` ran, every identify answered, and FAILED "latency p99
    of events <= 500 ms: actual no requests to measure", exit 1: as every such run would."""
    code, out = run(capsys, "run", "smoke", "--dry-run", "--endpoint", "identify")
    assert code == 2, out
    assert "--endpoint identify sends identify requests alone: slo.latency[1] (latency p99 of events" in out, out
    assert "fail every run" in out and "dry run" not in out, out
    step = tmp_path / "step.toml"  # a step's SLO is its endpoint's
    step.write_text('extends = "smoke"\n[slo]\nlatency = [{ step = "externalIds", percentile = 99, max_ms = 900 }]\n')
    code, out = run(capsys, "run", str(step), "--dry-run", "--endpoint", "events")
    assert code == 2 and "slo.latency[0] (latency p99 of externalIds" in out, out
    code, out = run(capsys, "run", str(step), "--dry-run", "--endpoint", "externalIds")
    assert code == 0, out


def test_run_help_lists_the_harness_options(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.loadtest import options

    flags: list[str] = []

    class Names:
        def add_argument(self, *names: str, **_: object) -> None:
            flags.extend(n for n in names if n.startswith("--") and n != "--scenario")

    options.add_arguments(Names())
    _, out = run(capsys, "run", "--help")
    assert flags and all(flag in out for flag in flags)


def test_the_real_target_plan_shows_everything_it_will_send(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        capsys,
        "run",
        "flash-sale",
        "--target",
        "customerlabs",
        "--confirm-real-target",
        "--rate-cap",
        "5",
        "--webhook-url",
        SECRET_URL,
        "--app-id",
        "acme-shop",
        "--rate",
        "2",
        "--dry-run",
    )
    assert code == 0, out
    plan = out.split("dry run")[0]
    assert "app id acme-shop" in plan and "open model" in plan and "2 sessions/s" in plan
    assert "at most 5 requests/s" in plan and "externalIds ->" in plan
    assert "s3cr3t" not in out


@pytest.mark.parametrize("spelling", [["--webhook-url", SECRET_URL], [f"--webhook-url={SECRET_URL}"]])
def test_a_webhook_url_after_double_dash_is_never_printed_nor_on_locusts_command_line(
    capsys: pytest.CaptureFixture[str], spelling: list[str]
) -> None:
    """Before: the dry run printed it in Locust's command line, and a real run put it there too,
    where ps and CI logs show it; without ``--`` it goes by the environment."""
    from simulator.loadtest.runner import RunOptions, locust_command, with_locust_overrides

    code, out = run(capsys, "run", "smoke", "--dry-run", "--", *spelling)
    assert code == 0, out
    assert "s3cr3t" not in out, out
    opts = with_locust_overrides(RunOptions(scenario="smoke", locust_args=("--app-id", "x", *spelling)))
    assert opts.webhook_url == SECRET_URL  # still used: it reaches Locust by LOADSIM_WEBHOOK_URL
    cmd = locust_command(opts, host="http://127.0.0.1:9", report_dir=Path("r"))
    assert not any("s3cr3t" in arg for arg in cmd) and cmd[-2:] == ["--app-id", "x"], cmd


def test_the_mock_plan_on_a_dry_run_names_the_app_id_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "run", "smoke", "--dry-run")
    assert code == 0 and "app id loadsim-shop" in out and "target mock" in out


def test_the_dry_run_plan_shows_the_locust_overrides_after_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the plan said users 5, run time 30s and the scenario's app id whatever came after --."""
    code, out = run(capsys, "run", "smoke", "--users", "4", "--dry-run", "--", "-u", "3", "-t", "5s", "--app-id=zz")
    assert code == 0, out
    plan = out.split("dry run")[0]
    assert "users 3," in plan and "run time 5s" in plan and "app id zz" in plan, plan
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", "--host", "http://127.0.0.1:9", "--report-dir", "r/x")
    assert code == 0, out
    assert "target mock at http://127.0.0.1:9," in out, out
    command = out.strip().splitlines()[-1].split()
    assert command[command.index("--csv") + 1] == "r/x/locust", command  # the harness's files go there too


@pytest.mark.parametrize(
    ("after", "says"),
    [
        (["--load-model", "open"], "the open model needs a target rate"),
        (["--host", "127.0.0.1:8080"], "--host '127.0.0.1:8080': expected a base URL with its scheme"),
        (["--target", "customerlabs"], "--target customerlabs: add --confirm-real-target"),
    ],
    ids=["open-model", "host", "real-target"],
)
def test_an_override_after_double_dash_is_checked_as_the_flag_is(
    capsys: pytest.CaptureFixture[str], after: list[str], says: str
) -> None:
    """Before: each passed the dry run; the real target's safeguards were not asked for."""
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", *after)
    assert code == 2 and says in out, out


def test_locusts_own_settings_are_in_the_plan_named_and_beneath_the_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Locust reads locust.conf, pyproject.toml's [tool.locust] and LOCUST_* itself. Before: the plan said
    users 5 and run time 30s while the run used locust.conf's 2 users for 4 s, and nothing named the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "locust.conf").write_text(
        "users = 2\nrun-time = 4s\nthink-scale = 0.5\nhost = http://127.0.0.1:9\n", encoding="utf-8"
    )
    monkeypatch.setenv("LOCUST_SPAWN_RATE", "3")
    code, out = run(capsys, "run", "smoke", "--dry-run")
    assert code == 0, out
    plan = out.split("dry run")[0]
    assert "users 2," in plan and "run time 4s" in plan and "think times x0.5" in plan, plan
    # The harness passes --host itself, so Locust never takes the file's: the mock stays the target.
    assert "target mock at a free loopback port" in plan, plan
    assert "Locust's settings give host http://127.0.0.1:9: not used (the target is --host," in out, out
    said = next(line for line in out.splitlines() if "Locust's settings" in line)
    for setting in ("users = 2 (locust.conf)", "run-time = 4s (locust.conf)", "LOCUST_SPAWN_RATE=3"):
        assert setting in said, said
    assert "host" not in said, said
    command = out.strip().splitlines()[-1].split()
    assert command[command.index("--users") + 1] == "2" and command[command.index("--run-time") + 1] == "4s"
    code, out = run(capsys, "run", "smoke", "--users", "4", "--dry-run", "--", "-t", "6s")
    assert code == 0 and "users 4," in out and "run time 6s" in out, out  # a flag beats a setting
    assert "users = 2" not in out and "run-time = 4s" not in out, out


def test_a_locust_setting_is_checked_as_the_flag_is(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: an open model from pyproject.toml's [tool.locust] passed the dry run and failed in Locust."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.locust]\nload-model = "open"\n', encoding="utf-8")
    code, out = run(capsys, "run", "smoke", "--dry-run")
    assert code == 2 and "the open model needs a target rate" in out, out


def test_the_dry_run_plan_shows_the_freeze_the_mock_will_play_scaled_as_the_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `--run-time 60s` (smoke's 30 s doubled) planned the outage at 10s for 4s and said nothing of the
    freeze the mock was given, at 20s for 8s."""
    scenario = tmp_path / "freeze.toml"
    scenario.write_text(
        'extends = "smoke"\n[target.mock]\nfreeze_at = "10s"\nfreeze_for = "4s"\noutage_at = "5s"\noutage_for = "2s"\n'
    )
    code, out = run(capsys, "run", str(scenario), "--run-time", "60s", "--dry-run")
    assert code == 0, out
    plan = out.split("dry run")[0]
    assert "outage (503) at 10s for 4s, freeze at 20s for 8s" in plan, plan
    code, out = run(capsys, "run", str(scenario), "--dry-run")
    assert code == 0 and "freeze at 10s for 4s" in out.split("dry run")[0], out


@pytest.mark.parametrize(
    "spelling",
    [["--endpoint", "identify"], ["--endpoint=identify"], ["--endp", "identify"]],
    ids=["flag", "equals", "abbreviated"],
)
def test_an_endpoint_after_double_dash_is_the_endpoint_run_and_its_slos_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: list[str]
) -> None:
    """Before: `loadsim run smoke -- --endpoint identify` handed it to the tracking locustfile, which ignores
    it: the journeys played, smoke's SLOs on events were judged, and the run PASSED as an identify run."""
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", *spelling)
    assert code == 2, out
    assert "--endpoint identify sends identify requests alone: slo.latency[1] (latency p99 of events" in out, out
    step = tmp_path / "step.toml"
    step.write_text('extends = "smoke"\n[slo]\nlatency = [{ step = "identify", percentile = 99, max_ms = 900 }]\n')
    code, out = run(capsys, "run", str(step), "--dry-run", "--", *spelling)
    assert code == 0, out
    assert "locustfiles/endpoint.py" in out.strip().splitlines()[-1], out


def test_the_default_endpoint_after_double_dash_is_an_endpoint_run_too(capsys: pytest.CaptureFixture[str]) -> None:
    """`-- --endpoint events` is Locust's default value, given: the endpoint locustfile, not the journeys."""
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", "--endpoint", "events")
    assert code == 0, out
    assert "locustfiles/endpoint.py" in out.strip().splitlines()[-1], out
    code, out = run(capsys, "run", "smoke", "--dry-run", "--", "--app-id", "x")
    assert code == 0 and "locustfiles/tracking.py" in out.strip().splitlines()[-1], out


@pytest.mark.parametrize("where", ["locust.conf", "pyproject.toml"])
def test_an_endpoint_in_locusts_settings_is_the_endpoint_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """Before: with `endpoint = identify` in locust.conf (or [tool.locust]), `loadsim run smoke` said
    "Locust's settings apply to this run: endpoint = identify (locust.conf)" and played the journeys, PASSED."""
    monkeypatch.chdir(tmp_path)
    if where == "locust.conf":
        (tmp_path / "locust.conf").write_text("endpoint = identify\n", encoding="utf-8")
    else:
        (tmp_path / "pyproject.toml").write_text('[tool.locust]\nendpoint = "identify"\n', encoding="utf-8")
    code, out = run(capsys, "run", "smoke", "--dry-run")
    assert code == 2, out  # smoke's SLOs on events would have no identify request to judge
    assert "endpoint = identify in Locust's settings sends identify requests alone" in out, out
    step = tmp_path / "step.toml"
    step.write_text('extends = "smoke"\n[slo]\nlatency = [{ step = "identify", percentile = 99, max_ms = 900 }]\n')
    code, out = run(capsys, "run", str(step), "--dry-run")
    assert code == 0 and "locustfiles/endpoint.py" in out.strip().splitlines()[-1], out


def test_sample_devices_are_those_of_its_clock(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `sample --at 2024-03-01` sent 2026 devices stamped 2024-03-01 (an SM-S921B on Android 16,
    Chrome/141, app 3.3.0); devices are now built as of the clock's UTC day."""
    import datetime

    from tests import realism

    code, out = run(capsys, "sample", "--at", "2024-03-01", "--count", "3", "--json", "--scenario", "ecommerce")
    assert code == 2 and "Traceback" not in out and "usage:" not in out, out
    assert "--at 2024-03-01: the catalogue has no iOS device on 2024-03-01 (its iOS rows start 2024-05-20)" in out
    code, out = run(
        capsys, "sample", "--at", "2025-06-01T08:00:00Z", "--count", "30", "--json", "--scenario", "ecommerce"
    )
    starts = [
        r["body"]["additional_info"] for r in map(orjson.loads, out.splitlines()) if r["endpoint"] == "externalIds"
    ]
    assert code == 0 and len(starts) == 30
    for info in starts:
        assert info["app_version_name"] == "3.1.0", info  # 3.2.0 came out 2025-07-07
        assert realism.device_problems(info, on=datetime.date(2025, 6, 1)) == [], info
        if info["extInfoVersion"] == "a2":  # Android 16 came 2025-06-10, Chrome 138 2025-06-24
            assert int(info["osVersion"]) <= 15 and int(info["user_agent"].split("Chrome/")[1].split(".")[0]) <= 137
        else:
            assert realism.version(info["osVersion"]) < (18, 6), info  # 18.6.2 came 2025-08-20


def test_run_checks_the_start_day_before_anything_starts_without_building_the_population(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `run --dry-run` passed a time.start before the catalogue's first devices, and the real run
    died in Locust of NoDevicesOn (the population was built there first). Checked as validate words it,
    from the catalogue and the app's releases: the whole population is never built here."""
    from simulator.population import Population

    def never(*args: object, **kwargs: object) -> Population:
        raise AssertionError("the run built a population to check its start day")

    monkeypatch.setattr(Population, "build", never)
    early = tmp_path / "early.toml"
    early.write_text('extends = "smoke"\n[time]\nstart = "2019-01-01"\n')
    code, out = run(capsys, "run", str(early), "--dry-run")
    assert code == 2, out
    assert out.startswith(f"loadsim: {early}: time.start: the catalogue has no Android or iOS device on 2019-01-01"), (
        out
    )
    assert "dry run" not in out and "plan:" not in out, out
    code, out = run(capsys, "run", "smoke", "--dry-run")
    assert code == 0 and "dry run" in out, out


def test_the_plan_says_the_mocks_faults_do_not_play_when_no_mock_is_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: with --host, and in the real target's plan, the plan showed "outage (503) at 20s for 20s, freeze
    at 10s for 4s", which no mock was started to play."""
    scenario = tmp_path / "faults.toml"
    scenario.write_text('extends = "outage"\n[target.mock]\nfreeze_at = "10s"\nfreeze_for = "4s"\nlatency = "5ms"\n')
    said = "no mock is started: the scenario's [target.mock] (outage, freeze, latency) does not play"
    real = ["--target", "customerlabs", "--webhook-url", SECRET_URL, "--confirm-real-target", "--rate-cap", "5"]
    for flags in (["--host", "http://127.0.0.1:9"], real):
        code, out = run(capsys, "run", str(scenario), *flags, "--dry-run")
        assert code == 0, out
        plan = out.split("dry run")[0]
        assert said in plan, plan
        assert "outage (503) at" not in plan and "freeze at" not in plan, plan
    code, out = run(capsys, "run", str(scenario), "--dry-run")  # the mock it starts plays them
    plan = out.split("dry run")[0]
    assert code == 0 and "outage (503) at 20s for 20s, freeze at 10s for 4s" in plan and said not in plan, plan


def test_memory_running_out_mid_generate_is_one_line_and_leaves_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Past generate's check (another process took the memory since): before, numpy's _ArrayMemoryError
    traceback; the staged runs go either way (writer.generate's finally)."""
    from simulator.dataset import rows

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(rows.Generator, "device", no_memory)
    code = main(["generate", "smoke", "--out", str(tmp_path / "d"), "--users", "5", "--days", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err  # as a full disk: the command line may be fine
    assert err == (
        "loadsim: ran out of memory: generate fewer devices (--users) or use fewer --jobs, or generate where "
        "there is more memory; no dataset was written (summary.json is absent)\n"
    )
    assert [p.name for p in (tmp_path / "d").iterdir() if not p.name.startswith(".")] == []

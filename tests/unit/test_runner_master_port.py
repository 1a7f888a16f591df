"""``--processes``: the master ``loadsim run`` starts binds loopback on a free port of its own, and
its workers are sent there; a port or host the user gives (``-- --master-bind-port P``) is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.loadtest.runner import WORKERS_MAX_WAIT_S, RunOptions, locust_command


def flags(*locust_args: str, processes: int | None = 2) -> dict[str, list[str]]:
    cmd = locust_command(
        RunOptions(scenario="smoke", processes=processes, locust_args=locust_args), host="http://x", report_dir=Path()
    )
    out: dict[str, list[str]] = {}
    for i, arg in enumerate(cmd):
        if arg.startswith(("--master", "--expect-workers")):
            name, _, value = arg.partition("=")
            out.setdefault(name, []).append(value or cmd[i + 1])
    return out


def test_processes_get_a_free_loopback_master_port_and_the_workers_follow() -> None:
    got = flags()
    assert got["--master-bind-host"] == ["127.0.0.1"]
    (port,) = got["--master-bind-port"]
    assert got["--master-port"] == [port] and port != "5557" and int(port) > 0


def test_a_master_port_or_host_the_user_gives_is_kept() -> None:
    assert flags("--master-bind-port", "6001") == {
        "--master-bind-host": ["127.0.0.1"],
        "--master-port": ["6001"],
        "--master-bind-port": ["6001"],
        "--expect-workers-max-wait": [str(WORKERS_MAX_WAIT_S)],
    }
    assert flags("--master-port=6002")["--master-bind-port"] == ["6002"]
    assert flags("--master-bind-host", "0.0.0.0")["--master-bind-host"] == ["0.0.0.0"]


def test_processes_given_after_dashes_as_loadsim_ui_does_get_their_port_too() -> None:
    got = flags("--processes", "2", processes=None)
    assert got["--master-bind-port"] == got["--master-port"] != ["5557"]


def test_no_master_flags_without_processes() -> None:
    assert flags(processes=None) == {}


def test_a_headless_master_of_processes_gives_up_on_a_worker_that_never_connects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: a forked worker that died before it connected (killed, out of memory) left the headless
    master waiting forever (Locust's default: no limit), a CI job hung to its own timeout. This holds
    the flag on the master's command line; what Locust does with it (it gives up, with no report, and
    loadsim run exits 2) was seen by hand, with -- --master --expect-workers 2 --expect-workers-max-wait 3."""
    assert flags()["--expect-workers-max-wait"] == [str(WORKERS_MAX_WAIT_S)]
    assert flags("--expect-workers-max-wait", "30")["--expect-workers-max-wait"] == ["30"]  # the user's, alone
    assert "--expect-workers-max-wait" not in flags(processes=None)
    # One in Locust's settings is the user's too: Locust reads it, beneath the flags.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "locust.conf").write_text("expect-workers-max-wait = 600\n", encoding="utf-8")
    assert "--expect-workers-max-wait" not in flags()
    (tmp_path / "locust.conf").unlink()
    monkeypatch.setenv("LOCUST_EXPECT_WORKERS_MAX_WAIT", "0")  # wait forever, as asked
    assert "--expect-workers-max-wait" not in flags()

"""``loadsim mock``: flags reach the server; bad flags and busy ports exit 2 with what to do."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.mock import LISTENING_PREFIX
from tests.conftest import subprocess_env
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration


def test_loadsim_mock_serves_with_its_faults_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "mock",
            "--port",
            "0",
            "--store",
            ":memory:",
            "--error-rate",
            "events=1:503",
            "--retry-after",
            "4",
            "--latency",
            "identify=1ms",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith(LISTENING_PREFIX), line
        url = line[len(LISTENING_PREFIX) :].strip()
        conn = ms.connect(url)
        conn.request("POST", "/webhook/s", body=b"{}", headers=ms.HEADERS)
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Retry-After")) == (503, "4")
        resp.read()
        faults = ms.get_json(conn, "/_admin/faults")
        assert faults["endpoints"]["identify"]["latency"] == "1ms"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "loadsim mock stopped" in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency", "soon"], "cannot read latency 'soon'"),
        (["--error-rate", "0.1:418"], "error status must be one of"),
        (["--freeze-at", "5s"], "needs both --freeze-at"),
    ],
)
def test_bad_flags_exit_2_with_what_to_write(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "mock", "--port", "0", "--store", ":memory:", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_a_busy_port_exits_2_and_says_to_choose_another() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "simulator.mock", "--port", str(port), "--store", ":memory:"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert "choose another --port" in done.stderr


def test_mock_server_runs_in_a_process_where_locust_patched_threading(tmp_path: object) -> None:
    # Importing Locust makes threading.Thread a greenlet; the mock's loop must still get an OS thread.
    script = """
import locust, gevent.monkey, urllib.request
assert gevent.monkey.is_module_patched("threading")
from simulator.mock import MockServer
with MockServer(store=%r) as mock:
    assert urllib.request.urlopen(mock.url + "/_admin/health", timeout=5).read() == b'{"status":"ok"}'
    assert mock.stats()["requests"] == 0
print("ok")
""" % str(tmp_path / "m.sqlite3")  # noqa: UP031
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=subprocess_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--port", "65537"], "--port 65537"),
        (["--port", "-1"], "--port -1"),
        (["--admin-port", "70000"], "--admin-port 70000"),
    ],
)
def test_a_port_out_of_range_exits_2_naming_the_flag(args: list[str], flag: str) -> None:
    # 65537 used to wrap to port 1 (and 70000 to 4464) without a word.
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "mock", "--port", "0", "--store", ":memory:", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"loadsim mock: {flag}"), done.stderr
    assert "0 and 65535" in done.stderr


@pytest.mark.parametrize("kind", ["missing directory", "a directory", "not a database"])
def test_a_store_that_cannot_be_opened_exits_2_in_one_line(tmp_path: Path, kind: str) -> None:
    if kind == "missing directory":
        store = tmp_path / "nonexistent" / "x.sqlite3"
    elif kind == "a directory":
        store = tmp_path
    else:
        store = tmp_path / "notes.txt"
        store.write_text("not a database\n" * 200)
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "mock", "--port", "0", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # no traceback
    assert done.stderr.startswith(f"loadsim mock: --store {store}: cannot open"), done.stderr
    if kind == "not a database":
        assert store.read_text() == "not a database\n" * 200  # left as it was


@pytest.mark.parametrize(
    ("args", "env_file", "flag"),
    [
        (["--admin-token", ""], False, "--admin-token"),
        (["--admin-token", "  "], False, "--admin-token"),
        (["--admin-token-file", "{secret}"], False, "--admin-token-file"),
        ([], True, "LOADSIM_ADMIN_TOKEN_FILE"),
    ],
    ids=["token ''", "token spaces", "empty token file", "empty token file from env"],
)
def test_an_empty_admin_token_refuses_to_start(tmp_path: Path, args: list[str], env_file: bool, flag: str) -> None:
    # An empty token used to turn admin auth off without a word: the opposite of what was asked.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADSIM_ADMIN_TOKEN")}
    secret = tmp_path / "token"
    secret.write_text(" \n\t\n")
    if env_file:
        env["LOADSIM_ADMIN_TOKEN_FILE"] = str(secret)
    said = refused_to_start([a.format(secret=secret) for a in args], env)
    assert "empty" in said and flag in said, said


def refused_to_start(args: list[str], env: dict[str, str]) -> str:
    """``loadsim mock ARGS`` exits 2 before it listens, saying why in one line: that line."""
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "mock", "--port", "0", "--store", ":memory:", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # never listened
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("loadsim mock: "), done.stderr
    return done.stderr


@pytest.mark.parametrize("from_env", [False, True], ids=["flag", "environment"])
def test_an_admin_token_with_whitespace_around_it_refuses_to_start(from_env: bool) -> None:
    # HTTP trims a header value's edges, and the admin API compared what was left with the token as
    # given. Before: the mock started, and every admin call but /health got 401.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADSIM_ADMIN_TOKEN")}
    args = ["--admin-token", " s3cret "]
    if from_env:
        env["LOADSIM_ADMIN_TOKEN"], args = " s3cret ", []
    said = refused_to_start(args, env)
    flag = "$LOADSIM_ADMIN_TOKEN" if from_env else "--admin-token"
    assert f"{flag} begins or ends with whitespace" in said and "s3cret" not in said

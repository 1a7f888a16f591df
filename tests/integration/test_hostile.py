"""A harness that survives its target: every hostile answer is counted with its reason, no user dies,
and the run ends on time."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_run import loadsim_run

pytestmark = pytest.mark.integration

MODES = ("reset", "garbage", "truncated", "huge", "slowloris", "silent", "ok")


class HostileServer:
    """Answers each request on 127.0.0.1 in the next of MODES' ways; stops itself after ``life`` seconds."""

    def __init__(self, *, life: float = 60.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.5)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.modes = itertools.cycle(MODES)
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + life
        self.served: dict[str, int] = dict.fromkeys(MODES, 0)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        self.sock.close()

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            while time.monotonic() < self.deadline and self._read_request(conn):
                with self.lock:
                    mode = next(self.modes)
                    self.served[mode] += 1
                if not self._answer(conn, mode):
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, mode: str) -> bool:
        """Answer one request; False when the connection is finished with."""
        if mode == "reset":  # RST instead of an answer
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        if mode == "garbage":
            conn.sendall(b"SPAM SPAM SPAM\r\n\r\n")
            return False
        if mode == "truncated":
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: application/json\r\n\r\n{"us')
            return False
        if mode == "huge":  # 5 MB the client has to read
            body = b"x" * (5 * 1024 * 1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if mode == "slowloris":  # a byte every 0.3 s, for longer than the client waits
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                conn.sendall(bytes([byte]))
                time.sleep(0.3)
            return True
        if mode == "silent":  # never answers
            time.sleep(3)
            return False
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        return True


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    yield HostileServer(life=60)


def test_every_hostile_answer_is_counted_and_no_user_dies(tmp_path: Path, hostile: HostileServer) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'extends = "smoke"\n[client]\ntimeout = "1s"\nconnect_timeout = "1s"\n'
        "[load]\nthink_time_scale = 0\n[slo]\nreconciliation = false\n"
    )
    started = time.monotonic()
    code, out, summary = loadsim_run(tmp_path, str(scenario), "--host", hostile.url, "--run-time", "8s", timeout=90)
    took = time.monotonic() - started
    assert code == 1, out  # failures break smoke's error-rate SLO: a verdict, not a harness error
    assert took < 40, took  # the run ends on time, however the target behaves
    assert all(hostile.served[m] > 0 for m in MODES), hostile.served
    kinds = {e["kind"]: e for e in summary["errors"]}
    assert summary["total"]["failures"] > 0
    # each failure has a reason a person can act on, with a first example
    assert all(e["example"] for e in kinds.values())
    # silent and slow targets time out; resets, garbage and truncated answers are connection errors;
    # a 200 that is not the contract's is said so
    assert any(k.startswith("timeout") for k in kinds), kinds.keys()
    assert any(k.startswith("connection") for k in kinds), kinds.keys()
    assert "200 body not JSON" in kinds, kinds.keys()
    exceptions = (tmp_path / "report" / "locust_exceptions.csv").read_text().strip().splitlines()
    assert len(exceptions) == 1, exceptions[:5]  # no user code raised: every answer was judged

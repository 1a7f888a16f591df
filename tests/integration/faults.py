"""Faults the failure tests inflict from outside: another process locking a SQLite store, a small disk."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Holds the write lock of the SQLite file argv[1] for argv[2] seconds (as someone inspecting it would).
_LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def lock_store(store: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``store``'s write lock for ``seconds``, returned once it holds it."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(store), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


def release(locker: subprocess.Popen[str] | None) -> None:
    """End a ``lock_store`` process that is still holding on."""
    if locker is not None and locker.poll() is None:
        locker.kill()
        locker.wait()


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``folder/disk``; root only: the test is skipped elsewhere."""
    mnt = folder / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)

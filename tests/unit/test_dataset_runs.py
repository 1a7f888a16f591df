"""The dataset's sorted runs: a raw binary file format, merged back in key order, refused whole when damaged."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from simulator.dataset import runs
from simulator.dataset.runs import RUN_MAGIC, Record, RunError, Runs, read_run, sort_key


def _records(n: int, seed: int, *, newline_rows: bool = False) -> list[Record]:
    """Records as the generator makes them: a body line then a row line, one device after another."""
    rng = random.Random(seed)
    out: list[Record] = []
    for device in range(n // 10):
        ms = rng.randrange(1_700_000_000_000, 1_700_000_100_000)
        for seq in range(10):
            ms += rng.randrange(0, 3)  # same milliseconds too: the device and sequence decide
            body = b'{"d":%d,"s":%d,"pad":"%s"}\n' % (device, seq, b"x" * rng.randrange(0, 900))
            quoted = b'"a\nb"' if newline_rows and rng.random() < 0.3 else b"plain"
            row = b"%d,%d,%s\n" % (device, seq, quoted)
            out.append((sort_key(ms, device, seq, len(body), rng.randrange(3)), body + row))
    return out


def _files(batches: object) -> tuple[list[bytes], bytes]:
    bodies, rows = [b"", b"", b""], b""
    for batch in batches:  # type: ignore[attr-defined]
        got, table = batch.files(3)
        for e in range(3):
            bodies[e] += b"".join(line + b"\n" for line in got[e])
        rows += b"".join(line + b"\n" for line in table)
    return bodies, rows


def _expected(records: list[Record]) -> tuple[list[bytes], bytes]:
    bodies, rows = [b"", b"", b""], b""
    for key, data in sorted(records):
        n, ep = runs.split_key(key)
        bodies[ep] += data[:n]
        rows += data[n:]
    return bodies, rows


@pytest.mark.parametrize("newline_rows", [False, True], ids=["two lines a record", "rows with newlines of their own"])
def test_spilled_runs_merge_to_key_order_however_the_blocks_fall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, newline_rows: bool
) -> None:
    records = _records(3000, 1, newline_rows=newline_rows)
    want = _expected(records)
    in_memory = Runs(tmp_path)
    in_memory.buffer = list(records)
    assert _files(in_memory.merged()) == want
    monkeypatch.setattr(runs, "BLOCK_RECORDS", 37)  # many blocks, rounds that end anywhere
    monkeypatch.setattr(runs, "MAX_FAN_IN", 3)  # merged in groups first
    spilled = Runs(tmp_path)
    for k in range(0, len(records), 400):
        spilled.spill()
        spilled.buffer = records[k : k + 400]
    assert len(spilled.files) == 7 and spilled.buffer  # the last chunk is merged from memory
    assert _files(spilled.merged()) == want


def _run(tmp_path: Path) -> Path:
    r = Runs(tmp_path)
    r.buffer = _records(200, 2)
    r.spill()
    return r.files[0]


def _read_all(path: Path) -> None:
    for _ in read_run(path):
        pass


def test_a_damaged_run_is_refused_saying_how(tmp_path: Path) -> None:
    path = _run(tmp_path)
    good = path.read_bytes()
    _read_all(path)
    head = len(RUN_MAGIC)
    header = runs._HEAD.size
    n, size, *_ = runs._HEAD.unpack(good[head : head + header])
    data_at = head + header + n * runs.KEY_BYTES + 4 * n  # the first block's records
    body = good.index(b"xxxx", data_at)
    cases = {
        "truncated": (good[: len(good) // 2], "ends inside"),
        "no last header": (good[:-header], "ends inside a block header"),
        "something after it": (good + b"x", "last header does not match"),
        "not a run": (b"\x80\x05pickle" + good, "is not a loadsim run"),
        "zeros": (b"\0" * len(good), "is not a loadsim run"),
    }
    # A block of one record of 4 GiB, in a file of a few KiB: refused before anything is allocated.
    huge = runs._HEAD.pack(1, 2**32 - 1, 0) + good[head + header : head + header + 16] + b"\xff" * 4
    cases["a header past the end"] = (good[:head] + huge + good[head + header + 36 :], "ends inside a block's data")
    # What a bad disk does and the structure cannot see: one byte of a body changed, a newline moved.
    cases["a byte of a body changed"] = (good[:body] + b"y" + good[body + 1 :], "damaged")
    line_end = good.index(b"\n", data_at)
    moved = good[:line_end] + b"x\n" + good[line_end + 2 :]  # the newline one byte later, the count kept
    cases["a newline moved"] = (moved, "damaged")
    # The first block's first key bytes turned to 0xff, its checksum made to match: the writer's
    # mistake, not the disk's, is out of order with the next key.
    first_key = head + header
    unsorted = bytearray(good[:first_key] + b"\xff" * 8 + good[first_key + 8 :])
    unsorted[head:first_key] = runs._HEAD.pack(n, size, zlib.crc32(unsorted[first_key : data_at + size]))
    cases["keys out of order"] = (bytes(unsorted), "not in key order")
    for data, message in cases.values():
        path.write_bytes(data)
        with pytest.raises(RunError, match=message):
            _read_all(path)


def test_a_key_naming_no_endpoint_is_refused(tmp_path: Path) -> None:
    r = Runs(tmp_path)
    r.buffer = [(sort_key(1, 0, 0, 3, 3), b"{}\n" + b"row\n")]
    with pytest.raises(RunError, match="names an endpoint past the 3"):
        _files(r.merged())

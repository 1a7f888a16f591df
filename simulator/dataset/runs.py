"""Sorted runs and their merge: records gathered in bounded chunks, each sorted and spilled to a raw
binary run, merged back in order block by block.

A run file (also a shard's ``records.run``) is ``RUN_MAGIC`` then blocks of at most
``BLOCK_RECORDS`` records, each: a header (records, data bytes: little-endian uint64s; the CRC-32
of the rest of the block: uint32), the keys (16 bytes each, big-endian: bytes order is key order),
the records' lengths (little-endian uint32) and their data back to back; then a last header (0, the
run's record count, 0) that says the run is whole. Numbers and bytes only: nothing in a run is
executed (a shard copied from another machine is read, never unpickled), and a truncated or
damaged one is a ``RunError``: the checksum catches what the structure cannot (a byte changed, a
newline moved) before a wrong byte reaches a dataset.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any
from zlib import crc32

import numpy as np
import numpy.typing as npt

from simulator.dataset.layout import DatasetError

#: Records gathered before a chunk is sorted and spilled (bounds memory: about 1 KB each).
CHUNK_RECORDS = 40_000
#: Runs merged at once; more are first merged in groups (memory flat however many devices).
MAX_FAN_IN = 32
#: Records per block of a run: what the merge holds of each run at a time (and one writev: IOV_MAX).
BLOCK_RECORDS = 512
#: Records the merge holds of all its runs at once, about (rounds are longer the more it holds).
MERGE_RECORDS = 8192
#: The first bytes of every run file: its format (a shard's manifest names it too).
RUN_MAGIC = b"loadsim run 2\n"
RUN_FORMAT = RUN_MAGIC.decode().strip()

#: (key, body line + table row line). One exact-size bytes per record: keeping orjson's output
#: itself costs 2-3x the dumps, because each is over-allocated then shrunk and the heap fragments
#: (measured: 3.7 -> 1.5 us a record).
Record = tuple[int, bytes]

# The key, high bits to low: time in ms (unbounded), the device's global index, its sequence number
# (so a device's requests keep their order within a millisecond), then where the body ends in the
# record and which endpoint's file it goes to. One int compares in C: sorting needs nothing else.
ENDPOINT_BITS = 2  # externalIds, identify, events
LEN_BITS = 20  # a body is under 1 MiB
SEQ_BITS = 20  # requests per device
DEVICE_BITS = 28  # devices per dataset
LEN_MASK = (1 << LEN_BITS) - 1
LEN_SHIFT = ENDPOINT_BITS
SEQ_SHIFT = LEN_SHIFT + LEN_BITS
DEVICE_SHIFT = SEQ_SHIFT + SEQ_BITS
TIME_SHIFT = DEVICE_SHIFT + DEVICE_BITS
#: The most a field of the key holds: past it, keys would overlap and the order be wrong.
LIMITS = {
    "device": 1 << DEVICE_BITS,
    "sequence": 1 << SEQ_BITS,
    "length": 1 << LEN_BITS,
    "endpoint": 1 << ENDPOINT_BITS,
}
#: A key in a run: 128 bits, big-endian (time in ms then fits up to 2**58).
KEY_BYTES = 16

_HEAD = struct.Struct("<QQI")
_KEYS = np.dtype(">u8")
_RAW = np.dtype(f"S{KEY_BYTES}")
_LENS = np.dtype("<u4")
_ENDPOINT = np.uint64((1 << ENDPOINT_BITS) - 1)
_IOV = 1024  # buffers per writev (Linux's IOV_MAX)

U64 = npt.NDArray[np.uint64]


class RunError(DatasetError):
    """A run file that is not one this loadsim wrote whole (truncated, corrupt, another format)."""


def sort_key(ms: int, device: int, seq: int, length: int, endpoint: int) -> int:
    """A record's key (``Generator.device`` builds the same inline, checking the limits it can
    reach: the device once, the sequence at the device's end, the length per record)."""
    for name, value in (("device", device), ("sequence", seq), ("length", length), ("endpoint", endpoint)):
        if not 0 <= value < LIMITS[name]:
            raise OverflowError(f"a record's {name} {value} is past the sort key's limit {LIMITS[name]}")
    return ms << TIME_SHIFT | device << DEVICE_SHIFT | seq << SEQ_SHIFT | length << LEN_SHIFT | endpoint


def split_key(key: int) -> tuple[int, int]:
    """(where the body ends in the record, the endpoint's index) of a key."""
    return key >> LEN_SHIFT & LEN_MASK, key & ((1 << ENDPOINT_BITS) - 1)


@dataclass(frozen=True, slots=True)
class Block:
    """Sorted records of one run as arrays: the keys as they are in the file (16 bytes, which
    numpy compares as bytes: the merge searches them) and as their high and low 64 bits (which it
    sorts), the records' lengths, and ``lines``: each record's body then its row, without their
    newlines (``data.split``), so that the files are joins of them."""

    keys: npt.NDArray[np.bytes_]
    hi: U64
    lo: U64
    lengths: npt.NDArray[np.uint32]
    lines: list[bytes]

    def __len__(self) -> int:
        return len(self.hi)

    @property
    def last(self) -> bytes:
        return self.keys[-1:].tobytes()  # all 16 bytes (an element would lose its trailing zeros)


def _fuse(blocks: list[Block]) -> Block:
    """Consecutive blocks of one run as one (the merge's rounds are as long as its blocks)."""
    if len(blocks) == 1:
        return blocks[0]
    lines: list[bytes] = []
    for b in blocks:
        lines += b.lines[:-1]
    lines.append(b"")
    return Block(
        np.concatenate([b.keys for b in blocks]),
        np.concatenate([b.hi for b in blocks]),
        np.concatenate([b.lo for b in blocks]),
        np.concatenate([b.lengths for b in blocks]),
        lines,
    )


def _fused(blocks: Iterator[Block], count: int) -> Iterator[Block]:
    group: list[Block] = []
    for block in blocks:
        group.append(block)
        if len(group) == count:
            yield _fuse(group)
            group = []
    if group:
        yield _fuse(group)


@dataclass(frozen=True, slots=True)
class Batch:
    """Records the merge gives out at once: ``order`` lists them, in key order, as indices into
    the other fields (a block's arrays or several blocks' put together)."""

    hi: U64
    lo: U64
    lengths: npt.NDArray[np.uint32]
    lines: list[bytes]
    order: npt.NDArray[np.intp]
    #: ``order`` is consecutive indices (one block's records in a row).
    contiguous: bool = False

    def __len__(self) -> int:
        return len(self.order)

    def files(self, endpoints: int) -> tuple[list[Sequence[bytes]], Sequence[bytes]]:
        """(each endpoint's body lines, the table's rows), in key order, without their newlines."""
        order, lines = self.order, self.lines
        ep = (self.lo & _ENDPOINT)[order]
        if self.contiguous:  # one block's records as they stand: every other line
            first = int(order[0]) if len(order) else 0
            rows: Sequence[bytes] = lines[2 * first + 1 : 2 * (first + len(order)) : 2]
        else:
            rows = _gather(lines, (order * 2 + 1).tolist())
        bodies = [_gather(lines, (order[ep == e] * 2).tolist()) for e in range(endpoints)]
        if sum(map(len, bodies)) != len(order):
            raise RunError(f"a record's key names an endpoint past the {endpoints} there are")
        return bodies, rows


def _key_bytes(hi: U64, lo: U64) -> bytes:
    """Keys as a run file holds them: 16 bytes each, big-endian."""
    return np.stack((hi, lo), axis=1).astype(_KEYS).tobytes()


def _gather(items: list[bytes], indices: list[int]) -> Sequence[bytes]:
    if len(indices) > 1:
        return itemgetter(*indices)(items)  # type: ignore[no-any-return]
    return [items[i] for i in indices]


def _writev(fd: int, buffers: Sequence[Any]) -> None:
    """All of ``buffers`` to ``fd`` (a writev may write less than asked: the rest follows)."""
    for k in range(0, len(buffers), _IOV):
        part = buffers[k : k + _IOV]
        want = sum(map(len, part))
        done = os.writev(fd, part)
        if done < want:
            rest = memoryview(b"".join(part))[done:]
            while rest:
                rest = rest[os.write(fd, rest) :]


class RunWriter:
    """A run file being written, block by block (``close`` adds the last header: the run is whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._count = 0
        _writev(self._fd, [RUN_MAGIC])

    def records(self, hi: U64, lo: U64, data: list[bytes]) -> None:
        """Sorted records (``sort_records``), straight from a buffer."""
        for k in range(0, len(data), BLOCK_RECORDS):
            part = data[k : k + BLOCK_RECORDS]
            keys = _key_bytes(hi[k : k + BLOCK_RECORDS], lo[k : k + BLOCK_RECORDS])
            # One buffer: its checksum in one call runs at memory speed (a call per record is 3x slower).
            self._block(len(part), keys, np.fromiter(map(len, part), _LENS, len(part)), b"".join(part))

    def batch(self, batch: Batch) -> None:
        """A batch of the merge, in its order."""
        for k in range(0, len(batch), BLOCK_RECORDS):
            order = batch.order[k : k + BLOCK_RECORDS]
            keys = _key_bytes(batch.hi[order], batch.lo[order])
            pairs = np.stack((order * 2, order * 2 + 1), axis=1).ravel().tolist()
            data = b"\n".join(_gather(batch.lines, pairs)) + b"\n"
            self._block(len(order), keys, batch.lengths[order], data)

    def _block(self, n: int, keys: bytes, lengths: npt.NDArray[np.uint32], data: bytes) -> None:
        sizes = lengths.astype(_LENS, copy=False).tobytes()
        crc = crc32(data, crc32(sizes, crc32(keys)))
        _writev(self._fd, [_HEAD.pack(n, len(data), crc), keys, sizes, data])
        self._count += n

    def close(self) -> Path:
        _writev(self._fd, [_HEAD.pack(0, self._count, 0)])
        os.close(self._fd)
        return self.path

    def abandon(self) -> None:
        os.close(self._fd)


def write_run(path: Path, batches: Iterable[Batch]) -> Path:
    """Merged records (batch after batch, in order) to ``path`` as a run ``Runs`` merges."""
    out = RunWriter(path)
    try:
        for batch in batches:
            out.batch(batch)
    except BaseException:
        out.abandon()
        raise
    return out.close()


def _block(keys: bytes, lengths: npt.NDArray[np.uint32], data: bytes, where: str) -> Block:
    """A block from its keys, its records' lengths and their data back to back (checked: sorted, whole)."""
    n = len(lengths)
    raw = np.frombuffer(keys, _RAW)
    if n > 1 and not (raw[1:] > raw[:-1]).all():
        raise RunError(f"{where}: its records are not in key order")
    pair = np.frombuffer(keys, _KEYS).reshape(n, 2)
    hi, lo = pair[:, 0].astype(np.uint64), pair[:, 1].astype(np.uint64)
    lines = data.split(b"\n")
    if len(lines) == 2 * n + 1:  # each record is exactly two lines (split in C, one pass)
        return Block(raw, hi, lo, lengths, lines)
    # A row holds a newline of its own (a quoted CSV field): cut where the lengths say.
    bodies = (lo >> np.uint64(LEN_SHIFT) & np.uint64(LEN_MASK)).tolist()
    lines = []
    start = 0
    for body, length in zip(bodies, lengths.tolist(), strict=True):
        end = start + length
        if not 0 < body < length or data[start + body - 1] != 10 or data[end - 1] != 10:
            raise RunError(f"{where}: a record is not a body line then a row line")
        lines += (data[start : start + body - 1], data[start + body : end - 1])
        start = end
    lines.append(b"")
    return Block(raw, hi, lo, lengths, lines)


def read_run(path: Path) -> Iterator[Block]:
    """A run file's blocks, in order, each checked (``RunError`` if it is not whole)."""
    for keys, lengths, data in _raw_blocks(path):
        yield _block(keys, lengths, data, str(path))


def check_run(path: Path) -> None:
    """Read a whole run and check its structure and checksums, building nothing (``RunError`` if
    it is damaged): what ``--merge`` does to every shard before it touches its output folder."""
    for _ in _raw_blocks(path):
        pass


def _raw_blocks(path: Path) -> Iterator[tuple[bytes, npt.NDArray[np.uint32], bytes]]:
    """Each block's keys, lengths and data, its header, checksum and key order checked."""
    with path.open("rb", buffering=0) as f:
        end = os.fstat(f.fileno()).st_size

        def read(size: int, what: str) -> bytes:
            # Checked before reading: a damaged header must not make read() allocate its size.
            data = f.read(size) if size <= end - f.tell() else b""
            if len(data) != size:
                raise RunError(f"{path}: ends inside {what} (truncated?)")
            return data

        if f.read(len(RUN_MAGIC)) != RUN_MAGIC:
            raise RunError(f"{path} is not a loadsim run (format {RUN_FORMAT!r})")
        count = blocks = 0
        last = b""
        while True:
            n, size, crc = _HEAD.unpack(read(_HEAD.size, "a block header"))
            if n == 0:
                if size != count or f.read(1):
                    raise RunError(f"{path}: its last header does not match its {count:,} records")
                return
            if n > BLOCK_RECORDS * MAX_FAN_IN:
                raise RunError(f"{path}: a block header of {n:,} records, {size:,} bytes: not a run's")
            keys = read(n * KEY_BYTES, "a block's keys")
            sizes = read(n * 4, "a block's lengths")
            lengths = np.frombuffer(sizes, _LENS).astype(np.uint32)
            if int(lengths.sum()) != size:
                raise RunError(f"{path}: a block's lengths do not add up to its size")
            data = read(size, "a block's data")
            blocks += 1
            if crc32(data, crc32(sizes, crc32(keys))) != crc:
                raise RunError(f"{path}: block {blocks} is damaged (its checksum does not match)")
            if keys[:KEY_BYTES] <= last:
                raise RunError(f"{path}: its records are not in key order")
            last = keys[-KEY_BYTES:]
            yield keys, lengths, data
            count += n


def sort_records(records: list[Record]) -> tuple[U64, U64, list[bytes]]:
    """Records in key order, as the keys' high and low 64 bits and the data: numpy sorts the keys
    (a list.sort of the tuples costs 2.5x: each tuple compare is two int compares)."""
    getkey, getdata = itemgetter(0), itemgetter(1)
    pair = np.frombuffer(b"".join(map(int.to_bytes, map(getkey, records), repeat(KEY_BYTES))), _KEYS).reshape(-1, 2)
    hi, lo = pair[:, 0].astype(np.uint64), pair[:, 1].astype(np.uint64)
    order = np.lexsort((lo, hi))
    data = list(map(getdata, records))
    return hi[order], lo[order], list(_gather(data, order.tolist()))


def _buffer_blocks(records: list[Record]) -> Iterator[Block]:
    """Records held in memory, sorted, as the blocks a run file of them would give."""
    hi, lo, data = sort_records(records)
    for k in range(0, len(data), BLOCK_RECORDS):
        part = data[k : k + BLOCK_RECORDS]
        lengths = np.fromiter(map(len, part), _LENS, len(part))
        keys = _key_bytes(hi[k : k + BLOCK_RECORDS], lo[k : k + BLOCK_RECORDS])
        yield _block(keys, lengths, b"".join(part), "a chunk")


class Runs:
    """Chunks of records, each sorted and spilled to a temporary run file; merged back in order."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.files: list[Path] = []
        #: Runs this merge reads but does not own (a shard's, for --merge): never deleted.
        self.keep: set[Path] = set()
        self.buffer: list[Record] = []
        self._made = 0

    def spill(self) -> None:
        if not self.buffer:
            return
        out = RunWriter(self._path())
        try:
            out.records(*sort_records(self.buffer))
        except BaseException:
            out.abandon()
            raise
        self.files.append(out.close())
        self.buffer = []

    def _path(self) -> Path:
        self._made += 1
        return self.tmp / f"run-{self._made:06d}.run"

    def merged(self) -> Iterator[Batch]:
        """All records in key order, as consecutive batches."""
        # The last chunk is merged from memory, as a run that was never written and read back.
        last = [_buffer_blocks(self.buffer)] if self.buffer or not self.files else []
        files = self.files
        while len(files) + len(last) > MAX_FAN_IN:  # merge in groups first: fan-in (and memory) stays bounded
            group, files = files[:MAX_FAN_IN], files[MAX_FAN_IN:]
            files.append(write_run(self._path(), _merge([read_run(p) for p in group])))
            for p in group:
                if p not in self.keep:
                    p.unlink()
        return _merge([read_run(p) for p in files] + last)


def _merge(runs: list[Iterator[Block]]) -> Iterator[Batch]:
    """k-way merge of sorted runs given block by block (keys unique): each round gives out every
    record up to the smallest last key among the runs' current blocks, sorted together (numpy).
    A round ends a block: each run's blocks are fused a few at a time, within ``MERGE_RECORDS``."""
    fuse = max(1, MERGE_RECORDS // (BLOCK_RECORDS * len(runs))) if len(runs) > 1 else 1
    heads: list[list[Any]] = []  # [block, position, run, its last key]
    for run in runs:
        fused = _fused(run, fuse)
        block = next(fused, None)
        if block is not None:
            heads.append([block, 0, fused, block.last])
    while heads:
        if len(heads) == 1:  # the last run left: its blocks as they are
            block, pos, run, _ = heads[0]
            yield _batch([(block, pos, len(block))])
            for block in run:
                yield _batch([(block, 0, len(block))])
            return
        mark = min(h[3] for h in heads)
        mark_key = np.frombuffer(mark, _RAW)
        parts: list[tuple[Block, int, int]] = []
        for h in heads:
            block, pos = h[0], h[1]
            n = len(block)
            end = n if h[3] <= mark else int(block.keys.searchsorted(mark_key, "right")[0])
            if end > pos:
                parts.append((block, pos, end))
            if end < n:
                h[1] = end
            else:  # the block is spent (the one holding the mark always is): the run's next
                nxt = next(h[2], None)
                h[0], h[1], h[3] = nxt, 0, nxt.last if nxt is not None else None
        heads = [h for h in heads if h[0] is not None]
        yield _batch(parts)


def _batch(parts: list[tuple[Block, int, int]]) -> Batch:
    if len(parts) == 1:
        block, pos, end = parts[0]
        return Batch(block.hi, block.lo, block.lengths, block.lines, np.arange(pos, end, dtype=np.intp), True)
    hi = np.concatenate([b.hi[pos:end] for b, pos, end in parts])
    lo = np.concatenate([b.lo[pos:end] for b, pos, end in parts])
    lengths = np.concatenate([b.lengths[pos:end] for b, pos, end in parts])
    lines: list[bytes] = []
    for b, pos, end in parts:
        lines += b.lines[2 * pos : 2 * end]
    return Batch(hi, lo, lengths, lines, np.lexsort((lo, hi)))

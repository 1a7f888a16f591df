"""Sorted runs and their merge: records gathered in bounded chunks, each sorted and spilled, merged back in order."""

from __future__ import annotations

import bisect
import operator
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: Records gathered before a chunk is sorted and spilled (bounds memory: about 1 KB each).
CHUNK_RECORDS = 40_000
#: Runs merged at once; more are first merged in groups (memory flat however many devices).
MAX_FAN_IN = 32
_BLOCK = 256

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


class Runs:
    """Chunks of records, each sorted and spilled to a temporary file; merged back in order.

    Everything moves in blocks (lists of records, in order): the merge sorts what several runs'
    current blocks can give out at once, which list.sort does in C as a merge of sorted runs, rather
    than a Python heap step per record (``heapq.merge``: 4x the cost)."""

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
        self.buffer.sort()
        self.files.append(self._write([self.buffer]))
        self.buffer = []

    def _write(self, blocks: Iterable[list[Record]]) -> Path:
        self._made += 1
        return write_run(self.tmp / f"run-{self._made:06d}.pickle", blocks)

    @staticmethod
    def _read(path: Path) -> Iterator[list[Record]]:
        with path.open("rb", buffering=1 << 16) as f:
            load = pickle.load
            while True:
                try:
                    yield load(f)
                except EOFError:
                    return

    def merged(self) -> Iterator[list[Record]]:
        """All records in key order, as consecutive blocks."""
        if not self.files:
            self.buffer.sort()
            return iter([self.buffer])
        self.spill()
        files = self.files
        while len(files) > MAX_FAN_IN:  # merge in groups first: fan-in (and memory) stays bounded
            group, files = files[:MAX_FAN_IN], files[MAX_FAN_IN:]
            files.append(self._write(_merge_blocks([self._read(p) for p in group])))
            for p in group:
                if p not in self.keep:
                    p.unlink()
        return _merge_blocks([self._read(p) for p in files])


def write_run(path: Path, blocks: Iterable[list[Record]]) -> Path:
    """Sorted records (block after block, in order) to ``path`` as a run ``Runs`` merges."""
    with path.open("wb") as f:
        for block in blocks:
            for k in range(0, len(block), _BLOCK):
                pickle.dump(block[k : k + _BLOCK], f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _merge_blocks(runs: list[Iterator[list[Record]]]) -> Iterator[list[Record]]:
    """k-way merge of sorted runs given block by block (keys unique): each round gives out every
    record up to the smallest last key among the runs' current blocks, sorted together."""
    heads: list[list[Any]] = []  # [block, position, run]
    for run in runs:
        block = next(run, None)
        if block:
            heads.append([block, 0, run])
    first = operator.itemgetter(0)
    while heads:
        mark = min(h[0][-1][0] for h in heads)
        out: list[Record] = []
        for h in heads:
            block, pos = h[0], h[1]
            end = bisect.bisect_right(block, mark, pos, key=first)
            out += block[pos:end] if pos or end < len(block) else block
            if end < len(block):
                h[1] = end
            else:  # the block is spent (the one holding the mark always is): the run's next
                nxt = next(h[2], None)
                h[0], h[1] = (nxt, 0) if nxt else (None, 0)
        heads = [h for h in heads if h[0] is not None]
        out.sort()
        yield out

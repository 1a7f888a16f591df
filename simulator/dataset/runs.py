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

#: (key, body line + table row line). The key sorts by time in ms, device, the device's sequence
#: number; its low bits say where the body ends and which endpoint it is for (``_key``/``_split``).
#: One exact-size bytes per record: keeping orjson's output itself costs 2-3x the dumps, because
#: each is over-allocated then shrunk and the heap fragments (measured: 3.7 -> 1.5 us a record).
Record = tuple[int, bytes]
LEN_BITS = 20  # a body is under 1 MiB
LEN_MASK = (1 << LEN_BITS) - 1


class Runs:
    """Chunks of records, each sorted and spilled to a temporary file; merged back in order.

    Everything moves in blocks (lists of records, in order): the merge sorts what several runs'
    current blocks can give out at once, which list.sort does in C as a merge of sorted runs, rather
    than a Python heap step per record (``heapq.merge``: 4x the cost)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.files: list[Path] = []
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
        path = self.tmp / f"run-{self._made:06d}.pickle"
        with path.open("wb") as f:
            for block in blocks:
                for k in range(0, len(block), _BLOCK):
                    pickle.dump(block[k : k + _BLOCK], f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

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
                p.unlink()
        return _merge_blocks([self._read(p) for p in files])


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

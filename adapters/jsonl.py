"""An append-only JSON-lines file that remembers which idempotency keys it holds.

The local adapters write their effects here. Appends are serialised by an asyncio
lock (one worker process) and flushed to disk before the effect counts as done, so
an activity retried after a crash finds its earlier effect instead of repeating it.

The index keeps only each key's byte offset, not the record: a worker that has
processed many filings would otherwise hold every line it ever wrote in memory. A
line torn by a crash mid-write is skipped when reading and closed before the next one.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any


class JsonLines:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._offsets: dict[str, int] | None = None

    async def append_once(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append `record` unless one with its `idempotency_key` is there; answer the stored one."""
        async with self._lock:
            offsets = self._index()
            key = record["idempotency_key"]
            if key in offsets:
                return self._read_at(offsets[key])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"
            with self.path.open("ab") as f:
                if f.tell() and not self._ends_with_newline():
                    f.write(b"\n")  # close a line torn by a crash
                offsets[key] = f.tell()
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            return record

    def records(self) -> list[dict[str, Any]]:
        return [record for _, record in self._scan()]

    def _index(self) -> dict[str, int]:
        if self._offsets is None:
            self._offsets = {r["idempotency_key"]: offset for offset, r in self._scan() if "idempotency_key" in r}
        return self._offsets

    def _scan(self) -> list[tuple[int, dict[str, Any]]]:
        if not self.path.exists():
            return []
        found, offset = [], 0
        with self.path.open("rb") as f:
            for line in f:
                record = _parse(line)
                if record is not None:
                    found.append((offset, record))
                offset += len(line)
        return found

    def _read_at(self, offset: int) -> dict[str, Any]:
        with self.path.open("rb") as f:
            f.seek(offset)
            record = _parse(f.readline())
        assert record is not None, f"{self.path}: the line at {offset} is no longer readable"
        return record

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # a torn or empty line
        return None
    return record if isinstance(record, dict) else None

"""An append-only JSON-lines file that remembers which idempotency keys it holds.

The local adapters write their effects here. Appends are serialised by an asyncio
lock (one worker process) and flushed to disk before the effect counts as done, so
an activity retried after a crash finds its earlier effect instead of repeating it.
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
        self._by_key: dict[str, dict[str, Any]] | None = None

    async def append_once(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append `record` unless one with its `idempotency_key` is there; answer the stored one."""
        async with self._lock:
            index = self._index()
            key = record["idempotency_key"]
            if key in index:
                return index[key]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(record, ensure_ascii=False, default=str)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            index[key] = record
            return record

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def _index(self) -> dict[str, dict[str, Any]]:
        if self._by_key is None:
            self._by_key = {r["idempotency_key"]: r for r in self.records() if "idempotency_key" in r}
        return self._by_key

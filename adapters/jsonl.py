"""An append-only JSON-lines file that holds each idempotency key once, across processes.

The local adapters write their effects here, and several workers may share one data
dir (the compose stack scales workers on one volume), so the promise is kept by the
file rather than by a process: every append happens under an exclusive `flock` on the
file itself, after catching up on what other processes appended since this one last
looked, and is flushed and fsynced before the lock is released and the effect counts
as done. An activity retried after a crash, on any worker, finds its earlier effect.

The index keeps only each key's byte offset (a worker that processed many filings would
otherwise hold every line in memory), and a read checks that the line at an offset
carries the key asked for: if the file was rewritten under the index, the index is
rebuilt rather than another key's record answered. A line torn by a crash mid-write is
skipped and closed before the next append.

The files hold mobiles and live SMS codes: they are created owner-only (0600), and the
directories created for them 0700. All file I/O runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

FILE_MODE = 0o600
DIR_MODE = 0o700


class _Indexed(NamedTuple):
    """Which file the index describes, and up to which byte: a new inode or a shorter file
    means it was replaced or truncated, and the index starts over."""

    device: int
    inode: int
    end: int


class JsonLines:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Per process: coroutines of one worker queue here rather than each holding a
        # thread blocked on the file lock. The file lock alone is what keeps the promise
        # (also for a thread left running by a cancelled coroutine).
        self._lock = asyncio.Lock()
        self._offsets: dict[str, int] = {}
        self._indexed: _Indexed | None = None

    async def append_once(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append `record` unless one with its `idempotency_key` is there; answer the stored one.

        Raises `OSError` naming the file when it cannot be read or written: transient for
        the caller's retries, as a full disk or a remounted volume may come back.
        """
        key = record.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"{self.path.name}: the record's idempotency_key is {key!r}; every effect must carry "
                "a non-empty string key naming the filing (SPEC §8)"
            )
        line = json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"
        async with self._lock:
            return await asyncio.to_thread(self._append_once, key, record, line)

    def records(self) -> list[dict[str, Any]]:
        """Every readable record in file order, read under a shared lock (never half a line)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return [record for _, record, _ in _lines_from(fd, 0) if record is not None]
        finally:
            os.close(fd)  # releases the lock

    def _append_once(self, key: str, record: dict[str, Any], line: bytes) -> dict[str, Any]:
        try:
            with self._locked() as fd:
                stored = self._stored(fd, key)
                if stored is not None:
                    return stored
                self._append(fd, key, line)
                return record
        except OSError as err:
            raise _named(self.path, err) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        _make_dirs(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            status = os.fstat(fd)
            if status.st_mode & 0o077 and status.st_uid == os.geteuid():
                os.fchmod(fd, FILE_MODE)  # a file left readable by an older version
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def _stored(self, fd: int, key: str) -> dict[str, Any] | None:
        self._catch_up(fd)
        if key not in self._offsets:
            return None
        record = _record_at(fd, self._offsets[key])
        if record is not None and record.get("idempotency_key") == key:
            return record
        self._indexed = None  # the file changed under the index: rebuild it from the file
        self._catch_up(fd)
        return _record_at(fd, self._offsets[key]) if key in self._offsets else None

    def _catch_up(self, fd: int) -> None:
        """Index what was appended since this process last looked (everything, if the file was replaced)."""
        status = os.fstat(fd)
        indexed = self._indexed
        if (
            indexed is None
            or (indexed.device, indexed.inode) != (status.st_dev, status.st_ino)
            or status.st_size < indexed.end
        ):
            self._offsets.clear()
            indexed = _Indexed(status.st_dev, status.st_ino, 0)
        end = indexed.end
        for offset, record, length in _lines_from(fd, indexed.end):
            key = record.get("idempotency_key") if record is not None else None
            if isinstance(key, str):
                self._offsets.setdefault(key, offset)  # the first line for a key is the effect
            end = offset + length
        self._indexed = indexed._replace(end=end)

    def _append(self, fd: int, key: str, line: bytes) -> None:
        size = os.fstat(fd).st_size
        data = line
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + line  # close a line torn by a crash
        _write_all(fd, data)
        os.fsync(fd)
        if size == 0:
            _fsync_directory(self.path.parent)  # the new file's name must survive a crash too
        self._offsets[key] = size + len(data) - len(line)
        if self._indexed is not None and self._indexed.end == size:
            self._indexed = self._indexed._replace(end=size + len(data))
        else:  # bytes appended without the lock (never by this module): index the file again next time
            self._indexed = None


def _lines_from(fd: int, start: int) -> Iterator[tuple[int, dict[str, Any] | None, int]]:
    """(offset, record or None when unreadable, length in bytes) of each line from `start` to the end."""
    with open(fd, "rb", closefd=False) as reader:  # O_APPEND writes ignore where this reader seeks
        reader.seek(start)
        offset = start
        for line in reader:
            yield offset, _parse(line), len(line)
            offset += len(line)


def _record_at(fd: int, offset: int) -> dict[str, Any] | None:
    with open(fd, "rb", closefd=False) as reader:
        reader.seek(offset)
        return _parse(reader.readline())


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # a torn or empty line
        return None
    return record if isinstance(record, dict) else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _make_dirs(directory: Path) -> None:
    """Create the missing directories owner-only (`Path.mkdir(parents=True)` gives parents the default mode)."""
    if directory.is_dir():
        return
    _make_dirs(directory.parent)
    with contextlib.suppress(FileExistsError):  # another worker made it, or a file is there (open says so)
        directory.mkdir(mode=DIR_MODE)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _named(path: Path, err: OSError) -> OSError:
    """The same kind of OSError (so `IsADirectoryError` stays one), saying which file and what it needs."""
    message = (
        f"{path}: cannot keep this effect log ({err.strerror or err}); it must be a regular file the "
        "worker can read and append to, in a directory it can write; the activity retries until it is"
    )
    return OSError(err.errno, message) if err.errno is not None else OSError(message)

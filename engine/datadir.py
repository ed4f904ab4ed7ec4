"""The data dir, owner-only: it holds mobiles, live SMS codes, the development keys and
the codec token, so nobody but the engine's user may list or read it.

Every process that may be the first to create it (make run, the worker, the starter,
the tools) calls `ensure_private_dir` at start: a new one is made 0700 whatever the
umask, and one found open to the group or the world (a copy, a restored backup, an
older version) is tightened to 0700 with a log line saying so. The files inside are
made 0600 by the adapters that write them; the SQLite databases (the embedded registry's
`registry.db`, the dev server's `temporal.db`) by `ensure_private_database` before their
first connection, which SQLite's -wal and -shm files then copy.

A group-shared mount is accepted: a directory with the set-group-id bit, as Kubernetes
makes a volume for a pod's `fsGroup` (mode 2775, often owned by root), is one the pod's
group is meant to share, so it is kept group-accessible and only closed to others (2770);
when the engine is not its owner and cannot change it, it is used as it is, provided
others cannot write in it. What the engine writes inside stays owner-only (0600 files,
0700 directories), so the group sees names, never content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger("datadir")

PRIVATE = 0o700
#: A group-shared mount (set-group-id, e.g. a Kubernetes volume with `fsGroup`): owner and group.
GROUP_SHARED = stat.S_ISGID | 0o770
PRIVATE_FILE = 0o600
#: A SQLite database's companions: SQLite creates them with the database file's own mode.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


class DataDirError(OSError):
    """The data dir cannot be made owner-only; the message names the variable."""


def ensure_private_dir(path: Path, variable: str = "FILINGS_DATA_DIR") -> Path:
    """Create `path` (and missing parents) with the directory itself 0700, or tighten it to 0700."""
    try:
        path.mkdir(mode=PRIVATE, parents=True, exist_ok=True)  # never open, not even for a moment
    except FileExistsError:
        raise DataDirError(f"{variable}: {path} is not a directory: point {variable} at a directory") from None
    except OSError as err:
        raise DataDirError(f"{variable}: cannot create {path}: {err.strerror}") from err
    if not path.is_dir():  # a dangling symlink, a special file
        raise DataDirError(f"{variable}: {path} is not a directory: point {variable} at a directory")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode == PRIVATE:
        return path
    if mode & stat.S_ISGID and mode & 0o070 and not mode & stat.S_ISVTX:  # shared with its group on purpose
        return _group_shared(path, mode, variable)
    if mode & stat.S_ISVTX or path.resolve() == Path(path.resolve().anchor):
        # /tmp or / by mistake: tightening it would lock every other user out.
        raise DataDirError(f"{variable}: {path} is shared (mode {mode:04o}, sticky bit or the root): "
                           f"give the engine a directory of its own")
    try:
        path.chmod(PRIVATE)
    except OSError as err:
        raise DataDirError(f"{variable}: {path} is mode {mode:04o} and cannot be made owner-only "
                           f"({err.strerror}): chmod 700 it as its owner") from err
    if mode & 0o077:
        log.warning("data_dir_tightened", path=str(path), was=f"{mode:04o}", now=f"{PRIVATE:04o}",
                    why="it holds personal data: owner-only")
    return path


def _group_shared(path: Path, mode: int, variable: str) -> Path:
    """A group-shared mount: closed to others (2770) when the engine owns it; else used as it
    is unless others may write in it."""
    if mode == GROUP_SHARED:
        return path
    try:
        path.chmod(GROUP_SHARED)
    except PermissionError:  # a volume owned by root, shared through the pod's group
        if mode & 0o002:
            raise DataDirError(f"{variable}: {path} is mode {mode:04o}, writable by anyone, and not the engine's "
                               f"to change: mount it for the pod's group only (fsGroup, mode 2770 or 2775)") from None
        log.info("data_dir_group_mount", path=str(path), mode=f"{mode:04o}",
                 why="a group-shared mount the engine does not own: files inside stay owner-only")
        return path
    except OSError as err:
        raise DataDirError(f"{variable}: {path} is mode {mode:04o} and cannot be closed to others "
                           f"({err.strerror}): chmod 2770 it as its owner") from err
    if mode & 0o007:
        log.warning("data_dir_tightened", path=str(path), was=f"{mode:04o}", now=f"{GROUP_SHARED:04o}",
                    why="it holds personal data: owner and the mount's group only")
    return path


def ensure_private_database(path: Path, *, create: bool = True) -> Path:
    """The SQLite database at `path` owner-only (0600), also its -wal, -shm and -journal files,
    tightened when an older run left them open to others. With `create`, an absent one is made
    empty with 0600 (SQLite makes an empty file a database, and gives the files it adds the
    database's mode); a program that sets up only a database it did not find (the Temporal
    dev server) is started with umask 077 instead."""
    if create:
        # O_EXCL: an existing database is never opened here. Closing any descriptor of a file
        # drops every POSIX lock this process holds on it, SQLite's included, so opening and
        # closing a database this process already uses lets another process write under its
        # feet ("database disk image is malformed", seen in the service tests).
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
        except FileExistsError:
            pass
        except FileNotFoundError:  # no directory: the database's own open names the problem
            return path
    for suffix in SQLITE_COMPANIONS:
        file = path.with_name(path.name + suffix)
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            file.chmod(PRIVATE_FILE)
    return path

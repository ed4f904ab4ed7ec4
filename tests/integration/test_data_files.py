"""The dev server's database in the data dir is owner-only like every other file there:
`temporal.db` holds every filing's history (encrypted payloads, but also who did what and
when), and the journal files SQLite keeps beside it hold the same pages."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.datadir import ensure_private_dir
from engine.run_local import start_dev_server, wait_for_port
from engine.settings import Settings
from tests.conftest import unique
from tests.processes import free_ports, kill_group


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # under which the server would make 0644 files
    try:
        yield
    finally:
        os.umask(old)


async def start_and_stop(settings: Settings, port: int) -> dict[str, int]:
    """Start the dev server, wait for it to answer, stop it: the modes of its database files."""
    server = start_dev_server(settings, "127.0.0.1", port)
    try:
        await wait_for_port("127.0.0.1", port, server=server)
        return {p.name: stat.S_IMODE(p.stat().st_mode) for p in settings.data_dir.iterdir()
                if p.name.startswith("temporal.db")}
    finally:
        kill_group(server)


async def test_the_dev_servers_database_is_owner_only_new_or_left_open_by_an_older_run(tmp_path: Path, usual_umask):
    port, ui = free_ports(2)
    settings = Settings(data_dir=ensure_private_dir(tmp_path / "data"), temporal_address=f"127.0.0.1:{port}",
                        web_ui=f"http://127.0.0.1:{ui}", task_queue=unique("files"))
    made = await start_and_stop(settings, port)
    assert "temporal.db" in made and made == {name: 0o600 for name in made}, made
    (settings.data_dir / "temporal.db").chmod(0o644)  # as an older version left it
    again = await start_and_stop(settings, port)
    assert again == {name: 0o600 for name in again}, again

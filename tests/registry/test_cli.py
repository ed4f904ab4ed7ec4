"""`filings registry migrate|status|import` as an operator uses them, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.app import app
from engine.sealing import Sealer
from registry import migrate
from registry.sql_registry import SqlRegistry
from tests.conftest import TEST_KEYS, write_test_keys
from tests.registry.filings import appid, jsonl
from tests.registry.test_import import _bad_entries, _good_entries


@pytest.fixture
def filings(empty_database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """`filings …` with the operator's environment: the registry URL and the keys file."""
    write_test_keys(tmp_path / "data")
    env = {"FILINGS_DATA_DIR": str(tmp_path / "data"), "FILINGS_REGISTRY_URL": empty_database_url}

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["registry", *args], env=env)

    return run


def _loaded(url: str) -> int:
    registry = SqlRegistry(url, Sealer(TEST_KEYS.payload))
    try:
        return sum(len(asyncio.run(registry.lookup(appid=appid(n), include_cancelled=True))) for n in range(1, 6))
    finally:
        registry.close()


def test_an_operator_sets_up_the_registry_and_loads_earlier_filings(
    filings: Callable[..., Result], empty_database_url: str, tmp_path: Path
) -> None:
    run = filings
    # Before the first migration, status says so and what to run.
    behind = run("status")
    assert behind.exit_code == 1
    assert f"revision none, head {migrate.head()}" in behind.stdout and "`filings registry migrate`" in behind.stderr

    first = run("migrate")
    assert first.exit_code == 0, first.output
    assert f"migrated none → {migrate.head()}" in first.stdout
    again = run("migrate")
    assert again.exit_code == 0 and f"already at {migrate.head()}" in again.stdout
    assert run("status").exit_code == 0

    # A file with two bad lines: both reported, nothing loaded, no personal data shown.
    entries, bad_id = _bad_entries()
    bad = tmp_path / "earlier.jsonl"
    bad.write_text(jsonl(entries))
    refused = run("import", str(bad))
    assert refused.exit_code == 1
    assert "line 3: application.subject_principal.identity_document.number: R3.invalid_resident_id" in refused.stderr
    assert "line 5: service_number: duplicate_number" in refused.stderr
    assert "2 problem(s) on 2 line(s); nothing was loaded" in refused.stderr
    assert bad_id not in refused.output and "13800138000" not in refused.output
    assert _loaded(empty_database_url) == 0

    good = tmp_path / "fixed.jsonl"
    good.write_text(jsonl(_good_entries()))
    loaded = run("import", str(good))
    assert loaded.exit_code == 0, loaded.output
    assert "5 filing(s) loaded from fixed.jsonl" in loaded.stdout
    assert _loaded(empty_database_url) == 5

    twice = run("import", str(good))
    assert twice.exit_code == 1 and twice.stderr.count("number_taken") == 5
    assert _loaded(empty_database_url) == 5


def test_import_refuses_a_database_behind_instead_of_migrating_it(
    filings: Callable[..., Result], empty_database_url: str, tmp_path: Path
) -> None:
    run = filings
    migrate.upgrade(empty_database_url, "0001")
    good = tmp_path / "fixed.jsonl"
    good.write_text(jsonl(_good_entries()))
    refused = run("import", str(good))
    assert refused.exit_code == 1
    assert (f"is at revision 0001, behind revision {migrate.REQUIRES} which this version needs (head {migrate.head()}): "
            "run `filings registry migrate`") in refused.stderr
    assert migrate.current_revision(empty_database_url) == "0001"
    status = run("status")
    assert status.exit_code == 1 and f"revision 0001, head {migrate.head()}" in status.stdout

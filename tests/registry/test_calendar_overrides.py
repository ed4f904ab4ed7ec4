"""Calendar overrides live in the registry database (SPEC §5): `filings calendar import`
writes them, all files or none, and every worker reads them without a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.app import app
from engine.settings import Settings
from engine.wiring import calendar_from_settings
from filing.calendar import BusinessCalendar, CalendarDataError, CalendarOverride
from registry import migrate
from registry.calendar_overrides import CalendarOverrideStore
from tests.conftest import write_test_keys
from tests.logging_state import EngineLogs

# A year chinese-calendar has no data for: without an override, deadlines in it are provisional.
YEAR = 2031
SCHEDULE = {"year": YEAR, "holidays": ["2031-01-01", "2031-01-02", "2031-01-03"], "workdays": ["2031-01-04"],
            "source": "test stand-in for 国办发明电〔2030〕N号"}
NEW_YEAR_EVE = datetime(2030, 12, 31, 4, 0, tzinfo=UTC)  # noon in China, a Tuesday


def _file(directory: Path, payload: dict[str, object], name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{payload['year']}.json")
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def filings(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """`filings calendar …` with the operator's environment (the registry URL)."""
    write_test_keys(tmp_path / "data")
    env = {"FILINGS_DATA_DIR": str(tmp_path / "data"), "FILINGS_REGISTRY_URL": database_url}
    return lambda *args: CliRunner().invoke(app, ["calendar", *args], env=env)


def _worker_calendar(database_url: str, tmp_path: Path, name: str) -> BusinessCalendar:
    """A worker's calendar, as the wiring builds it (each with its own connection pool)."""
    return calendar_from_settings(Settings(data_dir=tmp_path / name, registry_url=database_url))


def test_two_workers_see_the_same_imported_calendar_without_a_restart(
        database_url: str, tmp_path: Path, filings: Callable[..., Result]) -> None:
    one, two = _worker_calendar(database_url, tmp_path, "w1"), _worker_calendar(database_url, tmp_path, "w2")
    before = one.deadline(NEW_YEAR_EVE, 2)
    assert before.provisional and before.due_at == datetime(2031, 1, 2, 16, 0, tzinfo=UTC)  # Thu 00:00 China

    done = filings("import", str(_file(tmp_path / "notices", SCHEDULE)))
    assert done.exit_code == 0, done.output
    assert f"{YEAR}: added (version 1)" in done.output and "filings calendar refresh" in done.output

    # Both workers, running since before the import, now count the holidays and the make-up day.
    first, second = one.deadline(NEW_YEAR_EVE, 2), two.deadline(NEW_YEAR_EVE, 2)
    assert first == second
    assert not first.provisional and first.calendar_problem is None
    assert first.due_at == datetime(2031, 1, 6, 16, 0, tzinfo=UTC)  # Sat 4th (make-up) and Mon 6th count
    assert first.calendar_version != before.calendar_version
    assert one.source_of(YEAR) == "override"

    shown = json.loads(filings("show", str(YEAR), "--json").output)
    assert shown["source"] == "override" and shown["calendar_version"] == first.calendar_version
    assert shown["holidays"] == SCHEDULE["holidays"] and shown["workdays"] == SCHEDULE["workdays"]

    # Importing the same schedule again is no change at all; a correction is version 2.
    again = filings("import", str(_file(tmp_path / "notices", SCHEDULE)), "--json")
    assert json.loads(again.output)["imported"][0]["outcome"] == "unchanged"
    fixed = {**SCHEDULE, "holidays": ["2031-01-01"], "workdays": []}
    replaced = json.loads(filings("import", str(_file(tmp_path / "fixed", fixed)), "--json").output)
    assert replaced["imported"][0] == {**replaced["imported"][0], "outcome": "replaced", "version": 2}
    assert one.deadline(NEW_YEAR_EVE, 2).due_at == two.deadline(NEW_YEAR_EVE, 2).due_at == datetime(
        2031, 1, 3, 16, 0, tzinfo=UTC)  # Thu 2nd and Fri 3rd are working days again


def test_an_operators_bad_file_changes_nothing(database_url: str, tmp_path: Path,
                                               filings: Callable[..., Result]) -> None:
    assert filings("import", str(_file(tmp_path / "in-force", SCHEDULE))).exit_code == 0
    store = CalendarOverrideStore(database_url)
    try:
        in_force = store.stored()
        good = _file(tmp_path / "new", {**SCHEDULE, "year": 2032, "holidays": ["2032-01-01"], "workdays": []})
        typo = _file(tmp_path / "new", {**SCHEDULE, "holidays": ["2031-01-04"]})  # a Saturday as a holiday
        refused = filings("import", str(good), str(typo))
        assert refused.exit_code == 1
        message = " ".join(refused.output.split())
        assert "2031.json: holidays: Value error, 2031-01-04 (Saturday) must be a weekday (Mon-Fri)" in message
        assert "nothing was imported" in message
        assert store.stored() == in_force  # not even the good file's year

        # Two schedules for one year (from two folders): refused as a whole as well.
        with pytest.raises(CalendarDataError, match="2031 given twice"):
            store.import_overrides([CalendarOverride.model_validate(SCHEDULE)] * 2)
        assert store.stored() == in_force
    finally:
        store.close()


def test_override_files_left_in_the_data_dir_are_not_read_but_named(
        tmp_path: Path, engine_logs: Callable[..., EngineLogs]) -> None:
    """One source: an override file from an earlier version changes nothing until imported."""
    logs = engine_logs("json")
    settings = Settings(data_dir=tmp_path / "data")  # the embedded registry: this is about the wiring
    migrate.upgrade(settings.registry_database_url)
    _file(settings.calendar_path, SCHEDULE)
    calendar = calendar_from_settings(settings)
    assert calendar.source_of(YEAR) == "weekends-only" and calendar.deadline(NEW_YEAR_EVE, 2).provisional
    (named,) = [line for line in logs.lines() if line["event"] == "calendar_override_files_not_read"]
    assert named["files"] == [f"{YEAR}.json"] and named["level"] == "warning"

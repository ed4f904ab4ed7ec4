"""An operator imports the State Council's schedule (`filings calendar import`): the next
filing's deadline follows it, on the running worker, without a restart (SPEC §5)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from filing.calendar import CHINA_TZ, BusinessCalendar
from filing.messages import Stage
from tests.workflow.test_lifecycle import new_filing


def _schedule_with_days_off(directory: Path, days_off: list) -> list[Path]:
    """Each year's official schedule plus `days_off` (an override replaces its whole year)."""
    official, files = BusinessCalendar(), []
    for year in sorted({d.year for d in days_off}):
        days = official.year_days(year)
        holidays = sorted({d.day for d in days if not d.is_workday and d.day.weekday() < 5}
                          | {d for d in days_off if d.year == year})
        workdays = [d.day for d in days if d.is_workday and d.day.weekday() >= 5]
        path = directory / f"{year}.json"
        path.write_text(json.dumps({"year": year, "holidays": [d.isoformat() for d in holidays],
                                    "workdays": [d.isoformat() for d in workdays], "source": "test notice"}))
        files.append(path)
    return files


async def test_an_imported_calendar_moves_the_next_filings_deadline(env, make_engine, tmp_path):
    engine, workers = make_engine()  # the calendar as the wiring builds it: the registry's overrides
    async with workers:
        before = await (await new_filing(env, engine)).wait_stage(Stage.PLATFORM_REVIEW)

        # The operator imports a schedule making the next three weekdays public holidays.
        today = (await env.get_current_time()).astimezone(CHINA_TZ).date()
        days_off = [d for d in (today + timedelta(days=i) for i in range(1, 6)) if d.weekday() < 5][:3]
        files = _schedule_with_days_off(tmp_path, days_off)
        env_vars = {"FILINGS_DATA_DIR": str(engine.data_dir)}
        # The tool runs its own event loop: off this one, as in the operator's shell.
        imported = await asyncio.to_thread(CliRunner().invoke, app, ["calendar", "import", *map(str, files)],
                                           env=env_vars)
        assert imported.exit_code == 0, imported.output

        started = await env.get_current_time()
        after = await (await new_filing(env, engine)).wait_stage(Stage.PLATFORM_REVIEW)
        # Platform review: 2 business days after the day it started, now counted around the days off.
        expected = BusinessCalendar(tmp_path).add_business_days(started, 2).due_at
        assert after.deadline.due_at == expected > BusinessCalendar().add_business_days(started, 2).due_at
        assert before.deadline.due_at < after.deadline.due_at  # the filing before keeps its recorded deadline

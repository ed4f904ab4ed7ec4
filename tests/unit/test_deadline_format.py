"""One way to show a deadline (issue 19, item 4): the console, the CLI and the notices all
write `2026-12-09 24:00（北京时间）` for the instant that ends 9 December in China, never
`2026-12-10 00:00` in one place and `24:00 CST` in another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from jinja2 import Environment

from cli.render import deadline_text as cli_deadline
from filing.dates import deadline_text
from filing.notice_texts import china_time as notice_time
from service.console.clock import deadline as console_deadline
from service.console.render import environment

#: 2026-12-09 16:00 UTC is 2026-12-10 00:00 in Beijing: the end of 9 December.
END_OF_DAY = datetime(2026, 12, 9, 16, 0, tzinfo=UTC)
SAID = "2026-12-09 24:00（北京时间）"


def test_midnight_in_china_is_24_00_of_the_day_it_closes_on_every_surface():
    assert deadline_text(END_OF_DAY) == SAID
    assert deadline_text(END_OF_DAY.astimezone(timezone(timedelta(hours=-5)))) == SAID  # any zone, same instant
    assert deadline_text(END_OF_DAY.replace(tzinfo=None)) == SAID  # naive instants are UTC (SPEC §5)
    assert console_deadline(END_OF_DAY) == SAID
    assert console_deadline(END_OF_DAY.isoformat()) == SAID  # as the queue's rows carry it
    assert cli_deadline(END_OF_DAY, False) == SAID
    assert notice_time(END_OF_DAY) == SAID


def test_other_instants_keep_their_minute_and_the_zone_words():
    assert deadline_text(END_OF_DAY + timedelta(minutes=90)) == "2026-12-10 01:30（北京时间）"
    assert deadline_text(END_OF_DAY - timedelta(seconds=1)) == "2026-12-09 23:59（北京时间）"
    assert deadline_text(END_OF_DAY, zone=False) == "2026-12-09 24:00"
    assert cli_deadline(END_OF_DAY, True) == SAID + " (provisional)"
    assert console_deadline(None) == "—"


def test_the_queue_page_shows_the_deadline_in_that_format():
    """The desk's queue showed `2026-12-10 00:00` for this instant; it now says what the CLI says."""
    env: Environment = environment()
    cell = env.from_string("{{ due | deadline }}").render(due=END_OF_DAY.isoformat())
    assert cell == SAID
    queue = (env.loader.get_source(env, "queue.html")[0])  # type: ignore[union-attr]
    assert "item.deadline | deadline" in queue and "item.deadline | china_time" not in queue

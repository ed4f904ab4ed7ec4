"""The business calendar (SPEC §5): which China days are working days, and deadlines.

Pure domain code: no Temporal import. Deadlines are computed in an activity and the
result (with `calendar_version`) is recorded in the workflow history, so a calendar
update never changes the replay of a running filing.

Data sources, per year, the first that applies:

1. an override (`CalendarOverride`) from the calendar's `OverrideSource`: the State
   Council publishes next year's schedule late in the year, and loading it must be a
   data change, not a code change; an override for a year the package already knows
   wins, because corrections are data too. Workers read the overrides the operators
   imported into the registry database (`registry/calendar_overrides.py`), so every
   replica answers with the same data; `DirectoryOverrides` reads `<year>.json` files
   (the import's input, and tests);
2. the packaged `chinese-calendar` data (official notices, 2004 to its last year);
3. otherwise weekends only, and every deadline touching such a year is provisional.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

CHINA_TZ = ZoneInfo("Asia/Shanghai")

Source = Literal["override", "official", "weekends-only"]

# The years the packaged official data covers; outside them chinese_calendar raises.
_OFFICIAL_FIRST: int = min(d.year for d in chinese_calendar.constants.holidays)
_OFFICIAL_LAST: int = max(d.year for d in chinese_calendar.constants.holidays)
_OFFICIAL_NAME = f"chinese-calendar-{chinese_calendar.__version__}"
#: The fingerprint of overrides not read yet: never equal to a source's.
_UNREAD = "\0unread"


class CalendarDataError(ValueError):
    """An override file cannot be used; the message names the file and the field."""


class CalendarOverride(BaseModel):
    """One year's official schedule, as published by the State Council.

    Only the exceptions to the weekend rule are listed: `holidays` are weekdays
    (Mon–Fri) that are off, `workdays` are weekend days that are make-up working days
    (调休补班). A file is the whole schedule of its year: it replaces, not amends, the
    packaged data for that year.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=1990, le=2200)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)
    source: str = Field(min_length=1, max_length=500, description="the notice it comes from")

    @field_validator("holidays", "workdays")
    @classmethod
    def _check_days(cls, days: list[date], info: ValidationInfo) -> list[date]:
        year = info.data.get("year")  # absent when `year` itself failed validation
        is_holidays = info.field_name == "holidays"
        both = set(days) & set(info.data.get("holidays", ())) if not is_holidays else set()
        if both:  # checked first: "in both lists" says more than "wrong weekday"
            raise ValueError(f"dates in both holidays and workdays: {sorted(d.isoformat() for d in both)}")
        for day in days:
            if year is not None and day.year != year:
                raise ValueError(f"{day.isoformat()} is not in {year}")
            if (day.weekday() < 5) != is_holidays:
                what = "a weekday (Mon-Fri)" if is_holidays else "a weekend day (Sat/Sun)"
                raise ValueError(f"{day.isoformat()} ({day:%A}) must be {what}")
        if len(set(days)) != len(days):
            raise ValueError(f"duplicate dates {sorted({d.isoformat() for d in days if days.count(d) > 1})}")
        return sorted(days)


class Deadline(BaseModel):
    """A computed deadline, recorded as is in the workflow history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime
    business_days: int = Field(ge=1)
    due_at: AwareDatetime  # end of the Nth working day: next day 00:00 China time, in UTC
    provisional: bool  # part of the window was counted on weekends only
    calendar_version: str
    #: An override file the calendar refused (an operator's error): the deadline was
    #: computed without it. The workflow escalates it and keeps a deadline it already had.
    calendar_problem: str | None = None

    @field_validator("start", "due_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class OverrideSource(Protocol):
    """Where a calendar's yearly overrides come from (a directory of files, the registry
    database). Both calls are blocking I/O: the calendar runs them off the event loop."""

    def fingerprint(self) -> str:
        """Cheap, and different whenever `overrides()` would answer differently: every
        deadline computation asks it, so a worker sees an import without a restart."""
        ...

    def overrides(self, skip_invalid: bool = False) -> dict[int, CalendarOverride]:
        """Every override by year; one that does not validate raises `CalendarDataError`
        naming it, or is left out with `skip_invalid`."""
        ...


class DirectoryOverrides:
    """`<year>.json` override files in a directory (a missing directory means none)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __str__(self) -> str:
        return f"{self.directory}/<year>.json"

    def fingerprint(self) -> str:
        if not self.directory.is_dir():
            return "none"
        h = hashlib.sha256()
        for path in sorted(self.directory.glob("*.json")):
            try:
                h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
            except OSError as err:
                h.update(f"{path.name}: {err}".encode())
        return h.hexdigest()

    def overrides(self, skip_invalid: bool = False) -> dict[int, CalendarOverride]:
        if not self.directory.exists():
            return {}
        if not self.directory.is_dir():
            if skip_invalid:
                return {}
            raise CalendarDataError(f"{self.directory}: calendar override path is not a directory")
        result: dict[int, CalendarOverride] = {}
        for path in sorted(self.directory.glob("*.json")):
            try:
                override = load_override(path)
            except CalendarDataError:
                if skip_invalid:
                    continue
                raise
            result[override.year] = override
        return result


class CalendarDay(NamedTuple):
    """One row of `BusinessCalendar.year_days` (for `filings calendar show YEAR`)."""

    day: date
    is_workday: bool
    source: Source


@dataclass(frozen=True)
class _Data:
    """An immutable snapshot, swapped whole by `reload()` so readers never see a mix."""

    off: frozenset[date]  # weekdays that are off
    on: frozenset[date]  # weekend days that are on
    official: range  # years answered by the packaged data
    overrides: frozenset[int]  # years answered by override files
    version: str

    def knows(self, year: int) -> bool:
        return year in self.overrides or year in self.official

    def is_workday(self, day: date) -> bool:
        # Only the exceptions are stored, so unknown years fall back to weekends only.
        return day in self.on if day.weekday() >= 5 else day not in self.off


class BusinessCalendar:
    """Working days in China and business-day deadlines (SPEC §5)."""

    def __init__(
        self, overrides: OverrideSource | Path | None = None, *, official_until: int | None = None,
        strict: bool = True,
    ) -> None:
        """`overrides` is where yearly overrides come from (a directory path means
        `DirectoryOverrides`; None: none); `official_until` pretends the packaged data
        stops at that year (for tests and drills of the "new year not published yet"
        path). `strict` raises on an invalid override (tools); a worker is not strict: it
        starts without it and says why (`problem`), since one bad override must not stop
        every filing."""
        self._source: OverrideSource | None = (
            DirectoryOverrides(overrides) if isinstance(overrides, Path) else overrides)
        last = _OFFICIAL_LAST if official_until is None else min(official_until, _OFFICIAL_LAST)
        self._official = range(_OFFICIAL_FIRST, last + 1)  # empty if last < first
        self._official_name = _OFFICIAL_NAME + ("" if last == _OFFICIAL_LAST else f"@until-{last}")
        self.problem: str | None = None
        try:
            self._fingerprint = self._source_fingerprint()
            self._data = self._load()
        except CalendarDataError as err:
            if strict:
                raise
            self._data, self.problem = self._load(skip_invalid=True), str(err)
        except Exception:
            if strict:
                raise
            # The source cannot be read yet (a database not reachable or not migrated when the
            # worker is wired): `deadline()` reads it first, and fails until it can.
            self._fingerprint, self._data = _UNREAD, self._load(none=True)

    # -- queries ---------------------------------------------------------------------

    @property
    def version(self) -> str:
        """Identifies the data answering: packaged data version plus a digest of the
        overrides' *contents* (dates), so reformatting a file changes nothing."""
        return self._data.version

    def knows(self, year: int) -> bool:
        """Whether the year has official data (packaged or override)."""
        return self._data.knows(year)

    def source_of(self, year: int) -> Source:
        """Where the year's answers come from; an override file wins over packaged data."""
        data = self._data
        if year in data.overrides:
            return "override"
        return "official" if year in data.official else "weekends-only"

    def is_workday(self, day: date) -> bool:
        """Whether `day` (a China calendar date) is a working day; weekends only for
        years the calendar does not know."""
        if isinstance(day, datetime):  # a datetime's date depends on its zone: be explicit
            raise TypeError("is_workday takes a China calendar date, not a datetime")
        return self._data.is_workday(day)

    def year_days(self, year: int) -> list[CalendarDay]:
        """Every day of `year` with its answer and where the answer comes from."""
        source = self.source_of(year)
        first = date(year, 1, 1)
        days = (first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days))
        return [CalendarDay(d, self.is_workday(d), source) for d in days]

    def deadline(self, start: datetime, n: int) -> Deadline:
        """`add_business_days` on the overrides in force now (any worker, any filing):
        changed overrides are loaded first; one that does not validate is refused, the data
        in force stays, and the deadline says so (`calendar_problem`)."""
        self.refresh()
        deadline = self.add_business_days(start, n)
        return deadline.model_copy(update={"calendar_problem": self.problem}) if self.problem else deadline

    def refresh(self) -> None:
        """Reload when the overrides changed since the last look (the source's
        fingerprint); on an invalid override keep the data in force and note why. Asking
        every time, not on a timer, means a `calendar_updated` sent right after an import
        never recomputes on the old data."""
        fingerprint = self._source_fingerprint()
        if fingerprint == self._fingerprint:
            return
        try:
            self.reload()
            self.problem = None
        except CalendarDataError as err:
            self.problem = str(err)
        self._fingerprint = fingerprint

    def _source_fingerprint(self) -> str:
        return "none" if self._source is None else self._source.fingerprint()

    def add_business_days(self, start: datetime, n: int) -> Deadline:
        """The end of the `n`th working day after `start`'s China calendar day.

        The starting day never counts, whatever the hour; the deadline is 24:00 China
        time of the last counted day. Never raises for unknown years: they are counted
        on weekends only and the result is `provisional`.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"business days must be an integer >= 1, got {n!r}")
        return self._count(self._data, start, n)

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the overrides; returns whether the calendar's data changed. An
        invalid override raises `CalendarDataError` and the previous data stays in force."""
        new = self._load()
        changed = new.version != self._data.version
        if changed:
            self._data = new
        return changed

    def _load(self, skip_invalid: bool = False, *, none: bool = False) -> _Data:
        overrides = {} if none else self._read_overrides(skip_invalid)
        off: set[date] = set()
        on: set[date] = set()
        for day in chinese_calendar.constants.holidays:
            if day.year in self._official and day.year not in overrides and day.weekday() < 5:
                off.add(day)
        for day in chinese_calendar.constants.workdays:
            if day.year in self._official and day.year not in overrides:
                on.add(day)
        for o in overrides.values():
            off.update(o.holidays)
            on.update(o.workdays)
        canonical = json.dumps(
            [[o.year, [d.isoformat() for d in o.holidays], [d.isoformat() for d in o.workdays]]
             for _, o in sorted(overrides.items())],
            separators=(",", ":"),
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12] if overrides else "none"
        return _Data(
            off=frozenset(off),
            on=frozenset(on),
            official=self._official,
            overrides=frozenset(overrides),
            version=f"{self._official_name}+overrides:{digest}",
        )

    def _read_overrides(self, skip_invalid: bool = False) -> dict[int, CalendarOverride]:
        return {} if self._source is None else self._source.overrides(skip_invalid)

    # -- counting --------------------------------------------------------------------

    @staticmethod
    def _count(data: _Data, start: datetime, n: int) -> Deadline:
        # One snapshot for the whole count, so a concurrent reload cannot mix data.
        first = start.astimezone(CHINA_TZ).date()
        day, left, provisional = first, n, False
        known_year, known = first.year, data.knows(first.year)
        one = timedelta(days=1)
        while left:
            day += one
            if day.year != known_year:
                known_year, known = day.year, data.knows(day.year)
            provisional |= not known
            if data.is_workday(day):
                left -= 1
        end = datetime.combine(day + one, time(0), tzinfo=CHINA_TZ)
        return Deadline(
            start=start,
            business_days=n,
            due_at=end,
            provisional=provisional,
            calendar_version=data.version,
        )


def override_checksum(override: CalendarOverride) -> str:
    """SHA-256 of a year's dates (not of its file's formatting, nor of its `source` note):
    equal checksums answer every deadline alike."""
    canonical = json.dumps([override.year, [d.isoformat() for d in override.holidays],
                            [d.isoformat() for d in override.workdays]], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_override(path: Path) -> CalendarOverride:
    """Read and validate one `<year>.json` override file; errors name file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarDataError(f"{path}: cannot read: {exc}") from exc
    try:
        override = CalendarOverride.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise CalendarDataError(f"{path}: {problems}") from exc
    if path.stem != str(override.year):
        raise CalendarDataError(f"{path}: year: {override.year} does not match the file name {path.name}")
    return override

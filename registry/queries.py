"""Reading the registry's rows, and turning them into the domain's records (`filing.registry`).

Every query takes an open connection, so that L8's checks and writes share one transaction;
`for_update` locks the rows read on PostgreSQL (SQLite's writer already holds the database).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, func, or_, select

from filing.dates import china_date
from filing.masking import mask_name
from filing.models import SubjectType
from filing.registry import MiniProgramRecord, PublicEntry, RecordState, SubjectRecord
from registry.tables import mini_programs, subjects

_programs = mini_programs.c
_subjects = subjects.c


def _program_select() -> Select[Any]:
    return select(
        mini_programs,
        _subjects.subject_number,
        _subjects.name.label("subject_name"),
        _subjects.type.label("subject_type"),
        _subjects.province,
        _subjects.state.label("subject_state"),
    ).join(subjects, _programs.subject_key == _subjects.subject_key)


def _one(connection: Connection, query: Select[Any], for_update: bool) -> Row[Any] | None:
    if for_update:
        query = query.with_for_update(of=mini_programs)
    return connection.execute(query).first()


def program_by_key(connection: Connection, service_key: str, *, for_update: bool = False) -> Row[Any] | None:
    return _one(connection, _program_select().where(_programs.service_key == service_key), for_update)


def active_program(connection: Connection, appid: str, *, for_update: bool = False) -> Row[Any] | None:
    query = _program_select().where(_programs.appid == appid, _programs.state == RecordState.ACTIVE.value)
    return _one(connection, query, for_update)


def latest_program(connection: Connection, appid: str) -> Row[Any] | None:
    """The appid's ACTIVE row, else its most recently changed one."""
    active = active_program(connection, appid)
    if active is not None:
        return active
    query = _program_select().where(_programs.appid == appid).order_by(_programs.updated_at.desc(), _programs.id.desc())
    return connection.execute(query.limit(1)).first()


def programs_of_subject(connection: Connection, subject_key: str) -> list[Row[Any]]:
    query = _program_select().where(_programs.subject_key == subject_key).order_by(_programs.sequence)
    return list(connection.execute(query))


def programs_of_appid(connection: Connection, appid: str) -> list[Row[Any]]:
    """The ACTIVE one first, then the older ones, newest first."""
    query = (
        _program_select()
        .where(_programs.appid == appid)
        .order_by((_programs.state == RecordState.ACTIVE.value).desc(), _programs.updated_at.desc(), _programs.id.desc())
    )
    return list(connection.execute(query))


def subject_by_key(connection: Connection, subject_key: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(subjects).where(_subjects.subject_key == subject_key)
    if for_update:
        query = query.with_for_update()
    return connection.execute(query).first()


def subjects_named(connection: Connection, name: str) -> list[Row[Any]]:
    return list(connection.execute(select(subjects).where(_subjects.name == name).order_by(_subjects.subject_key)))


def max_sequence(connection: Connection, subject_key: str) -> int:
    """The largest sequence ever issued under the subject (cancelled included), 0 when none."""
    found = connection.execute(select(func.max(_programs.sequence)).where(_programs.subject_key == subject_key))
    return int(found.scalar_one() or 0)


def program_record(row: Row[Any]) -> MiniProgramRecord:
    return MiniProgramRecord(
        service_number=row.service_number,
        appid=row.appid,
        name=row.name,
        subject_number=row.subject_number,
        subject_name=row.subject_name,
        subject_type=SubjectType(row.subject_type),
        province=row.province,
        state=RecordState(row.state),
        approved_at=row.approved_at,
        updated_at=row.updated_at,
        last_filing_id=row.last_filing_id,
    )


def subject_record(row: Row[Any]) -> SubjectRecord:
    return SubjectRecord(
        subject_number=row.subject_number,
        name=row.name,
        type=SubjectType(row.type),
        province=row.province,
        state=RecordState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        identified=row.certificate_digest is not None,
        unit_certificate_type=(row.certificate_type or None) if row.certificate_number else None,
        unit_certificate_number=row.certificate_number or None,
    )


def public_subject_name(name: str, subject_type: SubjectType | str) -> str:
    """A personal subject (个人) is named after a person: masked wherever it is shown (SPEC §9)."""
    return mask_name(name) if SubjectType(subject_type) is SubjectType.PERSONAL else name


def public_entry(row: Row[Any]) -> PublicEntry:
    """MIIT's fields of one mini-program's row (是否限制接入: 是 once its access was cancelled)."""
    state = RecordState(row.state)
    return PublicEntry(
        subject_name=public_subject_name(row.subject_name, row.subject_type),
        subject_type=SubjectType(row.subject_type),
        subject_number=row.subject_number,
        service_number=row.service_number,
        service_name=row.name,
        approval_date=china_date(row.approved_at),
        pre_approvals=json.loads(row.pre_approvals) if row.pre_approvals else [],
        access_restricted=state is RecordState.ACCESS_CANCELLED,
        state=state,
    )


def _like_pattern(fragment: str) -> str:
    """`fragment` anywhere, its own `%`, `_` and `\\` taken literally (escape character `\\`)."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def public_programs(
    connection: Connection,
    *,
    service_key: str | None = None,
    subject_key: str | None = None,
    appid: str | None = None,
    name: str | None = None,
    certificate_number: str | None = None,
    include_cancelled: bool = False,
    limit: int,
) -> list[Row[Any]]:
    """The rows the public lookup shows, by exactly one key, at most `limit`: a subject's in
    sequence order, an appid's ACTIVE one first and then the newest.

    A name matches a unit's name anywhere in it (partial), but a personal subject's name
    (a person's) only in full: a fragment of a name must not list people. A certificate
    number is a unit's (personal identity numbers are never a public key). CANCELLED rows
    only when asked for; ACCESS_CANCELLED ones keep their number, so they always show."""
    query = _program_select()
    if service_key is not None:
        query = query.where(_programs.service_key == service_key)
    elif subject_key is not None:
        query = query.where(_programs.subject_key == subject_key)
    elif appid is not None:
        query = query.where(_programs.appid == appid)
    elif name is not None:
        personal = _subjects.type == SubjectType.PERSONAL.value
        query = query.where(or_(
            and_(~personal, _subjects.name.ilike(_like_pattern(name), escape="\\")),
            and_(personal, _subjects.name == name),
        ))
    elif certificate_number is not None:
        query = query.where(_subjects.type != SubjectType.PERSONAL.value,
                            _subjects.certificate_number == certificate_number)
    else:
        raise ValueError("a public lookup names one key")
    if not include_cancelled:
        query = query.where(_programs.state != RecordState.CANCELLED.value)
    if appid is not None:
        query = query.order_by((_programs.state == RecordState.ACTIVE.value).desc(), _programs.updated_at.desc(),
                               _programs.id.desc())
    else:
        query = query.order_by(_subjects.subject_key, _programs.sequence, _programs.id)
    query = query.limit(limit)
    return list(connection.execute(query))


def holder(row: Row[Any]) -> str:
    """Who holds a number, for a `why`: the mini-program, its appid and its subject (no personal data)."""
    return f"mini-program '{row.name}' ({row.appid}) of {public_subject_name(row.subject_name, row.subject_type)}"

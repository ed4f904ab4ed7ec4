"""L8: what an approved filing writes to the registry, decided and written in one transaction.

Each kind is decided first (checks only, on rows locked for the decision) and written
second, so a refused change leaves nothing behind: a reviewer may retry with another
number. Writes on the same appid or under the same subject number take turns
(`serialize_on`), so racing approvals get the answer they would get one after the other.
The database's constraints stay the last word: the write runs in a savepoint, and when a
unique constraint catches a race the checks could not see (a writer that did not take its
turn), the savepoint is rolled back and the change decided again on what the competitor
committed, so the loser is answered (`number_taken`, ...) instead of failing. A change is
applied once per `filing_key`: the applied outcome is stored with it and answered again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.sealing import Sealer
from filing.filing_number import FilingNumber, InvalidFilingNumber, parse_filing_number
from filing.models import Application, FilingKind
from filing.provinces import find_province
from filing.registry import PeopleOnRecord, RecordState, RegistryChange, RegistryOutcome, SubjectCertificate
from registry import identity
from registry import queries as q
from registry.database import serialize_on
from registry.numbers import key_of, service_number, subject_part
from registry.tables import mini_programs, people_on_record, registry_changes, subjects

ACTIVE, CANCELLED, ACCESS_CANCELLED = RecordState.ACTIVE, RecordState.CANCELLED, RecordState.ACCESS_CANCELLED


@dataclass(frozen=True)
class Plan:
    """A change that passed its checks: the outcome to answer and the writes that make it true."""

    outcome: RegistryOutcome
    write: Callable[[], None]


Decision = RegistryOutcome | Plan  # a bare outcome is a refusal


def _refused(key: str, why: str, why_zh: str | None = None) -> RegistryOutcome:
    """A refusal (L9); with a Chinese explanation, `why` carries both (the reviewer reads `why`)."""
    return RegistryOutcome(applied=False, why_key=key, why=f"{why} — {why_zh}" if why_zh else why, why_zh=why_zh)


def people_context(number: str) -> str:
    """Sealing context: the blob of one mini-program's people opens only on its own row."""
    return f"registry.people_on_record:{number}"


def people_of(application: Application) -> PeopleOnRecord:
    own = application.mini_program_principal
    principal = own.person if not own.reuse_subject_principal and own.person is not None else None
    return PeopleOnRecord(
        subject_principal=application.subject_principal,
        mini_program_principal=principal or application.subject_principal,
    )


def lock_keys(appid: str, number: str) -> list[str]:
    """What a write to the registry must not do at the same time as another: anything on
    the same appid or under the same subject number (which covers the same service number)."""
    keys = [f"appid:{appid}"]
    try:
        keys.append(f"subject:{key_of(subject_part(parse_filing_number(number)))}")
    except InvalidFilingNumber:
        pass  # refused without writing
    return keys


def pre_approvals_of(application: Application) -> str:
    """服务前置审批项 as the registry keeps them for the public lookup: the categories of the
    application's pre-approval records (R6), each once, as a JSON list."""
    categories = dict.fromkeys(record.category for record in application.mini_program.pre_approvals)
    return json.dumps(list(categories), ensure_ascii=False)


def seal_people(sealer: Sealer, number: str, application: Application) -> bytes:
    return sealer.seal(people_of(application).model_dump_json().encode(), people_context(number))


def insert_subject(
    connection: Connection, subject: FilingNumber, application: Application, now: datetime, sealer: Sealer
) -> None:
    """A new subject row, named and typed as the application says, ACTIVE, known by its certificate."""
    certificate = SubjectCertificate.of(application)
    known = {} if certificate is None else identity.certificate_columns(sealer, certificate, key_of(subject))
    connection.execute(
        insert(subjects).values(
            **known,
            subject_key=key_of(subject),
            subject_number=subject.text,
            name=application.subject.name,
            type=application.subject.type.value,
            province=subject.province.prefix,
            state=ACTIVE.value,
            created_at=now,
            updated_at=now,
        )
    )


def insert_program(
    connection: Connection,
    sealer: Sealer,
    now: datetime,
    *,
    number: FilingNumber,
    application: Application,
    state: RecordState,
    approved_at: datetime,
    last_filing_id: str | None,
) -> None:
    """A mini-program row under its (existing) subject, with its people sealed."""
    assert number.sequence is not None, "a service number has a sequence"
    connection.execute(
        insert(mini_programs).values(
            service_key=key_of(number),
            service_number=number.text,
            sequence=number.sequence,
            appid=application.appid,
            name=application.mini_program.name,
            subject_key=key_of(subject_part(number)),
            state=state.value,
            approved_at=approved_at,
            updated_at=now,
            last_filing_id=last_filing_id,
            pre_approvals=pre_approvals_of(application),
        )
    )
    connection.execute(
        insert(people_on_record).values(
            service_key=key_of(number), sealed=seal_people(sealer, number.text, application), updated_at=now
        )
    )
    identity.record_mobiles(connection, sealer, key_of(number), people_of(application))


@dataclass
class Writer:
    """One L8 write on an open transaction."""

    connection: Connection
    sealer: Sealer
    now: datetime

    # --- the entry point --------------------------------------------------------------

    def apply(self, change: RegistryChange) -> RegistryOutcome:
        serialize_on(self.connection, lock_keys(change.appid, change.number))
        stored = self.recorded(change.filing_key)
        if stored is not None:
            return stored
        decision = self.decide(change)
        if isinstance(decision, RegistryOutcome):
            return decision
        try:
            with self.connection.begin_nested():
                decision.write()
                self._record(change, decision.outcome)
        except IntegrityError as err:
            return self._after_race(change, err)
        return decision.outcome

    def _after_race(self, change: RegistryChange, err: IntegrityError) -> RegistryOutcome:
        """A concurrent write won a unique constraint: answer as if it had been seen first."""
        stored = self.recorded(change.filing_key)
        if stored is not None:  # the same filing, applied by a concurrent attempt
            return stored
        again = self.decide(change)
        if isinstance(again, RegistryOutcome):
            return again
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
        return _refused(
            "conflict",
            f"{change.number} conflicted with another write to the registry ({constraint or 'a unique constraint'}); "
            "nothing was recorded",
            f"{change.number}与备案库中同时进行的另一项写入冲突，未作任何记录：请刷新后重新提交结论",
        )

    def recorded(self, filing_key: str) -> RegistryOutcome | None:
        found = self.connection.execute(
            select(registry_changes.c.outcome).where(registry_changes.c.filing_key == filing_key)
        ).scalar_one_or_none()
        return None if found is None else RegistryOutcome.model_validate_json(found)

    def _record(self, change: RegistryChange, outcome: RegistryOutcome) -> None:
        self.connection.execute(
            insert(registry_changes).values(
                filing_key=change.filing_key,
                filing_id=change.filing_id,
                kind=change.kind.value,
                appid=change.appid,
                number=change.number,
                approved_at=change.approved_at,
                outcome=outcome.model_dump_json(),
                recorded_at=self.now,
                review_started_at=change.review_started_at,
            )
        )

    def decide(self, change: RegistryChange) -> Decision:
        return {
            FilingKind.NEW: self._new,
            FilingKind.CHANGE: self._change,
            FilingKind.CANCEL_MINI_PROGRAM: self._cancel_mini_program,
            FilingKind.CANCEL_ACCESS: self._cancel_access,
            FilingKind.CANCEL_SUBJECT: self._cancel_subject,
        }[change.kind](change)

    # --- NEW ----------------------------------------------------------------------------

    def _new(self, change: RegistryChange) -> Decision:
        application = _application_of(change)
        if isinstance(application, RegistryOutcome):
            return application
        number = _number(change.number, mini_program=True)
        if isinstance(number, RegistryOutcome):
            return number
        taken = q.program_by_key(self.connection, key_of(number))
        if taken is not None:
            return _refused(
                "number_taken",
                f"{change.number} was already issued to the {q.holder(taken)} ({_words(taken.state)}); "
                "a number is issued once, also after a cancellation",
                f"备案号{change.number}已发放给其他小程序（{_state_zh(taken.state)}）：备案号只发放一次，注销后也不再使用",
            )
        active = q.active_program(self.connection, change.appid)
        if active is not None:
            return _refused(
                "already_filed",
                f"{change.appid} already holds the active filing {active.service_number}; a NEW cannot give it "
                f"{change.number} (a CHANGE filing updates the existing one)",
                f"该小程序已持有有效备案{active.service_number}，新增备案不能再给它{change.number}（已备案的小程序请办理变更备案）",
            )
        province = find_province(application.subject.address.province)
        if province is not None and province != number.province:
            return _refused(
                "province_mismatch",
                f"{change.number} is a number of {number.province.name}, but the subject is in {province.name} "
                f"(prefix {province.prefix})",
                f"备案号{change.number}属于{number.province.name}，而主体在{province.name}（备案号前缀{province.prefix}）",
            )
        subject = subject_part(number)
        subject_row = q.subject_by_key(self.connection, key_of(subject), for_update=True)
        certificate = SubjectCertificate.of(application)
        on_record = (None if certificate is None else
                     identity.active_subject_of(self.connection, self.sealer, certificate, for_update=True))
        if on_record is not None:
            refusal = self._check_subject_on_record(change.number, number, on_record)
            if refusal is not None:
                return refusal
        elif subject_row is not None and subject_row.state != ACTIVE:
            return _refused(
                "subject_cancelled",
                f"the subject number {subject_row.subject_number} of {change.number} was cancelled; a subject "
                "filing again after its cancellation gets a new subject number, never the old one",
                f"主体备案号{subject_row.subject_number}已注销；主体注销后重新备案须使用新的主体备案号，不得沿用原号",
            )
        elif subject_row is not None and subject_row.certificate_digest is not None:
            return _refused(
                "subject_number_taken",
                f"the subject number {subject_row.subject_number} of {change.number} is held by another subject "
                f"({q.public_subject_name(subject_row.name, subject_row.type)}, another certificate); a new subject "
                "gets a new subject number",
                f"主体备案号{subject_row.subject_number}属于另一主体（证件不同），新主体须使用新的主体备案号",
            )
        if subject_row is None and number.form.is_licence:
            return _refused(
                "licence_not_on_record",
                f"{change.number} is a number under the operating licence {subject.text}, which is not in the "
                "registry: a licence number is issued by the licence process, not by a filing approval; approve "
                "with a number under a subject number on record, or with a new ICP备 number",
                f"{change.number}所属的经营许可证号{subject.text}不在备案库中：许可证号由许可审批颁发，不能由备案审核"
                "新发；请使用备案库中主体备案号下的号码，或新的ICP备号码",
            )
        named = application.subject.subject_number
        if on_record is not None:
            pass  # the certificate decides; a typed number that disagrees was refused at the start (R8)
        elif named:
            refusal = self._check_named_subject(change.number, named, subject, subject_row)
            if refusal is not None:
                return refusal
        elif subject_row is not None:
            return _refused(
                "subject_number_taken",
                f"the subject number {subject_row.subject_number} of {change.number} is held by "
                f"{q.public_subject_name(subject_row.name, subject_row.type)}; a NEW for that subject names it as "
                "subject.subject_number, otherwise the province issues a new subject number",
                f"主体备案号{subject_row.subject_number}已属于{q.public_subject_name(subject_row.name, subject_row.type)}；"
                "该主体的新增备案须在申请中填写这一主体备案号，否则由通管局发放新的主体备案号",
            )
        outcome = RegistryOutcome(
            applied=True,
            service_number=change.number,
            subject_number=subject_row.subject_number if subject_row is not None else subject.text,
        )

        def write() -> None:
            if subject_row is None:
                insert_subject(self.connection, subject, application, self.now, self.sealer)
            elif certificate is not None and subject_row.certificate_digest is None:
                # A subject recorded before the registry knew certificates: it is known from now on.
                self.connection.execute(
                    update(subjects).where(subjects.c.subject_key == subject_row.subject_key)
                    .values(**identity.certificate_columns(self.sealer, certificate, subject_row.subject_key))
                )
            insert_program(
                self.connection, self.sealer, self.now, number=number, application=application,
                state=ACTIVE, approved_at=change.approved_at, last_filing_id=change.filing_id,
            )

        return Plan(outcome, write)

    def _check_subject_on_record(
        self, number_text: str, number: FilingNumber, on_record: Row[Any]
    ) -> RegistryOutcome | None:
        """L9: a subject on record files under its own subject number, in its own province."""
        holder = q.public_subject_name(on_record.name, on_record.type)
        if on_record.province != number.province.prefix:
            return _refused(
                "subject_on_record_elsewhere",
                f"{number_text} is a number of {number.province.name}, but the subject ({holder}) is on record in "
                f"{on_record.province} under {on_record.subject_number}: a subject files in one province only",
                f"该主体已在{on_record.province}备案（主体备案号{on_record.subject_number}），同主体在所有平台的备案省份"
                f"必须保持一致，不能以{number_text}备案",
            )
        if on_record.subject_key != key_of(subject_part(number)):
            proposed = service_number(parse_filing_number(on_record.subject_number),
                                      q.max_sequence(self.connection, on_record.subject_key) + 1)
            return _refused(
                "number_outside_subject",
                f"{number_text} is not under the subject number {on_record.subject_number} that the subject "
                f"({holder}) holds: a subject has one subject number (the next number under it is {proposed})",
                f"{number_text}不在该主体已有的主体备案号{on_record.subject_number}之下；一个主体只有一个主体备案号"
                f"（其下一个号为{proposed}）",
            )
        return None

    def _check_named_subject(
        self, number_text: str, named: str, subject: FilingNumber, subject_row: Row[Any] | None
    ) -> RegistryOutcome | None:
        try:
            named_number = parse_filing_number(named, mini_program=False)
        except InvalidFilingNumber as err:
            return _refused("invalid_subject_number", f"the application's subject number {named} is malformed: {err}",
                            f"申请中填写的主体备案号{named}格式不正确")
        if not named_number.is_subject_number or key_of(named_number) != key_of(subject):
            next_free = service_number(named_number, q.max_sequence(self.connection, key_of(named_number)) + 1)
            return _refused(
                "number_outside_subject",
                f"{number_text} does not extend the subject number {named} the application names "
                f"(the next number under it is {next_free})",
                f"{number_text}不在申请所填主体备案号{named}之下（其下一个可用号为{next_free}）",
            )
        if subject_row is None:
            return _refused("not_active", f"the subject number {named} is not in the registry",
                            f"主体备案号{named}不在备案库中")
        if subject_row.state != ACTIVE:
            holder = q.public_subject_name(subject_row.name, subject_row.type)
            return _refused("not_active", f"the subject number {named} of {holder} is {_words(subject_row.state)}",
                            f"{holder}的主体备案号{named}{_state_zh(subject_row.state)}")
        return None

    # --- CHANGE and the cancellations of one mini-program ----------------------------

    def _active_of_appid(self, change: RegistryChange) -> Row[Any] | RegistryOutcome:
        """The program `change.number` names, when it is `change.appid`'s ACTIVE filing."""
        number = _number(change.number, mini_program=True)
        if isinstance(number, RegistryOutcome):
            return number
        row = q.program_by_key(self.connection, key_of(number), for_update=True)
        if row is None:
            return _refused("not_active", f"{change.number} is not in the registry: only an active filing can be "
                                          f"changed or cancelled", f"备案号{change.number}不在备案库中：只有有效的备案可以变更或注销")
        if row.appid != change.appid:
            return _refused("not_active", f"{change.number} is the filing of the {q.holder(row)}, not of {change.appid}",
                            f"备案号{change.number}不是小程序{change.appid}的备案")
        if row.state != ACTIVE:
            return _refused(
                "not_active",
                f"{change.number} of the {q.holder(row)} is {_words(row.state)}: only an active filing can be "
                "changed or cancelled",
                f"备案号{change.number}{_state_zh(row.state)}：只有有效的备案可以变更或注销",
            )
        return row

    def _change(self, change: RegistryChange) -> Decision:
        application = _application_of(change)
        if isinstance(application, RegistryOutcome):
            return application
        row = self._active_of_appid(change)
        if isinstance(row, RegistryOutcome):
            return row

        def write() -> None:
            self.connection.execute(
                update(subjects)
                .where(subjects.c.subject_key == row.subject_key)
                .values(name=application.subject.name, updated_at=self.now)
            )
            self.connection.execute(
                update(mini_programs)
                .where(mini_programs.c.id == row.id)
                .values(name=application.mini_program.name, updated_at=self.now, last_filing_id=change.filing_id,
                        pre_approvals=pre_approvals_of(application))
            )
            self.connection.execute(
                update(people_on_record)
                .where(people_on_record.c.service_key == row.service_key)
                .values(sealed=seal_people(self.sealer, row.service_number, application), updated_at=self.now)
            )
            identity.record_mobiles(self.connection, self.sealer, row.service_key, people_of(application))

        outcome = RegistryOutcome(applied=True, service_number=row.service_number, subject_number=row.subject_number)
        return Plan(outcome, write)

    def _cancel_one(self, change: RegistryChange, state: RecordState) -> Decision:
        row = self._active_of_appid(change)
        if isinstance(row, RegistryOutcome):
            return row

        def write() -> None:
            self.connection.execute(
                update(mini_programs)
                .where(mini_programs.c.id == row.id)
                .values(state=state.value, updated_at=self.now, last_filing_id=change.filing_id)
            )

        outcome = RegistryOutcome(
            applied=True,
            service_number=row.service_number,
            subject_number=row.subject_number,
            cancelled=[row.service_number] if state is CANCELLED else [],
        )
        return Plan(outcome, write)

    def _cancel_mini_program(self, change: RegistryChange) -> Decision:
        return self._cancel_one(change, CANCELLED)

    def _cancel_access(self, change: RegistryChange) -> Decision:
        return self._cancel_one(change, ACCESS_CANCELLED)

    # --- CANCEL_SUBJECT -------------------------------------------------------------------

    def _cancel_subject(self, change: RegistryChange) -> Decision:
        number = _number(change.number, mini_program=None)
        if isinstance(number, RegistryOutcome):
            return number
        subject = subject_part(number)
        subject_key = key_of(subject)
        if not number.is_subject_number:
            program = q.program_by_key(self.connection, key_of(number))
            if program is None:
                return _refused("not_active", f"{change.number} is not in the registry", f"备案号{change.number}不在备案库中")
            subject_key = program.subject_key  # a merged subject's program is under the kept subject
        subject_row = q.subject_by_key(self.connection, subject_key, for_update=True)
        if subject_row is None:
            return _refused("not_active", f"the subject number {subject.text} of {change.number} is not in the registry",
                            f"{change.number}的主体备案号{subject.text}不在备案库中")
        holder = q.public_subject_name(subject_row.name, subject_row.type)
        if subject_row.state != ACTIVE:
            return _refused(
                "not_active", f"the subject number {subject_row.subject_number} of {holder} is already cancelled",
                f"{holder}的主体备案号{subject_row.subject_number}已注销",
            )
        active = q.active_program(self.connection, change.appid)
        if active is None or active.subject_key != subject_key:
            return _refused(
                "not_active",
                f"{change.appid} holds no active filing under the subject number {subject_row.subject_number} of "
                f"{holder}: a subject is cancelled through one of its own active mini-programs",
                f"小程序{change.appid}在主体备案号{subject_row.subject_number}下没有有效备案：注销主体须通过该主体自己的一个有效小程序办理",
            )
        to_cancel = [row for row in q.programs_of_subject(self.connection, subject_key) if row.state != CANCELLED]

        def write() -> None:
            self.connection.execute(
                update(mini_programs)
                .where(mini_programs.c.subject_key == subject_key, mini_programs.c.state != CANCELLED.value)
                .values(state=CANCELLED.value, updated_at=self.now, last_filing_id=change.filing_id)
            )
            self.connection.execute(
                update(subjects)
                .where(subjects.c.subject_key == subject_key)
                .values(state=CANCELLED.value, updated_at=self.now)
            )

        outcome = RegistryOutcome(
            applied=True,
            service_number=active.service_number,
            subject_number=subject_row.subject_number,
            cancelled=[row.service_number for row in to_cancel],
        )
        return Plan(outcome, write)


def _application_of(change: RegistryChange) -> Application | RegistryOutcome:
    if change.application is None:
        return _refused(
            "application_missing",
            f"a {change.kind} change records the approved application (field `application`); none came with "
            f"{change.number}",
            f"{change.number}的备案库记录缺少已通过的申请内容，未作记录",
        )
    if change.application.appid != change.appid:
        return _refused(
            "appid_mismatch",
            f"the change for {change.number} names appid {change.appid}, but its application is for "
            f"{change.application.appid}",
            f"{change.number}的记录所属小程序{change.appid}与其申请中的{change.application.appid}不一致，未作记录",
        )
    return change.application


def _number(text: str, *, mini_program: bool | None) -> FilingNumber | RegistryOutcome:
    try:
        return parse_filing_number(text, mini_program=mini_program)
    except InvalidFilingNumber as err:
        return _refused("invalid_number", f"{text!r} cannot be recorded: {err}",
                        f"备案号“{text}”格式不正确，不能记录（应形如 冀ICP备18021892号-2X）")


def _state_zh(state: str) -> str:
    """A record's state in the reviewer's words (`ACCESS_CANCELLED` -> 已取消接入)."""
    return {ACTIVE.value: "有效", CANCELLED.value: "已注销", ACCESS_CANCELLED.value: "已取消接入"}.get(state, state)


def _words(state: str) -> str:
    """`ACCESS_CANCELLED` -> `access cancelled`, for sentences."""
    return state.lower().replace("_", " ")

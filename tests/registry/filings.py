"""Building the registry's inputs in tests: applications, approvals, numbers.

Every application starts from the domain's valid example and changes one thing, so a
test reads as what it is about.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from datetime import UTC, datetime

from filing.examples import example_application
from filing.ids import uscc_check_char
from filing.models import Application, FilingKind, Person, SubjectType
from filing.registry import ImportEntry, RecordState, RegistryChange
from registry.import_csv import COLUMNS

SUBMITTED = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
_keys = itertools.count(1)


def appid(n: int) -> str:
    return f"wx{n:016x}"


def subject_number(serial: str = "18021892", prefix: str = "冀") -> str:
    return f"{prefix}ICP备{serial}号"


def number(serial: str = "18021892", sequence: int = 1, prefix: str = "冀") -> str:
    return f"{subject_number(serial, prefix)}-{sequence}X"


DEFAULT_SUBJECT = "河北示例网络科技有限公司"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_of(name: str) -> str:
    """A well-formed 统一社会信用代码 per company name: in these tests a name is one company
    (the default name keeps the example's code)."""
    if name == DEFAULT_SUBJECT:
        return example_application(SUBMITTED).subject.unit_certificate.number  # type: ignore[union-attr]
    digest = hashlib.sha256(name.encode()).digest()
    first17 = "91130000" + "".join(_USCC_CHARS[b % len(_USCC_CHARS)] for b in digest[:9])
    return first17 + uscc_check_char(first17)


def application(
    app_id: str,
    *,
    subject_name: str = DEFAULT_SUBJECT,
    certificate: str | None = None,
    named_subject_number: str | None = None,
    program_name: str = "示例小程序",
    own_principal: bool = False,
    personal: bool = False,
    kind: FilingKind = FilingKind.NEW,
) -> Application:
    app = example_application(SUBMITTED, appid=app_id, own_mini_program_principal=own_principal)
    unit = app.subject.unit_certificate
    assert unit is not None
    unit = unit.model_copy(update={"number": certificate or uscc_of(subject_name)})
    subject = app.subject.model_copy(update={"name": subject_name, "subject_number": named_subject_number,
                                             "unit_certificate": unit})
    if personal:
        subject = subject.model_copy(update={"type": SubjectType.PERSONAL, "unit_certificate": None,
                                             "name": app.subject_principal.name})
    return app.model_copy(update={
        "kind": kind,
        "subject": subject,
        "mini_program": app.mini_program.model_copy(update={"name": program_name}),
    })


def approval(
    kind: FilingKind,
    app_id: str,
    filing_number: str,
    *,
    approved_at: datetime,
    app: Application | None = None,
    key: str | None = None,
) -> RegistryChange:
    """What the workflow's L8 step hands to the registry for an approved filing."""
    key = key or f"filing-{app_id}/run-{next(_keys)}"
    return RegistryChange(
        filing_key=key,
        filing_id=f"filing-{app_id}",
        kind=kind,
        appid=app_id,
        number=filing_number,
        approved_at=approved_at,
        application=app,
    )


def new(app: Application, filing_number: str, *, approved_at: datetime, key: str | None = None) -> RegistryChange:
    return approval(FilingKind.NEW, app.appid, filing_number, approved_at=approved_at, app=app, key=key)


def entry(app: Application, filing_number: str, *, state: RecordState = RecordState.ACTIVE,
          approved_at: datetime = SUBMITTED) -> ImportEntry:
    return ImportEntry(application=app, service_number=filing_number, approved_at=approved_at, state=state)


def jsonl(entries: list[ImportEntry | str]) -> str:
    """One ImportEntry per line (a str is written as it is: a broken line)."""
    return "".join((e if isinstance(e, str) else e.model_dump_json(exclude_none=True)) + "\n" for e in entries)


def _person_cells(prefix: str, person: Person | None) -> dict[str, str]:
    if person is None:
        return {}
    document = person.identity_document
    return {
        f"{prefix}_name": person.name,
        f"{prefix}_id_type": document.type.value,
        f"{prefix}_id_number": document.number,
        f"{prefix}_id_valid_until": str(document.valid_until),
        f"{prefix}_mobile": person.mobile,
        f"{prefix}_emergency_mobile": person.emergency_mobile,
        f"{prefix}_email": person.email,
    }


def csv_text(entries: list[ImportEntry]) -> str:
    """The flat CSV form (registry.import_csv) of the entries, header first."""
    rows = []
    for e in entries:
        app, certificate = e.application, e.application.subject.unit_certificate
        own = app.mini_program_principal
        rows.append({
            "service_number": e.service_number,
            "approved_at": e.approved_at.isoformat(),
            "state": e.state.value,
            "appid": app.appid,
            "mini_program_name": app.mini_program.name,
            "service_categories": ";".join(app.mini_program.service_categories),
            "pre_approvals": ";".join(f"{p.category}|{p.approval_number}|{p.document_name}"
                                      for p in app.mini_program.pre_approvals),
            "subject_type": app.subject.type.value,
            "subject_name": app.subject.name,
            "subject_number": app.subject.subject_number or "",
            "unit_certificate_type": certificate.type.value if certificate else "",
            "unit_certificate_number": certificate.number if certificate else "",
            "unit_certificate_valid_until": str(certificate.valid_until) if certificate else "",
            "province": app.subject.address.province,
            "city": app.subject.address.city,
            "address": app.subject.address.detail,
            **_person_cells("principal", app.subject_principal),
            **_person_cells("mp_principal", None if own.reuse_subject_principal else own.person),
        })
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()

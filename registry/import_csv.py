"""The flat CSV form of an import line (`filings registry import FILE.csv`, SPEC §11).

One row per mini-program filing, a header row naming the columns (any order; UTF-8,
with or without a BOM, so a sheet saved from Excel works). Lists are `;`-separated.

| column | meaning |
|---|---|
| `service_number` | the issued number, `冀ICP备18021892号-2X` or under an operating licence `粤B2-20090059-1626X` (required) |
| `approved_at` | approval instant, ISO 8601 (`2021-03-04` or `2021-03-04T10:00:00+08:00`; no offset = UTC) |
| `state` | `ACTIVE` (default), `CANCELLED` or `ACCESS_CANCELLED` |
| `appid`, `mini_program_name` | the mini-program |
| `service_categories` | `;`-separated, e.g. `生活服务;工具` |
| `pre_approvals` | `;`-separated `category|approval number|document name` (R6) |
| `subject_type`, `subject_name`, `subject_number` | the subject (`subject_number` optional: it must be the number's own) |
| `unit_certificate_type`, `unit_certificate_number`, `unit_certificate_valid_until` | empty for a personal subject |
| `province`, `city`, `address` | the subject's address (R5) |
| `principal_name`, `principal_id_type`, `principal_id_number`, `principal_id_valid_until`, `principal_mobile`, `principal_emergency_mobile`, `principal_email` | the subject principal |
| `mp_principal_…` (same seven) | the mini-program principal; all empty: the subject principal again |

Validity dates are a date or `LONG_TERM`. Problems are reported by column name.
"""

from __future__ import annotations

import re
from typing import Any

_PERSON = {
    "name": ("name",),
    "id_type": ("identity_document", "type"),
    "id_number": ("identity_document", "number"),
    "id_valid_until": ("identity_document", "valid_until"),
    "mobile": ("mobile",),
    "emergency_mobile": ("emergency_mobile",),
    "email": ("email",),
}
_APP = ("application",)

#: Column -> where its value goes in an `ImportEntry` (and where a problem is reported).
COLUMNS: dict[str, tuple[str, ...]] = {
    "service_number": ("service_number",),
    "approved_at": ("approved_at",),
    "state": ("state",),
    "appid": (*_APP, "mini_program", "appid"),
    "mini_program_name": (*_APP, "mini_program", "name"),
    "service_categories": (*_APP, "mini_program", "service_categories"),
    "pre_approvals": (*_APP, "mini_program", "pre_approvals"),
    "subject_type": (*_APP, "subject", "type"),
    "subject_name": (*_APP, "subject", "name"),
    "subject_number": (*_APP, "subject", "subject_number"),
    "unit_certificate_type": (*_APP, "subject", "unit_certificate", "type"),
    "unit_certificate_number": (*_APP, "subject", "unit_certificate", "number"),
    "unit_certificate_valid_until": (*_APP, "subject", "unit_certificate", "valid_until"),
    "province": (*_APP, "subject", "address", "province"),
    "city": (*_APP, "subject", "address", "city"),
    "address": (*_APP, "subject", "address", "detail"),
    **{f"principal_{k}": (*_APP, "subject_principal", *v) for k, v in _PERSON.items()},
    **{f"mp_principal_{k}": (*_APP, "mini_program_principal", "person", *v) for k, v in _PERSON.items()},
}
_BY_PATH = {path: column for column, path in COLUMNS.items()}
_LISTS = {"service_categories"}


def _put(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        document = document.setdefault(part, {})
    document[path[-1]] = value


def _pre_approvals(cell: str) -> list[dict[str, str]]:
    records = []
    for item in filter(None, (part.strip() for part in cell.split(";"))):
        category, number, document = ([*item.split("|"), "", ""])[:3]
        records.append({"category": category.strip(), "approval_number": number.strip(),
                        "document_name": document.strip()})
    return records


def entry_document(row: dict[str, str]) -> dict[str, Any]:
    """The JSON document of an `ImportEntry` from one CSV row (empty cells left out)."""
    document: dict[str, Any] = {"application": {}}
    for column, path in COLUMNS.items():
        cell = (row.get(column) or "").strip()
        if not cell:
            continue
        if column in _LISTS:
            value: Any = [part.strip() for part in cell.split(";") if part.strip()]
        elif column == "pre_approvals":
            value = _pre_approvals(cell)
        else:
            value = cell
        _put(document, path, value)
    application = document["application"]
    own = application.setdefault("mini_program_principal", {})
    own["reuse_subject_principal"] = "person" not in own
    return document


def unknown_columns(header: list[str]) -> list[str]:
    return [name for name in header if name.strip() and name.strip() not in COLUMNS]


def column_of(field: str) -> str:
    """An `ImportEntry` field path (`application.subject_principal.mobile`,
    `application.mini_program.pre_approvals[0].category`) -> the CSV column it came from."""
    path = tuple(part for part in re.sub(r"\[[^\]]*\]", "", field).split(".") if part)
    for end in range(len(path), 0, -1):
        column = _BY_PATH.get(path[:end])
        if column is not None:
            return column
    within = [column for column, where in COLUMNS.items() if path and where[: len(path)] == path]
    return ", ".join(within) or field

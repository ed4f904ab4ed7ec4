"""Which application values are personal data (SPEC §9), and how the tool shows them.

The tool holds personal data in clear only where the user gave it: an application file
(`start`, `resubmit`) and what was typed (`--mobile`). There it is masked with the
shared functions of `filing.masking` unless `--reveal` is given. What the workflow
publishes (`status`, timeline, search attributes) is masked at the source and stays so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from filing.masking import mask_address, mask_id_number, mask_mobile, mask_name
from filing.models import Application, SubjectType

HIDDEN = "***"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PEOPLE = ("subject_principal", "mini_program_principal.person")


def _masker(path: str, personal_subject: bool) -> Callable[[str], str] | None:
    """The masking function for the value at `path`; None when it is not personal data."""
    last = path.rsplit(".", 1)[-1]
    if last in ("mobile", "emergency_mobile"):
        return mask_mobile
    if path.endswith(("identity_document.number", "legal_representative.identity_number")):
        return mask_id_number
    if path.endswith("address.detail"):
        return mask_address
    if last == "email":
        return lambda _: HIDDEN
    if last == "name" and (path.startswith(_PEOPLE) or path == "subject.legal_representative.name"
                           or (path == "subject.name" and personal_subject)):
        return mask_name
    return None


def value_at(document: Any, path: str) -> Any:
    """The value at a violation's field path (`mini_program.pre_approvals[0].category`), or None."""
    node = document
    for key, index in _STEP.findall(path):
        try:
            node = node[int(index)] if index else node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def shown(path: str, value: Any, *, reveal: bool, personal_subject: bool = False) -> str | None:
    """How a scalar application value is printed; None for a missing or composite value."""
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    masker = None if reveal else _masker(path, personal_subject)
    return masker(text) if masker else text


def is_personal_subject(document: Any) -> bool:
    return value_at(document, "subject.type") == SubjectType.PERSONAL.value


def shown_mobile(mobile: str, reveal: bool) -> str:
    return mobile if reveal else mask_mobile(mobile)


def who(application: Application, reveal: bool) -> str:
    """The subject and its principal, for a start summary: `示例公司 / 张* 138****8000`."""
    personal = application.subject.type is SubjectType.PERSONAL
    person = application.subject_principal
    subject = shown("subject.name", application.subject.name, reveal=reveal, personal_subject=personal)
    name = shown("subject_principal.name", person.name, reveal=reveal)
    return f"{subject} / {name} {shown_mobile(person.mobile, reveal)}"

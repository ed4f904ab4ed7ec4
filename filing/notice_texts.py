"""The Chinese text a person reads in a notice (站内信, 模板消息, 短信), one template per event.

The templates are data (`data/notice_templates.json`, Jinja2, one list of lines per event),
so wording changes without touching code. A text says what happened, which filing (the
mini-program's name, AppID and the kind of filing), the reasons of a return with each
field's Chinese label, what to do next and by when, in China time, in one format:
`2026-12-09 24:00（北京时间）`. Operators' escalations get a short text of their own.

Pure code with no clock and no I/O after import: the notifier activity renders it (and a
notice a filing of an earlier version made, without the filing's facts, still reads well).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from filing.dates import deadline_text
from filing.field_labels import label
from filing.messages import Reason
from filing.ports import Channel, Notice
from filing.provinces import province_by_prefix

#: A rule violation turned into a reason (`Violation.as_reason`): `R4.shared_mobile: …`.
_VIOLATION = re.compile(r"^R\d+[a-z]?\.[\w.]+: ")


@cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        resources.files("filing").joinpath("data/notice_templates.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _template(event: str) -> jinja2.Template:
    templates = _data()["templates"]
    environment = jinja2.Environment(
        autoescape=False,  # plain text, never HTML  # noqa: S701
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    return environment.from_string("\n".join(templates[event]))


def china_time(instant: datetime) -> str:
    """`2026-12-09 24:00（北京时间）`: a deadline at midnight is the end of the day before it
    (`filing.dates.deadline_text`, the one format every surface shares)."""
    return deadline_text(instant)


def reason_text(reason: Reason) -> str:
    """A reason as a person reads it: the engine's own codes in Chinese, a rule's violation
    by its Chinese message, a reviewer's words as written with their suggestion."""
    known = _data()["system_reasons"].get(reason.error)
    if known:
        return str(known)
    if _VIOLATION.match(reason.error) and reason.suggestion:
        return reason.suggestion
    if reason.suggestion:
        return f"{reason.error}（修改建议：{reason.suggestion}）"
    return reason.error


def reason_parts(reason: Reason) -> tuple[str, str | None]:
    """A reason as the console's pages show it, the problem and the suggestion apart: the
    engine's own codes (`sms_timeout`) and a rule's violation (`R4.x: <English>`) by their
    Chinese, never the English; a reviewer's words as written."""
    known = _data()["system_reasons"].get(reason.error)
    if known:
        return str(known), None
    if _VIOLATION.match(reason.error) and reason.suggestion:
        return reason.suggestion, None
    return reason.error, reason.suggestion


#: People's fields share their labels (手机号码): a notice says whose.
_WHOSE = {"subject_principal": "主体负责人", "mini_program_principal": "小程序负责人"}


def _reason_label(field: str) -> str:
    if field in ("-", "", "sms"):
        return {"sms": "短信核验"}.get(field, "申请")
    whose = _WHOSE.get(field.split(".", 1)[0], "")
    return f"{whose}{label(field)}" if whose and field.count(".") else label(field)


def _province(prefix: str | None) -> str:
    found = province_by_prefix(prefix) if prefix else None
    return found.name if found else (prefix or "")


def _filing_line(notice: Notice) -> str:
    appid = notice.appid or notice.filing_id.removeprefix("filing-")
    named = f"小程序“{notice.service_name}”（AppID：{appid}）" if notice.service_name else f"小程序 AppID：{appid}"
    kind = _data()["kinds"].get(notice.kind or "", "")
    return f"{named}{'，' + kind if kind else ''}。"


def render(notice: Notice) -> str:
    """The notice's text (what `Notice.text` carries to the person)."""
    data = _data()
    if Channel.OPERATOR in notice.channels:
        event = "_escalation"
    else:
        event = notice.event if notice.event in data["templates"] else "_other"
    stage_words = data["stages"]
    context = {
        "event": notice.event,
        "escalation": data["escalations"].get(notice.event, notice.event),
        "detail": notice.detail,
        "detail_stage": stage_words.get(notice.detail or "", "审核"),
        "kind": data["kinds"].get(notice.kind or "", "备案"),
        "is_cancellation": (notice.kind or "").startswith("CANCEL_"),
        "stage": notice.stage or "",
        "province": _province(notice.province),
        "filing": _filing_line(notice),
        "filing_number": notice.filing_number,
        "due": china_time(notice.due_at) if notice.due_at else "",
        "returned_by": data["returned_by"].get(notice.detail or notice.returned_by or "", "审核"),
        "reasons": [{"label": _reason_label(r.field), "text": reason_text(r)} for r in notice.reasons],
    }
    return _template(event).render(**context).strip()

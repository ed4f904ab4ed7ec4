"""The timeline's 说明 column as sentences for people, in Chinese.

The workflow records each entry as an event code and a short English note for operators
and the CLI (`NEW, attempt 1`, `filing_returned via in_app, template, sms`). Replaying a
filing must record exactly what it recorded, so the note stays as it is; the console
says the sentence from the entry's structured parts instead: its event, the figures the
note carries in a fixed shape (an attempt, a masked mobile, a filing number, a count of
reasons, `TimelineEntry.reasons` where recorded), and the filing's own kind and province.
Internal words (run numbers, channels' codes, English causes) never reach the page: an
entry whose note is not of a known shape is said by its event alone. Entries only the
engine cares about (continuing a run as new) are left out of people's pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from filing.dates import deadline_text
from filing.messages import FilingStatus, TimelineEntry
from filing.models import FilingKind
from filing.provinces import province_by_prefix
from service.console import labels

#: Entries of the engine's own housekeeping: not part of a filing's story for people.
HIDDEN = frozenset({"continued_as_new"})

#: What a notice told people, by the notice's event (`filing/data/notice_templates.json`).
NOTICES: dict[str, str] = {
    "platform_approved": "平台初审通过",
    "filing_returned": "备案已退回",
    "review_overdue": "审核逾期",
    "filing_approved": "备案结果",
    "filing_withdrawn": "备案已撤回",
    "filing_expired": "备案已过期",
    "filing_rejected": "申请未通过",
}
CHANNELS: dict[str, str] = {"in_app": "站内信", "template": "模板消息", "sms": "短信", "operator": "运维值班"}

_ATTEMPT = re.compile(r"attempt (\d+)")
_MOBILE = re.compile(r"1\d{2}\*{4}\d{4}")
_LEFT = re.compile(r"(\d+) attempts? left")
_NUMBER = re.compile(r"\S+ICP[备证]\S+")
_STAGE = re.compile(r"\b([A-Z_]{6,})\b")
_NOTICE = re.compile(r"^(\w+)(?: via (.+))?$")
_TICKET = re.compile(r"^(\w+) ticket")
_DUE = re.compile(r"due (\S+)")


@dataclass(frozen=True)
class Row:
    at: datetime
    event: str  # the code, for reviewers matching a page with the CLI
    title: str  # the event in Chinese
    sentence: str  # the 说明 column


def rows(status: FilingStatus, *, show_hidden: bool = False) -> list[Row]:
    """The timeline, newest first, as people read it."""
    return [Row(e.at, e.event, labels.event(e.event, status.kind), sentence(e, status))
            for e in reversed(status.timeline) if show_hidden or e.event not in HIDDEN]


def _province(prefix: str | None) -> str:
    found = province_by_prefix(prefix or "")
    return found.short_name if found else "本省"


def _count(entry: TimelineEntry, status: FilingStatus) -> int | None:
    if entry.reasons is not None:
        return entry.reasons
    latest = next((e for e in reversed(status.timeline) if e.reasons is not None or e.event.endswith("rejected")), None)
    if latest is entry and status.returned is not None:  # the current return: its reasons are on the status
        return len(status.returned.reasons)
    return None


def _rejected(what: str, entry: TimelineEntry, status: FilingStatus) -> str:
    count = _count(entry, status)
    return f"{what}：{count} 项需修改" if count else f"{what}，请按退回理由修改"


def _stage_of(detail: str) -> str:
    found = _STAGE.search(detail)
    return labels.stage(found[1]) if found else "本阶段"


def _mobile(detail: str) -> str:
    found = _MOBILE.search(detail)
    return found[0] if found else "核验人"


def _approved(entry: TimelineEntry, status: FilingStatus) -> str:
    found = _NUMBER.search(entry.detail or "")
    number = found[0] if found else status.filing_number
    said = f"，备案号 {number}" if number else ""
    if status.kind is FilingKind.CANCEL_SUBJECT:
        return f"注销成功：主体及其备案已注销{said}"
    if status.kind is FilingKind.CANCEL_MINI_PROGRAM:
        return f"注销成功：小程序备案已注销{said}"
    if status.kind is FilingKind.CANCEL_ACCESS:
        return f"已取消接入{said}"
    return f"备案成功{said}"


def _notified(detail: str, failed: bool) -> str:
    found = _NOTICE.match(detail.split(":", 1)[0].strip())
    what = NOTICES.get(found[1], "备案进展") if found else "备案进展"
    if failed:
        return f"“{what}”通知发送失败，将自动重试"
    channels = [CHANNELS.get(c.strip(), "") for c in (found[2] or "").split(",")] if found else []
    channels = [c for c in channels if c]
    return f"已通知申请人：{what}" + (f"（{'、'.join(channels)}）" if channels else "")


def sentence(entry: TimelineEntry, status: FilingStatus) -> str:
    """The entry as a sentence for people; never the engine's English note."""
    detail = entry.detail or ""
    event = entry.event
    attempt = _ATTEMPT.search(detail)
    match event:
        case "submitted":
            return f"提交{labels.kind(status.kind)}申请（第 {attempt[1] if attempt else 1} 次提交）"
        case "resubmitted":
            return f"按退回理由修改后重新提交（第 {attempt[1]} 次提交）" if attempt else "按退回理由修改后重新提交"
        case "submission_rejected":
            return _rejected("提交检查未通过", entry, status)
        case "platform_review_started":
            return "进入平台初审"
        case "platform_approved":
            return "平台初审通过"
        case "platform_rejected":
            return _rejected("平台初审驳回", entry, status)
        case "province_rejected":
            return _rejected(f"通管局审核驳回（{_province(status.province)}）", entry, status)
        case "sms_verification_started":
            return "进入工信部短信核验：核验人须在 24 小时内完成"
        case "sms_sent":
            return f"核验短信已发送至 {_mobile(detail)}" + ("（重发）" if "resend" in detail else "")
        case "sms_failed":
            return f"核验短信发送失败（{_mobile(detail)}），将自动重试" if _MOBILE.search(detail) else "核验短信发送失败，将自动重试"
        case "sms_verified":
            return f"{_mobile(detail)} 短信核验成功"
        case "sms_wrong_code":
            left = _LEFT.search(detail)
            return f"{_mobile(detail)} 验证码错误" + (f"，剩余 {left[1]} 次" if left else "")
        case "sms_resend_requested":
            return f"{_mobile(detail)} 申请重发验证码"
        case "sms_resend_refused":
            return f"{_mobile(detail)} 重发次数已用完"
        case "sms_timeout":
            return "核验人未在有效期内完成短信核验，备案已退回"
        case "sms_ignored":
            return "核验短信未在有效期内处理，注销申请终止"
        case "sms_attempts_exhausted":
            return "验证码错误次数用尽且无重发次数，备案已退回"
        case "sms_undeliverable":
            return "核验短信无法送达，请核对手机号码"
        case "provincial_review_started":
            return f"进入通管局审核（{_province(status.province)}）"
        case "approved":
            return _approved(entry, status)
        case "withdrawn":  # the detail is the applicant's own reason, in their words
            return f"申请人撤回了申请：{detail}" if detail.strip() else "申请人撤回了申请"
        case "expired":
            return "未在期限内重新提交，申请已失效"
        case "handed_over":
            found = _TICKET.match(detail)
            return f"已移交{labels.stage(found[1]) if found else '审核台'}"
        case "handover_failed":
            return "审核台暂时无法接收，已通知运维"
        case "notified" | "notification_failed":
            return _notified(detail, failed=event == "notification_failed")
        case "sla_breached":
            return f"{_stage_of(detail)}超过审核时限，已提醒运维"
        case "review_overdue":
            return "审核逾期"
        case "decision_ignored":
            return "一项审核结论或消息未生效（页面已过时或内容不符），备案状态未变"
        case "deadline_recomputed":
            due = _DUE.search(detail)
            when = deadline_text(datetime.fromisoformat(due[1])) if due else ""
            return f"按新的节假日数据重算{_stage_of(detail)}截止时间" + (f"：{when}" if when else "") + (
                "（暂定）" if "provisional" in detail else "")
        case "deadline_unavailable":
            return "截止时间暂无法计算，已通知运维"
        case "calendar_refused":
            return "节假日数据不符合要求，未采用，已通知运维"
        case "continued_as_new":
            return "办理记录已续接（不影响办理）"
        case "check_unavailable":
            return "提交检查所需服务暂不可用，已退回，请稍后重新提交"
        case "registry_unavailable":
            return "备案库暂时无法访问，已通知运维"
    return labels.event(event) if event in labels.EVENTS else "办理进展"

"""The timeline's 说明 column says what happened in Chinese (issue 19, item 4): the entries
below are what the workflow records (its English notes, as workflows/ writes them), and
the page must say "平台初审驳回：1 项需修改" and "进入通管局审核（河北）", never "NEW, attempt 1",
"filing_returned via in_app, template, sms" or "continued_as_new run 2"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from filing.messages import FilingStatus, Reason, ReturnedBy, ReturnedView, Stage, TimelineEntry
from filing.models import FilingKind
from service.console.render import environment
from service.console.timeline import rows
from tests.browser.pages_scan import english_in, visible_text

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

#: A filing returned once by the platform (an entry of an older worker: no `reasons` kept),
#: resubmitted, continued as new, verified by SMS, with the province; as the workflow records it.
RECORDED = [
    ("submitted", "NEW, attempt 1", None),
    ("platform_review_started", None, None),
    ("handed_over", "PLATFORM_REVIEW ticket T-1", None),
    ("platform_rejected", "by r-01", 2),
    ("notified", "filing_returned via in_app, template, sms", None),
    ("continued_as_new", "run 2 (resubmission)", None),
    ("resubmitted", "attempt 2", None),
    ("platform_review_started", None, None),
    ("platform_approved", "by r-01", None),
    ("sms_verification_started", None, None),
    ("sms_sent", "138****8000", None),
    ("sms_wrong_code", "138****8000: 4 attempts left", None),
    ("sms_resend_requested", "138****8000", None),
    ("sms_sent", "138****8000 (resend)", None),
    ("sms_failed", "138****8000: RetryLater: gateway answered 503", None),
    ("sms_verified", "138****8000", None),
    ("provincial_review_started", None, None),
    ("decision_ignored", "province_decision approve by 冀-07: not applied: the subject number … is held by …", None),
    ("deadline_recomputed", "PROVINCIAL_REVIEW due 2026-12-29T16:00:00+00:00 (provisional), calendar 3", None),
    ("sla_breached", "PROVINCIAL_REVIEW past 2026-12-29T16:00:00+00:00", None),
    ("notification_failed", "review_overdue: WebhookUnavailable: no answer", None),
    ("province_rejected", "by 冀-07", None),
]


def status(kind: FilingKind = FilingKind.NEW, stage: Stage = Stage.RETURNED) -> FilingStatus:
    timeline = [TimelineEntry(at=T0 + timedelta(minutes=i), event=e, detail=d, reasons=n)
                for i, (e, d, n) in enumerate(RECORDED)]
    return FilingStatus(filing_id="filing-wx1234567890abcdef", kind=kind, stage=stage, attempt=2, timeline=timeline,
                        province="冀", returned=ReturnedView(by=ReturnedBy.PROVINCE, reasons=[
                            Reason(field="subject.address.detail", error="地址未写到门牌号")]))


def page(s: FilingStatus) -> str:
    return environment().from_string('{% import "_filing.html" as f %}{{ f.timeline(s) }}').render(s=s)


def test_the_timeline_says_each_step_as_a_chinese_sentence():
    said = [row.sentence for row in reversed(rows(status()))]
    assert said[0] == "提交新增备案申请（第 1 次提交）"
    assert "平台初审驳回：2 项需修改" in said
    assert "按退回理由修改后重新提交（第 2 次提交）" in said
    assert "已通知申请人：备案已退回（站内信、模板消息、短信）" in said
    assert "进入通管局审核（河北）" in said
    assert "138****8000 验证码错误，剩余 4 次" in said and "核验短信已发送至 138****8000（重发）" in said
    assert "按新的节假日数据重算通管局审核截止时间：2026-12-29 24:00（北京时间）（暂定）" in said
    # The current return (by the province) counts the reasons on the status: an older entry without `reasons`.
    assert said[-1] == "通管局审核驳回（河北）：1 项需修改"


def test_no_internal_words_and_no_english_reach_the_page():
    html = page(status())
    text = visible_text(html)
    for internal in ("NEW, attempt 1", "via in_app", "continued_as_new", "run 2", "resubmission", "RetryLater",
                     "WebhookUnavailable", "not applied", "by r-01", "续接"):
        assert internal not in text, internal
    assert not english_in(text), english_in(text)
    assert "平台初审驳回：2 项需修改" in text


def test_a_cancellation_s_approval_is_worded_as_what_it_is():
    s = status(FilingKind.CANCEL_MINI_PROGRAM, Stage.APPROVED).model_copy(update={"timeline": [
        TimelineEntry(at=T0, event="submitted", detail="CANCEL_MINI_PROGRAM, attempt 1"),
        TimelineEntry(at=T0, event="approved", detail="冀ICP备18021892号-1X by 冀-07")], "returned": None})
    said = [row.sentence for row in rows(s)]
    assert said == ["注销成功：小程序备案已注销，备案号 冀ICP备18021892号-1X", "提交注销小程序申请（第 1 次提交）"]
    assert "备案成功" not in visible_text(page(s))


def test_a_return_s_reasons_read_in_chinese_whoever_gave_them():
    """The engine's own codes (`sms_timeout`, English suggestion) and a rule's violation
    (`R4.x: <English>`) showed their English in the red box; a reviewer's words stay as written."""
    reasons = [Reason(field="sms", error="sms_timeout", suggestion="no SMS verification within the window; 请重新提交"),
               Reason(field="subject_principal.emergency_mobile", error="R4.emergency_mobile_same: must differ",
                      suggestion="应急联系电话不能与手机号码相同"),
               Reason(field="subject.address.detail", error="地址未写到门牌号", suggestion="请填写到门牌号")]
    html = environment().from_string('{% import "_filing.html" as f %}{% for r in rs %}{{ f.reason_item(r) }}{% endfor %}'
                                     ).render(rs=reasons)
    text = visible_text(html)
    assert "核验人未在短信有效期内完成工信部短信核验" in text and "应急联系电话不能与手机号码相同" in text
    assert "地址未写到门牌号" in text and "建议：请填写到门牌号" in text
    assert not english_in(text), english_in(text)

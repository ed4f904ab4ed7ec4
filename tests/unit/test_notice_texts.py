"""The Chinese text of every notice, per event, against golden files read by eye
(tests/golden/notices/*.txt), and the 12381 SMS text.

`UPDATE_GOLDEN=1` rewrites the golden files from today's templates: then read the diff.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.sms import SMS_TEXT, window_text
from filing.messages import Reason
from filing.notice_texts import china_time, render
from filing.ports import Channel, Notice

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notices"
APPLICANT = [Channel.IN_APP, Channel.TEMPLATE, Channel.SMS]
#: 2026-12-09 16:00 UTC is midnight in Beijing: the end of 12-09, said as 24:00.
DUE = datetime(2026, 12, 9, 16, 0, tzinfo=UTC)


def notice(event: str, **fields: object) -> Notice:
    base: dict[str, object] = {
        "filing_id": "filing-wx1234567890abcdef", "attempt": 1, "event": event, "channels": APPLICANT,
        "idempotency_key": f"k:{event}", "appid": "wx1234567890abcdef", "kind": "NEW", "service_name": "示例小程序",
        "province": "冀",
    }
    return Notice.model_validate({**base, **fields})


CASES: dict[str, Notice] = {
    "platform_approved_sms": notice("platform_approved", stage="SMS_VERIFICATION", due_at=DUE),
    "platform_approved_province": notice("platform_approved", kind="CANCEL_ACCESS", stage="PROVINCIAL_REVIEW",
                                         due_at=datetime(2027, 1, 6, 16, 0, tzinfo=UTC)),
    "filing_returned": notice(
        "filing_returned", stage="RETURNED", due_at=DUE + timedelta(days=29, hours=3, minutes=30), detail="PLATFORM",
        returned_by="PLATFORM",
        reasons=[Reason(field="subject.address.detail", error="通讯地址与营业执照住所不一致",
                        suggestion="请按营业执照填写详细地址"),
                 Reason(field="mini_program_principal.person.mobile",
                        error="R4.shared_mobile: the mobile is another person's", suggestion="该手机号码已被他人使用"),
                 Reason(field="mini_program.pre_approvals[1].document", error="前置审批文件不清晰")]),
    "filing_returned_sms_timeout": notice(
        "filing_returned", stage="RETURNED", due_at=DUE, detail="MIIT_SMS", returned_by="MIIT_SMS",
        reasons=[Reason(field="sms", error="sms_timeout", suggestion="no SMS verification within the window")]),
    "review_overdue": notice("review_overdue", channels=[Channel.IN_APP], stage="PROVINCIAL_REVIEW",
                             detail="PROVINCIAL_REVIEW"),
    "filing_approved": notice("filing_approved", stage="APPROVED", filing_number="冀ICP备18021892号-1X"),
    "filing_approved_cancellation": notice("filing_approved", kind="CANCEL_MINI_PROGRAM", stage="APPROVED",
                                           service_name=None, filing_number="冀ICP备18021892号-1X"),
    "filing_withdrawn": notice("filing_withdrawn", stage="WITHDRAWN"),
    "filing_withdrawn_sms_ignored": notice(
        "filing_withdrawn", kind="CANCEL_SUBJECT", stage="WITHDRAWN", service_name=None, returned_by="MIIT_SMS",
        reasons=[Reason(field="sms", error="sms_ignored", suggestion="x")]),
    "filing_expired": notice("filing_expired", stage="EXPIRED"),
    "filing_rejected": notice(
        "filing_rejected", kind="CANCEL_MINI_PROGRAM", stage="REJECTED", returned_by="PROVINCE", service_name=None,
        reasons=[Reason(field="reason", error="注销原因与实际情况不符", suggestion="请如实填写注销原因")]),
    "escalation_sla_breached": notice("sla_breached", channels=[Channel.OPERATOR], stage="PROVINCIAL_REVIEW",
                                      detail="PROVINCIAL_REVIEW SLA passed without a decision"),
    # A notice a filing of an earlier version made: none of the filing's facts, only its id.
    "earlier_version_platform_approved": Notice(
        filing_id="filing-wx1234567890abcdef", attempt=1, event="platform_approved",
        channels=[Channel.IN_APP, Channel.TEMPLATE], idempotency_key="k"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_event_reads_as_its_golden_file(case: str) -> None:
    text = render(CASES[case])
    golden = GOLDEN / f"{case}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")


def test_every_golden_file_is_rendered_by_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(CASES)


def test_a_return_names_each_field_by_its_chinese_label_and_the_deadline_in_china_time() -> None:
    text = render(CASES["filing_returned"])
    assert "详细通讯地址：通讯地址与营业执照住所不一致（修改建议：请按营业执照填写详细地址）" in text
    assert "小程序负责人手机号码：该手机号码已被他人使用" in text  # a rule's Chinese message, not its key
    assert "前置审批文件（第2项）" in text
    assert "R4.shared_mobile" not in text and "subject.address.detail" not in text
    assert "截止时间 2027-01-08 03:30（北京时间）" in text  # 2027-01-07 19:30 UTC


def test_deadlines_are_said_in_china_time_midnight_as_24_00() -> None:
    assert china_time(DUE) == "2026-12-09 24:00（北京时间）"
    assert china_time(datetime(2026, 12, 9, 1, 5, tzinfo=UTC)) == "2026-12-09 09:05（北京时间）"


def test_the_12381_sms_is_signed_names_the_verification_page_and_the_window_in_force() -> None:
    first = SMS_TEXT.format(code="123456", window=window_text(timedelta(hours=24)))
    assert first.startswith("【工业和信息化部】验证码：123456。")
    assert "https://beian.miit.gov.cn/" in first and "短信核验" in first and "证件号码后6位" in first
    assert "请在24小时内访问" in first
    assert window_text(timedelta(minutes=90)) == "90分钟内"
    # A resend closes with the window already open (L3: a resend does not extend it).
    resend = SMS_TEXT.format(code="654321", window=window_text(timedelta(hours=24), DUE))
    assert "请在2026-12-09 24:00（北京时间）前访问" in resend

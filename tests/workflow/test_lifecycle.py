"""L1–L9 on the time-skipping server: one test per path of SPEC §4."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from filing.examples import example_application
from filing.messages import ReturnedBy, Stage
from filing.models import FilingKind
from tests.conftest import unique
from tests.workflow.harness import Filing, launch
from workflows import search_attributes as sa

NUMBER = "冀ICP备18021892号-2X"


async def new_filing(env: WorkflowEnvironment, engine, **kwargs) -> Filing:
    policy = kwargs.pop("policy", None)
    appid = kwargs.pop("appid", None) or f"wx{abs(hash(unique('app'))) % 16**16:016x}"
    application = example_application(await env.get_current_time(), appid=appid, **kwargs)
    return await launch(env, engine.task_queue, engine.data_dir, application, policy)


async def to_sms(filing: Filing) -> None:
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None and s.sms.expires_at is not None)


async def test_happy_path_one_verifier(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    answer = await filing.verify(person.mobile)
    assert answer == {"result": "verified", "attempts_left": 5, "all_verified": True}
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER)
    outcome = await filing.result()
    assert outcome.stage is Stage.APPROVED
    assert outcome.filing_number == NUMBER
    assert outcome.attempts == 1
    events = [e.event for e in outcome.timeline if e.event != "notified"]
    assert events[0] == "submitted" and events[-1] == "approved"
    assert {"platform_approved", "sms_sent", "sms_verified", "provincial_review_started"} <= set(events)
    assert any(n["event"] == "filing_approved" and n["filing_number"] == NUMBER for n in filing.notifications())


async def test_happy_path_two_verifiers(env, engine):
    filing = await new_filing(env, engine, own_mini_program_principal=True)
    await to_sms(filing)
    first, second = filing.application.verifiers()
    assert (await filing.verify(first.mobile))["all_verified"] is False
    status = await filing.status()
    assert status.stage is Stage.SMS_VERIFICATION
    assert [v.verified for v in status.sms.verifiers] == [True, False]
    assert (await filing.verify(second.mobile))["all_verified"] is True
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER)
    assert (await filing.result()).stage is Stage.APPROVED
    # Never an SMS to an emergency contact.
    emergency = {p.emergency_mobile for p in filing.application.verifiers()}
    assert not emergency & {m["to"] for m in filing.outbox()}


async def test_platform_reject_resubmit_approve(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    reasons = [{"field": "subject.address", "error": "地址不完整", "suggestion": "填写门牌号"}]
    await filing.platform("reject", reasons=reasons, attempt=1)
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.PLATFORM
    assert status.returned.reasons[0].field == "subject.address"
    await filing.wait_for(lambda s: s.timeline[-1].event == "notified")
    assert any(n["event"] == "filing_returned" for n in filing.notifications())

    corrected = filing.application.model_copy(deep=True)
    corrected.subject.address.detail = "裕华路1号院2号楼301室"
    answer = await filing.handle.execute_update("resubmit", {"application": corrected.model_dump(mode="json")}, result_type=dict)
    assert answer == {"attempt": 2}
    await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
    await filing.platform("approve", attempt=2)
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER, attempt=2)
    outcome = await filing.result()
    assert (outcome.stage, outcome.attempts) == (Stage.APPROVED, 2)


async def test_resubmission_breaking_rules_is_refused_by_validator(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=[{"field": "mini_program.name", "error": "名称不规范"}])
    await filing.wait_stage(Stage.RETURNED)
    broken = filing.application.model_dump(mode="json")
    broken["subject_principal"]["emergency_mobile"] = broken["subject_principal"]["mobile"]
    broken["subject_principal"]["identity_document"]["number"] = "110105194912310021"
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await filing.handle.execute_update("resubmit", {"application": broken}, result_type=dict)
    message = str(failure.value.cause)
    assert "R4.emergency_same_as_own" in message and "R3." in message
    history = [e async for e in filing.handle.fetch_history_events()]
    assert not [e for e in history if "UPDATE" in EventType.Name(e.event_type)], "a refused update leaves no trace"
    assert (await filing.status()).attempt == 1


async def test_wrong_code_then_right_code(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    right = filing.latest_code(person.mobile)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert await filing.verify(person.mobile, wrong) == {"result": "wrong_code", "attempts_left": 4, "all_verified": False}
    # Wrong document digits with the right code is a wrong entry too.
    assert (await filing.verify(person.mobile, right, id_last6="000000"))["result"] == "wrong_code"
    assert await filing.verify(person.mobile, right) == {"result": "verified", "attempts_left": 3, "all_verified": True}
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)


async def wrong_entries(filing: Filing, mobile: str, n: int) -> dict:
    right = filing.latest_code(mobile)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    answer = {}
    for _ in range(n):
        answer = await filing.verify(mobile, wrong)
    return answer


async def test_five_wrong_codes_then_resend_then_verified(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    old_code = filing.latest_code(person.mobile)
    assert await wrong_entries(filing, person.mobile, 5) == {"result": "wrong_code", "attempts_left": 0, "all_verified": False}
    # The code is used up: even the right one no longer counts.
    assert (await filing.verify(person.mobile, old_code))["result"] == "no_valid_code"
    assert (await filing.status()).stage is Stage.SMS_VERIFICATION
    resent = await filing.resend(person.mobile)
    assert resent == {"sent": True, "resends_left": 0, "reason": None}
    new_code = filing.latest_code(person.mobile)
    assert len([m for m in filing.outbox() if m["to"] == person.mobile]) == 2
    if new_code != old_code:  # the old code is void after a resend
        assert (await filing.verify(person.mobile, old_code))["result"] == "wrong_code"
    assert (await filing.verify(person.mobile, new_code))["result"] == "verified"
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)


async def test_second_resend_refused(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    first = await filing.resend(person.mobile)
    second = await filing.resend(person.mobile)
    assert first["sent"] is True
    assert second == {"sent": False, "resends_left": 0, "reason": "resend_limit_reached"}
    assert len([m for m in filing.outbox() if m["to"] == person.mobile]) == 2


async def test_resend_does_not_extend_window_and_timeout_returns(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    expires_at = (await filing.status()).sms.expires_at
    await filing.skip(timedelta(hours=20))
    await filing.resend(person.mobile)
    assert (await filing.status()).sms.expires_at == expires_at
    await filing.skip(timedelta(hours=4, minutes=1))
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.MIIT_SMS
    assert [r.error for r in status.returned.reasons] == ["sms_timeout"]
    returned_at = next(e.at for e in status.timeline if e.event == "sms_timeout")
    assert returned_at - expires_at < timedelta(minutes=1)
    assert returned_at >= expires_at


async def test_no_verification_in_24_hours_returns_sms_timeout(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    await filing.skip(timedelta(hours=23, minutes=59))
    assert (await filing.status()).stage is Stage.SMS_VERIFICATION
    await filing.skip(timedelta(minutes=2))
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.reasons[0].error == "sms_timeout"


async def test_attempts_exhausted_without_resend_returns_at_once(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.application.verifiers()
    await filing.resend(person.mobile)
    await wrong_entries(filing, person.mobile, 5)
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.MIIT_SMS
    assert status.returned.reasons[0].error == "sms_attempts_exhausted"


async def test_provincial_reject(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("reject", reasons=[{"field": "mini_program.service_categories", "error": "类目与内容不符"}])
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.PROVINCE


async def test_platform_sla_breach_flags_escalates_once_and_keeps_waiting(env, engine):
    filing = await new_filing(env, engine)
    status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
    due_at = status.deadline.due_at
    assert not status.deadline.sla_breached
    await filing.skip(due_at - await filing.now() - timedelta(minutes=1))
    assert not (await filing.status()).deadline.sla_breached
    await filing.skip(timedelta(minutes=2))
    status = await filing.wait_for(lambda s: s.deadline.sla_breached)
    assert status.stage is Stage.PLATFORM_REVIEW
    assert (await filing.handle.describe()).typed_search_attributes.get(sa.SLA_BREACHED) is True
    await filing.skip(timedelta(days=10))
    escalations = [n for n in filing.notifications() if n["event"] == "sla_breached"]
    assert len(escalations) == 1 and escalations[0]["channels"] == ["operator"]
    await filing.platform("approve")
    await filing.wait_stage(Stage.SMS_VERIFICATION)


async def test_provincial_sla_breach_after_20_business_days(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    await filing.verify_all()
    status = await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    entered = next(e.at for e in status.timeline if e.event == "provincial_review_started")
    assert status.deadline.due_at - entered >= timedelta(days=26)  # 20 business days: at least 4 weeks
    await filing.skip(status.deadline.due_at - await filing.now() + timedelta(minutes=1))
    status = await filing.wait_for(lambda s: s.deadline.sla_breached)
    assert status.stage is Stage.PROVINCIAL_REVIEW
    await filing.province("approve", filing_number=NUMBER)
    assert (await filing.result()).stage is Stage.APPROVED
    assert len([n for n in filing.notifications() if n["event"] == "sla_breached"]) == 1


async def test_out_of_turn_decisions_are_ignored_and_recorded(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.province("approve", filing_number=NUMBER)  # wrong stage
    await filing.platform("approve", attempt=2)  # stale / future attempt
    await filing.handle.signal("platform_decision", {"decision": "maybe", "reviewer": "r-01"})  # malformed
    status = await filing.wait_for(lambda s: sum(e.event == "decision_ignored" for e in s.timeline) == 3)
    ignored = [e.detail for e in status.timeline if e.event == "decision_ignored"]
    assert "stage PLATFORM_REVIEW, not PROVINCIAL_REVIEW" in ignored[0]
    assert "attempt 2" in ignored[1]
    assert "malformed" in ignored[2]
    assert status.stage is Stage.PLATFORM_REVIEW
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number="冀ICP备1802号-2X")  # malformed number
    await filing.province("approve", filing_number="京ICP备18021892号-2X")  # another province
    await filing.province("approve")  # no number for a NEW filing
    status = await filing.wait_for(lambda s: sum(e.event == "decision_ignored" for e in s.timeline) == 6)
    assert status.stage is Stage.PROVINCIAL_REVIEW and status.filing_number is None
    await filing.province("approve", filing_number=NUMBER)
    assert (await filing.result()).filing_number == NUMBER


async def test_withdraw_before_platform_approval(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    answer = await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
    assert answer == {"stage": "WITHDRAWN"}
    outcome = await filing.result()
    assert outcome.stage is Stage.WITHDRAWN


async def test_withdraw_refused_after_platform_approval(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
    assert "SMS_VERIFICATION" in str(failure.value.cause)
    assert (await filing.status()).stage is Stage.SMS_VERIFICATION


async def test_expiry_30_days_after_return(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=[{"field": "subject.name", "error": "与证件不符"}])
    status = await filing.wait_stage(Stage.RETURNED)
    returned_at = next(e.at for e in status.timeline if e.event == "platform_rejected")
    assert status.deadline.due_at - returned_at == timedelta(days=30)
    await filing.skip(timedelta(days=29, hours=23))
    assert (await filing.status()).stage is Stage.RETURNED
    outcome = await filing.result()
    assert outcome.stage is Stage.EXPIRED

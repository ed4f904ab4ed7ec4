"""The registry of filings over the life of a mini-program (SPEC §2, §11, R8, L8), on the
time-skipping server: each test is what applicants and reviewers do over days, and the
registry (SQLite in the engine's data dir) is what remembers it between filings."""

from __future__ import annotations

from datetime import timedelta

from filing.examples import example_application
from filing.messages import ReturnedBy, Stage
from filing.models import Application, CancellationRequest, FilingKind
from filing.registry import RecordState
from tests.workflow.harness import Filing, launch, launch_cancellation, registry_of
from tests.registry.filings import uscc_of

SUBJECT = "冀ICP备18021892号"


async def approve_new(env, engine, application: Application, number: str) -> Filing:
    """A NEW filing driven to APPROVED: platform, SMS, province with `number`."""
    filing = await launch(env, engine.task_queue, engine.data_dir, application)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=number)
    assert (await filing.result()).stage is Stage.APPROVED
    return filing


def app(now, appid: str, **kwargs) -> Application:
    return example_application(now, appid=appid, **kwargs)


async def test_a_mini_program_is_filed_changed_cancelled_and_then_cannot_be_changed(env, engine):
    now = await env.get_current_time()
    appid, number = "wx00000000000000a1", f"{SUBJECT}-1X"
    new = await approve_new(env, engine, app(now, appid, own_mini_program_principal=True), number)
    registry = registry_of(engine.data_dir)
    held = await registry.mini_program(appid)
    assert held is not None and held.service_number == number and held.state is RecordState.ACTIVE
    assert held.last_filing_id == new.handle.id

    # Two days later the applicant renames the mini-program: a CHANGE of its number.
    await env.sleep(timedelta(days=2))
    now = await env.get_current_time()
    renamed = app(now, appid, kind=FilingKind.CHANGE, own_mini_program_principal=True)
    renamed = renamed.model_copy(update={
        "filing_number": number, "mini_program": renamed.mini_program.model_copy(update={"name": "改名小程序"})})
    change = await approve_change(env, engine, renamed)
    assert (await change.result()).filing_number == number
    assert (await registry.mini_program(appid)).name == "改名小程序"

    # A week later it is cancelled: the SMS goes to the mini-program principal on record.
    await env.sleep(timedelta(days=7))
    on_record = await registry.people_on_record(number)
    request = CancellationRequest(kind=FilingKind.CANCEL_MINI_PROGRAM, appid=appid, filing_number=number, reason="停止运营")
    cancel = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [on_record.mini_program_principal])
    await cancel.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    status = await cancel.status()
    assert [v.mobile for v in status.sms.verifiers] == ["137****7000"]  # the mini-program principal only
    assert not any(e.event == "platform_review_started" for e in status.timeline)  # no platform review
    await cancel.verify_all()
    await cancel.wait_stage(Stage.PROVINCIAL_REVIEW)
    await cancel.province("approve")
    outcome = await cancel.result()
    assert outcome.stage is Stage.APPROVED and outcome.filing_number == number
    assert (await registry.mini_program(appid)).state is RecordState.CANCELLED

    # Then a CHANGE of that number, started directly (skipping the starter): returned at L1.
    late = app(await env.get_current_time(), appid, kind=FilingKind.CHANGE).model_copy(update={"filing_number": number})
    refused = await launch(env, engine.task_queue, engine.data_dir, late)
    status = await refused.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.SUBMISSION
    assert [r.error.split(":")[0] for r in status.returned.reasons] == ["R8.not_on_record"]


async def approve_change(env, engine, application: Application) -> Filing:
    filing = await launch(env, engine.task_queue, engine.data_dir, application)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve")  # a CHANGE keeps its number
    assert (await filing.result()).stage is Stage.APPROVED
    return filing


async def test_a_second_mini_program_of_the_subject_is_numbered_under_it(env, engine):
    now = await env.get_current_time()
    await approve_new(env, engine, app(now, "wx00000000000000b1"), f"{SUBJECT}-1X")
    registry = registry_of(engine.data_dir)
    second = app(await env.get_current_time(), "wx00000000000000b2")  # the server's time now: the first filing may have skipped it on
    second = second.model_copy(update={"subject": second.subject.model_copy(update={"subject_number": SUBJECT})})
    proposed = await registry.next_number(SUBJECT)
    assert proposed == f"{SUBJECT}-2X"
    await approve_new(env, engine, second, proposed)
    assert [e.service_number for e in await registry.lookup(subject=second.subject.name)] == [
        f"{SUBJECT}-1X", f"{SUBJECT}-2X"]


async def test_two_reviewers_issuing_one_number_apply_it_once(env, engine):
    now = await env.get_current_time()
    first = await launch(env, engine.task_queue, engine.data_dir, app(now, "wx00000000000000c1"))
    other = app(now, "wx00000000000000c2")  # another company, another subject
    unit = other.subject.unit_certificate.model_copy(update={"number": uscc_of("另一家示例公司")})  # its own certificate
    other = other.model_copy(update={"subject": other.subject.model_copy(update={"name": "另一家示例公司",
                                                                                 "unit_certificate": unit})})
    second = await launch(env, engine.task_queue, engine.data_dir, other)
    for filing in (first, second):
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    number = "冀ICP备20250001号-1X"
    applied = await first.handle.execute_update("decide_province", {"decision": "approve", "reviewer": "冀-01",
                                                                     "filing_number": number}, result_type=dict)
    assert applied["applied"] is True
    refused = await second.handle.execute_update("decide_province", {"decision": "approve", "reviewer": "冀-02",
                                                                      "filing_number": number}, result_type=dict)
    assert refused["applied"] is False and number in refused["why"]
    status = await second.status()
    assert status.stage is Stage.PROVINCIAL_REVIEW and status.ignored == {"province_decision": 1}
    assert "not applied" in status.timeline[-1].detail
    # The reviewer takes another number: applied.
    await second.province("approve", filing_number="冀ICP备20250002号-1X")
    assert (await second.result()).filing_number == "冀ICP备20250002号-1X"


async def test_an_ignored_cancellation_sms_withdraws_it_and_the_filing_stays_active(env, engine):
    now = await env.get_current_time()
    appid, number = "wx00000000000000d1", f"{SUBJECT}-1X"
    await approve_new(env, engine, app(now, appid), number)
    registry = registry_of(engine.data_dir)
    people = await registry.people_on_record(number)
    request = CancellationRequest(kind=FilingKind.CANCEL_MINI_PROGRAM, appid=appid, filing_number=number, reason="误操作")
    cancel = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [people.mini_program_principal])
    await cancel.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    assert len(cancel.outbox()) == 2  # the NEW's one code, then the cancellation's
    await env.sleep(timedelta(hours=24, minutes=1))  # the applicant ignores the SMS (想终止注销流程，忽略该条短信即可)
    outcome = await cancel.result()
    assert outcome.stage is Stage.WITHDRAWN
    assert [r.error for r in outcome.returned.reasons] == ["sms_ignored"]
    assert (await registry.mini_program(appid)).state is RecordState.ACTIVE


async def test_a_subject_cancellation_cancels_every_mini_program_of_the_subject(env, engine):
    now = await env.get_current_time()
    await approve_new(env, engine, app(now, "wx00000000000000e1"), f"{SUBJECT}-1X")
    # The first filing's wait may let the shared time-skipping server jump past other tests'
    # timers: the second application is made at the server's time now, as a person files it.
    second = app(await env.get_current_time(), "wx00000000000000e2")
    second = second.model_copy(update={"subject": second.subject.model_copy(update={"subject_number": SUBJECT})})
    await approve_new(env, engine, second, f"{SUBJECT}-2X")
    registry = registry_of(engine.data_dir)
    people = await registry.people_on_record(f"{SUBJECT}-1X")
    request = CancellationRequest(kind=FilingKind.CANCEL_SUBJECT, appid="wx00000000000000e1", filing_number=SUBJECT,
                                  reason="公司注销")
    cancel = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [people.subject_principal])
    await cancel.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    await cancel.verify_all()
    await cancel.wait_stage(Stage.PROVINCIAL_REVIEW)
    await cancel.province("approve")
    assert (await cancel.result()).stage is Stage.APPROVED
    states = {e.service_number: e.state
              for e in await registry.lookup(subject=second.subject.name, include_cancelled=True)}
    assert states == {f"{SUBJECT}-1X": RecordState.CANCELLED, f"{SUBJECT}-2X": RecordState.CANCELLED}


async def test_a_cancellation_of_a_number_never_filed_started_directly_is_rejected_at_l1(env, engine):
    request = CancellationRequest(kind=FilingKind.CANCEL_MINI_PROGRAM, appid="wx00000000000000f1",
                                  filing_number=f"{SUBJECT}-9X", reason="注销")
    cancel = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [])
    outcome = await cancel.result()
    assert outcome.stage is Stage.REJECTED
    (reason,) = outcome.returned.reasons
    assert reason.error.startswith("R8.not_on_record") and reason.suggestion == "小程序未备案,不支持注销"
    assert cancel.outbox() == []


async def test_a_cancellation_cannot_be_withdrawn(env, engine):
    now = await env.get_current_time()
    appid, number = "wx0000000000000101", f"{SUBJECT}-1X"
    await approve_new(env, engine, app(now, appid), number)
    request = CancellationRequest(kind=FilingKind.CANCEL_ACCESS, appid=appid, filing_number=number, reason="平台停止接入")
    cancel = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [])
    await cancel.wait_stage(Stage.PLATFORM_REVIEW)
    answer_error = None
    try:
        await cancel.handle.execute_update("withdraw", {"reason": "算了"}, result_type=dict)
    except Exception as err:  # noqa: BLE001 - the refusal is what is checked
        answer_error = str(getattr(err, "cause", err))
    assert answer_error is not None and "cannot be withdrawn" in answer_error
    await cancel.platform("approve")
    await cancel.wait_stage(Stage.PROVINCIAL_REVIEW)
    sent_before = len(cancel.outbox())
    await cancel.province("approve")
    assert (await cancel.result()).stage is Stage.APPROVED
    assert len(cancel.outbox()) == sent_before  # CANCEL_ACCESS texts nobody
    assert (await registry_of(engine.data_dir).mini_program(appid)).state is RecordState.ACCESS_CANCELLED

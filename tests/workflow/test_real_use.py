"""The paths real use walks and the engine's own tests once missed (issue: "correct on the
paths real use walks"). Each test is a user's sequence, and each failed on 630f8ca.

- the second filing of a mini-program gets its own effects, and the first one's code is void;
- a client that skips the starter starts an application that breaks a rule: returned at L1;
- an operator's typo in a calendar file: refused, escalated, the deadline in force kept;
- a reviewer deciding while a notice is slow: the decision is not lost;
- an SMS gateway whose answer is lost: the retry sends the same code, and it verifies;
- a worker that lacks the current SMS key: the filing waits, no attempt is spent (integration);
- a client that forgot the codec: personal data is refused, not stored in clear.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.notify import NotifyActivities
from activities.sms import SmsActivities
from adapters.notifier import FileNotifier
from adapters.sms_outbox import OutboxSmsGateway
from engine.settings import Settings
from engine.updates import UpdateRefused, send_update
from engine.launch import start_filing
from engine.wiring import engine_activities
from filing.calendar import BusinessCalendar
from filing.examples import example_application, example_resident_id
from filing.messages import ReturnedBy, Stage
from filing.models import FilingKind
from filing.ports import Notice, SmsMessage
from tests.workflow.harness import Filing, launch, store_example_materials
from tests.workflow.test_lifecycle import new_filing, to_sms
from tests.workflow.test_registry_paths import SUBJECT, approve_new


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x] if path.exists() else []


# --- 1. the second filing of a mini-program ------------------------------------------


async def test_a_change_after_an_approved_new_gets_its_own_handover_and_sms(env, engine):
    now = await env.get_current_time()
    appid, number = "wx0000000000001001", f"{SUBJECT}-1X"
    first = await approve_new(env, engine, example_application(now, appid=appid), number)
    (person,) = first.people
    old_code = first.latest_code(person.mobile)
    handovers = len(lines(engine.data_dir / "handovers.jsonl"))

    await env.sleep(timedelta(days=20))  # weeks later, the applicant changes the filing
    change = example_application(await env.get_current_time(), appid=appid, kind=FilingKind.CHANGE)
    change = change.model_copy(update={"filing_number": number})
    second = await launch(env, engine.task_queue, engine.data_dir, change)
    await second.wait_stage(Stage.PLATFORM_REVIEW)
    await second.wait_for(lambda s: any(e.event == "handed_over" for e in s.timeline))
    assert len(lines(engine.data_dir / "handovers.jsonl")) == handovers + 1  # its own hand-over reached the desk
    await to_sms(second)
    sent = [m for m in second.outbox() if m["to"] == person.mobile]
    assert len(sent) == 2 and sent[1]["idempotency_key"].startswith(second.key)  # its own SMS
    if sent[1]["code"] != old_code:  # the NEW's weeks-old code is no code of the CHANGE
        assert (await second.verify(person.mobile, old_code))["result"] == "wrong_code"
    assert (await second.verify(person.mobile, sent[1]["code"]))["result"] == "verified"


async def test_a_withdrawn_filing_then_a_new_one_of_the_same_appid_gets_its_own_effects(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_for(lambda s: any(e.event == "handed_over" for e in s.timeline))
    await filing.handle.execute_update("withdraw", {"reason": "换个名字"}, result_type=dict)
    assert (await filing.result()).stage is Stage.WITHDRAWN
    again = await launch(env, engine.task_queue, engine.data_dir, filing.application)  # the very same file
    assert again.key != filing.key
    await again.wait_for(lambda s: any(e.event == "handed_over" for e in s.timeline))
    desk = lines(engine.data_dir / "handovers.jsonl")
    assert [h["idempotency_key"].split(":")[0] for h in desk] == [filing.key, again.key]
    await to_sms(again)
    assert len(again.outbox()) == 1 and again.outbox()[0]["idempotency_key"].startswith(again.key)


# --- 2. a client that skips the starter ---------------------------------------------


async def test_a_direct_start_with_a_stale_face_record_is_returned_with_reasons(env, engine):
    now = await env.get_current_time()
    application = example_application(now, appid="wx0000000000002001")
    face = application.mini_program_principal.face_verification.model_copy(update={"verified_at": now - timedelta(days=4)})
    application = application.model_copy(update={
        "mini_program_principal": application.mini_program_principal.model_copy(update={"face_verification": face})})
    filing = await launch(env, engine.task_queue, engine.data_dir, application)  # no rule check before starting
    status = await filing.wait_stage(Stage.RETURNED)
    assert status.returned.by is ReturnedBy.SUBMISSION
    assert [r.error.split(":")[0] for r in status.returned.reasons] == ["R7.face_verification_stale"]
    # The notice goes out beside the main flow: RETURNED may show before it is delivered.
    await filing.wait_for(lambda _: [n["event"] for n in filing.notifications()][-1:] == ["filing_returned"])
    assert lines(engine.data_dir / "handovers.jsonl") == []


async def test_a_direct_start_with_a_wrong_id_check_digit_is_returned_with_reasons(env, engine):
    now = await env.get_current_time()
    application = example_application(now, appid="wx0000000000002002")
    good = example_resident_id("13", "19900307", "123")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    principal = application.subject_principal
    document = principal.identity_document.model_copy(update={"number": bad})
    application = application.model_copy(update={"subject_principal": principal.model_copy(update={"identity_document": document})})
    filing = await launch(env, engine.task_queue, engine.data_dir, application)
    status = await filing.wait_stage(Stage.RETURNED)
    assert [(r.field, r.error.split(":")[0]) for r in status.returned.reasons] == [
        ("subject_principal.identity_document.number", "R3.invalid_resident_id")]


# --- 3. an operator's typo in a calendar file ----------------------------------------


async def test_a_malformed_calendar_file_keeps_the_deadline_and_is_escalated(env, make_engine, tmp_path):
    now = await env.get_current_time()
    calendar_dir = tmp_path / "calendar"
    calendar = BusinessCalendar(calendar_dir, official_until=min(now.year - 1, 2026), strict=False)
    engine, workers = make_engine(calendar=calendar)
    async with workers:
        filing = await new_filing(env, engine)
        status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
        assert status.deadline.provisional
        due = status.deadline.due_at
        # The operator loads this year's schedule with a typo, and tells the filings.
        calendar_dir.mkdir()
        (calendar_dir / f"{now.year}.json").write_text('{"year": %d, "holidays": ["2O27-01-01"]' % now.year)
        await filing.handle.signal("calendar_updated", {})
        status = await filing.wait_for(lambda s: any(e.event == "calendar_refused" for e in s.timeline))
        assert status.stage is Stage.PLATFORM_REVIEW and status.deadline.due_at == due and status.deadline.provisional
        await filing.wait_for(lambda _: any(n["event"] == "calendar_data_invalid" for n in filing.notifications()))
        (escalation,) = [n for n in filing.notifications() if n["event"] == "calendar_data_invalid"]
        assert escalation["channels"] == ["operator"] and f"{now.year}.json" in escalation["detail"]
        # A day later, on with the review: the filing never failed.
        await env.sleep(timedelta(hours=20))
        await filing.platform("approve")
        await filing.wait_stage(Stage.SMS_VERIFICATION)
        assert (await filing.handle.describe()).status.name == "RUNNING"


# --- 4. a reviewer deciding while a notice is slow ------------------------------------


class SlowNotifier(FileNotifier):
    """Holds every notice of `event` until the test lets it go."""

    def __init__(self, data_dir: Path, event: str) -> None:
        super().__init__(data_dir)
        self.event = event
        self.release = asyncio.Event()

    async def notify(self, notice: Notice) -> None:
        if notice.event == self.event:
            await self.release.wait()
        await super().notify(notice)


def with_notifier(settings: Settings, notifier: FileNotifier) -> list:
    notify = NotifyActivities(notifier).notify
    return [notify if fn.__name__ == "notify" else fn for fn in engine_activities(settings)]


@pytest.mark.parametrize("path", ["new_platform_approved", "cancel_access_platform_approved", "returned", "sla_breached"])
async def test_a_decision_during_a_slow_notice_is_not_lost(env, make_engine, path):
    engine, _ = make_engine()
    event = {"new_platform_approved": "platform_approved", "cancel_access_platform_approved": "platform_approved",
             "returned": "filing_returned", "sla_breached": "sla_breached"}[path]
    slow = SlowNotifier(engine.data_dir, event)
    engine, workers = make_engine(activities=with_notifier(engine.settings, slow))
    async with workers:
        if path == "cancel_access_platform_approved":
            now = await env.get_current_time()
            appid, number = "wx0000000000004001", f"{SUBJECT}-1X"
            slow.release.set()
            await approve_new(env, engine, example_application(now, appid=appid), number)
            slow.release.clear()
            from filing.models import CancellationRequest
            from tests.workflow.harness import launch_cancellation
            request = CancellationRequest(kind=FilingKind.CANCEL_ACCESS, appid=appid, filing_number=number, reason="停止接入")
            filing = await launch_cancellation(env, engine.task_queue, engine.data_dir, request, [])
            await filing.wait_stage(Stage.PLATFORM_REVIEW)
            await filing.platform("approve")
            await filing.wait_stage(Stage.PROVINCIAL_REVIEW)  # the platform_approved notice is still held
            await filing.province("approve")
            assert (await filing.wait_stage(Stage.APPROVED)).filing_number == number
        else:
            filing = await new_filing(env, engine)
            await filing.wait_stage(Stage.PLATFORM_REVIEW)
            if path == "new_platform_approved":
                await to_sms(filing)  # the platform_approved notice is still held
                await filing.verify_all()
                await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
            elif path == "returned":
                await filing.platform("reject", reasons=[{"field": "mini_program.name", "error": "名称不规范"}])
                await filing.wait_stage(Stage.RETURNED)  # the filing_returned notice is still held
                await filing.handle.execute_update("resubmit", {"application": filing.application.model_dump(mode="json")},
                                                   result_type=dict)
                await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
            else:
                status = await filing.status()
                # Time moves past the SLA in the background: the test server holds its clock
                # while the escalation (an activity) is held, so this skip ends after the release.
                skipping = asyncio.create_task(filing.skip(status.deadline.due_at - await filing.now() + timedelta(minutes=1)))
                await filing.wait_for(lambda s: s.deadline is not None and s.deadline.sla_breached)
                await filing.platform("approve")  # while the escalation is held
                await filing.wait_stage(Stage.SMS_VERIFICATION)
        def delivered() -> bool:
            return any(n["event"] == event and n["idempotency_key"].startswith(filing.key) for n in filing.notifications())

        assert not delivered()  # held all along
        assert not any(e.event == "decision_ignored" for e in (await filing.status()).timeline)
        slow.release.set()
        await filing.wait_for(lambda _: delivered())
        if path == "sla_breached":
            await skipping


# --- 5. an SMS gateway whose answer is lost ------------------------------------------


class GatewayLosingAnswers(OutboxSmsGateway):
    """Delivers, then loses the answer; asked again for the same key, it answers without
    the body, as real gateways do."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.seen: set[str] = set()

    async def send(self, message: SmsMessage) -> SmsMessage:
        if message.idempotency_key in self.seen:
            return message.model_copy(update={"code": "", "text": ""})
        await super().send(message)
        self.seen.add(message.idempotency_key)
        raise ConnectionResetError("the gateway's answer was lost")


async def test_a_send_whose_answer_is_lost_sends_one_code_that_verifies(env, make_engine):
    engine, _ = make_engine()
    sms = SmsActivities(GatewayLosingAnswers(engine.data_dir), engine.settings.sms_code_keys())
    activities = [sms.send_sms_code if fn.__name__ == "send_sms_code" else fn for fn in engine_activities(engine.settings)]
    engine, workers = make_engine(activities=activities)
    async with workers:
        filing = await new_filing(env, engine)
        await to_sms(filing)
        (person,) = filing.people
        assert len(filing.outbox()) == 1  # one SMS reached the phone
        assert (await filing.verify(person.mobile))["result"] == "verified"  # and the code it carries is the one


# --- 6. a key rotation half-way through a deploy: tests/integration/test_key_rotation.py (a real
#        server: the lagging worker's failed workflow task moves to another worker) ----------


# --- 7. a client that forgot the codec ------------------------------------------------


async def test_personal_data_sent_without_the_codec_is_refused_and_not_stored(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.people
    plain = await Client.connect(env.client.service_client.config.target_host, data_converter=pydantic_data_converter)
    handle = plain.get_workflow_handle(filing.handle.id)
    entry = {"mobile": person.mobile, "code": "123456", "id_last6": person.identity_document.number[-6:]}
    with pytest.raises(UpdateRefused, match="arrived unencrypted"):
        await send_update(handle, "verify_sms_code", entry)
    events = [e async for e in filing.handle.fetch_history_events()]
    assert not any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in events)
    assert (await filing.status()).sms.verifiers[0].attempts_left == 5
    # A reviewer's decision carries no personal data: accepted in clear (the temporal CLI without flags).
    await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": "x"})
    await filing.wait_for(lambda s: s.ignored.get("province_decision") == 1)


async def test_the_refusal_names_the_codec_address_in_force_also_after_continuing(env, engine):
    """A deployment whose codec server is reached at another address (FILINGS_CODEC_URL): a
    client that forgot the codec is told that address, not the local default, in every run."""
    settings = Settings(data_dir=engine.data_dir, task_queue=engine.task_queue, codec_url="https://codec.filings.example.cn:9443/")
    application = example_application(await env.get_current_time(), appid="wx0000000000007002")
    await store_example_materials(engine.data_dir)
    started = await start_filing(env.client, application, task_queue=engine.task_queue,
                                 policy=settings.policy, codec_endpoint=settings.codec_url)
    filing = Filing(env=env, handle=started.handle, data_dir=engine.data_dir, application=application)
    plain = await Client.connect(env.client.service_client.config.target_host, data_converter=pydantic_data_converter)
    handle = plain.get_workflow_handle(filing.handle.id)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=[{"field": "mini_program.name", "error": "名称不规范"}], attempt=1)
    await filing.wait_stage(Stage.RETURNED)
    expected = r"--codec-endpoint https://codec\.filings\.example\.cn:9443 --codec-auth"
    with pytest.raises(UpdateRefused, match=expected):
        await send_update(handle, "resubmit", {"application": application.model_dump(mode="json")})
    # Resubmitted through the codec: the filing continues as new, and run 2 names the same address.
    await filing.handle.execute_update("resubmit", {"application": application.model_dump(mode="json")}, result_type=dict)
    await to_sms(filing)
    (person,) = filing.people
    entry = {"mobile": person.mobile, "code": "123456", "id_last6": person.identity_document.number[-6:]}
    with pytest.raises(UpdateRefused, match=expected) as refused:
        await send_update(handle, "verify_sms_code", entry)
    assert "127.0.0.1:8081" not in str(refused.value)
    assert any(e.event == "continued_as_new" for e in (await filing.status()).timeline)


async def test_a_filing_that_carries_no_codec_address_names_none_rather_than_a_wrong_one(env, engine):
    filing = await new_filing(env, engine)  # started as before filings carried the address
    await to_sms(filing)
    (person,) = filing.people
    plain = await Client.connect(env.client.service_client.config.target_host, data_converter=pydantic_data_converter)
    entry = {"mobile": person.mobile, "code": "123456", "id_last6": person.identity_document.number[-6:]}
    with pytest.raises(UpdateRefused, match="the codec server's address from your operator") as refused:
        await send_update(plain.get_workflow_handle(filing.handle.id), "verify_sms_code", entry)
    assert "8081" not in str(refused.value)

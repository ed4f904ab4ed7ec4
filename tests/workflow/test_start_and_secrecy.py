"""R9 (one filing in flight per mini-program, idempotent start) and code secrecy (SPEC §9)."""

from __future__ import annotations

import json
import logging

import pytest
from google.protobuf.json_format import MessageToJson

from engine.launch import FilingInFlight, start_filing
from filing.messages import Stage
from tests.conftest import TEST_CONVERTER
from tests.payloads import raw_payloads
from tests.workflow.harness import launch
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms


async def test_same_submission_twice_is_idempotent(env, engine):
    filing = await new_filing(env, engine)
    again = await start_filing(env.client, filing.application, task_queue=engine.task_queue)
    assert again.status == "already_running"
    assert again.filing_id == filing.handle.id
    assert (await again.handle.describe()).run_id == (await filing.handle.describe()).run_id


async def test_second_filing_for_the_same_appid_is_refused_naming_the_stage(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    other = filing.application.model_copy(deep=True)
    other.mini_program.name = other.mini_program.name + "二"
    with pytest.raises(FilingInFlight) as refused:
        await start_filing(env.client, other, task_queue=engine.task_queue)
    assert refused.value.filing_id == filing.handle.id
    assert "PLATFORM_REVIEW" in str(refused.value) or "SUBMITTED" in str(refused.value)


async def test_a_finished_filing_does_not_block_a_new_one(env, engine):
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.handle.execute_update("withdraw", {"reason": "换个名字"}, result_type=dict)
    assert (await filing.result()).stage is Stage.WITHDRAWN
    again = await launch(env, engine.task_queue, engine.data_dir, filing.application)  # the same file again
    await again.wait_for(lambda s: any(e.event == "handed_over" for e in s.timeline))
    # ... with its own effects: its own hand-over (not the first filing's, found by key) and notices.
    desk = [json.loads(line) for line in (engine.data_dir / "handovers.jsonl").read_text().splitlines()]
    assert [h["idempotency_key"].split(":")[0] for h in desk] == [filing.key, again.key]
    await again.platform("approve")
    await again.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    assert [m["idempotency_key"].split(":")[0] for m in again.outbox()] == [again.key]


async def test_sent_code_appears_in_no_history_query_or_log(env, engine, caplog, engine_logs):
    caplog.set_level(logging.DEBUG)
    rendered = engine_logs("json", "DEBUG")  # the lines as production writes them, whatever ran before
    filing = await new_filing(env, engine, own_mini_program_principal=True)
    await to_sms(filing)
    first, second = filing.application.verifiers()
    await filing.verify(first.mobile)  # one code entered, the other still waiting
    waiting_code = filing.latest_code(second.mobile)
    entered_code = filing.latest_code(first.mobile)

    history = [MessageToJson(e) async for e in filing.handle.fetch_history_events()]
    decoded = [text async for event in filing.handle.fetch_history_events() for text in await _decoded_payloads(event)]
    assert any(first.mobile in text for text in decoded), "the decoding above finds payload contents"
    status_json = (await filing.status()).model_dump_json()
    logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records) + rendered.text()
    assert "sms_sent" in logs, "the engine's log lines are read here"

    for text in (*history, *decoded, status_json, logs):
        assert waiting_code not in text
    # The code that was entered travels only as the update's input (encrypted at rest by the codec work).
    assert entered_code not in status_json and entered_code not in logs
    # Masked mobiles only in the query answer.
    assert first.mobile not in status_json and second.mobile not in status_json

    await filing.verify(second.mobile)
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER)
    await filing.result()


async def _decoded_payloads(event) -> list[str]:
    """The data of every payload anywhere in a history event, decrypted with the codec."""
    decoded = await TEST_CONVERTER.payload_codec.decode(raw_payloads(event))
    return [p.data.decode(errors="replace") for p in decoded]

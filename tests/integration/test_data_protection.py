"""SPEC §9 on a real server: what the server stores is encrypted, keys rotate, the codec
server answers only with its token, and oversized input is refused without a trace."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.json_format import MessageToDict, MessageToJson
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from engine.codec import EncryptionCodec, data_converter
from engine.codec_server import build_app
from engine.keys import Keyring, MissingKey
from engine.launch import start_filing
from engine.settings import Settings
from engine.wiring import engine_activities
from tests.workers import Workers, prepare_data_dir
from filing.examples import example_application
from filing.messages import Stage
from tests.payloads import raw_payloads
from tests.conftest import TEST_KEYS, appid_for, unique, write_test_keys
from tests.integration.test_dev_server import eventually
from workflows.filing import FilingWorkflow

pytestmark = pytest.mark.integration


def personal_data(application) -> list[str]:
    people = [application.subject_principal, *application.verifiers()]
    values = [application.subject.name, application.subject.address.detail]
    for person in people:
        values += [person.name, person.mobile, person.emergency_mobile, person.identity_document.number, person.email]
    if application.subject.unit_certificate:
        values.append(application.subject.unit_certificate.number)
    return [v for v in values if v]


async def sms_code(data_dir, mobile: str) -> str:
    outbox = data_dir / "sms-outbox.jsonl"
    await eventually(lambda: asyncio.sleep(0, outbox.exists() and mobile in outbox.read_text(encoding="utf-8")))
    return [json.loads(line)["code"] for line in outbox.read_text(encoding="utf-8").splitlines() if mobile in line][-1]


async def test_the_server_stores_no_personal_data_in_clear(dev_env, dev_engine):
    application = example_application(datetime.now(UTC), appid=appid_for(201), own_mini_program_principal=True)
    handle = (await start_filing(dev_engine.client, application, task_queue=dev_engine.task_queue)).handle
    await eventually(lambda: _in_stage(handle, Stage.PLATFORM_REVIEW))
    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
    first, second = application.verifiers()
    entered = await sms_code(dev_engine.data_dir, first.mobile)
    waiting = await sms_code(dev_engine.data_dir, second.mobile)
    await eventually(lambda: _in_stage(handle, Stage.SMS_VERIFICATION))
    await handle.execute_update(
        "verify_sms_code",
        {"mobile": first.mobile, "code": entered, "id_last6": first.identity_document.number[-6:]},
        result_type=dict,
    )

    # A client without the codec sees the history as the server stores it.
    target = dev_env.client.service_client.config.target_host
    plain = await Client.connect(target, data_converter=pydantic_data_converter)
    events = [e async for e in plain.get_workflow_handle(handle.id).fetch_history_events()]
    texts = [MessageToJson(e) for e in events]
    blobs = [p.data for e in events for p in raw_payloads(e)]
    description = await plain.get_workflow_handle(handle.id).describe()
    stored = [*texts, MessageToJson(description.raw_description)]
    secrets = [*personal_data(application), entered, waiting]
    for value in secrets:
        assert not any(value in text for text in stored), f"{value!r} stored in clear"
        assert not any(value.encode() in blob for blob in blobs), f"{value!r} stored in clear"
    # Inputs, results and update arguments are encrypted; what stays plain is the search
    # attributes and the local-activity markers' bookkeeping (ids, types, times).
    start_input = events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert start_input.metadata["encoding"] == b"binary/encrypted"
    accepted = next(e for e in events if e.HasField("workflow_execution_update_accepted_event_attributes"))
    update_input = accepted.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0]
    assert update_input.metadata["encoding"] == b"binary/encrypted"

    # With the codec, the same history decodes: the application is there.
    decoded = await EncryptionCodec(TEST_KEYS.payload).decode([p for e in events for p in raw_payloads(e)])
    assert any(first.mobile.encode() in p.data for p in decoded)
    assert not any(waiting.encode() in p.data for p in decoded), "an unentered code is nowhere"

    await handle.execute_update(
        "verify_sms_code",
        {"mobile": second.mobile, "code": waiting, "id_last6": second.identity_document.number[-6:]},
        result_type=dict,
    )
    await eventually(lambda: _in_stage(handle, Stage.PROVINCIAL_REVIEW))
    await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-2X"})
    assert (await handle.result()).stage is Stage.APPROVED


async def _in_stage(handle, stage: Stage) -> bool:
    return (await handle.query(FilingWorkflow.status)).stage is stage


async def test_rotation_keeps_running_filings_working(dev_env, tmp_path):
    target = dev_env.client.service_client.config.target_host
    ring_a = Keyring.generate("rot-a")
    ring_ab = ring_a.with_new_current("rot-b")
    ring_b = Keyring(current="rot-b", keys={"rot-b": ring_ab.keys["rot-b"]})
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"))
    write_test_keys(settings.data_dir)
    await prepare_data_dir(settings)
    application = example_application(datetime.now(UTC), appid=appid_for(202))

    client_a = await Client.connect(target, data_converter=data_converter(ring_a))
    async with Workers(client_a, settings, engine_activities(settings)):
        handle = (await start_filing(client_a, application, task_queue=settings.task_queue)).handle
        await eventually(lambda: _in_stage(handle, Stage.PLATFORM_REVIEW))

    # Key B becomes current, A stays configured: the same filing goes on to approval.
    client_ab = await Client.connect(target, data_converter=data_converter(ring_ab))
    async with Workers(client_ab, settings, engine_activities(settings)):
        handle = client_ab.get_workflow_handle_for(FilingWorkflow.run, handle.id)
        await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
        person = application.subject_principal
        code = await sms_code(settings.data_dir, person.mobile)
        await eventually(lambda: _in_stage(handle, Stage.SMS_VERIFICATION))
        await handle.execute_update(
            "verify_sms_code", {"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]}
        )
        await eventually(lambda: _in_stage(handle, Stage.PROVINCIAL_REVIEW))
        await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-2X"})
        assert (await handle.result()).stage is Stage.APPROVED

    events = [e async for e in handle.fetch_history_events()]
    key_ids = {
        p.metadata["encryption-key-id"].decode()
        for e in events
        for p in raw_payloads(e)
        if p.metadata["encoding"] == b"binary/encrypted"
    }
    assert key_ids == {"rot-a", "rot-b"}

    # A process that no longer holds key A cannot read what A protected, and says which key.
    with pytest.raises(MissingKey, match="'rot-a'"):
        await EncryptionCodec(ring_b).decode([p for e in events for p in raw_payloads(e)])


@pytest.fixture
async def codec_client():
    app = build_app(TEST_KEYS.payload, "s3cret", "http://127.0.0.1:8233")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def payloads_json(*texts: str) -> str:
    payloads = [Payload(metadata={"encoding": b"json/plain"}, data=t.encode()) for t in texts]
    return MessageToJson(Payloads(payloads=payloads))


async def test_codec_server_round_trips_with_the_token(codec_client):
    auth = {"Authorization": "Bearer s3cret"}
    encoded = await codec_client.post("/encode", data=payloads_json('"13800138000"'), headers=auth)
    assert encoded.status == 200
    body = await encoded.text()
    assert "13800138000" not in body
    decoded = await codec_client.post("/decode", data=body, headers=auth)
    assert decoded.status == 200
    assert json.loads(await decoded.text())["payloads"][0]["data"] == MessageToDict(
        Payloads(payloads=[Payload(data=b'"13800138000"')])
    )["payloads"][0]["data"]
    # No token in a path any more: the Web UI is let in by its origin and header (test_codec_server.py).
    assert (await codec_client.post("/s3cret/decode", data=body)).status == 404


async def test_codec_server_refuses_without_the_token(codec_client):
    body = payloads_json('"x"')
    assert (await codec_client.post("/decode", data=body)).status == 401
    assert (await codec_client.post("/decode", data=body, headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await codec_client.post("/decode", data=body, headers={"Origin": "http://evil.example",
                                                                    "X-Namespace": "default"})).status in (401, 403)
    bad = await codec_client.post("/decode", data="not json", headers={"Authorization": "Bearer s3cret"})
    assert bad.status == 400 and "JSON Payloads" in (await bad.json())["error"]


async def test_codec_server_answers_cors_only_for_the_ui_origin(codec_client):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = await codec_client.options("/decode", headers={"Origin": "http://127.0.0.1:8233", **preflight})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "http://127.0.0.1:8233"
    other = await codec_client.options("/decode", headers={"Origin": "http://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_oversized_and_malformed_input_is_refused_and_changes_nothing(dev_engine):
    application = example_application(datetime.now(UTC), appid=appid_for(203))
    handle = (await start_filing(dev_engine.client, application, task_queue=dev_engine.task_queue)).handle
    await eventually(lambda: _in_stage(handle, Stage.PLATFORM_REVIEW))
    before = await handle.query(FilingWorkflow.status)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("withdraw", {"reason": "很长" * 1000})
    assert "reason" in str(refused.value.cause) and "500" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("withdraw", {"why": "wrong field"})

    await handle.signal("platform_decision", {"decision": "reject", "reviewer": "r-01", "reasons": [{"field": "x", "error": "e" * 5000}]})
    status = await eventually(
        lambda: _ignored_count(handle, 1), timeout=10
    )
    assert "malformed" in status.timeline[-1].detail and "reasons.0.error" in status.timeline[-1].detail
    assert status.stage is Stage.PLATFORM_REVIEW and status.attempt == before.attempt
    history = [e async for e in handle.fetch_history_events()]
    assert not [e for e in history if "UPDATE" in EventType.Name(e.event_type)], "refused updates leave no trace"
    await handle.execute_update("withdraw", {"reason": "done"})


async def _ignored_count(handle, n: int):
    status = await handle.query(FilingWorkflow.status)
    return status if sum(e.event == "decision_ignored" for e in status.timeline) == n else None

"""On a real server: search attributes at every stage, visibility listing, and the starter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from engine.launch import start_filing
from filing.examples import example_application
from filing.messages import Stage
from registry.migrate import upgrade
from tests.conftest import appid_for, unique, write_test_keys
from workflows import search_attributes as sa
from workflows.filing import FilingWorkflow

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """Visibility is eventually consistent: wait on the condition, never a fixed sleep."""
    async def poll():
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(interval)

    return await asyncio.wait_for(poll(), timeout)


async def listed(client: Client, query: str) -> list[str]:
    return [w.id async for w in client.list_workflows(query)]


async def test_search_attributes_follow_every_stage(dev_engine):
    client = dev_engine.client
    from datetime import UTC, datetime

    application = example_application(datetime.now(UTC), appid=appid_for(1))
    started = await start_filing(client, application, task_queue=dev_engine.task_queue)
    handle = started.handle
    where = f"AppId = '{application.appid}'"

    async def in_stage(stage: Stage) -> bool:
        return await listed(client, f"{where} AND FilingStage = '{stage.value}'") == [handle.id]

    await eventually(lambda: in_stage(Stage.PLATFORM_REVIEW))
    description = await handle.describe()
    attrs = description.typed_search_attributes
    assert attrs.get(sa.FILING_KIND) == "NEW" and attrs.get(sa.PROVINCE) == "冀" and attrs.get(sa.FILING_ATTEMPT) == 1
    assert attrs.get(sa.STAGE_DEADLINE) is not None and attrs.get(sa.SLA_BREACHED) is False

    await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
    await eventually(lambda: in_stage(Stage.SMS_VERIFICATION))
    outbox = dev_engine.data_dir / "sms-outbox.jsonl"
    await eventually(lambda: asyncio.sleep(0, outbox.exists()))
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])
    person = application.subject_principal
    answer = await handle.execute_update(
        "verify_sms_code",
        {"mobile": person.mobile, "code": message["code"], "id_last6": person.identity_document.number[-6:]},
        result_type=dict,
    )
    assert answer["result"] == "verified"
    await eventually(lambda: in_stage(Stage.PROVINCIAL_REVIEW))
    assert await listed(client, f"{where} AND Province = '冀' AND FilingKind = 'NEW'") == [handle.id]

    await handle.signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-2X"})
    outcome = await handle.result()
    assert outcome.stage is Stage.APPROVED
    await eventually(lambda: in_stage(Stage.APPROVED))
    assert (await handle.describe()).typed_search_attributes.get(sa.STAGE_DEADLINE) is None


def run_starter(*args: str, engine=None, cwd: Path, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python starter.py ARGS` against `engine`'s server and task queue; its data dir (keys,
    material store, registry) is `data_dir`, else the engine's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if engine is not None:
        env |= {
            "TEMPORAL_ADDRESS": engine.settings.temporal_address,
            "FILINGS_TASK_QUEUE": engine.task_queue,
            "FILINGS_DATA_DIR": str(engine.data_dir),
        }
    if data_dir is not None:
        env["FILINGS_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


async def test_starter_launches_the_example_and_is_idempotent(dev_engine, tmp_path):
    """The integrator's own data dir (keys, material store, registry), beside the engine's worker."""
    mine = tmp_path / "integrator"
    write_test_keys(mine)
    example = tmp_path / "example.json"
    made = await asyncio.to_thread(run_starter, "--example", str(example), cwd=tmp_path, data_dir=mine)
    assert made.returncode == 0, made.stderr
    data = json.loads(example.read_text(encoding="utf-8"))
    data["mini_program"]["appid"] = appid_for(2)
    example.write_text(json.dumps(data, ensure_ascii=False))
    filing_id = f"filing-{appid_for(2)}"

    # The registry R8 reads has no schema yet: one line saying what to run, nothing started.
    behind = await asyncio.to_thread(run_starter, str(example), engine=dev_engine, cwd=tmp_path, data_dir=mine)
    assert behind.returncode == 1 and "filings registry migrate" in behind.stderr
    assert len(behind.stderr.strip().splitlines()) == 1 and "Traceback" not in behind.stderr
    with pytest.raises(RPCError):
        await dev_engine.client.get_workflow_handle(filing_id).describe()
    upgrade(f"sqlite:///{mine / 'registry.db'}")  # what `filings registry migrate` does

    # R10 is checked against this data dir's store: the example's scans are there since --example.
    first = await asyncio.to_thread(run_starter, str(example), engine=dev_engine, cwd=tmp_path, data_dir=mine)
    assert first.returncode == 0, first.stderr
    assert f"started {filing_id}" in first.stdout
    assert f"http://127.0.0.1:8233/namespaces/default/workflows/{filing_id}" in first.stdout

    again = await asyncio.to_thread(run_starter, str(example), engine=dev_engine, cwd=tmp_path, data_dir=mine)
    assert again.returncode == 0 and "already running" in again.stdout

    data["mini_program"]["name"] = "另一个名字"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data, ensure_ascii=False))
    refused = await asyncio.to_thread(run_starter, str(other), engine=dev_engine, cwd=tmp_path, data_dir=mine)
    assert refused.returncode == 1
    assert "R9.filing_in_flight" in refused.stderr and "stage" in refused.stderr
    # Personal data is not printed.
    assert data["subject_principal"]["mobile"] not in first.stdout + refused.stderr

    handle = dev_engine.client.get_workflow_handle_for(FilingWorkflow.run, filing_id)
    await handle.execute_update("withdraw", {"reason": "test over"}, result_type=dict)


async def test_starter_rejects_a_broken_file_listing_every_violation(dev_engine, tmp_path):
    from datetime import UTC, datetime

    application = example_application(datetime.now(UTC), appid=appid_for(3))
    data = application.model_dump(mode="json")
    data["subject_principal"]["emergency_mobile"] = data["subject_principal"]["mobile"]
    data["subject"]["address"]["province"] = "火星"
    data["subject_principal"]["identity_document"]["number"] = "110105194912310021"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data, ensure_ascii=False))
    result = await asyncio.to_thread(run_starter, str(broken), engine=dev_engine, cwd=tmp_path)
    assert result.returncode == 1
    for key in ("R4.emergency_same_as_own", "R5.unknown_province", "R3.invalid_resident_id"):
        assert key in result.stderr
    assert "nothing was started" in result.stderr
    with pytest.raises(RPCError):
        await dev_engine.client.get_workflow_handle(f"filing-{appid_for(3)}").describe()


async def test_starter_reports_an_unreachable_server(tmp_path):
    example = tmp_path / "example.json"
    write_test_keys(tmp_path)  # keys present, the registry current: the failure must be the server's
    upgrade(f"sqlite:///{tmp_path / 'registry.db'}")
    made = await asyncio.to_thread(run_starter, "--example", str(example), cwd=tmp_path, data_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    env_engine = type("E", (), {"settings": type("S", (), {"temporal_address": "127.0.0.1:1"})(),
                                "task_queue": unique("tq"), "data_dir": tmp_path})()
    result = await asyncio.to_thread(run_starter, str(example), engine=env_engine, cwd=tmp_path)
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert "127.0.0.1:1" in result.stderr or "connect" in result.stderr.lower()

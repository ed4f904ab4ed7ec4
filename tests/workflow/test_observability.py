"""Logs and metrics of a real filing on the worker as operators run it (`worker.build_workers`):
every workflow and activity line names the filing, its stage and attempt; no personal
data appears in clear; replaying the history logs nothing and counts nothing; and the
log-context header leaves the history's commands as they were."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Replayer

from engine.log_context import FilingLogContext
from engine.settings import Settings
from engine.wiring import WORKFLOWS
from filing.examples import example_application
from filing.messages import Stage
from tests.conftest import TEST_CONVERTER, unique, write_test_keys
from tests.logging_state import EngineLogs
from tests.workflow.harness import launch
from engine.wiring import engine_activities
from registry.migrate import upgrade
from tests.workers import Workers

NUMBER = "冀ICP备18021892号-2X"
FILING_LOGGERS = {"temporalio.workflow", "temporalio.activity", "sms", "notifier"}


@pytest.fixture
def json_logs(engine_logs: Callable[..., EngineLogs]) -> Callable[[], list[dict[str, Any]]]:
    """The production pipeline (JSON) for the test, into a buffer; the previous set-up after it.
    Calling the fixture's value answers the lines written since the last call."""
    return engine_logs("json").lines


def engine_updates(buffer: MetricBuffer) -> list[tuple[str, dict[str, Any], float]]:
    return [(u.metric.name, dict(u.attributes), u.value) for u in buffer.retrieve_updates()
            if u.metric.name.startswith("filings_")]


async def test_a_filing_logs_its_context_counts_its_events_and_replays_silently(env, tmp_path, json_logs):
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await Client.connect(env.client.service_client.config.target_host, data_converter=TEST_CONVERTER,
                                  runtime=runtime)
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"))
    write_test_keys(settings.data_dir)
    application = example_application(await env.get_current_time(), appid="wx0b5e4a7a00000001")
    person = application.subject_principal

    upgrade(settings.registry_database_url)
    async with Workers(client, settings, engine_activities(settings)):
        filing = await launch(env, settings.task_queue, settings.data_dir, application)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
        assert (await filing.verify(person.mobile, code="000000"))["result"] == "wrong_code"
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        await filing.province("approve", filing_number=NUMBER)
        assert (await filing.handle.result()).stage is Stage.APPROVED

    lines = json_logs()
    ours = [line for line in lines if line.get("logger") in FILING_LOGGERS]
    assert {line["logger"] for line in ours} >= {"temporalio.workflow", "sms", "notifier"}
    for line in ours:
        assert line.get("filing_id") == filing.handle.id, line
        assert line.get("stage") in {s.value for s in Stage}, line
        assert line.get("attempt") == 1, line
    activity_lines = [line for line in ours if line["logger"] in ("sms", "notifier")]
    assert activity_lines and all(line.get("activity") and line.get("activity_attempt") for line in activity_lines)
    assert {"SUBMITTED", "PLATFORM_REVIEW", "SMS_VERIFICATION", "PROVINCIAL_REVIEW", "APPROVED"} <= {
        line["stage"] for line in ours}

    text = json.dumps(lines, ensure_ascii=False)
    secrets = {person.mobile, person.emergency_mobile, person.identity_document.number, person.name,
               application.subject.address.detail, *(m["code"] for m in filing.outbox())}
    assert not [s for s in secrets if s and s in text]
    assert "138****8000" in text  # masked, not dropped

    counted = engine_updates(buffer)
    names = {name for name, _, _ in counted}
    assert {"filings_started", "filings_stage_transitions", "filings_stage_duration_seconds", "filings_sms_sent",
            "filings_sms_verified", "filings_sms_wrong_entries", "filings_notifications"} <= names
    approved = [a for n, a, _ in counted if n == "filings_stage_transitions" and a["next_stage"] == "APPROVED"]
    assert approved == [{**approved[0], "stage": "PROVINCIAL_REVIEW", "outcome": "approved"}]
    assert sum(v for n, _, v in counted if n == "filings_started") == 1

    # Replay, with and without the interceptor: same commands, no log line, no count.
    history = await filing.handle.fetch_history()
    for interceptors in ([FilingLogContext()], []):
        await Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER, interceptors=interceptors,
                       runtime=runtime).replay_workflow(history)
    assert not [line for line in json_logs() if line.get("logger") == "temporalio.workflow"]
    assert engine_updates(buffer) == []


async def test_a_flood_of_ignored_messages_logs_a_few_lines_and_counts_them_all(env, tmp_path, json_logs):
    """Issue 18, item 9: thousands of ignored messages reach the worker in one workflow task;
    a log line for each made that task slower than the SDK's deadlock detection (2 s) under
    load, so it failed and every retry carried more (the hung CI run on 46be93c). Each run
    logs its first `IGNORED_LOGGED_PER_RUN` only; every message is still counted."""
    from workflows.messages import IGNORED_LOGGED_PER_RUN

    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"))
    write_test_keys(settings.data_dir)
    upgrade(settings.registry_database_url)
    application = example_application(await env.get_current_time(), appid="wx0b5e4a7a00000002")
    flood = 5 * IGNORED_LOGGED_PER_RUN
    async with Workers(env.client, settings, engine_activities(settings)):
        filing = await launch(env, settings.task_queue, settings.data_dir, application)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        json_logs()  # what the start logged
        await asyncio.gather(*(filing.handle.signal("province_decision", {"decision": "maybe", "n": i})
                               for i in range(flood)))
        status = await filing.wait_for(lambda s: s.ignored.get("province_decision", 0) == flood)
    assert sum(e.event == "decision_ignored" for e in status.timeline) == flood  # each one on the timeline
    logged = [line for line in json_logs() if "decision_ignored" in json.dumps(line, ensure_ascii=False)]
    assert 0 < len(logged) <= IGNORED_LOGGED_PER_RUN, f"{len(logged)} lines for {flood} ignored messages"

"""A filing started before the shape change (`effects-as-activities`) keeps the idempotency
keys it was making: `filing-<appid>:<attempt>:…`, as the earlier code built them. A deploy
of today's code over such a filing retries and continues its effects under those keys, so
the review desk, the notifier and the verifier see each effect once (issue 18, item 13)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from temporalio import workflow
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from engine.wiring import WORKFLOWS, engine_activities
from filing.messages import FilingOutcome, Stage
from filing.state import FilingInput
from engine.settings import Settings
from registry.migrate import upgrade
from tests.conftest import TEST_CONVERTER, unique, write_test_keys
from tests.workers import Workers
from tests.workflow.conftest import Engine
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms
from workflows.filing import FilingWorkflow


@workflow.defn(name="FilingWorkflow")
class EarlierShapeFilingWorkflow(FilingWorkflow):
    """Today's code taking the branch a filing started before the shape change replays on:
    no `effects-as-activities` marker is written, so a worker of today's code that picks
    the filing up replays it on the earlier shape too, as it would a filing of the old code."""

    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        super().__init__(start)

    def _decide_shape(self) -> bool:
        return False

    @workflow.run
    async def run(self, start: FilingInput) -> FilingOutcome:
        return await super().run(start)


def keys(data_dir: Path, name: str) -> Counter[str]:
    path = data_dir / name
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return Counter(json.loads(line)["idempotency_key"] for line in lines if line)


async def test_a_deploy_over_an_earlier_shape_filing_keeps_its_keys(env, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("tq"))
    write_test_keys(settings.data_dir)
    upgrade(settings.registry_database_url)
    engine = Engine(env, settings.task_queue, settings.data_dir, settings)
    earlier = Workers(env.client, settings, engine_activities(settings),
                      workflows=[EarlierShapeFilingWorkflow], workflow_runner=UnsandboxedWorkflowRunner(),
                      max_cached_workflows=0)  # no sticky queue: the next worker takes over at once
    async with earlier:  # the release before the shape change
        filing = await new_filing(env, engine)
        await to_sms(filing)
        (person,) = filing.people
        await filing.wait_for(lambda _: len(filing.outbox()) == 1)
    async with Workers(env.client, settings, engine_activities(settings)):  # the deploy: today's code replays it
        assert (await filing.verify(person.mobile))["result"] == "verified"
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        await filing.province("approve", filing_number=NUMBER)
        outcome = await filing.outcome()
    assert outcome.stage is Stage.APPROVED

    filing_id = filing.handle.id
    legacy = f"{filing_id}:1:"
    handovers, sms, notices = (keys(engine.data_dir, name)
                               for name in ("handovers.jsonl", "sms-outbox.jsonl", "notifications.jsonl"))
    assert set(handovers) == {f"{legacy}PLATFORM_REVIEW", f"{legacy}PROVINCIAL_REVIEW"}
    assert set(sms) == {f"{legacy}sms:{person.mobile}:0"}
    assert notices and all(key.startswith(legacy) for key in notices), sorted(notices)
    for made in (handovers, sms, notices):
        assert set(made.values()) == {1}, f"each effect once: {made}"

    history = await filing.handle.fetch_history()
    patched = {json.loads(payload.data)["id"] for e in history.events
               if e.marker_recorded_event_attributes.marker_name == "core_patch"
               for payload in e.marker_recorded_event_attributes.details["patch-data"].payloads}
    assert "effects-as-activities" not in patched, "the filing stayed on its earlier shape"
    await Replayer(workflows=WORKFLOWS, data_converter=TEST_CONVERTER).replay_workflow(history)

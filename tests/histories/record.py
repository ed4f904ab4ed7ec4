"""Record one finished workflow history per lifecycle path into `tests/histories/<path>.json`.

    .venv/bin/python -m tests.histories.record            # every path
    .venv/bin/python -m tests.histories.record expiry     # some paths

Each path is driven on its own time-skipping server with the worker of today's code and
the fixed test-only keyring (`keys.json`). The replay test then runs today's code over
every file, so a change that would break running filings fails CI.

When to run it: after adding a path, or after a deliberate, versioned change
(`workflow.patched`) to re-record the new shape. Never to make a failing replay pass: a
failing replay means running filings would fail the same way. Before making a
versioned change, copy the affected history into `legacy/` (this script never writes
there), so the old shape keeps being replayed until the patch is deprecated.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.sms import SmsActivities
from engine.binaries import test_server
from engine.search_attributes import register_search_attributes
from engine.settings import Settings
from engine.wiring import WORKFLOWS, engine_activities
from filing.calendar import BusinessCalendar
from filing.examples import example_application
from filing.messages import Stage
from filing.models import CancellationRequest, FilingKind
from filing.policy import FilingPolicy
from tests.histories import HISTORY_DIR, KEYS_PATH, appid_for_path, history_converter, history_keys
from tests.workers import Workers, prepare_data_dir
from tests.workflow.harness import Filing, launch, launch_cancellation, registry_of
from tests.workflow.test_bounded_history import runs_of
from tests.workflow.test_deadlines_and_failures import FlakyDesk, activities_with, write_overrides
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms, wrong_entries
from tests.workflow.test_registry_paths import SUBJECT, approve_new
from tests.workflow.test_sweep_outside_failures import (
    DownGateway,
    RefusesResends,
    broken,
    calendar_outage,
    registry_outage,
    replacing,
)

REASONS = [{"field": "subject.address", "error": "地址不完整", "suggestion": "填写门牌号"}]
Path_ = Callable[[WorkflowEnvironment, Any], Awaitable[Filing]]


async def _start(env: WorkflowEnvironment, engine: Any, name: str, **kwargs: Any) -> Filing:
    return await new_filing(env, engine, appid=appid_for_path(name), **kwargs)


async def _verify_and_approve(filing: Filing, attempt: int | None = None) -> None:
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    extra = {"attempt": attempt} if attempt else {}
    await filing.province("approve", filing_number=NUMBER, **extra)


async def _resubmit(filing: Filing) -> None:
    corrected = filing.application.model_copy(deep=True)
    corrected.subject.address.detail = "裕华路1号院2号楼301室"
    await filing.handle.execute_update("resubmit", {"application": corrected.model_dump(mode="json")}, result_type=dict)


async def happy_path(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "happy_path")
    await to_sms(filing)
    await _verify_and_approve(filing)
    return filing


async def happy_path_two_verifiers(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "happy_path_two_verifiers", own_mini_program_principal=True)
    await to_sms(filing)
    await _verify_and_approve(filing)
    return filing


async def platform_reject_resubmit(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "platform_reject_resubmit")
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=REASONS, attempt=1)
    await filing.wait_stage(Stage.RETURNED)
    await _resubmit(filing)
    await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
    await filing.platform("approve", attempt=2)
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await _verify_and_approve(filing, attempt=2)
    return filing


async def province_reject_withdraw(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "province_reject_withdraw")
    await to_sms(filing)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("reject", reasons=[{"field": "mini_program.service_categories", "error": "类目与内容不符"}])
    await filing.wait_stage(Stage.RETURNED)
    await filing.handle.execute_update("withdraw", {"reason": "不再运营"}, result_type=dict)
    return filing


async def sms_resend_then_verified(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "sms_resend_then_verified")
    await to_sms(filing)
    (person,) = filing.people
    await wrong_entries(filing, person.mobile, 5)
    await filing.resend(person.mobile)
    await _verify_and_approve(filing)
    return filing


async def sms_timeout(env: WorkflowEnvironment, engine: Any) -> Filing:
    """自动驳回 after 24 h, then the resubmission the source requires, then approval."""
    filing = await _start(env, engine, "sms_timeout")
    await to_sms(filing)
    await filing.skip(timedelta(hours=24, minutes=1))
    await filing.wait_stage(Stage.RETURNED)
    await _resubmit(filing)
    await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
    await filing.platform("approve", attempt=2)
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.attempt == 2)
    await _verify_and_approve(filing, attempt=2)
    return filing


async def sms_attempts_exhausted(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "sms_attempts_exhausted")
    await to_sms(filing)
    (person,) = filing.people
    await filing.resend(person.mobile)
    await wrong_entries(filing, person.mobile, 5)
    await filing.wait_stage(Stage.RETURNED)
    await filing.handle.execute_update("withdraw", {"reason": "稍后再办"}, result_type=dict)
    return filing


async def platform_sla_breach(env: WorkflowEnvironment, engine: Any) -> Filing:
    """Both review SLAs pass without a decision (L5), then the decisions arrive late."""
    filing = await _start(env, engine, "platform_sla_breach")
    status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.skip(status.deadline.due_at - await filing.now() + timedelta(minutes=1))
    await filing.wait_for(lambda s: s.deadline.sla_breached)
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await filing.verify_all()
    status = await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.skip(status.deadline.due_at - await filing.now() + timedelta(minutes=1))
    await filing.wait_for(lambda s: s.deadline.sla_breached)
    await filing.province("approve", filing_number=NUMBER)
    return filing


async def withdraw(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "withdraw")
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
    return filing


async def expiry(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "expiry")
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=REASONS)
    await filing.wait_stage(Stage.RETURNED)
    return filing  # the result waits out the 30 days (time skipping)


async def _filed(env: WorkflowEnvironment, engine: Any, name: str, number: str = f"{SUBJECT}-1X") -> str:
    """The mini-program of path `name`, filed and approved earlier: what a cancellation acts on."""
    application = example_application(await env.get_current_time(), appid=appid_for_path(name))
    await approve_new(env, engine, application, number)
    return application.appid


async def _cancellation(env: WorkflowEnvironment, engine: Any, name: str, kind: FilingKind) -> Filing:
    appid = await _filed(env, engine, name)
    people = await registry_of(engine.data_dir, history_keys().payload).people_on_record(f"{SUBJECT}-1X")
    assert people is not None
    person = people.subject_principal if kind is FilingKind.CANCEL_SUBJECT else people.mini_program_principal
    number = SUBJECT if kind is FilingKind.CANCEL_SUBJECT else f"{SUBJECT}-1X"
    request = CancellationRequest(kind=kind, appid=appid, filing_number=number, reason="停止运营")
    return await launch_cancellation(env, engine.task_queue, engine.data_dir, request,
                                     [] if kind is FilingKind.CANCEL_ACCESS else [person])


async def cancel_access(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _cancellation(env, engine, "cancel_access", FilingKind.CANCEL_ACCESS)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("approve")
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve")
    return filing


async def cancel_mini_program(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _cancellation(env, engine, "cancel_mini_program", FilingKind.CANCEL_MINI_PROGRAM)
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve")
    return filing


async def cancel_subject_sms_ignored(env: WorkflowEnvironment, engine: Any) -> Filing:
    """想终止注销流程，忽略该条短信即可: WITHDRAWN with sms_ignored, the filing stays active."""
    filing = await _cancellation(env, engine, "cancel_subject_sms_ignored", FilingKind.CANCEL_SUBJECT)
    await filing.wait_for(lambda s: s.stage is Stage.SMS_VERIFICATION and s.sms is not None)
    return filing  # the result waits out the 24 h (time skipping)


async def province_number_taken(env: WorkflowEnvironment, engine: Any) -> Filing:
    """L8 refuses a number another mini-program holds (L9); the reviewer issues another."""
    other = example_application(await env.get_current_time(), appid="wx" + "0" * 15 + "1", company="另一家示例公司")
    other = other.model_copy(update={"subject": other.subject.model_copy(update={"name": "另一家示例公司"})})
    await approve_new(env, engine, other, "冀ICP备20250001号-1X")
    filing = await _start(env, engine, "province_number_taken")
    await to_sms(filing)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number="冀ICP备20250001号-1X")
    await filing.wait_for(lambda s: s.ignored.get("province_decision") == 1)
    await filing.province("approve", filing_number=NUMBER)
    return filing


async def continued_on_long_history(env: WorkflowEnvironment, engine: Any) -> Filing:
    """L10: a flood of messages in SMS_VERIFICATION cuts the history; the next run verifies."""
    filing = await _start(env, engine, "continued_on_long_history",
                          policy=FilingPolicy(history_events_before_continue=200))
    await to_sms(filing)
    for _ in range(3):
        for _ in range(100):
            await filing.platform("approve")
    await filing.wait_for(lambda s: s.ignored.get("platform_decision") == 300)
    await _verify_and_approve(filing)
    return filing


async def out_of_turn(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "out_of_turn")
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.province("approve", filing_number=NUMBER)
    await filing.platform("approve", attempt=2)
    await filing.handle.signal("platform_decision", {"decision": "maybe", "reviewer": "r-01"})
    await filing.wait_for(lambda s: sum(e.event == "decision_ignored" for e in s.timeline) == 3)
    await filing.platform("approve")
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await _verify_and_approve(filing)
    return filing


async def service_decisions(env: WorkflowEnvironment, engine: Any) -> Filing:
    """What the filing service sends: decisions as `decide_platform` / `decide_province`
    updates (answered), a resubmission and the SMS entry as updates."""
    filing = await _start(env, engine, "service_decisions")
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.handle.execute_update(
        "decide_platform", {"decision": "reject", "reviewer": "r-01", "reasons": REASONS, "attempt": 1}, result_type=dict)
    await filing.wait_stage(Stage.RETURNED)
    await _resubmit(filing)
    await filing.wait_for(lambda s: s.stage is Stage.PLATFORM_REVIEW and s.attempt == 2)
    await filing.handle.execute_update(
        "decide_platform", {"decision": "approve", "reviewer": "r-01", "attempt": 2}, result_type=dict)
    await filing.wait_for(lambda s: s.sms is not None and s.sms.expires_at is not None)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.handle.execute_update(
        "decide_province", {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER, "attempt": 2},
        result_type=dict)
    return filing


async def submission_rejected(env: WorkflowEnvironment, engine: Any) -> Filing:
    """L1 refuses what a client that skipped the starter sent (a face record 4 days old)."""
    now = await env.get_current_time()
    application = example_application(now, appid=appid_for_path("submission_rejected"))
    person = application.mini_program_principal
    face = person.face_verification.model_copy(update={"verified_at": now - timedelta(days=4)})
    application = application.model_copy(update={
        "mini_program_principal": person.model_copy(update={"face_verification": face})})
    filing = await launch(env, engine.task_queue, engine.data_dir, application)
    await filing.wait_stage(Stage.RETURNED)
    await filing.handle.execute_update("withdraw", {"reason": "重新准备材料"}, result_type=dict)
    return filing


PATHS: dict[str, Path_] = {
    fn.__name__: fn
    for fn in (
        happy_path, happy_path_two_verifiers, platform_reject_resubmit, province_reject_withdraw,
        sms_resend_then_verified, sms_timeout, sms_attempts_exhausted, platform_sla_breach,
        withdraw, expiry, cancel_access, cancel_mini_program, cancel_subject_sms_ignored, out_of_turn,
        province_number_taken, continued_on_long_history, service_decisions, submission_rejected,
    )
}


async def _record_handover_failed(env: WorkflowEnvironment, settings: Settings) -> Filing:
    desk = FlakyDesk(settings.data_dir, permanent=True)
    async with Workers(env.client, settings, activities_with(settings, desk)):
        filing = await _start(env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir),
                              "handover_failed")
        await filing.wait_stage(Stage.RETURNED)
        await filing.handle.execute_update("withdraw", {"reason": "稍后再办"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


async def _record_provisional_deadline(env: WorkflowEnvironment, settings: Settings) -> Filing:
    now = await env.get_current_time()
    calendar = BusinessCalendar(settings.calendar_path, official_until=min(now.year - 1, 2026))
    async with Workers(env.client, settings, engine_activities(settings, calendar)):
        filing = await _start(env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir),
                              "provisional_deadline")
        await filing.wait_for(lambda s: s.deadline is not None and s.deadline.provisional)
        write_overrides(settings.calendar_path, {now.year, now.year + 1}, [])
        await filing.handle.signal("calendar_updated", {})
        await filing.wait_for(lambda s: any(e.event == "deadline_recomputed" for e in s.timeline))
        await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


def _engine(settings: Settings) -> Any:
    return SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir)


async def _record_sms_undeliverable_first_send(env: WorkflowEnvironment, settings: Settings) -> Filing:
    """The gateway refuses the first code for good: returned (sms_undeliverable), escalated."""
    gateway = SmsActivities(DownGateway(settings.data_dir), settings.sms_code_keys())
    async with Workers(env.client, settings, replacing(settings, gateway.send_sms_code)):
        filing = await _start(env, _engine(settings), "sms_undeliverable_first_send")
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        await filing.wait_stage(Stage.RETURNED)
        await filing.handle.execute_update("withdraw", {"reason": "更换手机号后再办"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


async def _record_sms_undeliverable_on_resend(env: WorkflowEnvironment, settings: Settings) -> Filing:
    """The first code goes out; the resend is refused for good: returned, escalated."""
    gateway = SmsActivities(RefusesResends(settings.data_dir), settings.sms_code_keys())
    async with Workers(env.client, settings, replacing(settings, gateway.send_sms_code)):
        filing = await _start(env, _engine(settings), "sms_undeliverable_on_resend")
        await to_sms(filing)
        (person,) = filing.people
        await filing.resend(person.mobile, wait_sent=False)
        await filing.wait_stage(Stage.RETURNED)
        await filing.handle.execute_update("withdraw", {"reason": "更换手机号后再办"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


async def _record_check_unavailable(env: WorkflowEnvironment, settings: Settings) -> Filing:
    """The L1 check stays down: returned (check_unavailable), escalated."""
    async with Workers(env.client, settings, replacing(settings, broken("check_submission", "registry gone"))):
        filing = await _start(env, _engine(settings), "check_unavailable")
        await filing.wait_stage(Stage.RETURNED)
        await filing.handle.execute_update("withdraw", {"reason": "稍后再办"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


async def _record_registry_unavailable(env: WorkflowEnvironment, settings: Settings) -> Filing:
    """L8 cannot write: the decision is answered as not applied and escalated; the next
    morning the registry is back and the reviewer's decision is applied."""
    registry, record_approval = registry_outage(settings)
    async with Workers(env.client, settings, replacing(settings, record_approval)):
        filing = await _start(env, _engine(settings), "registry_unavailable")
        await to_sms(filing)
        await filing.verify_all()
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        decision = {"decision": "approve", "reviewer": "冀-07", "filing_number": NUMBER}
        await filing.handle.execute_update("decide_province", decision, result_type=dict)
        registry.down = False
        await filing.handle.execute_update("decide_province", decision, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


async def _record_deadline_unavailable(env: WorkflowEnvironment, settings: Settings) -> Filing:
    """The calendar stays broken over a weekend: retried on durable timers with one
    escalation; once it works the filing moves on."""
    calendar, compute_deadline = calendar_outage(settings)
    async with Workers(env.client, settings, replacing(settings, compute_deadline)):
        filing = await _start(env, _engine(settings), "deadline_unavailable")
        await filing.wait_for(lambda _: any(n["event"] == "deadline_unavailable" for n in filing.notifications()))
        await filing.skip(timedelta(minutes=30))
        calendar.down = False
        await filing.skip(timedelta(hours=1))
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
        await filing.outcome(timeout=120)
        return filing


SPECIAL: dict[str, Callable[[WorkflowEnvironment, Settings], Awaitable[Filing]]] = {
    "handover_failed": _record_handover_failed,
    "provisional_deadline": _record_provisional_deadline,
    "sms_undeliverable_first_send": _record_sms_undeliverable_first_send,
    "sms_undeliverable_on_resend": _record_sms_undeliverable_on_resend,
    "check_unavailable": _record_check_unavailable,
    "registry_unavailable": _record_registry_unavailable,
    "deadline_unavailable": _record_deadline_unavailable,
}


async def record(name: str, workdir: Path) -> list[Path]:
    """Drive one path to its end on a fresh server; check every run replays; write each run's
    history: `<name>.json` for a filing of one run, `<name>.run<N>.json` for one that continued."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server()), data_converter=history_converter()
    )
    try:
        await register_search_attributes(env.client, "default")
        settings = Settings(data_dir=workdir / name, task_queue=f"record-{name}", keys_file=KEYS_PATH)
        await prepare_data_dir(settings)
        if name in SPECIAL:
            filing = await SPECIAL[name](env, settings)
        else:
            async with Workers(env.client, settings, engine_activities(settings)):
                filing = await PATHS[name](env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir))
                await filing.outcome(timeout=120)
        histories: list[WorkflowHistory] = await runs_of(filing)
        replayer = Replayer(workflows=WORKFLOWS, data_converter=history_converter())
        for history in histories:
            await replayer.replay_workflow(history)
    finally:
        await env.shutdown()
    for stale in HISTORY_DIR.glob(f"{name}.*json"):
        stale.unlink()
    names = [f"{name}.json"] if len(histories) == 1 else [f"{name}.run{i}.json" for i in range(1, len(histories) + 1)]
    targets = [HISTORY_DIR / file for file in names]
    for target, history in zip(targets, histories, strict=True):
        target.write_text(history.to_json() + "\n", encoding="utf-8")
    return targets


async def main(names: list[str]) -> None:
    unknown = set(names) - set(PATHS) - set(SPECIAL)
    if unknown:
        raise SystemExit(f"unknown paths {sorted(unknown)}; known: {sorted([*PATHS, *SPECIAL])}")
    with tempfile.TemporaryDirectory(prefix="record-histories-") as workdir:
        for name in names or [*PATHS, *SPECIAL]:
            for path in await record(name, Path(workdir)):
                print(f"recorded {path.relative_to(HISTORY_DIR.parents[1])}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

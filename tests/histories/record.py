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

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from engine.binaries import test_server
from engine.search_attributes import register_search_attributes
from engine.settings import Settings
from engine.wiring import WORKFLOWS, engine_activities
from filing.calendar import BusinessCalendar
from filing.messages import Stage
from filing.models import FilingKind
from tests.histories import HISTORY_DIR, KEYS_PATH, appid_for_path, history_converter
from tests.workflow.harness import Filing
from tests.workflow.test_deadlines_and_failures import FlakyDesk, activities_with, write_overrides
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms, wrong_entries

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
    (person,) = filing.application.verifiers()
    await wrong_entries(filing, person.mobile, 5)
    await filing.handle.execute_update("request_sms_resend", {"mobile": person.mobile}, result_type=dict)
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
    (person,) = filing.application.verifiers()
    await filing.handle.execute_update("request_sms_resend", {"mobile": person.mobile}, result_type=dict)
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


async def cancel_access(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "cancel_access", kind=FilingKind.CANCEL_ACCESS)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("approve")
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve")
    return filing


async def cancel_mini_program(env: WorkflowEnvironment, engine: Any) -> Filing:
    filing = await _start(env, engine, "cancel_mini_program", kind=FilingKind.CANCEL_MINI_PROGRAM)
    await to_sms(filing)
    await filing.verify_all()
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve")
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


PATHS: dict[str, Path_] = {
    fn.__name__: fn
    for fn in (
        happy_path, happy_path_two_verifiers, platform_reject_resubmit, province_reject_withdraw,
        sms_resend_then_verified, sms_timeout, sms_attempts_exhausted, platform_sla_breach,
        withdraw, expiry, cancel_access, cancel_mini_program, out_of_turn,
    )
}


async def _record_handover_failed(env: WorkflowEnvironment, settings: Settings) -> Filing:
    desk = FlakyDesk(settings.data_dir, permanent=True)
    async with Worker(env.client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                      activities=activities_with(settings, desk)):
        filing = await _start(env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir),
                              "handover_failed")
        await filing.wait_stage(Stage.RETURNED)
        await filing.handle.execute_update("withdraw", {"reason": "稍后再办"}, result_type=dict)
        await filing.handle.result()
        return filing


async def _record_provisional_deadline(env: WorkflowEnvironment, settings: Settings) -> Filing:
    now = await env.get_current_time()
    calendar = BusinessCalendar(settings.calendar_path, official_until=min(now.year - 1, 2026))
    async with Worker(env.client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                      activities=engine_activities(settings, calendar)):
        filing = await _start(env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir),
                              "provisional_deadline")
        await filing.wait_for(lambda s: s.deadline is not None and s.deadline.provisional)
        write_overrides(settings.calendar_path, {now.year, now.year + 1}, [])
        await filing.handle.signal("calendar_updated", {})
        await filing.wait_for(lambda s: any(e.event == "deadline_recomputed" for e in s.timeline))
        await filing.handle.execute_update("withdraw", {"reason": "不再需要"}, result_type=dict)
        await filing.handle.result()
        return filing


SPECIAL: dict[str, Callable[[WorkflowEnvironment, Settings], Awaitable[Filing]]] = {
    "handover_failed": _record_handover_failed,
    "provisional_deadline": _record_provisional_deadline,
}


async def record(name: str, workdir: Path) -> Path:
    """Drive one path to its end on a fresh server; check it replays; write its history."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server()), data_converter=history_converter()
    )
    try:
        await register_search_attributes(env.client, "default")
        settings = Settings(data_dir=workdir / name, task_queue=f"record-{name}", keys_file=KEYS_PATH)
        if name in SPECIAL:
            filing = await SPECIAL[name](env, settings)
        else:
            async with Worker(env.client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                              activities=engine_activities(settings)):
                filing = await PATHS[name](env, SimpleNamespace(task_queue=settings.task_queue, data_dir=settings.data_dir))
                await filing.handle.result()
        history = await filing.handle.fetch_history()
        await Replayer(workflows=WORKFLOWS, data_converter=history_converter()).replay_workflow(history)
    finally:
        await env.shutdown()
    target = HISTORY_DIR / f"{name}.json"
    target.write_text(history.to_json() + "\n", encoding="utf-8")
    return target


async def main(names: list[str]) -> None:
    unknown = set(names) - set(PATHS) - set(SPECIAL)
    if unknown:
        raise SystemExit(f"unknown paths {sorted(unknown)}; known: {sorted([*PATHS, *SPECIAL])}")
    with tempfile.TemporaryDirectory(prefix="record-histories-") as workdir:
        for name in names or [*PATHS, *SPECIAL]:
            path = await record(name, Path(workdir))
            print(f"recorded {path.relative_to(HISTORY_DIR.parents[1])}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

"""Worker Versioning on a real server: the workers poll as a version of their deployment
(worker.build_workers, as `worker.py` runs them with FILINGS_BUILD_ID), and
`engine.set_current_version` makes a build current once its workers poll.

Without the job nothing routes a filing to the versioned workers (the first deploy of
issue 20); with it a filing runs to APPROVED, a rollout v1 → v2 moves a running filing
onto v2 (which replays v1's history), and a rollback v2 → v1 moves it back.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine.launch import start_filing
from engine.set_current_version import (
    NO_POLLERS,
    OK,
    Version,
    current_build,
    main,
    make_current,
    queues_without_pollers,
    task_queues,
)
from engine.settings import Settings
from engine.wiring import engine_activities
from filing.examples import example_application
from filing.messages import Stage
from tests.conftest import appid_for, unique, write_test_keys
from tests.status import status_of
from tests.workers import Workers, prepare_data_dir

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
QUICK = timedelta(milliseconds=100)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Wait on a condition, never a fixed sleep."""
    async def poll() -> Any:
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value

    return await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def unversioned(dev_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    """The test's own task queue, deployment and data dir; `build(id)` gives a build's settings."""
    settings = Settings(
        data_dir=tmp_path / "data",
        task_queue=unique("tq-versioned"),
        deployment_name=unique("deployment"),
        temporal_address=dev_env.client.service_client.config.target_host,
    )
    write_test_keys(settings.data_dir)
    await prepare_data_dir(settings)
    return settings


def build(settings: Settings, build_id: str) -> Settings:
    return settings.model_copy(update={"build_id": build_id})


def workers(client: Client, settings: Settings) -> Workers:
    """The build's filing and SMS workers, with the deployment config worker.py gives them."""
    return Workers(client, settings, engine_activities(settings))


def version(settings: Settings) -> Version:
    assert settings.build_id
    return Version(settings.deployment_name, settings.build_id)


async def polling(client: Client, settings: Settings) -> None:
    """Until the build's workers poll both queues (what the job waits for)."""
    await eventually(lambda: _no_queue_missing(client, settings))


async def _no_queue_missing(client: Client, settings: Settings) -> bool:
    return not await queues_without_pollers(client, version(settings), task_queues(settings))


def job_environment(settings: Settings) -> dict[str, str]:
    """What compose gives the job: the connection, the task queue, the deployment; the
    image gives the build id."""
    return {"TEMPORAL_ADDRESS": settings.temporal_address, "FILINGS_TASK_QUEUE": settings.task_queue,
            "FILINGS_DEPLOYMENT_NAME": settings.deployment_name, "FILINGS_BUILD_ID": settings.build_id or "",
            "FILINGS_DATA_DIR": str(settings.data_dir)}


async def run_job(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`python -m engine.set_current_version` as compose runs it, without blocking the
    loop the in-process workers poll on."""
    job = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.set_current_version", *args, cwd=ROOT, env={**os.environ, **job_environment(settings)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(job.communicate(), 60)
    assert job.returncode is not None
    return job.returncode, out.decode(), err.decode()


async def run_job_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings,
                       *args: str) -> tuple[int, str, str]:
    """The job's `main` in a thread of this process (its own event loop), without the
    interpreter's start-up: the same code as `run_job`, cheaper."""
    for name, value in job_environment(settings).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def events(handle: WorkflowHandle[Any, Any]) -> int:
    return len([e async for e in handle.fetch_history_events()])


async def running_on(handle: WorkflowHandle[Any, Any]) -> str:
    """The build id of the version the filing's last workflow task ran on."""
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def in_stage(handle: WorkflowHandle[Any, Any], stage: Stage) -> None:
    await eventually(lambda: _stage_is(handle, stage))


async def _stage_is(handle: WorkflowHandle[Any, Any], stage: Stage) -> bool:
    return (await status_of(handle)).stage is stage


async def verify_sms(handle: WorkflowHandle[Any, Any], settings: Settings, application: Any) -> None:
    outbox = settings.data_dir / "sms-outbox.jsonl"
    await eventually(lambda: asyncio.sleep(0, outbox.exists() and outbox.read_text(encoding="utf-8").strip()))
    code = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["code"]
    person = application.subject_principal
    answer = await handle.execute_update(
        "verify_sms_code",
        {"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]},
        result_type=dict,
    )
    assert answer["result"] == "verified"


async def approve_in_province(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal("province_decision",
                        {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-3X"})
    assert (await asyncio.wait_for(handle.result(), 30)).stage is Stage.APPROVED


async def test_a_versioned_worker_carries_a_filing_once_the_job_makes_its_build_current(
    dev_env: WorkflowEnvironment, unversioned: Settings
) -> None:
    client, v1 = dev_env.client, build(unversioned, "v1")
    application = example_application(datetime.now(UTC), appid=appid_for(1101))
    async with workers(client, v1):
        await polling(client, v1)
        started = await start_filing(client, application, task_queue=v1.task_queue)
        handle = started.handle
        # The first deploy as it was: the build's workers poll, no version is current, and the
        # filing's first workflow task goes to nobody.
        with pytest.raises(TimeoutError):
            await eventually(lambda: _more_than(handle, 2), timeout=1.0)
        assert await current_build(client, v1.deployment_name) is None

        code, out, err = await run_job(v1, "--wait", "30")
        assert code == OK, err
        assert f"build v1 is now current for deployment {v1.deployment_name} (was none)" in out
        assert await current_build(client, v1.deployment_name) == "v1"

        await in_stage(handle, Stage.PLATFORM_REVIEW)
        await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
        await in_stage(handle, Stage.SMS_VERIFICATION)
        await verify_sms(handle, v1, application)
        await approve_in_province(handle)
        assert await running_on(handle) == "v1"

        # Every later deploy of the same build runs the job again: nothing to do, success.
        again = await make_current(client, version(v1), task_queues(v1), wait=timedelta(seconds=5))
        assert (again.changed, again.previous) == (False, "v1")


async def _more_than(handle: WorkflowHandle[Any, Any], count: int) -> bool:
    return await events(handle) > count


async def test_a_rollout_moves_a_running_filing_to_the_new_build_and_a_rollback_moves_it_back(
    dev_env: WorkflowEnvironment, unversioned: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = dev_env.client
    v1, v2 = build(unversioned, "v1"), build(unversioned, "v2")
    application = example_application(datetime.now(UTC), appid=appid_for(1102))

    async with workers(client, v1):
        first = await make_current(client, version(v1), task_queues(v1), wait=timedelta(seconds=15), interval=QUICK)
        assert (first.changed, first.previous) == (True, None)
        handle = (await start_filing(client, application, task_queue=v1.task_queue)).handle
        await in_stage(handle, Stage.PLATFORM_REVIEW)
        assert await running_on(handle) == "v1"

        # Rollout: v2's workers come up beside v1's (compose's worker-previous), the job makes
        # v2 current, and the running filing's next task goes to v2 (auto-upgrade), which
        # replays v1's history: it has none of it cached.
        async with workers(client, v2):
            rollout = await make_current(client, version(v2), task_queues(v2), wait=timedelta(seconds=15),
                                         interval=QUICK)
            assert (rollout.changed, rollout.previous) == (True, "v1")
            await handle.signal("platform_decision", {"decision": "approve", "reviewer": "r-01"})
            await in_stage(handle, Stage.SMS_VERIFICATION)
            assert await running_on(handle) == "v2"

            # A build whose workers never poll is not made current: the job says so, nothing changes.
            code, _, err = await run_job_here(monkeypatch, capsys, build(unversioned, "v3"), "--wait", "0.3")
            assert code == NO_POLLERS
            assert f"no worker of build v3 (deployment {v2.deployment_name}) polled {v2.task_queue}" in err
            assert "nothing was changed" in err
            assert await current_build(client, v2.deployment_name) == "v2"

            # Rollback: the same job with the old build id; the filing goes back to v1.
            code, out, err = await run_job_here(monkeypatch, capsys, v1, "--wait", "30")
            assert code == OK, err
            assert f"build v1 is now current for deployment {v1.deployment_name} (was v2)" in out
            await verify_sms(handle, v1, application)
            await approve_in_province(handle)
            assert await running_on(handle) == "v1"

"""Make a build the current version of its Worker Deployment, once its workers poll.

Why this exists: every worker polls as a version of the deployment FILINGS_DEPLOYMENT_NAME
with its image's build id (`worker.deployment`). The server hands a filing's tasks only
to the deployment's current version (or to unversioned workers, of which there are none),
so until a version is current a started filing stays at its first workflow task for
good. Compose runs this job once per build (service `set-current-version`) after the
build's workers are healthy: on the first deploy and on every rollout; a rollback is the
same job with the old build id (docs/compose.md).

    python -m engine.set_current_version [--build-id ID] [--deployment-name NAME] [--wait SECONDS]

The build id and deployment name default to FILINGS_BUILD_ID and FILINGS_DEPLOYMENT_NAME
(the image carries its build id); the task queues it waits on are FILINGS_TASK_QUEUE and
its SMS queue. It connects with the official TEMPORAL_* settings and needs no payload key.

Exit status: 0 the build is current (made so now, or already was: running it again is
harmless); 1 the server could not be reached or refused; 2 bad arguments or configuration;
3 the build's workers did not poll every task queue within --wait (nothing was changed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import RoutingConfigUpdateState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.client import connect_options
from engine.process import run_and_exit
from engine.settings import Settings, load_settings
from engine.wiring import sms_task_queue

#: Exit statuses (module docstring).
OK, FAILED, USAGE, NO_POLLERS = 0, 1, 2, 3
IDENTITY = "set-current-version job"


class PollersMissing(RuntimeError):
    """The build's workers did not poll every task queue in time: making it current would
    route filings to nobody, so nothing was changed."""


@dataclass(frozen=True)
class Version:
    """A Worker Deployment Version: the deployment's name and a build id."""

    deployment_name: str
    build_id: str

    def __str__(self) -> str:
        return f"{self.deployment_name}/{self.build_id}"


@dataclass(frozen=True)
class Outcome:
    """What the job did: `previous` is the build that was current before (None: none was)."""

    version: Version
    previous: str | None
    changed: bool


def task_queues(settings: Settings) -> dict[str, TaskQueueType.ValueType]:
    """The queues every worker of a build polls (worker.build_workers), and for what."""
    return {
        settings.task_queue: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        sms_task_queue(settings.task_queue): TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    }


async def current_build(client: Client, deployment_name: str) -> str | None:
    """The deployment's current build id; None when it has none (or does not exist yet)."""
    try:
        answer = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    current = answer.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None


async def queues_without_pollers(
    client: Client, version: Version, queues: dict[str, TaskQueueType.ValueType]
) -> list[str]:
    """The queues the build is not ready on: no worker of `version` polled them recently
    (the server's poller list), or the server has not registered them with the version yet
    (it does so shortly after the first poll, and refuses to make current before)."""
    try:
        described = await client.workflow_service.describe_worker_deployment_version(
            DescribeWorkerDeploymentVersionRequest(
                namespace=client.namespace,
                deployment_version=WorkerDeploymentVersion(
                    deployment_name=version.deployment_name, build_id=version.build_id
                ),
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return list(queues)
        raise
    registered = {(queue.name, queue.type) for queue in described.version_task_queues}
    missing = []
    for name, kind in queues.items():
        if (name, kind) not in registered:
            missing.append(name)
            continue
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind)
        )
        if not any(
            poller.deployment_options.deployment_name == version.deployment_name
            and poller.deployment_options.build_id == version.build_id
            for poller in answer.pollers
        ):
            missing.append(name)
    return missing


async def wait_for_pollers(
    client: Client, version: Version, queues: dict[str, TaskQueueType.ValueType], *,
    wait: timedelta, interval: timedelta = timedelta(seconds=1),
) -> None:
    """Return once the build's workers poll every queue; `PollersMissing` after `wait`."""
    deadline = asyncio.get_running_loop().time() + wait.total_seconds()
    while missing := await queues_without_pollers(client, version, queues):
        if asyncio.get_running_loop().time() >= deadline:
            raise PollersMissing(
                f"no worker of build {version.build_id} (deployment {version.deployment_name}) polled "
                f"{', '.join(missing)} within {wait.total_seconds():g} s: start that build's workers "
                "(and check their FILINGS_BUILD_ID, FILINGS_DEPLOYMENT_NAME and FILINGS_TASK_QUEUE), "
                "then run this again; nothing was changed"
            )
        await asyncio.sleep(interval.total_seconds())


async def make_current(
    client: Client, version: Version, queues: dict[str, TaskQueueType.ValueType], *,
    wait: timedelta, interval: timedelta = timedelta(seconds=1),
) -> Outcome:
    """Make `version` current once its workers poll every queue; already current, nothing
    happens. The server refuses (FAILED_PRECONDITION) a version lacking a queue the current
    one has, which would strand that queue's work: that is reported, not retried."""
    previous = await current_build(client, version.deployment_name)
    if previous == version.build_id:
        return Outcome(version, previous, changed=False)
    await wait_for_pollers(client, version, queues, wait=wait, interval=interval)
    answer = await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=version.deployment_name,
            build_id=version.build_id,
            identity=IDENTITY,
        ),
        retry=True,  # the SDK's retries of transient statuses (UNAVAILABLE, RESOURCE_EXHAUSTED, ...)
    )
    was = answer.previous_deployment_version.build_id or previous
    await wait_for_routing(client, version.deployment_name, wait=wait, interval=interval)
    return Outcome(version, was or None, changed=True)


async def wait_for_routing(client: Client, deployment_name: str, *, wait: timedelta, interval: timedelta) -> None:
    """Until the new routing has reached every task queue of the deployment (the server
    propagates it after answering): before that, a filing's next task can still go to the
    previous build. Past `wait` the change stands and propagates on its own; nothing fails."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    while True:
        answer = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name), retry=True)
        state = answer.worker_deployment_info.routing_config_update_state
        if state != RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS or loop.time() >= deadline:
            return
        await asyncio.sleep(interval.total_seconds())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m engine.set_current_version",
        description="Make a build the current version of its Worker Deployment once its workers poll.",
    )
    parser.add_argument("--build-id", help="the build to make current (default: FILINGS_BUILD_ID)")
    parser.add_argument("--deployment-name", help="the Worker Deployment (default: FILINGS_DEPLOYMENT_NAME)")
    parser.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                        help="how long to wait for the build's workers to poll (default: 300)")
    parsed = parser.parse_args(argv)
    if parsed.wait < 0:
        parser.error(f"--wait: {parsed.wait:g} is negative; give the seconds to wait, 0 or more")
    return parsed


async def _run(settings: Settings, version: Version, wait: timedelta) -> Outcome:
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                  **connect_options(settings))
    print(f"waiting for build {version.build_id}'s workers on {', '.join(task_queues(settings))} "
          f"(deployment {version.deployment_name}, namespace {settings.temporal_namespace})", flush=True)
    return await make_current(client, version, task_queues(settings), wait=wait)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    try:
        settings = load_settings()
    except SystemExit as invalid:
        print(invalid.code, file=sys.stderr)
        return USAGE
    build_id = arguments.build_id or settings.build_id
    if not build_id:
        print("error: no build id: pass --build-id or set FILINGS_BUILD_ID (the image sets it)", file=sys.stderr)
        return USAGE
    version = Version(arguments.deployment_name or settings.deployment_name, build_id)
    try:
        outcome = asyncio.run(_run(settings, version, timedelta(seconds=arguments.wait)))
    except PollersMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return NO_POLLERS
    except RPCError as err:
        print(f"error: the server refused making {version} current: {err.status.name if err.status else '?'}: "
              f"{err.message}", file=sys.stderr)
        return FAILED
    except (RuntimeError, OSError) as err:  # the SDK reports an unreachable server as RuntimeError
        print(f"error: {err}", file=sys.stderr)
        return FAILED
    if outcome.changed:
        print(f"build {version.build_id} is now current for deployment {version.deployment_name} "
              f"(was {outcome.previous or 'none'})")
    else:
        print(f"build {version.build_id} is already current for deployment {version.deployment_name}: nothing to do")
    return OK


if __name__ == "__main__":
    run_and_exit(main)

"""The compose stack's setup job, run for real: `deploy/temporal/setup-namespace.sh` with
the `temporal` CLI against the dev server, on a namespace of its own, twice (it runs on
every `docker compose up`). Afterwards the namespace has exactly the §7 attributes."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from engine.binaries import temporal_cli
from tests.conftest import unique
from tests.unit.test_compose import SPEC_SEARCH_ATTRIBUTES

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "temporal" / "setup-namespace.sh"


def run_setup(address: str, namespace: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FILINGS_"))}
    env |= {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": namespace,
            "PATH": f"{temporal_cli().parent}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


async def test_the_setup_job_is_idempotent_and_registers_the_specs_attributes(dev_env):
    address = dev_env.client.service_client.config.target_host
    namespace = unique("compose").replace("-", "_")
    for _ in range(2):
        done = await asyncio.to_thread(run_setup, address, namespace)
        assert done.returncode == 0, done.stdout + done.stderr
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    registered = {name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
                  for name, kind in listed.custom_attributes.items()}
    assert registered == SPEC_SEARCH_ATTRIBUTES

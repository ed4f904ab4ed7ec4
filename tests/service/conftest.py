"""The filing service as people meet it: the real `python -m service` process, on the
Temporal dev server the tests start, with a real worker, a migrated registry database and
the local material store, all on one data dir. Tokens are signed with that data dir's key,
as `filings login` does.

Every process started here is stopped here, also on failure; every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client

from engine.settings import Settings
from filing.examples import example_application, example_materials
from filing.models import Application
from service.principal import Role
from service.tokens import issue_token
from tests.processes import die_with_parent, kill_group, wait_until


ROOT = Path(__file__).resolve().parents[2]
STAGE_TIMEOUT = 30.0


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": str(uuid.uuid4())}


@dataclass
class ServiceProcess:
    """`python -m service` as a subprocess on its own port; restartable on the same data."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, healthy: bool = True) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service"], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)

        async def answers() -> int | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the service exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    status = (await client.get(f"{self.url}/healthz")).status_code
            except httpx.TransportError:
                return None
            return status if (status == 200 or not healthy) else None

        try:
            await wait_until(answers, 30, f"the service answering /healthz on {self.url}")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            kill_group(process)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


def service_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    return env | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "FILINGS_DATA_DIR": str(settings.data_dir),
        "FILINGS_TASK_QUEUE": settings.task_queue,
        "FILINGS_API__PORT": str(port),
        "FILINGS_LOG_FORMAT": "json",
        "FILINGS_API__TEMPORAL_TIMEOUT": "5",
    } | extra


@dataclass
class Stack:
    """The service, its worker and data dir, and the callers' tokens."""

    settings: Settings
    service: ServiceProcess
    client: Client
    signing_key: Ed25519PrivateKey
    http: httpx.AsyncClient
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def token(self, role: Role | str, *, sub: str | None = None, province: str | None = None,
              appids: Iterable[str] = (), ttl: timedelta = timedelta(hours=1), now: datetime | None = None,
              audience: str | None = None, issuer: str | None = None, key: Ed25519PrivateKey | None = None) -> str:
        api = self.settings.api
        return issue_token(key or self.signing_key, issuer=issuer or api.issuer, audience=audience or api.audience,
                           sub=sub or f"{Role(role).value}-{secrets.token_hex(3)}", role=role, province=province,
                           appids=appids, ttl=ttl, now=now)

    def auth(self, role: Role | str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **claims)}"}

    async def upload_materials(self, headers: dict[str, str]) -> None:
        for sha256, content in example_materials().items():
            answer = await self.http.post("/v1/materials", files={"file": (f"{sha256[:8]}.bin", content)},
                                          headers=headers | key())
            assert answer.status_code == 201, answer.text
            assert answer.json()["sha256"] == sha256

    async def stage(self, appid: str, stage: str, headers: dict[str, str], timeout: float = STAGE_TIMEOUT) -> dict[str, Any]:
        """Wait until the filing's status shows `stage`; answers the status."""
        async def reached() -> dict[str, Any] | None:
            answer = await self.http.get(f"/v1/filings/{appid}", headers=headers)
            status = answer.json() if answer.status_code == 200 else None
            return status if status and status["stage"] == stage else None

        return await wait_until(reached, timeout, f"{appid} in stage {stage}")

    async def sms_code(self, mobile: str, nth: int = 1) -> str:
        """The `nth` code sent to `mobile`: the outbox stands in for the verifier's phone."""
        outbox = self.data_dir / "sms-outbox.jsonl"

        def nth_code() -> str | None:
            lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
            codes = [m["code"] for m in map(json.loads, lines) if m["to"] == mobile]
            return codes[nth - 1] if len(codes) >= nth else None

        return await wait_until(nth_code, STAGE_TIMEOUT, f"SMS code #{nth} to the verifier")

    def outbox_count(self, mobile: str) -> int:
        outbox = self.data_dir / "sms-outbox.jsonl"
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
        return sum(1 for m in map(json.loads, lines) if m["to"] == mobile)


_serial = iter(range(1, 10**6))


def new_appid() -> str:
    return f"wx{os.getpid() % 65536:04x}{secrets.randbits(36):09x}{next(_serial) % 4096:03x}"


def application(appid: str, province: str = "河北省", *, company: str | None = None, **kwargs: Any) -> Application:
    """A valid example application whose principal has mobiles of its own (rate limits and
    outbox lookups are per mobile, so filings of different tests never share one), filed by a
    company of its own (`company`, by default one per appid)."""
    app = example_application(datetime.now(UTC), appid=appid, province=province, company=company or appid, **kwargs)
    n = int(appid[-7:], 16) % 10**7
    person = app.subject_principal.model_copy(update={"mobile": f"1391{n:07d}", "emergency_mobile": f"1371{n:07d}"})
    return app.model_copy(update={"subject_principal": person})


def as_json(model: Application) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def fresh_subject_number(prefix: str = "冀") -> str:
    return f"{prefix}ICP备{secrets.randbelow(9 * 10**7) + 10**7}号"


async def filed_long_ago(stack: Stack, app: Application) -> str:
    """The mini-program's filing on record, imported as operators load old filings (no workflow
    behind it, as one past retention): its number."""
    from engine.wiring import registry_from_settings
    from filing.registry import ImportEntry

    number = f"{fresh_subject_number('冀')}-1X"
    registry = registry_from_settings(stack.settings)
    try:
        await registry.import_entries([ImportEntry(application=app, service_number=number,
                                                   approved_at=datetime.now(UTC) - timedelta(days=400))])
    finally:
        registry.close()
    return number


def service_log(stack: Stack) -> str:
    with contextlib.suppress(OSError):
        return stack.service.log.read_text(encoding="utf-8")
    return ""

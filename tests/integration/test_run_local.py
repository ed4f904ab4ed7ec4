"""Smoke test of the embedded default, started as `make run` starts it (`python -m
engine.run_local`), on free ports and a temporary data dir: the registry migrated before
anything starts, healthy (the filing service included), a filing carried to approval
through the filing service's HTTP API by each party with their own token, the public
lookup answering from the registry it wrote, the engine's counters moved on the metrics
endpoint, the data dir owner-only, the codec server answering the Web UI under both its
names (its page by Origin and X-Namespace: the codec token in neither the UI's settings nor
the dev server's command line); stopped with SIGTERM (the service first, nothing left running), started again on
the same data dir: the filings are still there and the one in flight continues; then the
service dies, and `make run` stops with an error. And `make run` beside programs that
hold its ports: it refuses before starting anything, one line per busy port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest
from google.protobuf.json_format import MessageToJson, Parse
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowExecutionStatus

from engine.codec import EncryptionCodec, data_converter
from engine.health import probe
from engine.keys import load_keys_file
from filing.examples import example_application, example_materials
from filing.messages import FilingStatus, Stage
from registry.migrate import head
from service.principal import Role
from service.tokens import issue_token, load_local_signing_key
from tests.conftest import appid_for
from tests.processes import die_with_parent, free_ports, kill_group, processes_mentioning, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
NUMBER = "冀ICP备18021892号-2X"


@dataclass
class LocalRun:
    data_dir: Path
    address: str
    web_ui: str
    metrics: str
    health_port: int
    codec_port: int
    api_port: int
    #: What the user set on top (e.g. FILINGS_CODEC_CORS_ORIGIN).
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
        return env | {
            "PYTHONPATH": str(ROOT), "TEMPORAL_ADDRESS": self.address, "FILINGS_WEB_UI": self.web_ui,
            "FILINGS_METRICS_PORT": self.metrics.split(":")[-1].split("/")[0],
            "FILINGS_HEALTH_PORT": str(self.health_port), "FILINGS_DATA_DIR": str(self.data_dir),
            "FILINGS_CODEC_PORT": str(self.codec_port), "FILINGS_API__PORT": str(self.api_port),
            "FILINGS_API_URL": self.api_url, "FILINGS_LOG_FORMAT": "json",
        } | self.extra_env

    @property
    def ports(self) -> dict[str, int]:
        """Every port `make run` listens on, by the variable that sets it."""
        return {"TEMPORAL_ADDRESS": int(self.address.rsplit(":", 1)[1]), "FILINGS_WEB_UI": int(self.web_ui.rsplit(":", 1)[1]),
                "FILINGS_CODEC_PORT": self.codec_port, "FILINGS_METRICS_PORT": int(self.env["FILINGS_METRICS_PORT"]),
                "FILINGS_HEALTH_PORT": self.health_port, "FILINGS_API__PORT": self.api_port}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"run-{self.runs}.log"

    async def start(self) -> None:
        self.runs += 1
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "engine.run_local"], cwd=ROOT, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
        url = f"http://127.0.0.1:{self.health_port}/healthz"

        async def healthy() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            return (await asyncio.to_thread(probe, url, 2.0))[0]

        await wait_until(healthy, 60, "`make run` healthy")

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, 40)
        await wait_until(lambda: not processes_mentioning(str(self.data_dir)), 15, "the dev server gone")
        return code

    async def client(self) -> Client:
        keys = load_keys_file(self.data_dir / "keys.json")  # made by the first run, owner-only
        return await Client.connect(self.address, data_converter=data_converter(keys.payload))

    def auth(self, role: Role, sub: str, **claims: object) -> dict[str, str]:
        """A bearer token as `filings login` makes it, signed with the key `make run` created."""
        key = load_local_signing_key(self.data_dir / "api-signing-key.pem")
        token = issue_token(key, issuer="filings-local", audience="filings-api", sub=sub, role=role, **claims)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    def service_pid(self) -> int:
        """The `python -m service` child of `make run`."""
        assert self.process is not None
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError, IndexError):
                if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid \
                        and b"-m\0service" in (proc / "cmdline").read_bytes():
                    return int(proc.name)
        raise AssertionError("no filing service child of make run")


def key() -> dict[str, str]:
    """A fresh Idempotency-Key: every mutating call of the service takes one."""
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
def local_run(tmp_path: Path) -> Iterator[LocalRun]:
    server, ui, metrics, health, codec, api = free_ports(6)
    run = LocalRun(tmp_path / "data", f"127.0.0.1:{server}", f"http://127.0.0.1:{ui}",
                   f"http://127.0.0.1:{metrics}/metrics", health, codec, api)
    try:
        yield run
    finally:
        if run.process is not None:
            with contextlib.suppress(AssertionError, ProcessLookupError):  # its own session: not in the group
                os.kill(run.service_pid(), signal.SIGKILL)
            kill_group(run.process)
        for line in processes_mentioning(str(run.data_dir)):  # an orphaned dev server, should it exist
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


async def status(client: Client, filing_id: str) -> FilingStatus:
    return await client.get_workflow_handle(filing_id).query("status", result_type=FilingStatus)


async def in_stage(client: Client, filing_id: str, stage: Stage) -> None:
    async def there() -> bool:
        return (await status(client, filing_id)).stage is stage

    await wait_until(there, 20, f"{filing_id} in {stage.value}")


def scrape(url: str) -> dict[str, float]:
    """`name{labels}` -> value, for the engine's series."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            series[key] = float(value)
    return series


def total(series: dict[str, float], name: str, **labels: str) -> float:
    wanted = [re.compile(rf'[{{,]{k}="{re.escape(v)}"') for k, v in labels.items()]
    return sum(v for k, v in series.items() if re.match(rf"{name}(\{{|$)", k) and all(w.search(k) for w in wanted))


async def cors_allows(run: LocalRun, origin: str) -> bool:
    """A browser's preflight to the codec server from `origin` (the Web UI's page)."""
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type,x-namespace"}
    async with aiohttp.ClientSession() as session, session.options(
            f"http://127.0.0.1:{run.codec_port}/decode", headers=headers) as answer:
        return answer.headers.get("Access-Control-Allow-Origin") == origin


async def page_decodes(run: LocalRun, origin: str, *, ui_header: bool = True) -> bool:
    """The Web UI's codec call as its page in a browser makes it: no token, its Origin, X-Namespace."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"13800138000"')
    (sealed,) = await EncryptionCodec(load_keys_file(run.data_dir / "keys.json").payload).encode([plain])
    headers = {"Origin": origin, "Content-Type": "application/json"} | ({"X-Namespace": "default"} if ui_header else {})
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{run.codec_port}/decode", data=MessageToJson(Payloads(payloads=[sealed])),
            headers=headers) as answer:
        body = await answer.text()
    if answer.status != 200:
        assert plain.data not in body.encode()
        return False
    return Parse(body, Payloads()).payloads[0].data == plain.data


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def health_command(run: LocalRun) -> int:
    return subprocess.run([sys.executable, "-m", "engine.health"], cwd=ROOT, env=run.env, capture_output=True,
                          timeout=30).returncode


def outbox_code(run: LocalRun, mobile: str) -> str:
    """The last code sent to `mobile`: the outbox stands in for the verifier's phone."""
    lines = (run.data_dir / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    return [m for m in map(json.loads, lines) if m["to"] == mobile][-1]["code"]


async def stage_over_http(http: httpx.AsyncClient, appid: str, stage: str, headers: dict[str, str]) -> dict:
    async def there() -> dict | None:
        answer = await http.get(f"/v1/filings/{appid}", headers=headers)
        return answer.json() if answer.status_code == 200 and answer.json()["stage"] == stage else None

    return await wait_until(there, 30, f"{appid} in {stage} (GET /v1/filings/{appid})")


async def test_make_run_serves_metrics_and_health_and_keeps_filings_across_restarts(local_run: LocalRun):
    await local_run.start()
    banner = local_run.log.read_text(encoding="utf-8")
    assert f"{local_run.web_ui}/namespaces/default/workflows" in banner and local_run.metrics in banner
    assert f"Filing service:   {local_run.api_url}  (API docs /docs, console /)" in banner
    assert f"registry: migrated none → {head()}" in banner  # before anything that reads it started
    assert banner.index("registry: migrated") < banner.index("Filing service:")
    assert await asyncio.to_thread(health_command, local_run) == 0
    health = json.loads((await asyncio.to_thread(probe, f"http://127.0.0.1:{local_run.health_port}/healthz"))[1])
    assert health["checks"]["filing_service"]["ok"] is True and health["checks"]["dev_server"]["ok"] is True
    assert mode(local_run.data_dir) == 0o700  # mobiles and live codes: owner-only from the start
    assert mode(local_run.data_dir / "api-signing-key.pem") == 0o600
    ui_port = local_run.web_ui.rsplit(":", 1)[1]
    # The Web UI as make run prints it, and as the dev server prints it: both decrypt.
    assert await cors_allows(local_run, f"http://127.0.0.1:{ui_port}")
    assert await cors_allows(local_run, f"http://localhost:{ui_port}")
    assert not await cors_allows(local_run, "http://evil.example")
    # The codec token is in neither the Web UI's settings (anyone may ask) nor the dev server's
    # command line (`ps`); the UI's page decodes by its origin and header, nobody else's does.
    codec_token = (local_run.data_dir / "codec-token").read_text().strip()
    ui_settings = await asyncio.to_thread(lambda: urllib.request.urlopen(f"{local_run.web_ui}/api/v1/settings", timeout=10).read())
    assert codec_token.encode() not in ui_settings
    assert f"http://127.0.0.1:{local_run.codec_port}".encode() in ui_settings  # the bare endpoint
    (dev_server,) = processes_mentioning(str(local_run.data_dir / "temporal.db"))
    pid = dev_server.split(":", 1)[0]
    assert codec_token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert await page_decodes(local_run, f"http://localhost:{ui_port}")
    assert not await page_decodes(local_run, "http://evil.example")
    assert not await page_decodes(local_run, f"http://127.0.0.1:{ui_port}", ui_header=False)

    done = example_application(datetime.now(UTC), appid=appid_for(901))
    waiting = example_application(datetime.now(UTC), appid=appid_for(902))
    done_id, waiting_id = f"filing-{done.appid}", f"filing-{waiting.appid}"
    applicant = local_run.auth(Role.APPLICANT, "wx-admin", appids=[done.appid, waiting.appid])
    platform = local_run.auth(Role.PLATFORM_REVIEWER, "r-01")
    site = local_run.auth(Role.VERIFICATION_SITE, "miit-site")
    province = local_run.auth(Role.PROVINCE_REVIEWER, "冀-07", province="冀")
    async with httpx.AsyncClient(base_url=local_run.api_url, timeout=30) as http:
        # Day 1: the applicant uploads the scans and files two mini-programs, through the service.
        for content in example_materials().values():
            uploaded = await http.post("/v1/materials", files={"file": ("scan", content)}, headers=applicant | key())
            assert uploaded.status_code == 201, uploaded.text
        for application in (done, waiting):
            created = await http.post("/v1/filings", json=application.model_dump(mode="json", exclude_none=True),
                                      headers=applicant | key())
            assert created.status_code == 201, created.text

        # Each party in turn carries one to approval, as the reviewers and the verifier would.
        await stage_over_http(http, done.appid, "PLATFORM_REVIEW", applicant)
        approved = await http.post(f"/v1/filings/{done.appid}/platform-decision", json={"decision": "approve"},
                                   headers=platform | key())
        assert approved.status_code == 200 and approved.json()["applied"] is True, approved.text
        await stage_over_http(http, done.appid, "SMS_VERIFICATION", applicant)
        person = done.subject_principal
        entry = {"mobile": person.mobile, "code": outbox_code(local_run, person.mobile),
                 "id_last6": person.identity_document.number[-6:]}
        verified = await http.post(f"/v1/filings/{done.appid}/sms/verify", json=entry, headers=site | key())
        assert verified.status_code == 200 and verified.json()["result"] == "verified", verified.text
        await stage_over_http(http, done.appid, "PROVINCIAL_REVIEW", applicant)
        numbered = await http.post(f"/v1/filings/{done.appid}/province-decision", headers=province | key(),
                                   json={"decision": "approve", "filing_number": NUMBER})
        assert numbered.status_code == 200 and numbered.json()["applied"] is True, numbered.text
        status_now = await stage_over_http(http, done.appid, "APPROVED", applicant)
        assert status_now["filing_number"] == NUMBER
        # Anyone finds it in the registry `make run` migrated, which the approval wrote (L8).
        public = await http.get("/v1/registry", params={"number": NUMBER})
        assert public.status_code == 200 and [e["service_name"] for e in public.json()] == [done.mini_program.name]
        await stage_over_http(http, waiting.appid, "PLATFORM_REVIEW", applicant)

    client = await local_run.client()
    assert (await client.get_workflow_handle(done_id, result_type=dict).result())["stage"] == "APPROVED"
    series = await asyncio.to_thread(scrape, local_run.metrics)
    assert total(series, "filings_started_total", kind="NEW") == 2
    assert total(series, "filings_stage_transitions_total", next_stage="APPROVED", outcome="approved") == 1
    assert total(series, "filings_sms_sent_total") >= 1 and total(series, "filings_sms_verified_total") == 1
    assert total(series, "filings_stage_duration_seconds_count", stage="PROVINCIAL_REVIEW") == 1
    assert total(series, "filings_notifications_total", channel="in_app") >= 2
    assert total(series, "temporal_num_pollers") > 0  # the SDK's own metrics, same endpoint

    assert await local_run.stop() == 0
    assert await asyncio.to_thread(health_command, local_run) == 1  # nothing answers now
    assert not await api_answers(local_run)
    stopping = [line for line in local_run.log.read_text(encoding="utf-8").splitlines()
                if "worker_stopping" in line or "Finished server process" in line]
    assert len(stopping) == 2 and "Finished server process" in stopping[0], "the service stops before the worker"

    # Overnight a backup restores the data dir group- and world-readable; and the operators
    # now open the Web UI through a name of their own, which they configure.
    local_run.data_dir.chmod(0o755)
    local_run.extra_env["FILINGS_CODEC_CORS_ORIGIN"] = f"http://filings-ui.internal:{ui_port}"

    # Day 2, again on the same data dir: both filings are there and the waiting one continues.
    await local_run.start()
    second = local_run.log.read_text(encoding="utf-8")
    assert "registry: migrated" not in second  # already at the head
    assert mode(local_run.data_dir) == 0o700
    tightened = [json.loads(line) for line in second.splitlines() if "data_dir_tightened" in line]
    assert tightened and tightened[0]["was"] == "0755"
    assert await cors_allows(local_run, f"http://filings-ui.internal:{ui_port}")  # FILINGS_CODEC_CORS_ORIGIN honoured
    assert not await cors_allows(local_run, f"http://localhost:{ui_port}")
    client = await local_run.client()
    described = await client.get_workflow_handle(done_id).describe()
    assert described.status is WorkflowExecutionStatus.COMPLETED
    assert (await status(client, done_id)).filing_number == NUMBER
    async with httpx.AsyncClient(base_url=local_run.api_url, timeout=30) as http:
        # Yesterday's tokens still hold: the signing key was kept.
        assert (await stage_over_http(http, done.appid, "APPROVED", applicant))["filing_number"] == NUMBER
        await stage_over_http(http, waiting.appid, "PLATFORM_REVIEW", applicant)
        approved = await http.post(f"/v1/filings/{waiting.appid}/platform-decision", json={"decision": "approve"},
                                   headers=platform | key())
        assert approved.status_code == 200 and approved.json()["applied"] is True, approved.text
        await stage_over_http(http, waiting.appid, "SMS_VERIFICATION", applicant)
    await in_stage(client, waiting_id, Stage.SMS_VERIFICATION)

    # Day 3: the service dies (the kernel's OOM killer, say): `make run` stops with an error.
    assert local_run.process is not None
    os.kill(local_run.service_pid(), signal.SIGKILL)
    code = await asyncio.to_thread(local_run.process.wait, 40)
    assert code == 1
    assert "error: the filing service exited with status -9" in local_run.log.read_text(encoding="utf-8")
    await wait_until(lambda: not processes_mentioning(str(local_run.data_dir)), 15, "the dev server gone")


async def api_answers(run: LocalRun) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            await http.get(f"{run.api_url}/healthz")
    except httpx.TransportError:
        return False
    return True


async def test_make_run_beside_programs_holding_its_ports_refuses_before_starting_anything(local_run: LocalRun):
    """Another `make run`, a second codec server, a Prometheus exporter...: every port is
    taken for good. `make run` names each busy one by its variable and starts nothing."""
    with ExitStack() as holding:
        for port in local_run.ports.values():
            held = holding.enter_context(socket.socket())
            held.bind(("127.0.0.1", port))
            held.listen()
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "engine.run_local"], cwd=ROOT, env=local_run.env,
            capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(local_run.ports), done.stderr
    for line, (variable, port) in zip(lines, local_run.ports.items(), strict=True):
        assert variable in line and str(port) in line, line
    assert not local_run.data_dir.exists()  # no data dir, no keys, no database
    assert not processes_mentioning(str(local_run.data_dir))  # no dev server

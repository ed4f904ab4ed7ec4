"""`filings` as people use it: through the real filing service (`python -m service`, started
here as tests/service does) on the dev server, with a worker in-process; and in direct mode
(`--direct`) on the same server, as operators do.

The CLI runs in a thread (Typer's runner: the in-process tool, with its own event loop) or
as the installed console script in a subprocess, never on the test's event loop, which
keeps the worker going meanwhile. One data dir, service and worker serve the module; each
test has its own appids, mobiles and saved tokens. Every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from cli.app import app
from engine.binaries import temporal_cli
from engine.codec_server import build_app
from engine.settings import Settings
from engine.wiring import engine_activities
from filing.calendar import BusinessCalendar, Deadline
from filing.examples import example_materials, example_png
from registry.migrate import upgrade
from service.principal import Role
from service.tokens import ensure_local_signing_key, issue_token
from tests.conftest import unique, write_test_keys
from tests.processes import free_ports, wait_until
from tests.service.conftest import (
    ServiceProcess,
    Stack,
    application,
    as_json,
    fresh_subject_number,
    new_appid,
    service_env,
)
from tests.workers import Workers

pytestmark = pytest.mark.integration
T = TypeVar("T")
RUNNER = CliRunner()
FILINGS = Path(sys.executable).parent / "filings"
STARTER = Path(__file__).resolve().parents[2] / "starter.py"
SUBJECT = "河北示例网络科技有限公司"


class SwitchableCalendar(BusinessCalendar):
    """The official calendar, or deadlines that are provisional, as a test needs."""

    mode = "normal"

    def add_business_days(self, start: datetime, n: int) -> Deadline:
        deadline = super().add_business_days(start, n)
        return deadline.model_copy(update={"provisional": True}) if self.mode == "provisional" else deadline


@dataclass
class CliStack:
    """The module's service, worker and data dir (tests/service's `Stack`), and the calendar."""

    http: Stack
    calendar: SwitchableCalendar
    materials_uploaded: bool = False
    #: The tokens each test saved live in its own configuration dir.
    home: Path = field(default_factory=Path)

    @property
    def settings(self) -> Settings:
        return self.http.settings

    @property
    def url(self) -> str:
        return self.http.service.url

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "COLUMNS": "200",
            "FILINGS_DATA_DIR": str(self.settings.data_dir),
            "FILINGS_API_URL": self.url,
            "XDG_CONFIG_HOME": str(self.home),
            "TEMPORAL_ADDRESS": self.settings.temporal_address,
            "FILINGS_TASK_QUEUE": self.settings.task_queue,
            "FILINGS_TOKEN": None,
            "FILINGS_MODE": None,
        } | extra

    async def uploads(self, *appids: str) -> None:
        """The example applications' scans, uploaded through the service for `appids` (a
        material belongs to its uploader: an applicant names only what was uploaded for
        their mini-programs); without appids, once, for the tests that start directly."""
        if appids:
            await self.http.upload_materials(self.http.auth(Role.APPLICANT, appids=list(appids)))
        elif not self.materials_uploaded:
            await self.http.upload_materials(self.http.auth(Role.APPLICANT, appids=[new_appid()]))
            self.materials_uploaded = True


@pytest.fixture(scope="module")
async def stack(dev_env, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CliStack]:
    root = tmp_path_factory.mktemp("cli")
    settings = Settings(data_dir=root / "data", task_queue=unique("cli"),
                        temporal_address=dev_env.client.service_client.config.target_host)
    write_test_keys(settings.data_dir)
    upgrade(settings.registry_database_url)  # no materials: the tests upload what they name
    signing_key = ensure_local_signing_key(settings.api.signing_key_path(settings.data_dir))
    calendar = SwitchableCalendar(settings.calendar_path)
    # The in-process CLI's output is captured by swapping sys.stdout/stderr for the whole process:
    # the worker's log lines go to the real stderr meanwhile.
    # A chain of its own: the engine's (if a test in this process configured it) ends in stdlib's
    # formatter and names stdlib loggers, which a print logger is not; and nothing is cached, so
    # no logger keeps this print logger once the module's tests are over.
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.BoundLogger, logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False)
    try:
        async with Workers(dev_env.client, settings, engine_activities(settings, calendar)):
            port = free_ports(1)[0]
            service = ServiceProcess(service_env(settings, port), port, root / "service.log")
            await service.start()
            try:
                async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
                    yield CliStack(Stack(settings, service, dev_env.client, signing_key, http), calendar)
            finally:
                await service.stop()
    finally:
        structlog.configure(**saved)


@pytest.fixture
async def s(stack: CliStack, tmp_path: Path) -> CliStack:
    """The module's stack, with this test's own configuration dir (its saved tokens)."""
    if stack.http.service.process is None or stack.http.service.process.poll() is not None:
        await stack.http.service.start()
    stack.home = tmp_path / "config"
    return stack


async def filings(s: CliStack, *args: str, **env: str | None) -> Result:
    """`filings ARGS`, in-process, off the event loop."""
    return await asyncio.to_thread(RUNNER.invoke, app, list(args), env=s.env(**env))


async def ok(s: CliStack, *args: str, **env: str | None) -> Result:
    result = await filings(s, *args, **env)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result


async def as_json_of(s: CliStack, *args: str, **env: str | None) -> Any:
    return json.loads((await ok(s, *args, "--json", **env)).stdout)


async def refused(s: CliStack, *args: str, says: str, code: int = 1, **env: str | None) -> Result:
    """The command fails with `code` and one line `error: …` naming what is wrong."""
    result = await filings(s, *args, **env)
    assert result.exit_code == code, f"{args}: {result.output}"
    last = result.stderr.strip().splitlines()[-1]
    assert says in last and (last.startswith(("error: ", "not applied: ", "Usage:")) or code == 2), result.stderr
    return result


def console_script(s: CliStack, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `filings`, configured by environment variables alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    env |= {k: v for k, v in s.env().items() if v is not None}
    return subprocess.run([str(FILINGS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20.0) -> T:
    return await wait_until(check, timeout, what)


def write(path: Path, appid: str, **kwargs: Any) -> dict[str, Any]:
    document = as_json(application(appid, **kwargs))
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return document


async def stage_is(s: CliStack, appid: str, stage: str, *args: str) -> dict[str, Any] | None:
    status = await as_json_of(s, "status", appid, *args)
    return status if status["stage"] == stage else None


async def listed(s: CliStack, filing_id: str, *command: str) -> bool:
    """Lists read visibility, which is eventually consistent: wait on it, never assume it."""
    return filing_id in [r["filing_id"] for r in await as_json_of(s, *command)]


async def login(s: CliStack, role: str, *claims: str) -> None:
    saved = await ok(s, "login", "--role", role, *claims, "--save")
    assert saved.stdout == "" and f"saved a {role} token" in saved.stderr


class LosingProxy:
    """In front of the service: forwards every request, but while `lose` is set the service's
    answer to a path ending so never comes back (the network failed after the request got
    through): the caller times out not knowing what happened."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.lose: str | None = None
        self.lost: list[int] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() in
                   ("authorization", "idempotency-key", "content-type")}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(request.method, self.target + request.path_qs, headers=headers,
                                          content=await request.read())
        if self.lose and request.path.endswith(self.lose):
            self.lost.append(answer.status_code)
            await self.release.wait()  # held back until the test ends
        return web.Response(status=answer.status_code, body=answer.content,
                            content_type=answer.headers.get("content-type", "application/json").split(";")[0])


@pytest.fixture
async def proxy(s: CliStack) -> AsyncIterator[tuple[LosingProxy, str]]:
    losing = LosingProxy(s.url)
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", losing.handle)
    runner = web.AppRunner(server, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield losing, f"http://{host}:{port}"
    finally:
        losing.release.set()
        await runner.cleanup()


# ------------------------------------------------------------------ through the service, over days


async def test_through_the_service_a_filing_goes_from_login_to_approved_then_is_cancelled(s, proxy, tmp_path):
    losing, proxied = proxy
    appid = new_appid()
    filing_id = f"filing-{appid}"

    # Day 0, the operators: one token per role, kept owner-only for that role's commands.
    assert FILINGS.is_file(), "the `filings` console script is installed by `pip install -e .` (make install)"
    made = await asyncio.to_thread(console_script, s, "login", "--role", "applicant", "--sub", "zhang",
                                   "--appid", appid, "--save", cwd=tmp_path)
    assert made.returncode == 0 and made.stdout == "", made.stderr
    (saved,) = (s.home / "filings" / "tokens").glob("*/applicant")  # under the service's own directory
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    await login(s, "platform_reviewer", "--sub", "r-01")
    await login(s, "verification_site", "--sub", "miit")
    await login(s, "province_reviewer", "--sub", "冀-07", "--province", "河北")
    await login(s, "operator", "--sub", "ops-1")

    # Day 1, the applicant: the example (its scans uploaded first), made theirs, and a scan of their own.
    example = await ok(s, "example", str(tmp_path / "app.json"), "--as", "applicant")
    assert "materials are in the filing service" in example.stdout
    data = json.loads((tmp_path / "app.json").read_text(encoding="utf-8"))
    ours = as_json(application(appid))
    data["mini_program"]["appid"] = appid
    data["subject_principal"] |= {k: ours["subject_principal"][k] for k in ("mobile", "emergency_mobile")}
    (tmp_path / "app.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    scan = example_png((secrets.randbelow(200) + 40, 120, 200), width=60 + secrets.randbelow(60))  # their own
    (tmp_path / "scan.png").write_bytes(scan)
    added = await as_json_of(s, "materials", "add", str(tmp_path / "scan.png"))
    assert added[0]["media_type"] == "image/png" and added[0]["bytes"] == len(scan)

    started = await asyncio.to_thread(console_script, s, "start", "app.json", cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    assert filing_id in started.stdout and "1 started, 0 already running, 0 rejected" in started.stdout
    assert "张* 139****" in started.stdout and data["subject_principal"]["mobile"] not in started.stdout
    again = await ok(s, "start", str(tmp_path / "app.json"))  # the same file again: the first call's answer
    assert "1 started" in again.stdout and "answered this call already" in again.stderr

    # Day 1, the platform reviewer: the queue, the application (masked unless revealed), a return.
    await eventually(lambda: stage_is(s, appid, "PLATFORM_REVIEW"), "platform review")
    await eventually(lambda: listed(s, filing_id, "platform", "queue"), "on the platform's queue")
    read = await as_json_of(s, "application", appid)
    person = data["subject_principal"]
    assert read["fields"]["subject_principal.mobile"] != person["mobile"]
    revealed = await as_json_of(s, "application", appid, "--reveal")
    assert revealed["fields"]["subject_principal.mobile"] == person["mobile"] and revealed["materials"]
    returned = await ok(s, "platform", "reject", appid, "--reason", "subject.address.detail:地址不详细:请填写门牌号")
    assert f"applied: reject by r-01 on {filing_id} (attempt 1); returned to the applicant" in returned.stdout
    status = await eventually(lambda: stage_is(s, appid, "RETURNED"), "returned")
    assert status["returned"]["reasons"][0]["suggestion"] == "请填写门牌号"

    # Day 2, the applicant corrects and resubmits; running it again (a lost answer) resubmits nothing more.
    data["subject"]["address"]["detail"] = "示例路1号示例大厦1201室"
    (tmp_path / "app.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    resubmitted = await ok(s, "resubmit", appid, str(tmp_path / "app.json"))
    assert "attempt 2 goes to platform review" in resubmitted.stdout
    await eventually(lambda: stage_is(s, appid, "PLATFORM_REVIEW"), "attempt 2 in review")
    rerun = await ok(s, "resubmit", appid, str(tmp_path / "app.json"))
    assert "attempt 2 goes to platform review" in rerun.stdout and "answered this call already" in rerun.stderr
    approved = await ok(s, "platform", "approve", appid, "--reviewer", "someone-else")
    assert f"applied: approve by r-01 on {filing_id} (attempt 2)" in approved.stdout
    assert "the service records your token's sub (r-01)" in approved.stderr

    # Day 2, the SMS: a mistyped code whose answer is lost on the way back; the site sends it again.
    status = await eventually(lambda: stage_is(s, appid, "SMS_VERIFICATION"), "SMS verification")
    code = await s.http.sms_code(person["mobile"])
    id6 = person["identity_document"]["number"][-6:]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    entry = ("sms", "verify", appid, "--mobile", person["mobile"], "--code", wrong, "--id-last6", id6)
    losing.lose = "/sms/verify"
    # Saved tokens belong to the service they were saved for: through the proxy (another URL)
    # the site names its token itself.
    site_token = (await ok(s, "login", "--role", "verification_site", "--sub", "miit")).stdout.strip()
    lost = await filings(s, *entry, "--api-url", proxied, "--wait", "1", FILINGS_TOKEN=site_token)
    assert lost.exit_code == 4, lost.output
    assert "no answer within" in lost.stderr and "run the same command again" in lost.stderr
    assert await eventually(lambda: losing.lost, "the service answered the lost call") == [200]
    losing.lose = None
    again = await filings(s, *entry)
    assert again.exit_code == 1 and "4 attempt(s) left on this code" in again.stdout, again.output
    assert "answered this call already" in again.stderr
    verifiers = (await as_json_of(s, "status", appid))["sms"]["verifiers"]
    assert [v["attempts_left"] for v in verifiers] == [4]  # one wrong entry spent, not two
    verified = await ok(s, "sms", "verify", appid, "--mobile", person["mobile"], "--code", code, "--id-last6", id6)
    assert "all verifiers done" in verified.stdout and person["mobile"] not in verified.stdout

    # Day 3, the province: its queue, the proposed number (a new subject: none), the approval.
    await eventually(lambda: stage_is(s, appid, "PROVINCIAL_REVIEW"), "provincial review")
    await eventually(lambda: listed(s, filing_id, "province", "queue"), "on the province's queue")
    proposed = await ok(s, "province", "next-number", appid)
    assert "a new subject" in proposed.stdout
    number = f"{fresh_subject_number('冀')}-1X"
    issued = await ok(s, "province", "approve", appid, "--number", number)
    assert f"applied: approve {number} by 冀-07 on {filing_id} (attempt 2); now APPROVED" in issued.stdout
    status = await as_json_of(s, "status", appid)
    assert (status["stage"], status["filing_number"]) == ("APPROVED", number)
    events = [e["event"] for e in await as_json_of(s, "timeline", appid)]
    assert events.index("platform_rejected") < events.index("sms_verified") < events.index("approved")
    assert "decision_ignored" not in events
    await eventually(lambda: listed(s, filing_id, "list", "--stage", "APPROVED", "--as", "operator"), "listed")

    # Anyone, without a token: the public lookup (备案查询), by number, appid and subject.
    public = await ok(s, "lookup", number, XDG_CONFIG_HOME=str(tmp_path / "nobody"))
    assert "示例小程序" in public.stdout and "ACTIVE" in public.stdout and person["name"] not in public.stdout
    assert [e["service_number"] for e in await as_json_of(s, "lookup", appid)] == [number]
    assert number in [e["service_number"] for e in await as_json_of(s, "lookup", "--subject", SUBJECT)]

    # Day 40: the mini-program closes. The person on record verifies, the province approves.
    cancelled = await ok(s, "cancel", "CANCEL_MINI_PROGRAM", "--appid", appid, "--number", number,
                         "--reason", "停止运营")
    assert "1 started" in cancelled.stdout and f"CANCEL_MINI_PROGRAM {number}" in cancelled.stdout
    await eventually(lambda: stage_is(s, appid, "SMS_VERIFICATION"), "the cancellation's SMS")
    code = await s.http.sms_code(person["mobile"], 2)
    # The MIIT site has the mobile, not the AppID: the service finds the filing by the mobile's open code.
    by_mobile = await ok(s, "sms", "verify", "--mobile", person["mobile"], "--code", code, "--id-last6", id6)
    assert "all verifiers done" in by_mobile.stdout and person["mobile"] not in by_mobile.stdout
    await eventually(lambda: stage_is(s, appid, "PROVINCIAL_REVIEW"), "the cancellation at the province")
    closed = await ok(s, "province", "approve", appid)
    assert "now APPROVED" in closed.stdout
    assert await as_json_of(s, "lookup", number) == []  # a cancelled filing shows only when asked for
    states = [e["state"] for e in await as_json_of(s, "lookup", number, "--cancelled")]
    assert states == ["CANCELLED"]


# ------------------------------------------------------------------ direct mode (operators)


async def test_direct_mode_carries_a_filing_to_approved_and_a_re_run_update_counts_once(s, tmp_path):
    appid = new_appid()
    filing_id = f"filing-{appid}"
    made = await ok(s, "example", str(tmp_path / "app.json"), "--direct")
    assert "materials are in the material store" in made.stdout
    write(tmp_path / "app.json", appid)  # the example, with this test's appid and mobiles
    started = await ok(s, "start", str(tmp_path / "app.json"), "--direct")
    assert "1 started" in started.stdout and f"/workflows/{filing_id}" in started.stdout  # the Web UI link

    await eventually(lambda: stage_is(s, appid, "PLATFORM_REVIEW", "--direct"), "platform review")
    approved = await ok(s, "platform", "approve", filing_id, "--reviewer", "r-09", "--direct")
    assert f"applied: approve by r-09 on {filing_id} (attempt 1)" in approved.stdout
    again = await filings(s, "platform", "approve", filing_id, "--reviewer", "r-09", "--direct")
    assert again.exit_code == 0 and "applied: approve by r-09" in again.stdout  # the same update id: the same answer
    other = await filings(s, "platform", "approve", filing_id, "--reviewer", "r-10", "--direct")
    assert other.exit_code == 3 and "not applied: the filing is in stage" in other.stderr, other.output

    person = as_json(application(appid))["subject_principal"]
    code = await s.http.sms_code(person["mobile"])
    id6 = person["identity_document"]["number"][-6:]
    wrong = ("sms", "verify", appid, "--mobile", person["mobile"], "--code", f"{(int(code) + 1) % 10**6:06d}",
             "--id-last6", id6, "--direct")
    await eventually(lambda: stage_is(s, appid, "SMS_VERIFICATION", "--direct"), "SMS verification")
    for _ in range(2):  # the same entry twice (a re-run after a timeout): counted once
        missed = await filings(s, *wrong)
        assert missed.exit_code == 1 and "4 attempt(s) left" in missed.stdout, missed.output
    await ok(s, "sms", "verify", appid, "--mobile", person["mobile"], "--code", code, "--id-last6", id6, "--direct")

    await eventually(lambda: stage_is(s, appid, "PROVINCIAL_REVIEW", "--direct"), "provincial review")
    proposed = await as_json_of(s, "province", "next-number", appid, "--direct")
    assert proposed["number"] is None
    number = f"{fresh_subject_number('冀')}-1X"
    issued = await ok(s, "province", "approve", appid, "--number", number, "--reviewer", "冀-01", "--direct")
    assert "now APPROVED" in issued.stdout
    shown = await ok(s, "status", appid, "--direct")
    assert "APPROVED" in shown.stdout and number in shown.stdout and f"/workflows/{filing_id}" in shown.stdout
    assert (await as_json_of(s, "lookup", appid, "--direct"))[0]["service_number"] == number
    assert "served by the filing service only" in (await filings(s, "application", appid, "--direct")).stderr


# ------------------------------------------------------------------ bad input


async def test_bad_input_gets_a_clear_error_and_changes_nothing(s, tmp_path):
    appid, other = new_appid(), new_appid()
    await s.uploads(appid, other)
    await login(s, "applicant", "--sub", "li", "--appid", appid, "--appid", other)
    await login(s, "platform_reviewer", "--sub", "r-02")
    await login(s, "province_reviewer", "--sub", "冀-02", "--province", "冀")
    await login(s, "verification_site", "--sub", "miit")
    document = write(tmp_path / "app.json", appid)
    await ok(s, "start", str(tmp_path / "app.json"))
    await eventually(lambda: stage_is(s, appid, "PLATFORM_REVIEW"), "platform review")
    before = await as_json_of(s, "timeline", appid)
    person = document["subject_principal"]
    mobile, id6 = person["mobile"], person["identity_document"]["number"][-6:]

    await refused(s, "status", "wx-not-an-appid", says="is not a filing id")
    await refused(s, "status", other, says=f"no filing filing-{other}")
    await refused(s, "platform", "approve", appid, says=f"no token for the filing service at {s.url} (platform_reviewer)",
                  XDG_CONFIG_HOME=str(tmp_path / "nobody"))
    stranger = issue_token(s.http.signing_key, issuer="filings-local", audience="filings-api", sub="zhao",
                           role=Role.APPLICANT, appids=[appid])
    await refused(s, "platform", "approve", appid, "--token", stranger, says="not allowed: role applicant")
    stale = issue_token(s.http.signing_key, issuer="filings-local", audience="filings-api", sub="r-02",
                        role=Role.PLATFORM_REVIEWER, ttl=timedelta(minutes=1),
                        now=datetime.now(UTC) - timedelta(hours=1))
    await refused(s, "platform", "approve", appid, says="expired", FILINGS_TOKEN=stale)
    forged = issue_token(Ed25519PrivateKey.generate(), issuer="filings-local", audience="filings-api", sub="r-02",
                         role=Role.PLATFORM_REVIEWER)
    await refused(s, "platform", "approve", appid, "--token", forged, says="refused the token from --token")
    await refused(s, "province", "approve", appid, "--number", "冀ICP备123号-1X", says="malformed filing number")
    await refused(s, "province", "approve", appid, "--number", "京ICP备18021892号-1X",
                  says="is of 北京市, the subject is in 河北省; nothing was sent")
    await refused(s, "platform", "reject", appid, says="a reject needs at least one --reason")
    await refused(s, "platform", "reject", appid, "--reason", "no colon", says="is not FIELD:ERROR[:SUGGESTION]")
    await refused(s, "sms", "verify", appid, "--mobile", mobile, "--code", "12345", "--id-last6", id6,
                  says="the code must be the 6 digits")
    await refused(s, "sms", "resend", appid, "--mobile", mobile,
                  says="is in stage PLATFORM_REVIEW, not SMS_VERIFICATION")
    # Out of turn: the filing answers why, and a refused message leaves no trace.
    await refused(s, "province", "approve", appid, "--number", "冀ICP备18021892号-1X", code=3,
                  says="the filing is in stage PLATFORM_REVIEW, not PROVINCIAL_REVIEW")
    await refused(s, "sms", "verify", appid, "--mobile", mobile, "--code", "123456", "--id-last6", id6,
                  says="is in stage PLATFORM_REVIEW, not SMS_VERIFICATION")
    nobody = await filings(s, "sms", "verify", "--mobile", mobile, "--code", "123456", "--id-last6", id6)
    assert nobody.exit_code == 1 and "no filing waits for a code sent to" in nobody.stdout, nobody.output
    await refused(s, "sms", "verify", "--mobile", mobile, "--code", "123456", "--id-last6", id6, "--direct",
                  says="run it without --direct")
    await refused(s, "resubmit", appid, str(tmp_path / "app.json"), says="only a RETURNED filing can be resubmitted")

    broken = dict(document, mini_program=document["mini_program"] | {"appid": other})
    broken["subject_principal"] = person | {"emergency_mobile": mobile}
    broken["subject"] = document["subject"] | {"address": document["subject"]["address"] | {"province": "火星"}}
    (tmp_path / "broken.json").write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    result = await filings(s, "start", str(tmp_path / "broken.json"))
    assert result.exit_code == 1 and "0 started, 0 already running, 1 rejected" in result.stdout
    assert "R4.emergency_same_as_own" in result.stdout and "R5.unknown_province" in result.stdout
    unuploaded = dict(document, mini_program=document["mini_program"] | {"appid": other})
    unuploaded["subject_principal"] = person | {"identity_document": person["identity_document"] | {"front": "f" * 64}}
    (tmp_path / "unuploaded.json").write_text(json.dumps(unuploaded, ensure_ascii=False), encoding="utf-8")
    missing = await filings(s, "start", str(tmp_path / "unuploaded.json"), "--json")
    assert missing.exit_code == 1, missing.output
    assert [v["key"] for v in json.loads(missing.stdout)["results"][0]["violations"]] == ["R10.material_not_uploaded"]
    # R8 (only an active filing on record can be cancelled), judged before the start. Direct: the
    # service does not check the registry before starting a cancellation yet (reported to its owner).
    never_filed = await filings(s, "cancel", "CANCEL_MINI_PROGRAM", "--appid", other, "--number",
                                "冀ICP备18021892号-1X", "--reason", "停止运营", "--direct")
    assert never_filed.exit_code == 1 and "R8.not_on_record" in never_filed.stdout, never_filed.output
    await refused(s, "cancel", "NEW", "--appid", other, "--number", "冀ICP备18021892号-1X", "--reason", "x",
                  code=2, says="is not a cancellation")
    await refused(s, "status", other, says=f"no filing filing-{other}")  # nothing started for `other`
    await refused(s, "lookup", code=2, says="exactly one")
    await refused(s, "lookup", "wx123", says="neither an appid")
    await refused(s, "withdraw", appid, "--reason", "x", "--idempotency-key", "has spaces", code=2,
                  says="--idempotency-key must be 1 to 255 visible ASCII characters")
    await refused(s, "start", str(tmp_path / "app.json"), str(tmp_path / "broken.json"), "--idempotency-key", "k1",
                  code=2, says="--idempotency-key names one call")
    await refused(s, "status", appid, says="FILINGS_MODE must be http or direct", code=2, FILINGS_MODE="carrier-pigeon")

    assert await as_json_of(s, "timeline", appid) == before  # nothing reached the filing
    await ok(s, "withdraw", appid, "--reason", "test over")


# ------------------------------------------------------------------ outside parts that fail for good


async def test_a_service_without_temporal_and_then_no_service_at_all(s, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", task_queue=unique("down"),
                        temporal_address=f"127.0.0.1:{free_ports(1)[0]}")  # nothing listens there, ever
    write_test_keys(settings.data_dir)
    upgrade(settings.registry_database_url)
    key = ensure_local_signing_key(settings.api.signing_key_path(settings.data_dir))
    port = free_ports(1)[0]
    service = ServiceProcess(service_env(settings, port), port, tmp_path / "service.log")
    await service.start(healthy=False)
    site = issue_token(key, issuer="filings-local", audience="filings-api", sub="miit", role=Role.VERIFICATION_SITE)
    entry = ("sms", "verify", new_appid(), "--mobile", "13800138000", "--code", "123456", "--id-last6", "12345X",
             "--api-url", service.url, "--token", site)
    try:
        await refused(s, *entry, says=f"Temporal at {settings.temporal_address} is unreachable; nothing was done")
    finally:
        await service.stop()
    await refused(s, *entry, says=f"cannot reach the filing service at {service.url}")
    await refused(s, *entry[:-4], "--api-url", service.url, "--direct", "--address", settings.temporal_address,
                  says=f"cannot reach Temporal at {settings.temporal_address}")


# ------------------------------------------------------------------ the starter, through the service


async def test_the_starter_goes_through_the_service_holding_no_payload_key(s, tmp_path):
    token = issue_token(s.http.signing_key, issuer="filings-local", audience="filings-api", sub="integrator-1",
                        role=Role.OPERATOR)
    keyless = {k: v for k, v in os.environ.items() if not k.startswith(("FILINGS_", "TEMPORAL_"))}
    keyless |= {"FILINGS_DATA_DIR": str(tmp_path / "no-keys-here"), "FILINGS_API_URL": s.url,
                "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(STARTER.parent)}

    def starter(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(STARTER), "--via-service", *args], cwd=tmp_path, env=keyless,
                              capture_output=True, text=True, timeout=60, check=False)

    made = await asyncio.to_thread(starter, "--example", "example.json", "--token", token)
    assert made.returncode == 0 and "materials are in the filing service" in made.stdout, made.stderr
    appid = new_appid()
    write(tmp_path / "app.json", appid)
    for _ in range(2):  # the same file twice: one filing, the first call's answer
        started = await asyncio.to_thread(starter, "app.json", "--token", token)
        assert started.returncode == 0, started.stderr
        assert f"app.json: started filing-{appid}  via {s.url}" in started.stdout
    assert "answered this call already" in started.stderr
    status = await s.http.http.get(f"/v1/filings/{appid}", headers=s.http.auth(Role.OPERATOR))
    assert status.status_code == 200 and status.json()["kind"] == "NEW"
    anonymous = await asyncio.to_thread(starter, "app.json")
    assert anonymous.returncode == 1 and "no token for the filing service at" in anonymous.stderr
    assert "(operator or applicant)" in anonymous.stderr
    assert not (tmp_path / "no-keys-here" / "keys.json").exists()


# ------------------------------------------------------------------ the calendar


async def test_a_calendar_refresh_tells_exactly_the_filings_whose_deadline_is_provisional(s, tmp_path):
    appids = [new_appid() for _ in range(3)]
    await s.uploads(*appids)
    await login(s, "applicant", *[a for appid in appids for a in ("--appid", appid)])
    await login(s, "operator", "--sub", "ops-2")

    async def start(appid: str, mode: str) -> None:
        s.calendar.mode = mode
        write(tmp_path / f"{appid}.json", appid)
        await ok(s, "start", str(tmp_path / f"{appid}.json"), "--as", "applicant")
        await eventually(lambda: stage_is(s, appid, "PLATFORM_REVIEW", "--as", "applicant"), "platform review")

    async def provisional() -> set[str]:
        return {r["appid"] for r in await as_json_of(s, "list", "--provisional", "--as", "operator")}

    try:
        normal, first, second = appids
        await start(normal, "normal")
        await start(first, "provisional")
        s.calendar.mode = "normal"  # the operators load the calendar: recomputed deadlines are firm
        await eventually(lambda: _equals(provisional(), {first}), "the provisional filing listed")
        direct = await as_json_of(s, "calendar", "refresh", "--direct")
        assert direct["filings"] == [f"filing-{first}"] and direct["count"] == 1
        await eventually(lambda: _equals(provisional(), set()), "its deadline recomputed")
        events = [e["event"] for e in await as_json_of(s, "timeline", first, "--as", "applicant")]
        assert "deadline_recomputed" in events

        await start(second, "provisional")
        s.calendar.mode = "normal"
        await eventually(lambda: _equals(provisional(), {second}), "the next provisional filing listed")
        through = await ok(s, "calendar", "refresh")
        assert "signalled calendar_updated to 1 filing(s) with a provisional deadline" in through.stdout
        await eventually(lambda: _equals(provisional(), set()), "its deadline recomputed too")
    finally:
        s.calendar.mode = "normal"
        for appid in appids:
            await filings(s, "withdraw", appid, "--reason", "test over")


async def _equals(found: Awaitable[set[str]], expected: set[str]) -> bool:
    return await found == expected


# ------------------------------------------------------------------ the official `temporal` CLI


@pytest.fixture
async def codec_server(s: CliStack) -> AsyncIterator[list[str]]:
    """The codec server on a free port; answers the `temporal` CLI options that use it."""
    token = secrets.token_hex(16)
    runner = web.AppRunner(build_app(s.settings.payload_keyring(), token, s.settings.codec_cors_origin))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield ["--codec-endpoint", f"http://{host}:{port}", "--codec-auth", f"Bearer {token}"]
    await runner.cleanup()


async def test_the_temporal_cli_sends_every_message_as_plain_json(s, codec_server, tmp_path):
    await s.uploads()
    appid = new_appid()
    filing_id = f"filing-{appid}"
    document = write(tmp_path / "app.json", appid)
    await ok(s, "start", str(tmp_path / "app.json"), "--direct")

    async def temporal(*args: str, codec: bool = True, ok: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(temporal_cli()), "workflow", *args, "--workflow-id", filing_id,
                "--address", s.settings.temporal_address, *(codec_server if codec else [])]
        result = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False)
        assert (result.returncode == 0) is ok, result.stdout + result.stderr
        return result

    async def update(name: str, payload: dict[str, Any], ok: bool = True) -> Any:
        result = await temporal(
            "update", "execute", "--name", name, "-o", "json", "--input", json.dumps(payload, ensure_ascii=False), ok=ok
        )
        return json.loads(result.stdout)["result"] if ok else result.stderr

    async def signal(name: str, payload: dict[str, Any], codec: bool = True) -> None:
        await temporal("signal", "--name", name, "--input", json.dumps(payload, ensure_ascii=False), codec=codec)

    async def status() -> dict[str, Any]:
        return json.loads((await temporal("query", "--name", "status", "-o", "json")).stdout)["queryResult"][0]

    async def stage(name: str) -> bool:
        return (await status())["stage"] == name

    await eventually(lambda: stage("PLATFORM_REVIEW"), "platform review")
    # Without the codec server too: a plain JSON payload is read as it is.
    reason = {"field": "subject.address.detail", "error": "地址不详细", "suggestion": "请填写门牌号"}
    await signal("platform_decision", {"decision": "reject", "reviewer": "r-01", "reasons": [reason]}, codec=False)
    await eventually(lambda: stage("RETURNED"), "returned")
    assert (await status())["returned"] == {"by": "PLATFORM", "reasons": [reason]}
    assert await update("resubmit", {"application": document}) == {"attempt": 2}
    await eventually(lambda: stage("PLATFORM_REVIEW"), "attempt 2 in review")
    await signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 2})
    await eventually(lambda: stage("SMS_VERIFICATION"), "SMS verification")

    person = document["subject_principal"]
    await s.http.sms_code(person["mobile"])
    resend = await update("request_sms_resend", {"mobile": person["mobile"]})
    assert resend == {"sent": True, "resends_left": 0, "reason": None}
    code = await s.http.sms_code(person["mobile"], 2)
    entry = {"mobile": person["mobile"], "code": code, "id_last6": person["identity_document"]["number"][-6:]}
    assert await update("verify_sms_code", entry) == {"result": "verified", "attempts_left": 5, "all_verified": True}
    await eventually(lambda: stage("PROVINCIAL_REVIEW"), "provincial review")
    refusal = await update("withdraw", {"reason": "too late"}, ok=False)
    assert "withdraw is allowed in SUBMITTED, PLATFORM_REVIEW and RETURNED only" in refusal

    # Out of turn or of another province: recorded as ignored (L9), and `filings` shows it.
    await signal(
        "province_decision", {"decision": "approve", "reviewer": "京-01", "filing_number": "京ICP备18021892号-1X"}
    )
    await signal("calendar_updated", {})

    async def ignored() -> str | None:
        timeline = await as_json_of(s, "timeline", appid, "--direct")
        return next((e["detail"] for e in timeline if e["event"] == "decision_ignored"), None)

    assert "province_decision approve by 京-01: filing number 京ICP备18021892号-1X is of 北京市" in await eventually(
        ignored, "the ignored decision in the timeline")

    number = f"{fresh_subject_number('冀')}-2X"
    await signal("province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": number})
    await eventually(lambda: stage("APPROVED"), "approved")
    assert (await status())["filing_number"] == number
    assert (await as_json_of(s, "status", appid, "--direct"))["filing_number"] == number


async def test_schema_and_calendar_need_no_filing(s):
    schema = await as_json_of(s, "schema")
    assert set(schema["messages"]) == {
        "platform_decision", "province_decision", "verify_sms_code", "request_sms_resend", "resubmit", "withdraw",
        "calendar_updated", "decide_platform", "decide_province", "status",
    }
    assert schema["messages"]["verify_sms_code"]["payload"]["required"] == ["mobile", "code", "id_last6"]
    assert schema["messages"]["decide_province"]["answer"]["properties"]["applied"]["type"] == "boolean"
    year = await as_json_of(s, "calendar", "show", "2025")
    assert year["source"] == "official" and "2025-10-08" in year["holidays"] and "2025-10-11" in year["workdays"]
    assert example_materials()  # the example's scans exist to upload

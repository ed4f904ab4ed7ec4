"""`filings` against the real dev server, with the worker in-process.

The CLI runs in a thread (Typer's runner) or as the installed console script in a
subprocess, never on the test's event loop, which keeps the worker going meanwhile.
Visibility is eventually consistent: every wait is on a condition, with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog
from aiohttp import web
from temporalio.client import Client
from temporalio.service import RPCError
from typer.testing import CliRunner, Result

from cli import reviewers
from cli.app import app
from engine.binaries import temporal_cli
from engine.codec_server import build_app
from engine.wiring import engine_activities
from tests.workers import Workers
from filing.calendar import BusinessCalendar, Deadline
from filing.examples import example_application
from filing.messages import FilingStatus, Stage
from filing.models import Application, FilingKind
from tests.conftest import appid_for, unique
from tests.integration.conftest import DevEngine

pytestmark = pytest.mark.integration
T = TypeVar("T")
RUNNER = CliRunner()
FILINGS = Path(sys.executable).parent / "filings"


class SwitchableCalendar(BusinessCalendar):
    """The official calendar, or deadlines that are provisional or already past, as a test needs."""

    mode = "normal"

    def add_business_days(self, start: datetime, n: int) -> Deadline:
        deadline = super().add_business_days(start, n)
        if self.mode == "past":
            return deadline.model_copy(update={"due_at": start - timedelta(hours=1)})
        if self.mode == "provisional":
            return deadline.model_copy(update={"provisional": True})
        return deadline


@dataclass
class Engine(DevEngine):
    """The suite's dev engine settings, on a worker of its own whose calendar the test switches."""

    calendar: SwitchableCalendar


@pytest.fixture
def quiet_worker_logs() -> Iterator[None]:
    """The in-process CLI's output is captured by swapping `sys.stdout` for the whole process;
    the worker's structlog lines must not land in it, so they go to this stderr meanwhile."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    yield
    structlog.configure(**saved)


@pytest.fixture
async def engine(dev_engine: DevEngine, quiet_worker_logs: None) -> AsyncIterator[Engine]:
    settings = dev_engine.settings.model_copy(update={"task_queue": unique("cli")})
    calendar = SwitchableCalendar(settings.calendar_path)
    activities = engine_activities(settings, calendar)
    async with Workers(dev_engine.client, settings, activities):
        yield Engine(dev_engine.client, settings, calendar)


async def filings(engine: DevEngine, *args: str) -> Result:
    """`filings ARGS --address … --task-queue …`, in-process, off the event loop."""
    argv = [*args, "--address", engine.settings.temporal_address, "--task-queue", engine.task_queue]
    env = {"COLUMNS": "200", "FILINGS_DATA_DIR": str(engine.data_dir)}
    return await asyncio.to_thread(RUNNER.invoke, app, argv, env=env)


async def filings_json(engine: DevEngine, *args: str) -> Any:
    result = await filings(engine, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15.0) -> T:
    """Wait on a condition (visibility is eventually consistent), never a fixed sleep."""

    async def poll() -> T:
        while not (value := await check()):
            await asyncio.sleep(0.1)
        return value

    return await asyncio.wait_for(poll(), timeout)


def write_application(path: Path, appid: str, **kwargs: Any) -> Application:
    application = example_application(datetime.now(UTC), appid=appid, **kwargs)
    path.write_text(application.model_dump_json(exclude_none=True), encoding="utf-8")
    return application


async def sms_code(engine: DevEngine, mobile: str, nth: int = 1) -> str:
    """The `nth` code sent to `mobile`, from the outbox that stands in for the phone."""
    outbox = engine.data_dir / "sms-outbox.jsonl"

    async def nth_code() -> str | None:
        lines = outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []
        codes = [m["code"] for m in map(json.loads, lines) if m["to"] == mobile]
        return codes[nth - 1] if len(codes) >= nth else None

    return await eventually(nth_code)


async def stage_is(engine: DevEngine, filing_id: str, stage: str) -> bool:
    return (await filings_json(engine, "status", filing_id))["stage"] == stage


# ------------------------------------------------------------------ end to end


def run_filings(engine: DevEngine, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, configured by the worker's environment variables."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": engine.settings.temporal_address,
        "FILINGS_TASK_QUEUE": engine.task_queue,
        "FILINGS_DATA_DIR": str(engine.data_dir),
        "COLUMNS": "200",
    }
    return subprocess.run([str(FILINGS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


async def test_a_filing_goes_from_start_to_approved_with_filings_only(engine, tmp_path):
    assert FILINGS.is_file(), "the `filings` console script is installed by `pip install -e .` (make install)"

    async def sh(*args: str) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(run_filings, engine, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    await sh("example", "example.json")
    data = json.loads((tmp_path / "example.json").read_text(encoding="utf-8"))
    appid = data["mini_program"]["appid"] = appid_for(100)
    (tmp_path / "example.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    filing_id = f"filing-{appid}"

    started = await sh("start", "example.json")
    assert filing_id in started.stdout and "1 started, 0 already running, 0 rejected" in started.stdout

    async def listed(*queue: str) -> bool:
        return filing_id in [r["filing_id"] for r in json.loads((await sh(*queue, "--json")).stdout)]

    await eventually(lambda: listed("platform", "queue"))
    approved = await sh("platform", "approve", appid, "--reviewer", "r-01")
    assert f"applied: approve by r-01 on {filing_id}; now SMS_VERIFICATION" in approved.stdout

    person = data["subject_principal"]
    code = await sms_code(engine, person["mobile"])
    verified = await sh(
        "sms",
        "verify",
        filing_id,
        "--mobile",
        person["mobile"],
        "--code",
        code,
        "--id-last6",
        person["identity_document"]["number"][-6:],
    )
    assert "verified 138****8000; all verifiers done" in verified.stdout

    await eventually(lambda: listed("province", "queue", "--province", "河北"))
    issued = await sh("province", "approve", filing_id, "--number", "冀ICP备18021892号-1X", "--reviewer", "冀-07")
    assert "now APPROVED" in issued.stdout

    status = json.loads((await sh("status", filing_id, "--json")).stdout)
    assert (status["stage"], status["filing_number"]) == ("APPROVED", "冀ICP备18021892号-1X")
    shown = (await sh("status", filing_id)).stdout
    assert "APPROVED" in shown and "冀ICP备18021892号-1X" in shown and f"/workflows/{filing_id}" in shown
    events = [e["event"] for e in json.loads((await sh("timeline", filing_id, "--json")).stdout)]
    assert events.index("platform_approved") < events.index("sms_verified") < events.index("approved")
    assert "decision_ignored" not in events


# ------------------------------------------------------------------ lists and queues


async def test_lists_and_queues_return_exactly_the_expected_filings(engine, tmp_path):
    async def start(n: int, *, mode: str = "normal", **kwargs: Any) -> str:
        engine.calendar.mode = mode
        write_application(tmp_path / f"{n}.json", appid_for(n), **kwargs)
        result = await filings_json(engine, "start", str(tmp_path / f"{n}.json"))
        filing_id = result["results"][0]["filing_id"]
        await eventually(lambda: stage_is(engine, filing_id, "PLATFORM_REVIEW"))
        return filing_id

    hebei_new = await start(110)
    beijing_change = await start(111, kind=FilingKind.CHANGE, province="北京市")
    overdue = await start(112, mode="past")
    provisional = await start(113, mode="provisional")
    cancel_access_hebei = await start(114, kind=FilingKind.CANCEL_ACCESS)
    cancel_access_beijing = await start(115, kind=FilingKind.CANCEL_ACCESS, province="北京市")
    engine.calendar.mode = "normal"
    for filing_id in (cancel_access_hebei, cancel_access_beijing):  # no SMS: straight to the province
        assert (await filings(engine, "platform", "approve", filing_id)).exit_code == 0
    everything = {hebei_new, beijing_change, overdue, provisional, cancel_access_hebei, cancel_access_beijing}

    async def ids(*args: str) -> set[str]:
        return {r["filing_id"] for r in await filings_json(engine, *args)}

    async def exactly(expected: set[str], *args: str) -> bool:
        return await ids(*args) == expected

    in_platform = {hebei_new, beijing_change, overdue, provisional}
    await eventually(lambda: exactly(everything, "list"))
    await eventually(lambda: exactly(in_platform, "platform", "queue"))
    await eventually(lambda: exactly({cancel_access_hebei}, "province", "queue", "--province", "冀"))
    await eventually(lambda: exactly({cancel_access_hebei, cancel_access_beijing}, "province", "queue"))
    await eventually(lambda: exactly({overdue}, "list", "--overdue"))
    await eventually(lambda: exactly({provisional}, "list", "--provisional"))
    assert await ids("list", "--stage", "platform_review", "--province", "河北") == {hebei_new, overdue, provisional}
    assert await ids("list", "--kind", "CHANGE") == {beijing_change}
    assert await ids("list", "--kind", "CANCEL_ACCESS", "--province", "京") == {cancel_access_beijing}
    assert await ids("list", "--stage", "PROVINCIAL_REVIEW", "--stage", "SMS_VERIFICATION") == {
        cancel_access_hebei,
        cancel_access_beijing,
    }

    queue = await filings_json(engine, "platform", "queue")
    assert queue[0]["filing_id"] == overdue and queue[0]["overdue"] is True  # oldest deadline first
    assert [r["deadline"] for r in queue] == sorted(r["deadline"] for r in queue)
    table = (await filings(engine, "platform", "queue")).stdout
    assert "4 waiting, 1 overdue" in table and "OVERDUE" in table and "(provisional)" in table

    # The operators load the calendar: provisional deadlines are recomputed, and only those.
    refreshed = await filings_json(engine, "calendar", "refresh")
    assert refreshed["signalled"] == [provisional]
    await eventually(lambda: exactly(set(), "list", "--provisional"))
    events = [e["event"] for e in await filings_json(engine, "timeline", provisional)]
    assert "deadline_recomputed" in events

    for filing_id in (hebei_new, beijing_change, overdue, provisional):
        assert (await filings(engine, "withdraw", filing_id, "--reason", "test over")).exit_code == 0
    await eventually(lambda: exactly(everything - in_platform, "list", "--running"))
    assert await ids("list", "--stage", "WITHDRAWN") == in_platform


# ------------------------------------------------------------------ bad input


async def test_bad_input_gets_a_clear_error_and_changes_nothing(engine, tmp_path):
    appid = appid_for(120)
    filing_id = f"filing-{appid}"
    application = write_application(tmp_path / "app.json", appid)
    assert (await filings(engine, "start", str(tmp_path / "app.json"))).exit_code == 0
    await eventually(lambda: stage_is(engine, filing_id, "PLATFORM_REVIEW"))
    before = await filings_json(engine, "timeline", filing_id)

    async def refused(*args: str, says: str, code: int = 1) -> None:
        result = await filings(engine, *args)
        assert result.exit_code == code, result.output
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and says in lines[-1], result.stderr

    unknown = appid_for(121)
    await refused("status", unknown, says=f"no filing filing-{unknown}")
    await refused("platform", "approve", unknown, says=f"no filing filing-{unknown}")
    await refused("status", "wx-not-an-appid", says="is not a filing id")
    await refused("province", "approve", filing_id, "--number", "冀ICP备123号-1X", says="malformed filing number")
    await refused("platform", "reject", filing_id, says="a reject needs at least one --reason")
    await refused("platform", "reject", filing_id, "--reason", "no colon", says="is not FIELD:ERROR[:SUGGESTION]")
    mobile, id6 = application.subject_principal.mobile, application.subject_principal.identity_document.number[-6:]
    await refused(
        "sms",
        "verify",
        filing_id,
        "--mobile",
        mobile,
        "--code",
        "12345",
        "--id-last6",
        id6,
        says="the code must be the 6 digits",
    )
    await refused(
        "sms",
        "verify",
        filing_id,
        "--mobile",
        mobile,
        "--code",
        "12345a",
        "--id-last6",
        id6,
        says="the code must be the 6 digits",
    )
    # Out of turn: refused before sending, naming the current stage.
    await refused(
        "province",
        "approve",
        filing_id,
        "--number",
        "冀ICP备18021892号-1X",
        says=f"{filing_id} is in stage PLATFORM_REVIEW, not PROVINCIAL_REVIEW; nothing was sent",
    )
    await refused(
        "sms",
        "verify",
        filing_id,
        "--mobile",
        mobile,
        "--code",
        "123456",
        "--id-last6",
        id6,
        says="is in stage PLATFORM_REVIEW, not SMS_VERIFICATION",
    )
    await refused("resubmit", filing_id, str(tmp_path / "app.json"), says="is in stage PLATFORM_REVIEW, not RETURNED")

    broken = application.model_dump(mode="json")
    broken["mini_program"]["appid"] = appid_for(122)
    broken["subject_principal"]["emergency_mobile"] = mobile
    broken["subject"]["address"]["province"] = "火星"
    broken["subject_principal"]["identity_document"]["number"] = "110105194912310021"
    (tmp_path / "broken.json").write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    result = await filings(engine, "start", str(tmp_path / "broken.json"))
    assert result.exit_code == 1
    for key in ("R4.emergency_same_as_own", "R5.unknown_province", "R3.invalid_resident_id"):
        assert key in result.stdout
    assert "0 started, 0 already running, 1 rejected" in result.stdout
    with pytest.raises(RPCError):
        await engine.client.get_workflow_handle(f"filing-{appid_for(122)}").describe()
    missing = await filings(engine, "start", str(tmp_path / "missing.json"))
    assert missing.exit_code == 1 and "cannot read" in missing.stdout

    assert await filings_json(engine, "timeline", filing_id) == before  # nothing reached the filing
    assert (await filings(engine, "withdraw", filing_id, "--reason", "test over")).exit_code == 0


# ------------------------------------------------------------------ the applicant's path, masking


async def test_returned_resubmitted_verified_and_masked_unless_revealed(engine, tmp_path, monkeypatch):
    appid = appid_for(130)
    filing_id = f"filing-{appid}"
    application = write_application(tmp_path / "app.json", appid, own_mini_program_principal=True)
    zhang, li = application.subject_principal, application.mini_program_principal.person
    assert li is not None

    started = await filings(engine, "start", str(tmp_path / "app.json"))
    assert "张* 138****8000" in started.stdout and "13800138000" not in started.stdout
    again = await filings(engine, "start", str(tmp_path / "app.json"), "--reveal")
    assert "already running" in again.stdout and "张三 13800138000" in again.stdout

    await eventually(lambda: stage_is(engine, filing_id, "PLATFORM_REVIEW"))
    rejected = await filings(
        engine,
        "platform",
        "reject",
        filing_id,
        "--reviewer",
        "r-02",
        "--reason",
        "subject.address.detail:地址不详细:请填写门牌号",
    )
    assert rejected.exit_code == 0 and "now RETURNED" in rejected.stdout, rejected.output
    status = await filings_json(engine, "status", filing_id)
    assert status["returned"] == {
        "by": "PLATFORM",
        "reasons": [{"field": "subject.address.detail", "error": "地址不详细", "suggestion": "请填写门牌号"}],
    }

    # A corrected file that still breaks a rule: every violation, values masked unless revealed.
    bad = application.model_dump(mode="json")
    bad["subject_principal"]["emergency_mobile"] = zhang.mobile
    bad["mini_program_principal"]["person"]["mobile"] = "1234"
    (tmp_path / "bad.json").write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    masked = await filings(engine, "resubmit", filing_id, str(tmp_path / "bad.json"))
    assert masked.exit_code == 1 and "breaks 2 rule(s); nothing was sent" in masked.stderr
    assert "138****8000" in masked.stderr and "13800138000" not in masked.stderr and "****" in masked.stderr
    revealed = await filings(engine, "resubmit", filing_id, str(tmp_path / "bad.json"), "--reveal", "--json")
    values = {v["field"]: v["value"] for v in json.loads(revealed.stdout)["violations"]}
    assert values == {
        "subject_principal.emergency_mobile": zhang.mobile,
        "mini_program_principal.person.mobile": "1234",
    }

    resubmitted = await filings(engine, "resubmit", appid, str(tmp_path / "app.json"))
    assert "attempt 2 goes to platform review" in resubmitted.stdout, resubmitted.output
    await eventually(lambda: stage_is(engine, filing_id, "PLATFORM_REVIEW"))

    # A colleague approves between our look at the filing and our signal: ours is reported
    # ignored, with why (L9), and exits 3.
    real_fetch = reviewers.fetch_status

    async def colleague_first(client: Client, filing: str) -> FilingStatus:
        seen = await real_fetch(client, filing)
        await client.get_workflow_handle(filing).signal(
            "platform_decision", {"decision": "approve", "reviewer": "r-03"}
        )
        while (await real_fetch(client, filing)).stage is Stage.PLATFORM_REVIEW:
            await asyncio.sleep(0.05)
        return seen

    monkeypatch.setattr(reviewers, "fetch_status", colleague_first)
    late = await filings(engine, "platform", "approve", filing_id, "--reviewer", "r-01", "--json")
    monkeypatch.undo()
    assert late.exit_code == 3, late.output
    assert json.loads(late.stdout) == {
        "filing_id": filing_id,
        "signal": "platform_decision",
        "decision": "approve",
        "outcome": "ignored",
        "stage": "SMS_VERIFICATION",
        "detail": "the filing is in stage SMS_VERIFICATION, not PLATFORM_REVIEW",
    }
    human = (await filings(engine, "timeline", filing_id)).stdout
    assert "decision_ignored" in human and "platform_decision approve by r-01" in human

    code = await sms_code(engine, li.mobile)
    wrong = "000000" if code != "000000" else "111111"
    li6 = li.identity_document.number[-6:]
    missed = await filings(
        engine, "sms", "verify", filing_id, "--mobile", li.mobile, "--code", wrong, "--id-last6", li6
    )
    assert missed.exit_code == 1 and "wrong code or ID digits for 137****7000: 4 attempt(s) left" in missed.stdout
    resent = await filings(engine, "sms", "resend", filing_id, "--mobile", li.mobile, "--reveal")
    assert resent.exit_code == 0 and f"a new code was sent to {li.mobile}; 0 resend(s) left" in resent.stdout
    refused = await filings(engine, "sms", "resend", filing_id, "--mobile", li.mobile)
    assert refused.exit_code == 1 and "not sent to 137****7000: resend_limit_reached" in refused.stdout
    stranger = await filings(
        engine, "sms", "verify", filing_id, "--mobile", "13500135000", "--code", "123456", "--id-last6", li6
    )
    assert stranger.exit_code == 1 and "135****5000 is not a verifier" in stranger.stderr
    for person, n in ((zhang, 1), (li, 2)):
        code = await sms_code(engine, person.mobile, n)
        ok = await filings(
            engine,
            "sms",
            "verify",
            filing_id,
            "--mobile",
            person.mobile,
            "--code",
            code,
            "--id-last6",
            person.identity_document.number[-6:],
        )
        assert ok.exit_code == 0, ok.output

    withdrawn = await filings(engine, "withdraw", filing_id, "--reason", "changed my mind")
    assert withdrawn.exit_code == 1 and "is in stage PROVINCIAL_REVIEW" in withdrawn.stderr
    shown = await filings(engine, "status", filing_id, "--reveal")
    assert "13800138000" not in shown.output and "138****8000" in shown.stdout and "masked data only" in shown.stderr
    timeline = (await filings(engine, "timeline", filing_id, "--reveal")).stdout
    assert "13700137000" not in timeline and "137****7000" in timeline
    rejected = await filings(engine, "province", "reject", filing_id, "--reason", "subject.name:与证件不符")
    assert rejected.exit_code == 0 and "now RETURNED" in rejected.stdout
    assert (await filings(engine, "withdraw", appid, "--reason", "test over")).exit_code == 0


# ------------------------------------------------------------------ the official `temporal` CLI


@pytest.fixture
async def codec_server(engine: Engine) -> AsyncIterator[list[str]]:
    """The codec server on a free port; answers the `temporal` CLI options that use it."""
    token = secrets.token_hex(16)
    runner = web.AppRunner(build_app(engine.settings.payload_keyring(), token, engine.settings.codec_cors_origin))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield ["--codec-endpoint", f"http://{host}:{port}", "--codec-auth", f"Bearer {token}"]
    await runner.cleanup()


async def test_the_temporal_cli_sends_every_message_as_plain_json(engine, codec_server, tmp_path):
    appid = appid_for(140)
    filing_id = f"filing-{appid}"
    application = write_application(tmp_path / "app.json", appid)
    assert (await filings(engine, "start", str(tmp_path / "app.json"))).exit_code == 0

    async def temporal(*args: str, codec: bool = True, ok: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            str(temporal_cli()),
            "workflow",
            *args,
            "--workflow-id",
            filing_id,
            "--address",
            engine.settings.temporal_address,
            *(codec_server if codec else []),
        ]
        result = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)
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

    async def stage_is(stage: str) -> bool:
        return (await status())["stage"] == stage

    await eventually(lambda: stage_is("PLATFORM_REVIEW"))
    # Without the codec server too: a plain JSON payload is read as it is.
    reason = {"field": "subject.address.detail", "error": "地址不详细", "suggestion": "请填写门牌号"}
    await signal("platform_decision", {"decision": "reject", "reviewer": "r-01", "reasons": [reason]}, codec=False)
    await eventually(lambda: stage_is("RETURNED"))
    assert (await status())["returned"] == {"by": "PLATFORM", "reasons": [reason]}
    assert await update("resubmit", {"application": application.model_dump(mode="json")}) == {"attempt": 2}
    await eventually(lambda: stage_is("PLATFORM_REVIEW"))
    await signal("platform_decision", {"decision": "approve", "reviewer": "r-01", "attempt": 2})
    await eventually(lambda: stage_is("SMS_VERIFICATION"))

    person = application.subject_principal
    resend = await update("request_sms_resend", {"mobile": person.mobile})
    assert resend == {"sent": True, "resends_left": 0, "reason": None}
    code = await sms_code(engine, person.mobile, 2)
    entry = {"mobile": person.mobile, "code": code, "id_last6": person.identity_document.number[-6:]}
    assert await update("verify_sms_code", entry) == {"result": "verified", "attempts_left": 5, "all_verified": True}
    await eventually(lambda: stage_is("PROVINCIAL_REVIEW"))
    refused = await update("withdraw", {"reason": "too late"}, ok=False)
    assert "withdraw is allowed in SUBMITTED, PLATFORM_REVIEW and RETURNED only" in refused

    # Out of turn or of another province: recorded as ignored (L9), and `filings` shows it.
    await signal(
        "province_decision", {"decision": "approve", "reviewer": "京-01", "filing_number": "京ICP备18021892号-1X"}
    )
    await signal("calendar_updated", {})
    ignored = await eventually(lambda: _ignored(engine, filing_id))
    assert "province_decision approve by 京-01: filing number 京ICP备18021892号-1X is of 北京市" in ignored

    await signal(
        "province_decision", {"decision": "approve", "reviewer": "冀-07", "filing_number": "冀ICP备18021892号-2X"}
    )
    await eventually(lambda: stage_is("APPROVED"))
    assert (await status())["filing_number"] == "冀ICP备18021892号-2X"
    assert (await filings_json(engine, "status", filing_id))["filing_number"] == "冀ICP备18021892号-2X"


async def _ignored(engine: DevEngine, filing_id: str) -> str | None:
    timeline = await filings_json(engine, "timeline", filing_id)
    return next((e["detail"] for e in timeline if e["event"] == "decision_ignored"), None)


async def test_schema_and_calendar_need_no_filing(engine):
    schema = await filings_json(engine, "schema")
    assert set(schema["messages"]) == {
        "platform_decision",
        "province_decision",
        "verify_sms_code",
        "request_sms_resend",
        "resubmit",
        "withdraw",
        "calendar_updated",
        "status",
    }
    assert schema["messages"]["verify_sms_code"]["payload"]["required"] == ["mobile", "code", "id_last6"]
    assert "subject_principal" in schema["application"]["properties"]
    year = await filings_json(engine, "calendar", "show", "2025")
    assert year["source"] == "official" and "2025-10-08" in year["holidays"] and "2025-10-11" in year["workdays"]

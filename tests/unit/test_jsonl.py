"""The local adapters' effect log: once per key, across instances, and past a torn line."""

from __future__ import annotations

from adapters.jsonl import JsonLines


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

"""List cursors (`engine.deadline_pages.Seal`): they carry the visibility store's own page
token, which the server trusts, so only cursors this deployment sealed are opened — across
its replicas (the payload keys) and across a key rotation — and anything else is refused."""

from __future__ import annotations

import base64
import secrets

import pytest

from engine.deadline_pages import LAST_BUCKET, Key, Seal

pytestmark = pytest.mark.timeout(10)

RING = {"k1": secrets.token_bytes(32)}
TOKEN = b'{"CloseTime":"9999-12-31T23:59:59Z","StartTime":"2026-12-07T11:03:23.595111Z","RunID":"01a2"}'


@pytest.mark.parametrize("key", [Key(1_900_000_000_000, TOKEN), Key(1_900_000_000_000), Key(1_900_000_000_000, None),
                                 Key(None, TOKEN), Key(None, None), Key(0, b""), Key(LAST_BUCKET, b"x")])
def test_a_cursor_opens_as_it_was_sealed_on_every_replica(key: Key) -> None:
    cursor = Seal(RING, "k1").token(key)
    assert Seal(dict(RING), "k1").open(cursor) == key  # another replica, the same payload keys
    assert len(cursor) < 400 and cursor.isascii()


def test_after_a_rotation_cursors_of_the_old_key_still_open_and_new_ones_use_the_new_key() -> None:
    before = Seal(RING, "k1").token(Key(5, TOKEN))
    rotated = Seal({**RING, "k2": secrets.token_bytes(32)}, "k2")
    assert rotated.open(before) == Key(5, TOKEN)
    after = rotated.token(Key(6, TOKEN))
    with pytest.raises(ValueError, match="not a cursor of this list"):
        Seal(RING, "k1").open(after)


def test_a_forged_or_altered_cursor_is_refused_before_it_reaches_the_server() -> None:
    seal = Seal(RING, "k1")
    good = seal.token(Key(5, TOKEN))
    body, tag = good.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    altered = base64.urlsafe_b64encode(raw.replace(b'"b":5', b'"b":6')).decode().rstrip("=")
    for cursor in (f"{altered}.{tag}", f"{body}.{tag[:-2]}AA", body, "", "..", "not-a-cursor",
                   Seal().token(Key(5, TOKEN)),  # sealed by another deployment (or a process of its own)
                   base64.urlsafe_b64encode(b'{"b":1,"w":"filing-wx","r":""}').decode()):  # before issue 21
        with pytest.raises(ValueError, match="not a cursor of this list"):
            seal.open(cursor)

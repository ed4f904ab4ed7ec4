"""The mobiles' open 12381 verifications on SQLite and PostgreSQL: found by the mobile alone,
never stored as the mobile, kept across a rotation of the payload keys, gone once verified
or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select

from registry.open_verifications import SqlOpenVerifications
from registry.tables import open_verifications

K1, K2 = b"1" * 32, b"2" * 32
MOBILE, OTHER = "13912345678", "13787654321"


async def test_a_mobiles_verification_is_found_rotated_closed_and_expires(database_url: str) -> None:
    now = datetime.now(UTC)
    index = SqlOpenVerifications(database_url, {"k1": K1}, "k1")
    rotated = SqlOpenVerifications(database_url, {"k1": K1, "k2": K2}, "k2")
    try:
        await index.open(MOBILE, "filing-wx0000000000000001", now + timedelta(hours=24))
        await index.open(OTHER, "filing-wx0000000000000002", now + timedelta(hours=24))
        await index.open(MOBILE, "filing-wx0000000000000001", now + timedelta(hours=25))  # a resend: one row still
        (found,) = await rotated.find(MOBILE, now)  # written under k1, found by a ring whose current key is k2
        assert found.filing_id == "filing-wx0000000000000001" and found.expires_at > now + timedelta(hours=24)
        assert [v.filing_id for v in await index.find(OTHER, now)] == ["filing-wx0000000000000002"]
        assert await index.find("13700000000", now) == []
        assert await index.find(MOBILE, now + timedelta(hours=26)) == []  # expired: ignored

        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                stored = " ".join(str(v) for row in connection.execute(select(open_verifications)) for v in row)
        finally:
            engine.dispose()
        assert MOBILE not in stored and OTHER not in stored  # an HMAC of the mobile, never the mobile

        await rotated.close(MOBILE, "filing-wx0000000000000001")  # verified: closed under every key
        assert await index.find(MOBILE, now) == []
        assert len(await index.find(OTHER, now)) == 1
    finally:
        index.dispose()
        rotated.dispose()

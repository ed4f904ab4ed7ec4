"""The guards in front of every route: body size limits (413, JSON and uploads apart, before
anything is read or authenticated), the material store's own limit (R10, 422), and the
rate limits on SMS code entries (429 with Retry-After), per mobile and per client; list cursors
only this service gave."""

from __future__ import annotations

import base64
import json

from engine.deadline_pages import Key, Seal
from filing.materials import MAX_MATERIAL_BYTES
from service.principal import Role
from tests.service.conftest import Stack, key, new_appid


async def test_bodies_over_the_limits_are_413_before_anything_else(started: Stack):
    stack = started
    api = stack.settings.api
    operator = stack.auth(Role.OPERATOR)
    big_json = b'{"reason": "' + b"x" * api.max_json_bytes + b'"}'
    for headers in (operator | key(), {}):  # with or without a token: the size is judged first
        answer = await stack.http.post(f"/v1/filings/{new_appid()}/withdraw", content=big_json,
                                       headers=headers | {"content-type": "application/json"})
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert str(api.max_json_bytes) in answer.json()["detail"]

    upload = b"\x89PNG\r\n\x1a\n" + b"\0" * (api.max_upload_bytes + 1)
    too_big = await stack.http.post("/v1/materials", files={"file": ("scan.png", upload)}, headers=operator | key())
    assert too_big.status_code == 413, too_big.text

    # Within the upload limit but over R10's 5 MiB: the store refuses it, naming the rule.
    over_r10 = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_MATERIAL_BYTES
    refused = await stack.http.post("/v1/materials", files={"file": ("scan.png", over_r10)}, headers=operator | key())
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "file" and refused.json()["errors"][0]["key"].startswith("R10.")


async def test_sms_code_entries_are_rate_limited_per_mobile_and_per_client(started: Stack):
    stack = started
    site = stack.auth(Role.VERIFICATION_SITE, sub="rate-site-1")
    entry = {"mobile": "13912345678", "code": "123456", "id_last6": "12345X"}
    per_mobile = 5  # FILINGS_API__SMS_VERIFY_PER_MOBILE: 5/minute
    appid = new_appid()  # no such filing: every entry is counted, then answered 404
    for _ in range(per_mobile):
        answer = await stack.http.post(f"/v1/filings/{appid}/sms/verify", json=entry, headers=site | key())
        assert answer.status_code == 404, answer.text
    limited = await stack.http.post(f"/v1/filings/{appid}/sms/verify", json=entry, headers=site | key())
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another client is limited on that mobile too (the limit protects the verifier)...
    other_site = stack.auth(Role.VERIFICATION_SITE, sub="rate-site-2")
    also = await stack.http.post(f"/v1/filings/{appid}/sms/verify", json=entry, headers=other_site | key())
    assert also.status_code == 429
    # ...and one client is limited over all mobiles (120/minute).
    flooding = stack.auth(Role.VERIFICATION_SITE, sub="rate-site-3")
    statuses = []
    for n in range(121):
        answer = await stack.http.post(f"/v1/filings/{appid}/sms/verify", headers=flooding | key(),
                                       json=entry | {"mobile": f"1360000{n:04d}"})
        statuses.append(answer.status_code)
    assert statuses[:120] == [404] * 120 and statuses[120] == 429
    assert "rate_limited" in (await stack.http.get("/metrics")).text


async def test_a_list_cursor_this_service_did_not_give_is_a_422_naming_the_cursor(started: Stack):
    """A cursor carries the visibility store's own page token, which the server trusts: only
    sealed ones this deployment handed out are passed on (issue 21: pages in a tie group)."""
    stack = started
    operator = stack.auth(Role.OPERATOR)
    forged_position = base64.urlsafe_b64encode(b'{"CloseTime":"x","StartTime":"y","RunID":"z"}').decode()
    body = json.dumps({"b": 1, "p": forged_position, "k": "local-1"}, separators=(",", ":")).encode()
    old_style = base64.urlsafe_b64encode(b'{"b":1,"w":"filing-wx","r":""}').decode().rstrip("=")
    for cursor in (Seal().token(Key(1, b"{}")),  # sealed with another key
                   base64.urlsafe_b64encode(body).decode().rstrip("=") + ".AAAAAAAAAAAAAAAAAAAAAA",
                   old_style, "not-a-cursor"):
        answer = await stack.http.get("/v1/filings", headers=operator, params={"running": "true", "cursor": cursor})
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["query.cursor"], answer.text
    first = await stack.http.get("/v1/filings", headers=operator, params={"running": "true", "size": 1})
    assert first.status_code == 200, first.text

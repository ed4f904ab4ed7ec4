"""`Idempotency-Key`: the same key and body answer the same status and body, never a second
effect — one filing, one decision, one SMS — also when the service process is restarted
between the two calls; another body under the key is refused naming the header; a key
still in flight answers 409 until its claim is old enough to be taken over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, update

from registry.tables import idempotency_keys
from service.idempotency import request_hash
from service.principal import Role
from tests.service.conftest import Stack, application, as_json, key, new_appid


async def test_the_same_key_twice_is_one_effect_across_a_restart(started: Stack):
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="idem-applicant", appids=[appid])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="idem-r")
    app = application(appid)
    await stack.upload_materials(applicant)

    # One filing: the second call replays the first answer (201, not "already running").
    start_key = key()
    first = await stack.http.post("/v1/filings", json=as_json(app), headers=applicant | start_key)
    again = await stack.http.post("/v1/filings", json=as_json(app), headers=applicant | start_key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    runs = await stack.client.count_workflows(f"AppId = '{appid}' AND TaskQueue = '{stack.settings.task_queue}'")
    assert runs.count == 1

    # Another body under the same key: refused, naming the header; nothing started.
    other = as_json(app) | {"mini_program": as_json(app)["mini_program"] | {"name": "另一个小程序"}}
    reused = await stack.http.post("/v1/filings", json=other, headers=applicant | start_key)
    assert reused.status_code == 422, reused.text
    assert reused.json()["errors"][0]["field"] == "header.Idempotency-Key"

    # One decision, across a restart of the service process.
    await stack.stage(appid, "PLATFORM_REVIEW", applicant)
    decide_key = key()
    decided = await stack.http.post(f"/v1/filings/{appid}/platform-decision", headers=platform | decide_key,
                                    json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    await stack.service.restart()
    replayed = await stack.http.post(f"/v1/filings/{appid}/platform-decision", headers=platform | decide_key,
                                     json={"decision": "approve"})
    assert (replayed.status_code, replayed.json()) == (200, decided.json())
    assert replayed.headers["idempotent-replayed"] == "true"
    # A new key is a new decision, which the filing refuses: one was recorded already.
    second = await stack.http.post(f"/v1/filings/{appid}/platform-decision", headers=platform | key(),
                                   json={"decision": "approve"})
    assert second.status_code == 409, second.text

    # One SMS resend, across a restart.
    mobile = app.subject_principal.mobile
    await stack.stage(appid, "SMS_VERIFICATION", applicant)
    await stack.sms_code(mobile, 1)
    resend_key = key()
    sent = await stack.http.post(f"/v1/filings/{appid}/sms/resend", headers=applicant | resend_key,
                                 json={"mobile": mobile})
    assert sent.status_code == 200 and sent.json()["sent"] is True, sent.text
    await stack.sms_code(mobile, 2)
    await stack.service.restart()
    resent = await stack.http.post(f"/v1/filings/{appid}/sms/resend", headers=applicant | resend_key,
                                   json={"mobile": mobile})
    assert (resent.status_code, resent.json()) == (200, sent.json())
    status = (await stack.http.get(f"/v1/filings/{appid}", headers=applicant)).json()
    assert stack.outbox_count(mobile) == 2
    assert [e["event"] for e in status["timeline"]].count("platform_approved") == 1


async def test_a_key_in_flight_answers_409_until_its_claim_is_stale(started: Stack):
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="idem-inflight", appids=[appid])
    body = json.dumps({"reason": "不再需要"}, ensure_ascii=False).encode()
    in_flight = key()
    route = f"/v1/filings/{appid}/withdraw"
    # Another replica claimed this key for the same request and is still at work on it (or died).
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(idempotency_keys).values(
                principal="applicant:idem-inflight", key=in_flight["Idempotency-Key"], route=f"POST {route}",
                request_hash=request_hash(f"POST {route}", body), created_at=datetime.now(UTC)))
        busy = await stack.http.post(route, headers=applicant | in_flight | {"content-type": "application/json"},
                                     content=body)
        assert busy.status_code == 409 and busy.headers["retry-after"] == "1", busy.text
        assert "still being processed" in busy.json()["detail"]
        with engine.begin() as connection:
            connection.execute(update(idempotency_keys).where(idempotency_keys.c.key == in_flight["Idempotency-Key"])
                               .values(created_at=datetime.now(UTC) - timedelta(hours=1)))
        taken_over = await stack.http.post(route, headers=applicant | in_flight | {"content-type": "application/json"},
                                           content=body)
        assert taken_over.status_code == 404, taken_over.text  # it ran: there is no such filing
    finally:
        engine.dispose()


async def test_a_missing_key_is_400_naming_the_header(started: Stack):
    stack = started
    operator = stack.auth(Role.OPERATOR)
    answer = await stack.http.post("/v1/calendar/refresh", headers=operator)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert "Idempotency-Key" in answer.json()["detail"]

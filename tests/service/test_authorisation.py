"""Every route × every kind of caller: role (403), scope (404 where existence is not theirs
to know), and tokens that cannot be trusted (401) — and a refusal leaves nothing behind:
no filing started, the filing's stage and timeline unchanged, no audit row, no stored
Idempotency-Key; only the refusal metric counts it.

Allowed callers send bodies the route refuses on their content (422, or 400 without an
Idempotency-Key), or reads and idempotent repeats, so that the matrix itself has no effect
beyond the audited reads it expects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, func, select

from filing.examples import example_materials
from registry.tables import audit_reads, idempotency_keys
from service.principal import Role
from tests.processes import wait_until
from tests.service.conftest import Stack, application, as_json, key, new_appid

R = Role

#: Callers whose token must be refused (401), and how each token is made.
UNTRUSTED: dict[str, Callable[[Stack], dict[str, str]]] = {
    "no token": lambda s: {},
    "expired": lambda s: s.auth(R.OPERATOR, now=datetime.now(UTC) - timedelta(hours=3), ttl=timedelta(hours=1)),
    "wrong audience": lambda s: s.auth(R.OPERATOR, audience="another-api"),
    "wrong issuer": lambda s: s.auth(R.OPERATOR, issuer="https://idp.example"),
    "forged": lambda s: s.auth(R.OPERATOR, key=Ed25519PrivateKey.generate()),
    "alg none": lambda s: {"Authorization": "Bearer " + jwt.encode(
        {"sub": "x", "role": "operator", "iss": s.settings.api.issuer, "aud": s.settings.api.audience,
         "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)}, None, algorithm="none")},
    "not a jwt": lambda s: {"Authorization": "Bearer abc.def.ghi"},
    "claims of nobody": lambda s: {"Authorization": "Bearer " + jwt.encode(
        {"sub": "x", "role": "province_reviewer", "province": "火星", "iss": s.settings.api.issuer,
         "aud": s.settings.api.audience, "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)},
        s.signing_key, algorithm="EdDSA")},
    "basic auth": lambda s: {"Authorization": "Basic b3BlcmF0b3I6eA=="},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {A}: the filing's appid; {SHA}: a material it names
    allowed: dict[str, int]  # caller -> status; any other trusted caller: 403
    body: str = "json"  # json | upload | none
    payload: Any = None  # None: `{}`; a callable of the matrix's context otherwise
    public: bool = False


def routes() -> list[Route]:
    return [
        Route("POST", "/v1/materials", {"applicant own": 422, "applicant other": 422, "operator": 422}, body="upload"),
        Route("POST", "/v1/filings", {"applicant own": 200, "applicant other": 403, "operator": 200},
              payload=lambda c: c["application"]),
        Route("POST", "/v1/applications/check", {"applicant own": 422, "applicant other": 422, "operator": 422}),
        Route("POST", "/v1/cancellations", {"applicant own": 422, "applicant other": 403, "operator": 422},
              payload=lambda c: {"kind": "CANCEL_ACCESS", "appid": c["appid"], "filing_number": "not-a-number",
                                 "reason": "业务调整"}),
        Route("GET", "/v1/filings", {"platform": 200, "province own": 200, "province other": 200, "operator": 200},
              body="none"),
        Route("GET", "/v1/filings/{A}", {"applicant own": 200, "applicant other": 404, "platform": 200,
                                         "province own": 200, "province other": 404, "operator": 200}, body="none"),
        Route("GET", "/v1/filings/{A}/application", {"applicant own": 200, "applicant other": 404, "platform": 200,
                                                     "province own": 200, "province other": 404}, body="none"),
        Route("GET", "/v1/materials/{SHA}?appid={A}", {"applicant own": 200, "applicant other": 404, "platform": 200,
                                                       "province own": 200, "province other": 404}, body="none"),
        Route("POST", "/v1/filings/{A}/platform-decision", {"platform": 422}),
        Route("POST", "/v1/filings/{A}/province-decision", {"province own": 422, "province other": 404}),
        Route("GET", "/v1/filings/{A}/next-number", {"province own": 200, "province other": 404}, body="none"),
        Route("POST", "/v1/filings/{A}/sms/verify", {"site": 422}),
        Route("POST", "/v1/filings/{A}/sms/resend", {"applicant own": 422, "applicant other": 404}),
        Route("POST", "/v1/filings/{A}/resubmit", {"applicant own": 422, "applicant other": 404}),
        Route("POST", "/v1/filings/{A}/withdraw", {"applicant own": 422, "applicant other": 404}),
        Route("POST", "/v1/calendar/refresh", {"operator": 400}, body="no key"),
        Route("GET", "/v1/registry?appid={A}", {}, body="none", public=True),
        Route("GET", "/livez", {}, body="none", public=True),
        Route("GET", "/readyz", {}, body="none", public=True),
        Route("GET", "/healthz", {}, body="none", public=True),
        Route("GET", "/metrics", {}, body="none", public=True),
    ]


def trusted(stack: Stack, appid: str) -> dict[str, dict[str, str]]:
    return {
        "applicant own": stack.auth(R.APPLICANT, sub="owner", appids=[appid]),
        "applicant other": stack.auth(R.APPLICANT, sub="stranger", appids=[new_appid()]),
        "platform": stack.auth(R.PLATFORM_REVIEWER, sub="r-09"),
        "province own": stack.auth(R.PROVINCE_REVIEWER, sub="冀-09", province="冀"),
        "province other": stack.auth(R.PROVINCE_REVIEWER, sub="粤-09", province="广东"),
        "site": stack.auth(R.VERIFICATION_SITE, sub="miit-09"),
        "operator": stack.auth(R.OPERATOR, sub="ops-09"),
    }


def expected(route: Route, caller: str) -> int:
    if route.public:
        return 200
    if caller in UNTRUSTED:
        return 401
    return route.allowed.get(caller, 403)


async def send(stack: Stack, route: Route, headers: dict[str, str], context: dict[str, Any]) -> httpx.Response:
    url = route.path.replace("{A}", context["appid"]).replace("{SHA}", context["sha256"])
    if route.body == "none":
        return await stack.http.request(route.method, url, headers=headers)
    if route.body == "no key":
        return await stack.http.request(route.method, url, headers=headers, json={})
    if route.body == "upload":
        return await stack.http.post(url, headers=headers | context["key"], files={"file": ("note.txt", b"not a scan")})
    payload = route.payload(context) if route.payload else {}
    return await stack.http.request(route.method, url, headers=headers | context["key"], json=payload)


async def settled(stack: Stack, appid: str, headers: dict[str, str]) -> dict[str, Any]:
    """The status once the filing is handed over to the desk: nothing more happens by itself."""
    async def handed_over() -> dict[str, Any] | None:
        status = (await stack.http.get(f"/v1/filings/{appid}", headers=headers)).json()
        return status if any(e["event"] == "handed_over" for e in status["timeline"]) else None

    return await wait_until(handed_over, 20, f"{appid} handed over to the platform desk")


async def visible(stack: Stack, appid: str) -> int | None:
    """Filings on the stack's task queue, once visibility shows `appid`'s (None before)."""
    query = f"TaskQueue = '{stack.settings.task_queue}'"
    if (await stack.client.count_workflows(f"{query} AND AppId = '{appid}'")).count == 0:
        return None
    return (await stack.client.count_workflows(query)).count


def count(stack: Stack, table: Any, *where: Any) -> int:
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
    finally:
        engine.dispose()


def refusals(metrics_text: str) -> float:
    return sum(float(m) for m in re.findall(r"^filings_api_refusals_total\{.*\} (\S+)$", metrics_text, re.M))


async def test_every_route_for_every_caller(started: Stack):
    stack = started
    appid = new_appid()
    owner = stack.auth(R.APPLICANT, sub="owner", appids=[appid])
    app = application(appid)
    await stack.upload_materials(owner)
    assert (await stack.http.post("/v1/filings", json=as_json(app), headers=owner | key())).status_code == 201
    await stack.stage(appid, "PLATFORM_REVIEW", owner)
    before = await settled(stack, appid, owner)
    sha256 = app.materials()[0][1]
    assert sha256 in example_materials()
    context = {"appid": appid, "sha256": sha256, "application": as_json(app), "key": {}}
    filings_before = await wait_until(lambda: visible(stack, appid), 20, f"{appid} in visibility")
    refusals_before = refusals((await stack.http.get("/metrics")).text)

    callers = trusted(stack, appid) | {name: make(stack) for name, make in UNTRUSTED.items()}
    mismatches, refused_keys = [], []
    for route in routes():
        for caller, headers in callers.items():
            context["key"] = key()  # a fresh key per call: a repeat would replay, not re-check
            answer = await send(stack, route, headers, context)
            want = expected(route, caller)
            if answer.status_code != want:
                mismatches.append(f"{route.method} {route.path} as {caller}: {answer.status_code} (want {want}) "
                                  f"{answer.text[:200]}")
            if answer.status_code >= 400:
                assert answer.headers["content-type"].startswith("application/problem+json"), (route.path, caller)
                assert answer.json()["status"] == answer.status_code
            if want == 401:
                assert answer.headers["www-authenticate"].startswith("Bearer")
            if want in (401, 403, 404) and not route.public:
                refused_keys.append(context["key"]["Idempotency-Key"])
    assert not mismatches, "\n".join(mismatches)

    # Nothing left behind by any refusal.
    after = (await stack.http.get(f"/v1/filings/{appid}", headers=owner)).json()
    assert (after["stage"], after["attempt"], after["timeline"]) == (before["stage"], before["attempt"], before["timeline"])
    assert await visible(stack, appid) == filings_before
    readers = {"applicant", "platform_reviewer", "province_reviewer"}
    assert count(stack, audit_reads, audit_reads.c.appid == appid) == 2 * len(readers)  # application + material each
    assert count(stack, audit_reads, audit_reads.c.actor.in_(["stranger", "粤-09", "ops-09", "miit-09"])) == 0
    assert count(stack, idempotency_keys, idempotency_keys.c.key.in_(refused_keys)) == 0
    assert refusals((await stack.http.get("/metrics")).text) - refusals_before == len(refused_keys)


async def test_a_province_reviewer_cannot_tell_another_provinces_filing_from_none(started: Stack):
    stack = started
    appid = new_appid()
    owner = stack.auth(R.APPLICANT, appids=[appid])
    await stack.upload_materials(owner)
    assert (await stack.http.post("/v1/filings", json=as_json(application(appid)), headers=owner | key())).status_code == 201
    await stack.stage(appid, "PLATFORM_REVIEW", owner)
    other = stack.auth(R.PROVINCE_REVIEWER, province="粤")
    theirs = await stack.http.get(f"/v1/filings/{appid}", headers=other)
    missing_appid = new_appid()
    missing = await stack.http.get(f"/v1/filings/{missing_appid}", headers=other)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(appid, "X") == missing.json()["detail"].replace(missing_appid, "X")
    # The desk: a provincial reviewer lists its own province only, platform reviewers their stage only.
    outside = await stack.http.get("/v1/filings", headers=other, params={"province": "冀"})
    assert outside.status_code == 403
    platform = stack.auth(R.PLATFORM_REVIEWER)
    assert (await stack.http.get("/v1/filings", headers=platform, params={"stage": "APPROVED"})).status_code == 403

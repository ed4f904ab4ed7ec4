"""The service's surface: every route of the SPEC §12 table is in the OpenAPI document (with
its roles) and on `/docs`; health and metrics answer; the operators' calendar refresh
refuses a broken override file, naming it, and tells no filing."""

from __future__ import annotations

import json

from filing.calendar import BusinessCalendar
from service.principal import Role
from tests.service.conftest import Stack, key

#: SPEC §12, as written there (method, path).
SPEC_ROUTES = {
    ("post", "/v1/materials"), ("post", "/v1/filings"), ("post", "/v1/cancellations"), ("get", "/v1/filings"),
    ("get", "/v1/filings/{appid}"), ("get", "/v1/filings/{appid}/application"), ("get", "/v1/materials/{sha256}"),
    ("post", "/v1/filings/{appid}/platform-decision"), ("post", "/v1/filings/{appid}/province-decision"),
    ("get", "/v1/filings/{appid}/next-number"), ("post", "/v1/filings/{appid}/sms/verify"),
    ("post", "/v1/filings/{appid}/sms/resend"), ("post", "/v1/filings/{appid}/resubmit"),
    ("post", "/v1/filings/{appid}/withdraw"), ("get", "/v1/registry"), ("post", "/v1/calendar/refresh"),
    ("get", "/healthz"), ("get", "/metrics"),
}


async def test_every_spec_route_is_documented_with_its_roles(started: Stack):
    stack = started
    document = (await stack.http.get("/openapi.json")).json()
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    assert documented == SPEC_ROUTES
    roles = {(m, p): op["x-roles"] for p, methods in document["paths"].items() for m, op in methods.items()}
    assert roles[("post", "/v1/filings/{appid}/platform-decision")] == ["platform_reviewer"]
    assert roles[("get", "/v1/registry")] == ["anyone"]
    for (method, path), operation in ((k, document["paths"][k[1]][k[0]]) for k in SPEC_ROUTES):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert list(answer["content"]) == ["application/problem+json"], (method, path, status)
        if path.startswith("/v1/") and path != "/v1/registry":
            assert operation.get("security"), (method, path)
    page = await stack.http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "cdn" not in page.text.lower()  # works offline
    for _, path in SPEC_ROUTES:
        assert path in page.text


async def test_health_and_metrics(started: Stack):
    stack = started
    health = await stack.http.get("/healthz")
    assert health.status_code == 200
    assert {name: check["ok"] for name, check in health.json()["checks"].items()} == {"temporal": True, "registry": True}
    metrics = (await stack.http.get("/metrics")).text
    assert 'filings_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics


async def test_a_broken_calendar_file_is_refused_naming_it_and_nothing_is_signalled(started: Stack):
    stack = started
    operator = stack.auth(Role.OPERATOR)
    calendar_dir = stack.settings.calendar_path
    calendar_dir.mkdir(parents=True, exist_ok=True)
    broken = calendar_dir / "2031.json"
    broken.write_text(json.dumps({"year": 2031, "holidays": ["2031-02-30"], "workdays": []}), encoding="utf-8")
    try:
        refused = await stack.http.post("/v1/calendar/refresh", headers=operator | key())
        assert refused.status_code == 422, refused.text
        assert "2031.json" in refused.json()["errors"][0]["message_en"]
    finally:
        broken.unlink()
    done = await stack.http.post("/v1/calendar/refresh", headers=operator | key())
    assert done.status_code == 200, done.text
    assert done.json()["calendar_version"] == BusinessCalendar(calendar_dir).version
    assert done.json()["signalled"] == len(done.json()["filings"])

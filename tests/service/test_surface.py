"""The service's surface: every route of the SPEC §12 table is in the OpenAPI document (with
its roles) and on `/docs`; health and metrics answer; the operators' calendar refresh
refuses broken override data, naming it, and tells no filing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import create_engine

from filing.calendar import BusinessCalendar, CalendarOverride
from registry.calendar_overrides import CalendarOverrideStore
from registry.tables import calendar_overrides
from service.principal import Role
from tests.service.conftest import Stack, key

#: SPEC §12, as written there (method, path).
SPEC_ROUTES = {
    ("post", "/v1/materials"), ("post", "/v1/filings"), ("post", "/v1/cancellations"), ("get", "/v1/filings"),
    ("get", "/v1/filings/{appid}"), ("get", "/v1/filings/{appid}/application"), ("get", "/v1/materials/{sha256}"),
    ("post", "/v1/filings/{appid}/platform-decision"), ("post", "/v1/filings/{appid}/province-decision"),
    ("get", "/v1/filings/{appid}/next-number"), ("post", "/v1/filings/{appid}/sms/verify"), ("post", "/v1/sms/verify"),
    ("post", "/v1/filings/{appid}/sms/resend"), ("post", "/v1/filings/{appid}/resubmit"),
    ("post", "/v1/filings/{appid}/withdraw"), ("post", "/v1/applications/check"), ("get", "/v1/registry"), ("post", "/v1/calendar/refresh"),
    ("get", "/livez"), ("get", "/readyz"), ("get", "/healthz"), ("get", "/metrics"),
    # Issue 19: when will the province decide (aggregates, every signed-in role).
    ("get", "/v1/forecasts/provincial-review"),
    # Issue 19: the filing on record before a cancellation (who its SMS would go to, masked).
    ("get", "/v1/filings/{appid}/on-record"),
    # Issue 19: a CHANGE's prefill from the registry once the filing's workflow is gone (audited).
    ("get", "/v1/filings/{appid}/on-record/application"),
}


async def test_every_spec_route_is_documented_with_its_roles(started: Stack):
    stack = started
    document = (await stack.http.get("/openapi.json")).json()
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    assert documented == SPEC_ROUTES
    roles = {(m, p): op["x-roles"] for p, methods in document["paths"].items() for m, op in methods.items()}
    assert roles[("post", "/v1/filings/{appid}/platform-decision")] == ["platform_reviewer"]
    assert roles[("get", "/v1/registry")] == ["anyone"]
    assert roles[("get", "/v1/filings/{appid}/on-record")] == ["applicant", "operator"]
    assert roles[("get", "/v1/filings/{appid}/on-record/application")] == ["applicant"]
    assert roles[("post", "/v1/sms/verify")] == ["verification_site"]
    assert roles[("get", "/v1/forecasts/provincial-review")] == [
        "applicant", "platform_reviewer", "province_reviewer", "verification_site", "operator"]
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
    ready = await stack.http.get("/readyz")  # /healthz is readiness's deprecated name: the same answer
    assert ready.status_code == 200 and ready.json() == health.json()
    assert (await stack.http.get("/livez")).json() == {"status": "ok", "checks": {"loop": {"ok": True, "detail": "answering"}}}
    document = (await stack.http.get("/openapi.json")).json()
    assert document["paths"]["/healthz"]["get"]["deprecated"] is True
    metrics = (await stack.http.get("/metrics")).text
    assert 'filings_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics


async def test_broken_calendar_data_is_refused_naming_it_and_nothing_is_signalled(started: Stack):
    """The refresh loads what every worker reads, the registry's overrides: a row that does not
    validate (written by hand, not by `filings calendar import`) is a 422 naming its year."""
    stack = started
    operator = stack.auth(Role.OPERATOR)
    url = stack.settings.registry_database_url
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            c.execute(calendar_overrides.insert().values(
                year=2031, holidays='["2031-02-30"]', workdays="[]", source="by hand", checksum="0" * 64, version=1,
                imported_at=datetime.now(UTC)))
        refused = await stack.http.post("/v1/calendar/refresh", headers=operator | key())
        assert refused.status_code == 422, refused.text
        assert "year 2031" in refused.json()["errors"][0]["message_en"]
        with engine.begin() as c:
            c.execute(calendar_overrides.delete())
    finally:
        engine.dispose()
    store = CalendarOverrideStore(url)
    try:
        store.import_overrides([CalendarOverride(year=2031, holidays=[date(2031, 1, 1)], source="test notice")])
        done = await stack.http.post("/v1/calendar/refresh", headers=operator | key())
        assert done.status_code == 200, done.text
        assert done.json()["calendar_version"] == BusinessCalendar(store).version != BusinessCalendar().version
    finally:
        store.close()
        engine = create_engine(url)
        with engine.begin() as c:  # the module's other tests run on the official calendar
            c.execute(calendar_overrides.delete())
        engine.dispose()
    assert done.json()["signalled"] == len(done.json()["filings"])

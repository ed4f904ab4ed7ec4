"""When will the province decide, through the running service: finished reviews seeded in the
registry (25 in 青海, 5 in 宁夏), the route's figures, "数据不足", the gauge on /metrics; then a
real 青海 filing reaches 通管局审核 and its applicant's page shows the figure and the expected
day counted on the business calendar from the review's start, the 青海 desk its own figure;
its approval records the review's start in the registry (the next sample)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import create_engine, insert, select

from filing.calendar import BusinessCalendar
from filing.dates import china_date
from filing.registry import RegistryOutcome
from registry.tables import registry_changes
from service.principal import Role
from tests.service.conftest import Stack, application, as_json, fresh_subject_number, key, new_appid
from tests.service.console_login import SESSION_COOKIE, sign_in
from tests.service.test_whole_filing import desk

CAL = BusinessCalendar()
#: 25 reviews: nearest rank p50 = the 13th = 6, p90 = the 23rd = 11.
DAYS = [3] * 4 + [5] * 6 + [6] * 6 + [9] * 6 + [11] * 3
ROUTE = "/v1/forecasts/provincial-review"


def seed(stack: Stack, prefix: str, days: list[int], *, age: int = 40) -> None:
    """Finished NEW reviews as L8 records them, started `age` days ago, each decided on its
    `n`th business day."""
    now = datetime.now(UTC)
    start = now - timedelta(days=age)
    rows = []
    for n in days:
        number = f"{fresh_subject_number(prefix)}-1X"
        decided = CAL.add_business_days(start, n).due_at - timedelta(hours=2)
        outcome = RegistryOutcome(applied=True, service_number=number, subject_number=number[:-3])
        rows.append({"filing_key": f"seed-{uuid.uuid4()}", "filing_id": "filing-wxseed", "kind": "NEW",
                     "appid": "wx00000000seed0000", "number": number, "approved_at": decided,
                     "outcome": outcome.model_dump_json(), "recorded_at": decided, "review_started_at": start})
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(registry_changes), rows)
    finally:
        engine.dispose()


async def to_provincial_review(stack: Stack, appid: str, province_name: str, applicant: dict[str, str]) -> dict:
    """A NEW of the example company of `province_name` carried by HTTP to 通管局审核 (its status)."""
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-forecast")
    site = stack.auth(Role.VERIFICATION_SITE, sub="miit-forecast")
    app = application(appid, province=province_name)
    await stack.upload_materials(applicant)
    created = await stack.http.post("/v1/filings", json=as_json(app), headers=applicant | key())
    assert created.status_code == 201, created.text
    await stack.stage(appid, "PLATFORM_REVIEW", applicant)
    approved = await stack.http.post(f"/v1/filings/{appid}/platform-decision", headers=platform | key(),
                                     json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    await stack.stage(appid, "SMS_VERIFICATION", applicant)
    person = app.subject_principal
    verified = await stack.http.post(f"/v1/filings/{appid}/sms/verify", headers=site | key(), json={
        "mobile": person.mobile, "code": await stack.sms_code(person.mobile),
        "id_last6": person.identity_document.number[-6:]})
    assert verified.json()["all_verified"] is True, verified.text
    return await stack.stage(appid, "PROVINCIAL_REVIEW", applicant)


async def test_figures_the_date_and_too_few_on_the_route_the_pages_and_the_gauge(started: Stack) -> None:
    stack = started
    seed(stack, "青", DAYS)
    seed(stack, "青", [40, 40], age=200)  # outside the 90 days
    seed(stack, "宁", [2, 4, 8, 8, 9])
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="qh-admin", appids=[appid])

    answer = await stack.http.get(ROUTE, params={"province": "青海", "kind": "NEW"}, headers=applicant)
    assert answer.status_code == 200, answer.text
    (qinghai,) = answer.json()["forecasts"]
    assert (qinghai["province"], qinghai["count"], qinghai["p50"], qinghai["p90"]) == ("青", 25, 6, 11)
    assert qinghai["text"] == "青海通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内"
    few = (await stack.http.get(ROUTE, params={"province": "宁", "kind": "NEW"}, headers=applicant)).json()
    assert few["forecasts"][0] | {"text": ""} == {
        "province": "宁", "province_name": "宁夏", "kind": "NEW", "window_days": 90, "count": 5, "enough": False,
        "p50": None, "p90": None, "expected": None, "text": ""}
    assert few["forecasts"][0]["text"].startswith("宁夏通管局近 90 天：数据不足")
    unknown = await stack.http.get(ROUTE, params={"province": "火星"}, headers=applicant)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "query.province", unknown.text
    assert (await stack.http.get(ROUTE, params={"province": "青"})).status_code == 401
    metrics = (await stack.http.get("/metrics")).text
    assert 'filings_provincial_review_business_days{kind="NEW",province="青",quantile="0.5"} 6.0' in metrics
    assert 'filings_provincial_review_finished{kind="NEW",province="宁"} 5.0' in metrics

    # A real 青海 filing to 通管局审核: the applicant's page shows the figure and the expected days.
    province = stack.auth(Role.PROVINCE_REVIEWER, sub="青-01", province="青海")
    status = await to_provincial_review(stack, appid, "青海省", applicant)
    started_at = datetime.fromisoformat(
        [e["at"] for e in status["timeline"] if e["event"] == "provincial_review_started"][-1])
    median_by = china_date(CAL.add_business_days(started_at, 6).due_at) - timedelta(days=1)
    p90_by = china_date(CAL.add_business_days(started_at, 11).due_at) - timedelta(days=1)

    cookie = await sign_in(stack.service.url, Role.APPLICANT, sub="qh-admin", appids=[appid])
    async with httpx.AsyncClient(base_url=stack.service.url, cookies={SESSION_COOKIE: cookie}, timeout=30) as browser:
        page = (await browser.get(f"/filings/{appid}")).text
    assert "青海通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内" in page
    assert f"进入通管局审核，按工作日历预计 <strong>{median_by.isoformat()}</strong> 前后作出决定" in page
    assert f"90% 的备案在 {p90_by.isoformat()} 前" in page
    cookie = await sign_in(stack.service.url, Role.PROVINCE_REVIEWER, sub="青-01", province="青海")
    async with httpx.AsyncClient(base_url=stack.service.url, cookies={SESSION_COOKIE: cookie}, timeout=30) as browser:
        queue = (await browser.get("/queue")).text
    assert "本局审核用时" in queue and "青海通管局近 90 天：中位 6 个工作日，90% 在 11 个工作日内" in queue
    assert "数据不足（仅 0 件已完成的变更备案审核" in queue  # the desk's other kinds

    # Its approval is the next sample: the registry records when its review started.
    await desk(stack, province, appid)
    proposed = (await stack.http.get(f"/v1/filings/{appid}/next-number", headers=province)).json()
    number = proposed["number"] or f"{fresh_subject_number('青')}-1X"
    decided = await stack.http.post(f"/v1/filings/{appid}/province-decision", headers=province | key(),
                                    json={"decision": "approve", "filing_number": number})
    assert decided.status_code == 200 and decided.json()["applied"] is True, decided.text
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.connect() as connection:
            recorded = connection.execute(select(registry_changes.c.review_started_at)
                                          .where(registry_changes.c.appid == appid)).scalar_one()
    finally:
        engine.dispose()
    assert recorded == started_at
    after = (await stack.http.get(ROUTE, params={"province": "青", "kind": "NEW"}, headers=applicant)).json()
    assert after["forecasts"][0]["count"] == 26

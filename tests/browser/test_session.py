"""The console's session over plain HTTP: the cookie, CSRF on every form, redirects to the
login page, and the API never taking the cookie for a credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest

from service.principal import Role
from tests.browser.people import start_by_api, wait_stage
from tests.service.conftest import Stack, application, new_appid
from tests.service.console_login import dev_login, hidden


@pytest.fixture
async def browserless(started: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=started.service.url, timeout=30, follow_redirects=False) as client:
        yield client


async def test_the_dev_login_sets_an_httponly_lax_cookie_and_goes_nowhere_else(browserless: httpx.AsyncClient):
    refused = await browserless.post("/login", data={"role": "operator", "sub": "x"})  # no CSRF token
    assert refused.status_code == 403 and "表单已失效" in refused.text
    assert "filings_session" not in browserless.cookies

    answer = await dev_login(browserless, role="platform_reviewer", sub="r-05", next="//evil.example/phish")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("filings_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    home = await browserless.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/queue"
    queue = await browserless.get("/queue")
    assert queue.status_code == 200
    assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]
    assert queue.headers["cache-control"] == "no-store"

    async with httpx.AsyncClient(base_url=str(browserless.base_url)) as fresh:
        wrong = await dev_login(fresh, role="applicant", sub="a", appids="")
    assert wrong.status_code == 422 and "申请人须填写至少一个小程序 AppID" in wrong.text
    assert 'value="a"' in wrong.text  # what was typed is kept


async def test_every_form_needs_the_sessions_csrf_token(started: Stack, browserless: httpx.AsyncClient):
    stack = started
    appid = new_appid()
    await start_by_api(stack, application(appid))
    await dev_login(browserless, role="platform_reviewer", sub="r-06")
    page = await browserless.get(f"/filings/{appid}")
    csrf, key = hidden(page.text, "csrf"), hidden(page.text, "idem")

    for token in ("", "not-the-token", csrf.swapcase()):
        refused = await browserless.post(f"/filings/{appid}/approve", data={"csrf": token, "idem": key, "attempt": "1"})
        assert refused.status_code == 403 and "CSRF 校验未通过" in refused.text
    # Another person's session has another token: theirs does not work here.
    async with httpx.AsyncClient(base_url=stack.service.url) as other:
        await dev_login(other, role="platform_reviewer", sub="r-07")
        foreign = hidden((await other.get(f"/filings/{appid}")).text, "csrf")
    refused = await browserless.post(f"/filings/{appid}/approve", data={"csrf": foreign, "idem": key, "attempt": "1"})
    assert refused.status_code == 403
    status = await wait_stage(stack, appid, "PLATFORM_REVIEW")
    assert "platform_approved" not in [entry["event"] for entry in status["timeline"]]  # nothing was done

    done = await browserless.post(f"/filings/{appid}/approve", data={"csrf": csrf, "idem": key, "attempt": "1"})
    assert done.status_code == 303 and done.headers["location"] == f"/filings/{appid}"
    again = await browserless.post(f"/filings/{appid}/approve", data={"csrf": csrf, "idem": key, "attempt": "1"})
    assert again.status_code == 303  # the same form sent twice: the API's stored answer, not a second decision
    await wait_stage(stack, appid, "SMS_VERIFICATION")

    assert (await browserless.post("/logout", data={})).status_code == 403
    out = await browserless.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    gone = await browserless.get("/queue")
    assert gone.status_code == 303 and unquote(gone.headers["location"]) == "/login?next=/queue"


async def test_the_api_never_takes_the_cookie_and_an_expired_session_goes_to_the_login(
        started: Stack, browserless: httpx.AsyncClient):
    stack = started
    await dev_login(browserless, role="operator", sub="ops-2")
    session = browserless.cookies["filings_session"]
    assert (await browserless.get("/queue")).status_code == 200
    api = await browserless.get("/v1/filings")
    assert api.status_code == 401  # the cookie is no bearer token for the API
    as_bearer = await browserless.get("/v1/filings", headers={"Authorization": f"Bearer {session}"})
    assert as_bearer.status_code == 401  # nor is the session id in it
    astray = await browserless.get("/no-such-page")  # the router's problem, as a page
    assert astray.status_code == 404 and astray.headers["content-type"].startswith("text/html")
    assert "没有这个页面" in astray.text

    # A token whose time is up (a session cookie of the old kind, or any token): no session, to the login.
    expired = stack.token(Role.OPERATOR, sub="ops-2", now=datetime.now(UTC) - timedelta(hours=3), ttl=timedelta(hours=1))
    browserless.cookies.set("filings_session", expired)
    answer = await browserless.get("/queue?kind=NEW")
    assert answer.status_code == 303
    assert unquote(answer.headers["location"]) == "/login?next=/queue?kind=NEW&expired=1"
    assert any(c.startswith("filings_session=;") and "Max-Age=0" in c for c in answer.headers.get_list("set-cookie"))
    login = await browserless.get(answer.headers["location"])
    assert "登录已过期" in login.text

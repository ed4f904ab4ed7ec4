"""Every console page under `/filings/{appid}` answers the console's own Chinese 404 page for a
path that cannot name a filing, for GET and POST alike, before anything reaches the API."""

from __future__ import annotations

import httpx
import pytest

from service.principal import Role
from tests.service.conftest import Stack
from tests.service.console_login import SESSION_COOKIE, sign_in

PAGES = [("GET", ""), ("POST", "/approve"), ("POST", "/reject"), ("POST", "/resubmit"), ("POST", "/resend"),
         ("POST", "/withdraw"), ("GET", "/cancel"), ("POST", "/cancel"), ("GET", "/change")]


@pytest.mark.parametrize("role", [Role.APPLICANT, Role.PLATFORM_REVIEWER])
async def test_a_path_that_is_no_appid_is_the_chinese_404_page_on_every_filing_page(started: Stack, role: Role) -> None:
    session = await sign_in(started.service.url, role, sub=f"typo-{role.value}", appids=["wx0123456789abcdef"])
    async with httpx.AsyncClient(base_url=started.service.url, timeout=30, cookies={SESSION_COOKIE: session}) as browser:
        for method, tail in PAGES:
            page = await browser.request(method, f"/filings/wx-not-an-appid{tail}", data={})
            assert page.status_code == 404, (method, tail, page.status_code, page.text[:300])
            assert "没有找到该备案" in page.text, (method, tail)

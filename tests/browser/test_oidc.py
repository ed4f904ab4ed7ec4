"""The identity provider's login (FILINGS_API__AUTH=oidc): a second filing service process on
the same data, against a provider the test serves itself. Authorization code with PKCE; the
access token becomes the session; a token the API would refuse makes no session; and when
the provider is gone for good, the login fails clearly and nothing is half-made."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Console
from tests.browser.fake_idp import FakeProvider
from tests.processes import free_ports
from tests.service.conftest import ServiceProcess, service_env

CLIENT_ID = "filings-console"
AUDIENCE = "filings-api"


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    idp = FakeProvider(client_id=CLIENT_ID, audience=AUDIENCE, claims={"sub": "r-oidc", "role": "platform_reviewer"})
    await idp.start()
    try:
        yield idp
    finally:
        await idp.stop()


@pytest.fixture
async def oidc_service(console: Console, provider: FakeProvider, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    port = free_ports(1)[0]
    env = service_env(console.stack.settings, port, FILINGS_API__AUTH="oidc", FILINGS_API__ISSUER=provider.issuer,
                      FILINGS_API__JWKS_URL=f"{provider.issuer}/jwks", FILINGS_API__AUDIENCE=AUDIENCE,
                      FILINGS_CONSOLE__OIDC_CLIENT_ID=CLIENT_ID)
    service = ServiceProcess(env, port, tmp_path / "service-oidc.log")
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def session_cookies(page: Page) -> list[Mapping[str, object]]:
    return [c for c in await page.context.cookies() if c["name"] == "filings_session"]


async def test_a_reviewer_signs_in_with_the_identity_provider(console: Console, provider: FakeProvider,
                                                             oidc_service: ServiceProcess):
    url = oidc_service.url
    page = await console.page(base_url=url)
    await page.goto("/queue")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fqueue$"))
    await page.click("#oidc-login")
    await expect(page.locator("h1")).to_have_text("统一身份认证（测试）")  # the provider's own page
    await page.click("#consent")
    await expect(page).to_have_url(f"{url}/queue")
    await expect(page.locator("header .who")).to_contain_text("平台初审员 · r-oidc")
    (cookie,) = await session_cookies(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    (exchange,) = provider.token_requests  # PKCE verified by the provider, the code spent
    assert exchange["client_id"] == CLIENT_ID and exchange["redirect_uri"] == f"{url}/login/callback"
    assert len(exchange["code_verifier"]) >= 43

    # A token the API would refuse (a role it does not know) makes no session.
    provider.claims = {"sub": "someone", "role": "janitor"}
    stranger = await console.page(base_url=url)
    await stranger.goto("/login")
    await stranger.click("#oidc-login")
    await stranger.click("#consent")
    await expect(stranger.locator(".flash.error")).to_contain_text("登录未成功")
    assert await session_cookies(stranger) == []

    # The provider goes away for good between its page and the way back: a clear page, no session.
    provider.claims = {"sub": "r-oidc-2", "role": "platform_reviewer"}
    late = await console.page(base_url=url)
    await late.goto("/login")
    await late.click("#oidc-login")
    await expect(late.locator("#consent")).to_be_visible()
    await provider.stop()
    await late.click("#consent")
    await expect(late.locator(".flash.error")).to_contain_text("统一身份认证服务暂不可用，未登录")
    assert await session_cookies(late) == []
    await late.goto("/queue")
    await expect(late).to_have_url(re.compile(r"/login\?next=%2Fqueue$"))

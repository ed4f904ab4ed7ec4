"""DNS rebinding and cross-site logins: the service answers only its configured host names,
and the development login takes a POST only from this site's own pages.

The attacker's page is at `http://rebind.attacker.example:<port>`; after rebinding, its
name resolves to 127.0.0.1, so the browser's requests reach the service carrying that
name in `Host` (and as `Origin`). Here they are sent as the browser would send them.
"""

from __future__ import annotations

import re

import httpx

from engine.settings import ConsoleSettings
from service.app import create_app
from service.principal import Role
from tests.service.conftest import Stack

ATTACKER = "rebind.attacker.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login_form(page: httpx.Response) -> dict[str, str]:
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found, page.text[:300]
    return {"csrf": found.group(1), "role": "operator", "sub": "rebound", "next": "/queue"}


async def test_a_rebound_name_reaches_nothing_but_monitoring(started: Stack):
    stack = started
    port = stack.service.port
    rebound = {"Host": f"{ATTACKER}:{port}", "Origin": f"http://{ATTACKER}:{port}"}
    async with httpx.AsyncClient(base_url=stack.service.url, timeout=30) as browser:
        page = await browser.get("/login", headers=rebound)
        assert page.status_code == 400 and "filings_login" not in page.headers.get("set-cookie", "")
        # Even with a login form fetched under the right name, the rebound page cannot post it.
        form = login_form(await browser.get("/login"))
        signed = await browser.post("/login", data=form, headers=rebound)
        assert signed.status_code == 400 and "filings_session" not in signed.headers.get("set-cookie", "")
        api = await browser.get("/v1/filings", headers=rebound | stack.auth(Role.OPERATOR, sub="ops"))
        assert api.status_code == 400
        assert (await browser.get("/", headers=rebound)).status_code == 400
        # Monitoring scrapes replicas by address: it answers whatever the name.
        assert (await browser.get("/healthz", headers=rebound)).status_code == 200
    for name in ("127.0.0.1", "localhost", "[::1]"):  # the loopback names are this machine's own
        async with httpx.AsyncClient(base_url=stack.service.url, timeout=30) as local:
            assert (await local.get("/login", headers={"Host": f"{name}:{port}"})).status_code == 200, name


async def test_the_development_login_refuses_a_post_from_another_site(started: Stack):
    stack = started
    async with httpx.AsyncClient(base_url=stack.service.url, timeout=30) as browser:
        for origin in ("http://evil.example", "null", f"http://{ATTACKER}:{stack.service.port}",
                       f"http://localhost:{stack.service.port}"):  # another origin of this machine is another site
            form = login_form(await browser.get("/login"))
            refused = await browser.post("/login", data=form, headers={"Origin": origin})
            assert refused.status_code == 403, (origin, refused.status_code)
            assert "filings_session" not in refused.headers.get("set-cookie", ""), origin
            assert "Origin" in refused.text
        form = login_form(await browser.get("/login"))
        signed = await browser.post("/login", data=form, headers={"Origin": stack.service.url})
        assert signed.status_code == 303 and "filings_session" in signed.headers.get("set-cookie", "")


async def test_in_production_the_public_host_is_served_and_no_other(started: Stack):
    settings = started.settings.model_copy(update={"console": ConsoleSettings(public_url="https://filings.example.cn")})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://filings.example.cn") as client:
        page = await client.get("/login")
        assert page.status_code == 200
        form = login_form(page)
        signed = await client.post("/login", data=form, headers={"Origin": "https://filings.example.cn"})
        assert signed.status_code == 303
        assert (await client.get("/login", headers={"Host": "filings.example.cn.attacker.example"})).status_code == 400
        assert (await client.get("/login", headers={"Host": ATTACKER})).status_code == 400

"""Signing in to the console as a person does, over plain HTTP: the login page's CSRF token,
the development login form, and the session cookie it answers (a random id, no token)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from service.principal import Role

SESSION_COOKIE = "filings_session"


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


async def dev_login(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post("/login", data={"csrf": hidden(page.text, "csrf"), **fields})


async def sign_in(url: str, role: Role | str, *, sub: str, province: str | None = None,
                  appids: Iterable[str] = ()) -> str:
    """The session cookie's value after the development login as `role`."""
    async with httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False) as client:
        answer = await dev_login(client, role=Role(role).value, sub=sub, province=province or "",
                                 appids=",".join(appids))
        assert answer.status_code == 303, f"the login was refused ({answer.status_code}): {answer.text[:500]}"
        session = client.cookies.get(SESSION_COOKIE)
    assert session, "the login set no session cookie"
    return session

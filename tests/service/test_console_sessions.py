"""Console sessions end when people sign out, when they sit idle and when their time is up,
on every replica at once: the attacker's sequence with a copied cookie, over plain HTTP,
against real `python -m service` processes sharing one registry database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.processes import free_ports, wait_until
from tests.service.conftest import ServiceProcess, Stack, service_env
from tests.service.console_login import SESSION_COOKIE, dev_login, hidden

#: The short lifetimes of the `short_lived` replica, in seconds.
IDLE = 3
LIFETIME = 9


async def replica(stack: Stack, log: Path, **extra: str) -> ServiceProcess:
    """Another service process on the stack's data dir and registry database."""
    port = free_ports(1)[0]
    process = ServiceProcess(service_env(stack.settings, port, **extra), port, log)
    await process.start()
    return process


@pytest.fixture
async def second(started: Stack, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    process = await replica(started, tmp_path / "replica.log")
    try:
        yield process
    finally:
        await process.stop()


@pytest.fixture
async def short_lived(started: Stack, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    process = await replica(started, tmp_path / "short.log", FILINGS_CONSOLE__SESSION_IDLE=str(IDLE),
                            FILINGS_CONSOLE__SESSION_LIFETIME=f"PT{LIFETIME}S")
    try:
        yield process
    finally:
        await process.stop()


async def page_with(url: str, session: str, path: str = "/") -> httpx.Response:
    """`path` asked by a browser holding only the (copied) cookie."""
    async with httpx.AsyncClient(base_url=url, timeout=30, cookies={SESSION_COOKIE: session}) as client:
        return await client.get(path)


async def bearer(url: str, token: str, path: str = "/v1/filings") -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return (await client.get(path, headers={"Authorization": f"Bearer {token}"})).status_code


def to_login(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login?")


async def test_a_copied_cookie_dies_with_the_logout_and_is_never_a_bearer_token(started: Stack):
    url = started.service.url
    async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
        assert (await dev_login(browser, role="operator", sub="ops-copied")).status_code == 303
        copied = browser.cookies[SESSION_COOKIE]
        assert (await page_with(url, copied)).headers["location"] == "/queue"  # the copy works, as a cookie only
        assert await bearer(url, copied) == 401

        queue = await browser.get("/queue")
        out = await browser.post("/logout", data={"csrf": hidden(queue.text, "csrf")})
        assert out.status_code == 303 and out.headers["location"] == "/login"

    replayed = await page_with(url, copied, "/queue")
    assert to_login(replayed) and replayed.headers["location"].endswith("&expired=1")
    assert any(c.startswith(f"{SESSION_COOKIE}=;") for c in replayed.headers.get_list("set-cookie"))
    assert await bearer(url, copied) == 401
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:  # the id as a console page's bearer header
        as_header = await client.get("/queue", headers={"Authorization": f"Bearer {copied}"})
    assert to_login(as_header)


async def test_replicas_share_sessions_and_a_logout_on_one_ends_it_on_the_other(
        started: Stack, second: ServiceProcess):
    first_url, second_url = started.service.url, second.url
    async with httpx.AsyncClient(base_url=first_url, timeout=30) as on_first:
        assert (await dev_login(on_first, role="platform_reviewer", sub="r-replica")).status_code == 303
        session = on_first.cookies[SESSION_COOKIE]
    async with httpx.AsyncClient(base_url=second_url, timeout=30, cookies={SESSION_COOKIE: session}) as on_second:
        queue = await on_second.get("/queue")  # signed in on the first, used on the second
        assert queue.status_code == 200 and "r-replica" in queue.text
        out = await on_second.post("/logout", data={"csrf": hidden(queue.text, "csrf")})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    assert to_login(await page_with(first_url, session, "/queue"))  # ... and it is over on the first


async def test_an_idle_session_and_one_past_its_lifetime_are_refused(started: Stack, short_lived: ServiceProcess):
    """The idle session and the busy one at the same time (the time passing is the test: the
    idle one's wait runs within the busy one's lifetime instead of before it)."""
    url = short_lived.url

    async def sign_in(sub: str) -> tuple[str, float]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
            assert (await dev_login(browser, role="operator", sub=sub)).status_code == 303
            return browser.cookies[SESSION_COOKIE], time.monotonic()

    async def left_idle() -> None:
        idle, signed_in = await sign_in("ops-idle")
        assert (await page_with(url, idle)).headers["location"] == "/queue"
        used = time.monotonic()
        assert used - signed_in < IDLE, "the machine is too slow for this test's idle time"
        # Nobody touches the session for longer than FILINGS_CONSOLE__SESSION_IDLE.
        await asyncio.sleep(IDLE + 1)
        assert to_login(await page_with(url, idle))

    async def kept_busy() -> float:
        """Kept busy, a session still ends at FILINGS_CONSOLE__SESSION_LIFETIME after its sign-in."""
        busy, started_at = await sign_in("ops-busy")

        async def refused() -> float | None:
            answer = await page_with(url, busy)
            if to_login(answer):
                return time.monotonic() - started_at
            await asyncio.sleep(0.5)  # a page every half second: never idle
            return None

        return await wait_until(refused, LIFETIME + 15, "the busy session to reach its lifetime")

    _, lasted = await asyncio.gather(left_idle(), kept_busy())
    assert lasted >= LIFETIME - 1  # not idle: it lasted its lifetime (less the login's own time)

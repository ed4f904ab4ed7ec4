"""What people do in the console, as browser steps the tests share: sign in on the login
page, find the filing, wait (on the filing's own stage, never a fixed time) for the next
person's turn."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from filing.models import Application
from filing.registry import ImportEntry
from engine.wiring import registry_from_settings
from service.principal import Role
from tests.processes import wait_until
from tests.service.conftest import STAGE_TIMEOUT, Stack, application, as_json, fresh_subject_number, key


async def sign_in(page: Page, role: Role, sub: str, *, province: str | None = None, appids: str = "") -> None:
    """The development login page, as a person fills it in."""
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login\?"))
    await page.select_option("#role", role.value)
    await page.fill("#sub", sub)
    if province:
        await page.select_option("#province", province)
    if appids:
        await page.fill("#appids", appids)
    await page.click("form.stack button[type=submit]")
    await expect(page.locator("header .who")).to_contain_text(sub)


async def operator_headers(stack: Stack) -> dict[str, str]:
    return stack.auth(Role.OPERATOR, sub="ops-watch")


async def wait_stage(stack: Stack, appid: str, stage: str) -> dict[str, Any]:
    """The filing's stage, as the status API shows it (the worker moves it asynchronously)."""
    return await stack.stage(appid, stage, await operator_headers(stack))


async def wait_status(stack: Stack, appid: str, what: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait until the filing's status satisfies `check` (e.g. a resent code is out)."""
    headers = await operator_headers(stack)

    async def satisfied() -> dict[str, Any] | None:
        answer = await stack.http.get(f"/v1/filings/{appid}", headers=headers)
        status = answer.json() if answer.status_code == 200 else None
        return status if status and check(status) else None

    return await wait_until(satisfied, STAGE_TIMEOUT, f"{appid}: {what}")


async def start_by_api(stack: Stack, app: Application) -> None:
    """The applicant's integrator starts a filing over HTTP (the tests about review start here)."""
    headers = stack.auth(Role.APPLICANT, sub="integrator", appids=[app.appid])
    await stack.upload_materials(headers)  # an applicant names only materials uploaded for their mini-program
    created = await stack.http.post("/v1/filings", json=as_json(app), headers=headers | key())
    assert created.status_code == 201, created.text
    await wait_stage(stack, app.appid, "PLATFORM_REVIEW")


async def subject_on_record(stack: Stack, appid: str, *, company: str | None = None) -> str:
    """A subject (`company`, by default the appid's own) with one mini-program already filed
    (imported, as operators load old filings): its number is what the registry proposes for a
    new filing of the same company."""
    number = fresh_subject_number("冀")
    earlier = application(appid, company=company)
    earlier = earlier.model_copy(update={"mini_program": earlier.mini_program.model_copy(update={"name": "示例旧小程序"})})
    registry = registry_from_settings(stack.settings)
    try:
        await registry.import_entries([ImportEntry(application=earlier, service_number=f"{number}-1X",
                                                   approved_at=datetime.now(UTC) - timedelta(days=400))])
    finally:
        registry.close()
    return number


def application_file(tmp_path: Path, app: Application) -> Path:
    path = tmp_path / "application.json"
    path.write_text(json.dumps(as_json(app), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


async def access_key(page: Page, key: str) -> None:
    """Alt+`key` as a person presses it: a system key event, which is what triggers an HTML
    `accesskey` in Chromium on Linux (Playwright's `keyboard.press` sends plain key events)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        event = {"modifiers": 1, "key": key, "code": f"Key{key.upper()}", "windowsVirtualKeyCode": ord(key.upper()),
                 "nativeVirtualKeyCode": ord(key.upper()), "isSystemKey": True}
        await cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **event})
        await cdp.send("Input.dispatchKeyEvent", {"type": "char", "text": key, "unmodifiedText": key, **event})
        await cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **event})
    finally:
        await cdp.detach()


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement ? document.activeElement.id : ''"))


async def open_filing(page: Page, appid: str) -> None:
    await page.goto(f"/filings/{appid}")
    await expect(page.locator("h1 .appid")).to_have_text(appid)

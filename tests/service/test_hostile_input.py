"""Hostile bodies against every route and every console page, and the whole log read
afterwards: no personal value of the application and no fragment of a token may be in it,
and no request may answer 5xx.

The routes are enumerated from the app itself (`app.routes`, plus the console's login
app), so a route added later is covered without touching this test. The bodies are an
application carrying personal data together with what broke the service before: a
non-finite number (`1e999`, `NaN`, `Infinity`), 1 500 levels of nesting, wrong types, a
body too large and bytes that are not UTF-8. Each is sent as JSON to the API and, with a
valid session and CSRF token, in every field of the console's forms (and as the submit
page's file).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from service.app import create_app
from service.principal import Role
from tests.processes import free_ports
from tests.service.conftest import ServiceProcess, Stack, application, as_json, new_appid, service_env

DEEP = 1500
#: Every field name a console form has (and a few it does not): each gets the hostile text.
FORM_FIELDS = ("application", "mobile", "code", "id_last6", "reason", "comment", "fields", "decision",
               "filing_number", "role", "sub", "province", "appids", "next", "idem")


def _unique_person(appid: str) -> dict[str, Any]:
    """The application, its personal values made unique to this test (so a hit is ours)."""
    body = as_json(application(appid))
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
    person = body["subject_principal"]
    person["name"] = "欧阳" + "".join(secrets.choice("泄漏测试甲乙丙丁戊己庚辛") for _ in range(4))
    person["email"] = f"leak-{tag}@example.com"
    body["subject"]["address"]["detail"] = f"泄漏路{secrets.randbelow(10**6)}号{tag}室"
    return body


def personal_values(body: dict[str, Any]) -> list[str]:
    person = body["subject_principal"]
    return [person["name"], person["mobile"], person["emergency_mobile"], person["identity_document"]["number"],
            person["email"], body["subject"]["address"]["detail"]]


def hostile_bodies(app: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """(what, raw body): each holds the application's personal data."""
    text = json.dumps(app, ensure_ascii=False)
    for constant in ("1e999", "NaN"):
        yield f"non-finite {constant}", text.replace('"email":', f'"score": {constant}, "email":', 1).encode()
    yield "non-finite at the top", f'{{"n": -Infinity, "a": {text}}}'.encode()
    yield "1500-deep around", ("[" * DEEP + text + "]" * DEEP).encode()
    yield "1500-deep inside", text.replace('"email":', '"nested": ' + '{"a":' * DEEP + "1" + "}" * DEEP + ', "email":', 1).encode()
    yield "100000-deep", ("[" * 100_000 + text + "]" * 100_000).encode()
    wrong = json.loads(text)
    wrong["subject_principal"] = {k: [v, {"v": v}] for k, v in wrong["subject_principal"].items()}
    yield "wrong types", json.dumps(wrong, ensure_ascii=False).encode()
    yield "huge", text.replace('"email":', f'"pad": "{"填" * 400_000}", "email":', 1).encode()
    yield "not UTF-8", text.encode("utf-16")


def _paths(route: Any, appid: str) -> Iterator[tuple[str, set[str]]]:
    """A route's concrete path and its methods (a mount: a file inside it)."""
    if isinstance(route.original_route, Mount):
        yield route.path + "/x.css", {"GET"}
        return
    if route.path is not None:
        path = re.sub(r"\{appid[^}]*\}", appid, route.path)
        path = re.sub(r"\{sha256[^}]*\}", "0" * 64, path)
        path = re.sub(r"\{[^}]+\}", "x", path)
        yield path, set(route.methods or {"GET"})


def every_route(stack: Stack, appid: str) -> list[tuple[str, str, bool]]:
    """(method, path, whether the route takes that method) of every route of the app and of
    the console's login app; every path is also sent a POST."""
    app = create_app(stack.settings)
    # The console's public app (login, logout, static files) sits in its session middleware.
    login = next(m.kwargs["public"] for m in app.user_middleware if "public" in m.kwargs)
    found: set[tuple[str, str, bool]] = set()
    for route in iter_route_contexts([*app.routes, *login.routes]):
        for path, methods in _paths(route, appid):
            found |= {(method, path, method in methods) for method in methods | {"POST"} if method != "HEAD"}
    return sorted(found)


def fragments(secret: str, size: int = 12) -> set[str]:
    """Every `size`-character piece of a token's claims and signature (its header is common to
    all tokens, so not secret), or of a session cookie."""
    secret = secret.split(".", 1)[1] if secret.count(".") == 2 else secret
    return {secret[i:i + size] for i in range(0, len(secret) - size + 1)}


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(http: httpx.AsyncClient, role: Role, appid: str) -> str:
    """The development login as a person does it; answers the pages' CSRF token (the
    session cookie stays in the client)."""
    page = await http.get("/login")
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found, page.text[:500]
    form = {"csrf": found.group(1), "role": role.value, "sub": f"hostile-{role.value}", "next": "/",
            "province": "冀" if role is Role.PROVINCE_REVIEWER else "", "appids": appid if role is Role.APPLICANT else ""}
    signed = await http.post("/login", data=form, headers={"Origin": str(http.base_url).rstrip("/")})
    assert signed.status_code == 303, signed.text[:500]
    page = await http.get("/submit")  # a page that needs no Temporal; every page's header has the token
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found, page.text[:500]
    return found.group(1)


async def test_hostile_bodies_on_every_route_and_page_leave_no_personal_data_in_the_log(started: Stack, tmp_path: Path):
    stack = started
    log = tmp_path / "service.log"
    port = free_ports(1)[0]
    service = ServiceProcess(service_env(stack.settings, port), port, log)
    appid = new_appid()
    app = _unique_person(appid)
    routes = every_route(stack, appid)
    assert {("POST", "/submit", True), ("POST", "/v1/filings", True), ("POST", "/login", True)} <= set(routes)
    bodies = list(hostile_bodies(app))
    secrets_sent: list[str] = []
    server_errors: list[str] = []
    dropped: list[str] = []
    # Eight in flight: the service and this client each keep a core busy (4 at once left them waiting).
    parallel = asyncio.Semaphore(8)

    async def send(http: httpx.AsyncClient, label: str, method: str, path: str, **request: Any) -> None:
        async with parallel:
            try:
                answer = await http.request(method, path, **request)
            except httpx.TransportError as err:
                dropped.append(f"{label}: {type(err).__name__}")
                return
        if answer.status_code >= 500:
            server_errors.append(f"{label}: {answer.status_code}")

    await service.start()
    try:
        for role in Role:
            token = stack.token(role, sub=f"hostile-{role.value}", appids=[appid] if role is Role.APPLICANT else (),
                                province="冀" if role is Role.PROVINCE_REVIEWER else None)
            async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
                csrf = await sign_in(http, role, appid)
                secrets_sent += [token, *http.cookies.values()]
                api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                sent = []
                # A route's own POSTs as every role; the rest (GETs, POSTs to GET-only paths) as one.
                # Pages read forms: JSON is sent to them as one role only.
                for method, path, declared in routes:
                    every_role = declared and method == "POST"
                    if not every_role and role is not Role.APPLICANT:
                        continue
                    page = not path.startswith("/v1/")
                    for what, body in bodies:
                        label = f"{role.value} {method} {path} {what}"
                        if not page or role is Role.APPLICANT:
                            sent.append(send(http, label, method, path, content=body,
                                             headers=api | {"Idempotency-Key": secrets.token_hex(8)}))
                        if page:
                            text = body.decode("utf-8", "replace")
                            named = FORM_FIELDS if len(body) < 64 * 1024 else ("application",)  # a big one once
                            form = {name: text for name in named} | {"csrf": csrf}
                            sent.append(send(http, f"{label} (form)", method, path, data=form))
                            if path == "/submit":
                                sent.append(send(http, f"{label} (file)", method, path, files={
                                    "file": ("application.json", body)}, data={"csrf": csrf, "idem": "k"}))
                await asyncio.gather(*sent)
    finally:
        await service.stop()
    written = log.read_text(encoding="utf-8", errors="replace")
    leaked = [value for value in personal_values(app) if value in written]
    leaked_secrets = [f"{secret[:6]}…" for secret in secrets_sent if any(f in written for f in fragments(secret))]
    assert not server_errors, "\n".join(server_errors[:40]) + f"\n({len(server_errors)} in all)"
    # The service may close the connection of a body it refuses unread (413); nothing else.
    assert all(" huge" in label for label in dropped), dropped
    assert not leaked, f"personal values in the log: {leaked}"
    assert not leaked_secrets, f"fragments of tokens or session cookies in the log: {leaked_secrets}"
    assert "Traceback" not in written and "traceback" not in written, written[-3000:]

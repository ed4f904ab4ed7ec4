"""What every request passes before any route sees it: size limits, the bearer token, and
the bookkeeping (metrics, one log line without personal data).

Done here, ahead of routing and body parsing, so the order is the same for every route:
a body too large answers 413 before anything is read, a call without a valid token
answers 401 before its body is looked at, a JSON body with a non-finite number or nested
too deep answers 422 before a route parses it (`service.json_limits`), and none leaves
anything behind but a metric. Bodies are small (at most `max_upload_bytes`) and read
once, then replayed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.settings import ApiSettings
from service.auth import KeysUnavailable, TokenVerifier, Unauthenticated, bearer_token
from service.json_limits import UnsafeJson, check_json
from service.metrics import ServiceMetrics
from service.principal import Principal
from service.problems import Problem

log = structlog.get_logger("service")

#: Routes anyone may call without a token (SPEC §12: the public lookup, monitoring, the docs).
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/openapi.json", "/docs", "/v1/registry"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Routes taking files (multipart), with the larger limit; every other body is JSON.
UPLOAD_PATHS = frozenset({"/v1/materials"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class Gatekeeper:
    def __init__(self, app: ASGIApp, *, settings: ApiSettings, verifier: TokenVerifier, metrics: ServiceMetrics) -> None:
        self.app = app
        self.settings = settings
        self.verifier = verifier
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: dict[str, Any] = {"status": 500}

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            refusal, receive = await self._guard(scope, receive)
            if refusal is not None:
                await refusal.response(scope.get("path")).__call__(scope, receive, send_noting)
            else:
                await self.app(scope, receive, send_noting)
        finally:
            self._account(scope, answered["status"], time.perf_counter() - started)

    async def _guard(self, scope: Scope, receive: Receive) -> tuple[Problem | None, Receive]:
        limit = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return self._too_large(limit), receive
        if scope["path"] not in PUBLIC_PATHS:
            try:
                scope.setdefault("state", {})["principal"] = await self._principal(scope)
            except Unauthenticated as err:
                challenge = 'Bearer realm="filings"'
                if err.error:  # RFC 6750: the description is visible ASCII, without quotes
                    quoted = err.description.replace('"', "'").encode("ascii", "backslashreplace").decode()
                    quoted = "".join(c if " " <= c <= "~" else " " for c in quoted)  # no control characters
                    challenge += f', error="{err.error}", error_description="{quoted}"'
                return Problem(401, err.description, kind="unauthenticated",
                               headers={"WWW-Authenticate": challenge}), receive
            except KeysUnavailable as err:
                return Problem(503, str(err), kind="identity-provider-unavailable",
                               headers={"Retry-After": "5"}), receive
        if scope["method"] not in WITH_BODY:
            return None, receive
        body, too_large = await self._read_body(receive, limit)
        if too_large:
            return self._too_large(limit), receive
        if body and _is_json(scope):
            try:
                check_json(body)
            except UnsafeJson as err:
                return Problem(422, f"the JSON body is refused: {err}", kind="invalid-json", title="Invalid JSON",
                               errors=err.refusals), receive
            except ValueError:
                pass  # not JSON at all: the route answers that, naming where (422)
        return None, _replay(body, receive)

    async def _principal(self, scope: Scope) -> Principal:
        return await self.verifier.verify(bearer_token(_header(scope, b"authorization")))

    def _limit(self, scope: Scope) -> int:
        return self.settings.max_upload_bytes if scope["path"] in UPLOAD_PATHS else self.settings.max_json_bytes

    @staticmethod
    def _too_large(limit: int) -> Problem:
        return Problem(413, f"the body is larger than {limit} bytes, the most this route accepts "
                       "(FILINGS_API__MAX_JSON_BYTES / FILINGS_API__MAX_UPLOAD_BYTES)", kind="too-large",
                       title="Content Too Large")

    @staticmethod
    async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    def _account(self, scope: Scope, status: int, seconds: float) -> None:
        route = _route_template(scope)
        self.metrics.requests.labels(route, scope["method"], str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if status in (401, 403, 404):
            self.metrics.refusals.labels(route, str(status)).inc()
        principal: Principal | None = scope.get("state", {}).get("principal")
        # Monitoring polls /healthz and /metrics every few seconds: logged at debug, not info.
        level = log.debug if route in QUIET_ROUTES and status < 500 else log.info
        level("request", method=scope["method"], route=route, status=status, ms=round(seconds * 1000, 1),
              role=principal.role.value if principal else None, sub=principal.sub if principal else None)


QUIET_ROUTES = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


def _is_json(scope: Scope) -> bool:
    """A body the routes would read as JSON: declared so (`application/json`, `…+json`) or
    undeclared (FastAPI then reads JSON too); never an upload or a form."""
    if scope["path"] in UPLOAD_PATHS:
        return False
    declared = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    return not declared or declared == "application/json" or (
        declared.startswith("application/") and declared.endswith("+json"))


def _route_template(scope: Scope) -> str:
    """The route's template (`/v1/filings/{appid}`), never the raw path: bounded labels, no data."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    app = scope.get("app")
    for context in iter_route_contexts(getattr(app, "routes", [])):
        match, _ = context.original_route.matches(scope)
        if match is Match.FULL and context.path:
            return context.path
    return "unmatched"


def _replay(body: bytes, downstream: Receive) -> Callable[[], Awaitable[Message]]:
    """The body read once, then the connection's own messages (a real disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await downstream()

    return receive

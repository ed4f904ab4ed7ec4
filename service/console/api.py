"""The console's one way to filings: the service's own HTTP API, called in-process.

A page calls the very routes an integrator calls (through the gatekeeper, the role and
scope checks of `service.access`, the audit log, the Idempotency-Key store), with the
caller's own token. So the console has no authorisation, no audit and no Temporal code
of its own, and what a page shows or does is what the API answers for that person.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

#: An Idempotency-Key the API accepts (visible ASCII, 1 to 255 characters).
_KEY = re.compile(r"[\x21-\x7e]{1,255}")



@dataclass
class Answer:
    """An API answer: its status and JSON body (a problem's fields when it failed)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None

    @property
    def why(self) -> str | None:
        return self.problem("why")

    @property
    def detail(self) -> str:
        return str(self.problem("detail") or self.problem("title") or f"HTTP {self.status}")

    @property
    def errors(self) -> list[dict[str, str]]:
        found = self.problem("errors")
        return found if isinstance(found, list) else []


class Api:
    """The API as the signed-in person (their `Authorization` header, as the session gave it)."""

    def __init__(self, request: Request) -> None:
        self._authorization = request.headers.get("authorization", "")
        self._transport = httpx.ASGITransport(app=request.app, raise_app_exceptions=False)
        # The page's own host (the service answers only known hosts); nothing is sent over the
        # network: the transport calls the app directly.
        self._base = f"http://{request.headers.get('host', 'localhost')}"

    def _client(self) -> httpx.AsyncClient:
        # The gatekeeper bounds every Temporal call; this bound is only a backstop.
        return httpx.AsyncClient(transport=self._transport, base_url=self._base, timeout=60.0,
                                 headers={"Authorization": self._authorization})

    async def get(self, path: str, params: dict[str, Any] | list[tuple[str, str]] | None = None) -> Answer:
        async with self._client() as client:
            response = await client.get(path, params=params)
        return _answer(response)

    async def post(self, path: str, body: Any, key: str) -> Answer:
        if not _KEY.fullmatch(key):  # a form's key that no browser of ours sent: a fresh one, never a 500
            key = str(uuid.uuid4())
        async with self._client() as client:
            response = await client.post(path, json=body, headers={"Idempotency-Key": key})
        return _answer(response)

    async def upload(self, content: bytes, filename: str) -> Answer:
        """`POST /v1/materials` (multipart `file`) under a fresh key: one upload, one effect."""
        async with self._client() as client:
            response = await client.post("/v1/materials", files={"file": (filename or "material", content)},
                                         headers={"Idempotency-Key": str(uuid.uuid4())})
        return _answer(response)

    async def fetch(self, path: str, params: dict[str, Any]) -> httpx.Response:
        """The raw answer (a material's bytes)."""
        async with self._client() as client:
            return await client.get(path, params=params)


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body, dict(response.headers))

"""`Idempotency-Key` (SPEC §12): the same key and body answer the same result, never a
second effect — across retries, replicas and restarts, because the answer is kept in the
registry's database (`idempotency_keys`), not in memory.

A request first *claims* its key (a row without an answer), then does its effect, then
stores the answer. A second request with the key finds the stored answer and replays it;
one arriving while the first is still at work answers 409; one with another body (or
route) is a client error (422) naming the header. Only final answers are kept (2xx, the
filing's refusals 409, violations 422): a refusal of the caller, a rate limit or an
outage releases the claim, so a retry can still do the work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from filing.messages import Violation
from registry.database import WRITES, unavailable
from registry.tables import idempotency_keys as keys
from service.metrics import ServiceMetrics
from service.principal import Principal
from service.problems import IDEMPOTENCY_HEADER, PROBLEM_JSON, Problem, violation

#: Answers kept for replay: the effect's success and the filing's own refusals.
STORED_STATUSES = frozenset({200, 201, 409, 422})
REPLAYED_HEADER = "Idempotent-Replayed"

#: What an effect answers: its status and JSON body.
Answer = tuple[int, BaseModel | list[Any] | dict[str, Any]]


@dataclass(frozen=True)
class Stored:
    status: int
    body: str


class IdempotencyStore:
    """The `idempotency_keys` table; blocking SQL runs off the event loop."""

    def __init__(self, engine: Engine, url: str, claim_timeout: timedelta, metrics: ServiceMetrics) -> None:
        self._engine = engine
        self._url = url
        self._claim_timeout = claim_timeout
        self.metrics = metrics

    async def claim(self, principal: str, key: str, route: str, digest: str) -> Stored | None:
        """None when this request owns the key now; the stored answer when it was answered;
        `Problem` 409 (in flight) or 422 (another request under this key) otherwise."""
        return await self._run(self._claim, principal, key, route, digest)

    async def complete(self, principal: str, key: str, status: int, body: str) -> None:
        await self._run(self._complete, principal, key, status, body)

    async def release(self, principal: str, key: str) -> None:
        await self._run(self._release, principal, key)

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except DBAPIError as err:
            raise Problem(503, str(unavailable(self._url, err)), kind="registry-unavailable") from None

    def _claim(self, principal: str, key: str, route: str, digest: str) -> Stored | None:
        now = datetime.now(UTC)
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            try:
                with connection.begin_nested():
                    connection.execute(insert(keys).values(
                        principal=principal, key=key, route=route, request_hash=digest, created_at=now))
                return None
            except IntegrityError:
                pass
            row = connection.execute(
                select(keys).where(keys.c.principal == principal, keys.c.key == key)).one()
            if row.route != route or row.request_hash != digest:
                raise Problem(
                    422, f"this {IDEMPOTENCY_HEADER} was used for another request (another route or body); "
                    "use a new key for a new request", kind="idempotency-key-reused",
                    errors=[_key_violation("schema.idempotency_key_reused",
                                           "该幂等键已用于另一个请求（路径或请求体不同），新请求请使用新的幂等键",
                                           "the key was used for another request; use a new key for a new request")])
            if row.status_code is not None:
                return Stored(row.status_code, row.response_body or "null")
            if row.created_at > now - self._claim_timeout:
                raise Problem(409, f"a request with this {IDEMPOTENCY_HEADER} is still being processed; "
                              "retry in a moment for its answer", kind="idempotency-key-in-flight",
                              headers={"Retry-After": "1"})
            # The first request's replica died before answering: this one takes the key over.
            taken = connection.execute(
                update(keys)
                .where(and_(keys.c.principal == principal, keys.c.key == key, keys.c.status_code.is_(None),
                            keys.c.created_at == row.created_at))
                .values(created_at=now))
            if taken.rowcount != 1:
                raise Problem(409, f"a request with this {IDEMPOTENCY_HEADER} is still being processed",
                              kind="idempotency-key-in-flight", headers={"Retry-After": "1"})
            return None

    def _complete(self, principal: str, key: str, status: int, body: str) -> None:
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            connection.execute(
                update(keys).where(keys.c.principal == principal, keys.c.key == key)
                .values(status_code=status, response_body=body))

    def _release(self, principal: str, key: str) -> None:
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            connection.execute(
                delete(keys).where(keys.c.principal == principal, keys.c.key == key, keys.c.status_code.is_(None)))


def _key_violation(key: str, zh: str, en: str) -> Violation:
    return violation(f"header.{IDEMPOTENCY_HEADER}", key, zh, en)


def request_hash(route: str, body: bytes) -> str:
    """The route (`POST /v1/...`) and body a key was first used with (the body as sent, byte for byte)."""
    return hashlib.sha256(f"{route}\n".encode() + body).hexdigest()


def _encode(payload: BaseModel | list[Any] | dict[str, Any]) -> str:
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else jsonable_encoder(payload)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _response(status: int, body: str, replayed: bool) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    media_type = PROBLEM_JSON if status >= 400 else "application/json"
    return Response(content=body.encode(), status_code=status, media_type=media_type, headers=headers)


async def once(
    store: IdempotencyStore, request: Request, principal: Principal, key: str,
    effect: Callable[[], Awaitable[Answer]], *, content: bytes | None = None,
) -> Response:
    """Run `effect` at most once per (caller, key); replay its answer to every repeat.

    `content` is what identifies the request when its raw body cannot (an upload: the
    multipart boundary differs on every retry); by default the body as sent."""
    route = f"{request.method} {request.url.path}"
    sent = content if content is not None else await request.body()
    stored = await store.claim(principal.key, key, route, request_hash(route, sent))
    if stored is not None:
        store.metrics.replays.labels(getattr(request.scope.get("route"), "path", "unmatched")).inc()
        return _response(stored.status, stored.body, replayed=True)
    try:
        status, payload = await effect()
        answer = _encode(payload)
    except Problem as problem:
        if problem.status not in STORED_STATUSES:
            await store.release(principal.key, key)
            raise
        status, answer = problem.status, _encode(problem.body(request.url.path))
    except BaseException:
        await asyncio.shield(store.release(principal.key, key))
        raise
    await store.complete(principal.key, key, status, answer)
    return _response(status, answer, replayed=False)


def json_answer(status: int, payload: BaseModel | list[Any] | dict[str, Any]) -> Response:
    """The same encoding as a stored answer, for routes that need no key (reads)."""
    return _response(status, _encode(payload), replayed=False)

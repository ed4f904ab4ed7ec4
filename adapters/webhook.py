"""One signed JSON POST to an outside system, and what its answer means (docs/outside-systems.md).

The SMS gateway, the notifier and the review desk can each be a webhook instead of a
JSON-lines file: then no replica needs a shared volume, and each outside system keeps its
own idempotency. This module is the part the three share:

- the body is JSON; `X-Filings-Timestamp` (Unix seconds) and `X-Filings-Signature`
  (`v1=<hex HMAC-SHA256 over "<timestamp>." + body>`) let the receiver check that the
  request is ours and fresh;
- `Idempotency-Key` is the SHA-256 (hex) of the effect's idempotency key: stable across every
  retry of one effect, unique per effect, and free of personal data (an SMS key names the
  verifier's mobile, which belongs in the body, never in a header proxies log);
- one call is one attempt, no retries here: the activity's retry policy retries, with backoff,
  until the workflow's `outside_service_timeout` escalates.

How an answer is classified: 2xx done; 409 done before (a repeated key); 408, 429, 5xx, a
timeout or a connection error, and 401/403 (a secret or credentials out of step: a configuration
fault, not a verdict) `WebhookUnavailable` (retried; `Retry-After` is honoured up to a
minute); any other 4xx `PermanentFailure` (not retried: the workflow returns or escalates the
filing). A redirect is not followed and counts as a 4xx (the URL is wrong).

Logs name the host, the event, the status and a digest of the key: never the body, the
response's body or the effect's key itself (mobiles, names, SMS codes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import SecretStr

from filing.ports import PermanentFailure, RetryLater

log = structlog.get_logger("webhook")

TIMESTAMP_HEADER = "X-Filings-Timestamp"
SIGNATURE_HEADER = "X-Filings-Signature"
EVENT_HEADER = "X-Filings-Event"
USER_AGENT = "icp-filings-webhook/1"
#: The longest `Retry-After` honoured: the activity's own backoff never waits longer either.
MAX_RETRY_AFTER = timedelta(minutes=1)
#: An error code a receiver may answer (`{"error": "invalid_mobile"}`): shown to operators
#: only when it is a short token, so a receiver echoing a mobile or a name shows nothing.
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
#: 401 and 403 too: a signature or credentials the receiver refuses are a configuration fault
#: (a secret rolled out on one side only), not a verdict on the filing; retried until the
#: workflow's `outside_service_timeout` escalates, so operators fix it before any filing is returned.
_RETRYABLE_4XX = {401, 403, 408, 429}


class WebhookUnavailable(RetryLater):
    """The receiver did not take the request this time (5xx, 401, 403, 408, 429, timeout, no connection)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Filings-Signature` value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
           tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """What a receiver checks: the signature (constant time) and that the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance.total_seconds() and hmac.compare_digest(sign(secret, timestamp, body), signature)


def key_header(idempotency_key: str) -> str:
    """The `Idempotency-Key` sent for an effect: its key's SHA-256, so no header carries a mobile."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """A request the receiver took: its status, whether it had taken it before, its JSON body."""

    status: int
    duplicate: bool
    body: dict[str, Any]


class WebhookClient:
    """POSTs signed JSON to one URL. One `httpx.AsyncClient` per event loop (connections reused)."""

    def __init__(self, *, name: str, url: str, secret: SecretStr, timeout: timedelta, connect_timeout: timedelta) -> None:
        self.name = name
        self.url = url
        self.host = urlsplit(url).netloc.rpartition("@")[2]  # never a user:password in a log
        self._secret = secret
        self._total = timeout.total_seconds()
        self._timeout = httpx.Timeout(self._total, connect=min(connect_timeout, timeout).total_seconds())
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, event: str, payload: dict[str, Any], idempotency_key: str) -> Answer:
        """One attempt; raises `WebhookUnavailable` (retry) or `PermanentFailure` (do not)."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        key = key_header(idempotency_key)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": key,
            EVENT_HEADER: event,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret.get_secret_value(), timestamp, body),
        }
        where = f"{self.name} at {self.host}"
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._total):  # httpx bounds each phase; this, the whole attempt
                response = await self._http().post(self.url, content=body, headers=headers)
        except (httpx.TimeoutException, TimeoutError):
            self._log(log.warning, event, key, status=None, outcome="timeout", started=started)
            raise WebhookUnavailable(f"{where}: no answer within {self._total:g}s (event {event}, key {key[:12]})") from None
        except httpx.RequestError as err:  # refused, reset, TLS, a body that does not decode
            self._log(log.warning, event, key, status=None, outcome="unreachable", started=started)
            raise WebhookUnavailable(f"{where}: unreachable ({type(err).__name__}) (event {event}, key {key[:12]})") from None
        status = response.status_code
        if 200 <= status < 300 or status == 409:
            self._log(log.info, event, key, status=status, outcome="duplicate" if status == 409 else "ok", started=started)
            return Answer(status=status, duplicate=status == 409, body=_json_object(response))
        said = _error_code(response)
        message = f"{where}: HTTP {status}{f' {said}' if said else ''} (event {event}, key {key[:12]})"
        if status >= 500 or status in _RETRYABLE_4XX:
            if status in (401, 403):  # the operators' to fix: an error on every attempt
                self._log(log.error, event, key, status=status, outcome="auth_refused", started=started)
            else:
                self._log(log.warning, event, key, status=status, outcome="retry", started=started)
            raise WebhookUnavailable(message, retry_after=_retry_after(response))
        self._log(log.error, event, key, status=status, outcome="refused", started=started)
        raise PermanentFailure(message)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # a client is bound to the loop it ran on
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, trust_env=False)
            self._loop = loop
        return self._client

    def _log(self, level: Any, event: str, key: str, *, status: int | None, outcome: str, started: float) -> None:
        level("webhook", adapter=self.name, host=self.host, webhook_event=event, status=status, outcome=outcome,
              key=key[:12], elapsed_ms=round((time.monotonic() - started) * 1000))


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or `{}` (a receiver may answer 204, or text)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(response: httpx.Response) -> str | None:
    code = _json_object(response).get("error")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def _retry_after(response: httpx.Response) -> timedelta | None:
    """`Retry-After` in seconds or as an HTTP date, capped at `MAX_RETRY_AFTER`; None when absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(timedelta(seconds=max(seconds, 0)), MAX_RETRY_AFTER)

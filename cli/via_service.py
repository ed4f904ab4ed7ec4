"""The filing service's door (SPEC §12), the default: HTTP with a bearer token; the tool
holds no payload key.

Every call that changes something carries an Idempotency-Key (`cli.idempotency`), so a
command run again after a timeout gets the first call's answer. The service's problems
(RFC 9457) become one-line errors: 401/403/404 name what to do, 409 is the filing's
refusal with why, 422 lists every field, 503 says nothing was done, and 504 or a lost
answer is "sent, not confirmed" (exit 4) with the advice to run the same command again.
While the service is still answering the same key (409 in flight), or the filing's
workflow task is being retried, the call is retried within `--wait`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx
from pydantic import BaseModel

from cli.door import A, Desk, Door, Filters, MaterialRefused, Refused, Rows
from cli.errors import CliError, task_retrying, unconfirmed
from cli.idempotency import body_bytes, retry_key
from cli.tokens import Token, claims, login_hint
from engine.visibility import FilingRow
from filing.messages import (
    DecisionResult,
    FilingStatus,
    PlatformDecision,
    ProvinceDecision,
    SmsCodeEntry,
    Stage,
    Violation,
)
from filing.ports import StoredMaterial
from filing.registry import PublicEntry
from service.schemas import (
    ApplicationRead,
    CalendarRefreshed,
    FilingPage,
    FilingStarted,
    MobileVerifyResult,
    NextNumber,
    PlatformDecisionBody,
    ProvinceDecisionBody,
)

if TYPE_CHECKING:
    from engine.batch import LaunchResult

#: The §7 updates and their routes under /v1/filings/{appid}/.
ROUTES = {
    "verify_sms_code": "sms/verify",
    "request_sms_resend": "sms/resend",
    "resubmit": "resubmit",
    "withdraw": "withdraw",
}
REPLAYED = "Idempotent-Replayed"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
PAGE = 200


class Problem:
    """An error answer, read as RFC 9457 (or whatever the body was)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        try:
            body = response.json()
        except ValueError:
            body = None
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.kind = str(self.body.get("type", "")).rsplit("/", 1)[-1]
        self.detail = str(self.body.get("detail") or response.reason_phrase or f"HTTP {self.status}")
        self.why = self.body.get("why")

    @property
    def violations(self) -> list[Violation]:
        found = []
        for e in self.body.get("errors") or []:
            try:
                found.append(Violation.model_validate(e))
            except ValueError:
                continue
        return found


def _uses_tls(url: str) -> bool:
    """Whether the client needs the CA bundle: every request goes to `url` (paths only, no
    redirects followed), so plain http with no proxy in the environment never makes a TLS
    connection, and loading the bundle would cost ~50 ms of every `filings` start (issue 21).
    https, or any proxy (itself perhaps https), verifies certificates as httpx does."""
    return urlsplit(url).scheme != "http" or bool(getproxies())


class ServiceDoor(Door):
    direct = False

    def __init__(self, api_url: str, token: Callable[[], Token], *, wait: float, note: Callable[[str], None],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = api_url.rstrip("/")
        self._token = token
        self._chosen: Token | None = None
        self.wait = wait
        self.note = note
        self._http = httpx.AsyncClient(base_url=self.url, transport=transport, verify=_uses_tls(self.url),
                                       timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT))

    async def close(self) -> None:
        await self._http.aclose()

    # --- requests -------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        if self._chosen is None:
            self._chosen = self._token()
        return {"Authorization": f"Bearer {self._chosen.value}"}

    def _unreachable(self, err: httpx.HTTPError) -> CliError:
        return CliError(f"cannot reach the filing service at {self.url} ({type(err).__name__}): is it running "
                        "(`make run`), is FILINGS_API_URL right? nothing was sent")

    async def _get(self, path: str, params: Any = None, *, public: bool = False) -> httpx.Response:
        try:
            return await self._http.get(path, params=params, headers={} if public else self._auth())
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            raise self._unreachable(err) from None
        except httpx.TimeoutException:
            raise CliError(f"the filing service at {self.url} did not answer within {READ_TIMEOUT:g} s") from None

    async def _post(self, path: str, key: str, *, body: bytes | None = None,
                    files: dict[str, Any] | None = None) -> httpx.Response:
        """POST once per key; retried while the key is still being answered (409 in flight)
        or the filing's workflow task is being retried, within `--wait`."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.wait
        retries, told = 0, False
        while True:
            headers = self._auth() | {"Idempotency-Key": retry_key(key, retries)}
            if body is not None:
                headers["Content-Type"] = "application/json"
            left = max(give_up - loop.time(), 1.0)
            try:
                response = await self._http.post(path, content=body, files=files, headers=headers,
                                                 timeout=httpx.Timeout(left, connect=CONNECT_TIMEOUT))
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                raise self._unreachable(err) from None
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as err:
                what = f"sent to {self.url}{path}, no answer within {left:g} s ({type(err).__name__})"
                raise self._lost(what) from None
            if response.status_code != 409:
                break
            problem = Problem(response)
            busy = problem.kind == "idempotency-key-in-flight"
            passing = task_retrying(problem.why or problem.detail)
            if not (busy or passing):
                break
            if loop.time() + 0.5 >= give_up:
                if busy:
                    raise self._lost("the first call with this Idempotency-Key is still being answered")
                raise CliError(f"refused for now: {problem.why or problem.detail}; the filing's workflow task "
                               "is being retried (a worker restarting?): nothing was done, try again later")
            if passing:
                if not told:
                    self.note("the filing's workflow task is being retried (a worker restarting?): "
                              f"retrying for up to {self.wait:g} s")
                    told = True
                retries += 1
            await asyncio.sleep(min(float(response.headers.get("Retry-After", 1) or 1), 2.0) if busy else 0.5)
        if response.headers.get(REPLAYED) == "true":
            self.note("note: the service had answered this call already (same Idempotency-Key): "
                      "this is that answer; nothing was done again")
        return response

    def _lost(self, what: str) -> CliError:
        return unconfirmed(what, "run the same command again: it sends the same Idempotency-Key, so it answers "
                                 "the first call's result and never acts twice")

    def fail(self, response: httpx.Response) -> CliError:
        """Any answer a caller cannot do more with, as one line and an exit status."""
        p = Problem(response)
        if p.status == 401:
            source = self._chosen.source if self._chosen else "the request"
            hint = login_hint([])
            return CliError(f"the filing service refused the token from {source}: {p.detail}; get one with {hint}")
        if p.status == 403:
            return CliError(f"not allowed: {p.detail}")
        if p.status == 409:
            return CliError(p.detail if p.kind == "filing-finished" else f"refused: {p.why or p.detail}")
        if p.status == 422 and p.violations:
            listed = "; ".join(f"{v.field}: {v.message_en}" for v in p.violations)
            return CliError(f"{p.detail.split(';')[0]}: {listed}")
        if p.status == 429:
            return CliError(f"{p.detail} (retry after {p.headers.get('Retry-After', '?')} s); nothing was done")
        if p.status == 504:
            return self._lost(p.detail)
        if p.status == 404 and (outside := self._outside_token(response)):
            return CliError(outside)
        if p.status in (404, 413, 503):
            return CliError(p.detail)
        return CliError(f"the filing service answered {p.status}: {p.detail}")

    def _outside_token(self, response: httpx.Response) -> str | None:
        """A 404 for a filing the token does not reach (the service answers it exactly as a
        missing one, SPEC §12): the tool knows its own token, so it says which it is."""
        found = re.match(r"/v1/filings/(wx[0-9A-Za-z]+)", response.request.url.path)
        if found is None or self._chosen is None:
            return None
        appid, said = found.group(1), claims(self._chosen.value)
        if said.get("role") == "applicant":
            appids = said.get("appids") or []
            if appid not in appids:
                return (f"filing-{appid} is outside your token (from {self._chosen.source}), which names "
                        f"{', '.join(appids) or 'no AppID'}: get one that names it with "
                        f"`filings login --role applicant --appid {appid}`; nothing was done")
        if said.get("role") == "province_reviewer" and said.get("province"):
            return (f"no filing-{appid} in your province ({said['province']}, the token from {self._chosen.source}): "
                    "a filing of another province answers as missing; nothing was done")
        return None

    # --- the door ---------------------------------------------------------------------

    async def status(self, appid: str) -> FilingStatus:
        found = await self.find(appid, quiet=False)
        assert found is not None
        return found

    async def find(self, appid: str, quiet: bool = True) -> FilingStatus | None:
        response = await self._get(f"/v1/filings/{appid}")
        if response.status_code == 200:
            return FilingStatus.model_validate(response.json())
        if quiet and response.status_code in (403, 404):
            return None
        raise self.fail(response)

    async def update(self, appid: str, name: str, payload: BaseModel, answer: type[A], key: str) -> A:
        response = await self._post(f"/v1/filings/{appid}/{ROUTES[name]}", key, body=body_bytes(payload))
        if response.status_code == 200:
            return answer.model_validate(response.json())
        problem = Problem(response)
        if problem.status == 409 and problem.kind == "refused":
            raise Refused(str(problem.why or problem.detail))
        raise self.fail(response)

    async def verify_by_mobile(self, entry: SmsCodeEntry, key: str) -> MobileVerifyResult:
        response = await self._post("/v1/sms/verify", key, body=body_bytes(entry))
        if response.status_code == 200:
            return MobileVerifyResult.model_validate(response.json())
        problem = Problem(response)
        if problem.status == 409 and problem.kind == "several-open-verifications":
            raise CliError("several filings wait for a code sent to this mobile, so the mobile alone cannot say "
                           "whose code this is: give the filing, `filings sms verify wx… --mobile … --code … "
                           "--id-last6 …` (nothing was counted on any filing)")
        raise self.fail(response)

    async def decide(self, appid: str, desk: Desk, decision: PlatformDecision | ProvinceDecision, key: str,
                     before: FilingStatus) -> DecisionResult:
        fields = decision.model_dump(mode="json", exclude={"reviewer"})
        model = PlatformDecisionBody if desk == "platform" else ProvinceDecisionBody
        body = model.model_validate(fields)
        response = await self._post(f"/v1/filings/{appid}/{desk}-decision", key, body=body_bytes(body))
        if response.status_code == 200:
            return DecisionResult.model_validate(response.json())
        p = Problem(response)
        if p.status == 409 and p.kind in ("not-applied", "refused"):
            stage = p.body.get("stage")
            return DecisionResult(applied=False, stage=Stage(stage) if stage in set(Stage) else before.stage,
                                  attempt=before.attempt, why=str(p.why or p.detail))
        raise self.fail(response)

    async def rows(self, filters: Filters, limit: int) -> Rows:
        params: list[tuple[str, str]] = [("stage", s.value) for s in filters.stages]
        params += [("province", p) for p in filters.provinces] + [("kind", k.value) for k in filters.kinds]
        params += [(name, "true") for name in ("overdue", "provisional", "running") if getattr(filters, name)]
        found: list[FilingRow] = []
        cursor, total = None, 0
        while len(found) < limit:
            page_params = params + [("size", str(min(PAGE, limit - len(found))))]
            response = await self._get("/v1/filings", page_params + ([("cursor", cursor)] if cursor else []))
            if response.status_code != 200:
                raise self.fail(response)
            page = FilingPage.model_validate(response.json())
            total = page.total
            found += [FilingRow(**item.model_dump(exclude={"overdue"})) for item in page.items]
            cursor = page.next
            if cursor is None:
                break
        return Rows(found[:limit], total)

    async def start(self, checked: LaunchResult, key: str, submission_id: str | None) -> LaunchResult:
        if submission_id is not None:
            raise CliError("--submission-id is for --direct: through the service the submission is the content "
                           "itself (the same file again answers `already running`)", 2)
        request = checked.application or checked.cancellation
        assert request is not None
        path = "/v1/filings" if checked.application is not None else "/v1/cancellations"
        response = await self._post(path, key, body=body_bytes(request))
        p = None if response.status_code in (200, 201) else Problem(response)
        if p is None:
            started = FilingStarted.model_validate(response.json())
            return replace(checked, outcome=started.status, filing_id=started.filing_id)
        if p.status == 422 and p.violations:
            return replace(checked, outcome="rejected", violations=p.violations)
        if p.status == 409 and p.kind == "filing-in-flight":
            return replace(checked, outcome="refused", filing_id=p.body.get("filing_id"), error=p.detail)
        if p.status in (403, 409, 413, 422, 503):
            return replace(checked, outcome="refused", error=self.fail(response).message)
        raise self.fail(response)  # 401 stops a batch: every other file would be refused the same way

    async def upload(self, content: bytes, key: str) -> StoredMaterial:
        response = await self._post("/v1/materials", key, files={"file": ("material", content)})
        if response.status_code in (200, 201):
            return StoredMaterial.model_validate(response.json())
        p = Problem(response)
        if p.status == 422 and p.violations:
            v = p.violations[0]
            raise MaterialRefused(v.key, v.message_en, v.message_zh)
        raise self.fail(response)

    async def lookup(self, *, number: str | None = None, appid: str | None = None, subject: str | None = None,
                     certificate: str | None = None, include_cancelled: bool = False) -> list[PublicEntry]:
        query = {k: v for k, v in (("number", number), ("appid", appid), ("subject", subject),
                                   ("certificate", certificate)) if v}
        if include_cancelled:
            query["include_cancelled"] = "true"
        response = await self._get("/v1/registry", query, public=True)
        if response.status_code != 200:
            raise self.fail(response)
        return [PublicEntry.model_validate(e) for e in response.json()]

    async def next_number(self, appid: str) -> NextNumber:
        response = await self._get(f"/v1/filings/{appid}/next-number")
        if response.status_code != 200:
            raise self.fail(response)
        return NextNumber.model_validate(response.json())

    async def application(self, appid: str) -> ApplicationRead:
        response = await self._get(f"/v1/filings/{appid}/application")
        if response.status_code != 200:
            raise self.fail(response)
        return ApplicationRead.model_validate(response.json())

    async def refresh_calendar(self, key: str) -> CalendarRefreshed:
        response = await self._post("/v1/calendar/refresh", key)
        if response.status_code != 200:
            raise self.fail(response)
        return CalendarRefreshed.model_validate(response.json())

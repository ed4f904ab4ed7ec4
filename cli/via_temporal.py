"""Direct mode (`--direct`, FILINGS_MODE=direct): the operator's own Temporal client with
the payload keys, for operators and for when the service is not there. Decisions are the
workflow's `decide_platform` / `decide_province` updates (answered, like the service's),
every update carries a stable update id (`cli.remote.update`), starts go through the same
checks as the starter (`engine.batch`), and the registry and the material store are the
configured ones. The application in clear is the service's alone (every read audited).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from cli.door import A, Desk, Door, Filters, MaterialRefused, Refused, Rows
from cli.errors import CliError
from cli.remote import ANSWER_TIMEOUT, fetch_status, update
from engine import deadline_pages
from engine.visibility import build_query, fetch_rows
from engine.batch import LaunchResult, import_owner, launch_checked, material_store, registry
from engine.checks import CheckUnavailable
from engine.launch import (
    filing_id_for,
)
from filing.calendar import BusinessCalendar, CalendarDataError
from filing.messages import (
    ApplicationView,
    CalendarUpdated,
    DecisionResult,
    FilingStatus,
    PlatformDecision,
    ProvinceDecision,
    SmsCodeEntry,
)
from filing.ports import MaterialRejected, Registry, StoredMaterial
from filing.registry import PublicEntry
from service.schemas import ApplicationRead, CalendarRefreshed, MobileVerifyResult, NextNumber

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine.settings import Settings

class TemporalDoor(Door):
    """Direct mode's door: the filings through Temporal. Given what it needs (the settings,
    how to get the client, the wait and where notes go) rather than the CLI's `Options`,
    which builds it: imports run downward (tests/unit/test_imports.py)."""

    direct = True

    def __init__(self, settings: Settings, client: Callable[[], Awaitable[Client]], *, wait: float,
                 note: Callable[[str], None]) -> None:
        self.settings = settings
        self._client = client
        self._wait = wait
        self._note = note

    async def status(self, appid: str) -> FilingStatus:
        return await fetch_status(await self._client(), filing_id_for(appid))

    async def find(self, appid: str) -> FilingStatus | None:
        try:
            return await self.status(appid)
        except CliError as err:
            if err.message.startswith("no filing"):
                return None
            raise

    async def _update(self, appid: str, name: str, payload: dict[str, Any], key: str) -> dict[str, Any]:
        return await update(await self._client(), filing_id_for(appid), name, payload, update_id=key,
                            wait=self._wait, note=self._note)

    async def update(self, appid: str, name: str, payload: BaseModel, answer: type[A], key: str) -> A:
        return answer.model_validate(await self._update(appid, name, payload.model_dump(mode="json"), key))

    async def decide(self, appid: str, desk: Desk, decision: PlatformDecision | ProvinceDecision, key: str,
                     before: FilingStatus) -> DecisionResult:
        payload = decision.model_dump(mode="json", exclude_none=True)
        try:
            return DecisionResult.model_validate(await self._update(appid, f"decide_{desk}", payload, key))
        except Refused as refused:
            return DecisionResult(applied=False, stage=before.stage, attempt=before.attempt, why=refused.why)

    async def rows(self, filters: Filters, limit: int) -> Rows:
        query = build_query(self.settings.task_queue, stages=filters.stages, provinces=filters.provinces,
                            kinds=filters.kinds, overdue=filters.overdue, provisional=filters.provisional,
                            running=filters.running)
        client = await self._client()
        rows = await deadline_pages.walk(client, query, size=min(limit, 200), limit=limit)
        total = (await client.count_workflows(query)).count
        return Rows(rows, total, query)

    async def start(self, checked: LaunchResult, key: str, submission_id: str | None) -> LaunchResult:
        """The starter's checks and start (`engine.batch.launch_file` after its read); R9 makes it
        idempotent per submission, so no key is needed here."""
        return await launch_checked(await self._client(), self.settings, checked, submission_id)

    async def upload(self, content: bytes, key: str) -> StoredMaterial:
        try:
            store = material_store(self.settings)
        except LookupError as err:  # the payload keys the store seals with are not configured
            raise CliError(f"material store: {err}") from None
        try:
            return await store.put(content, import_owner("cli"))  # an operator's import names its source
        except MaterialRejected as err:
            raise MaterialRefused(err.key, err.message_en, err.message_zh) from None
        except RuntimeError as err:  # the store itself is down
            raise CliError(str(err)) from None

    def _registry(self) -> Registry:
        try:
            return registry(self.settings)
        except (LookupError, RuntimeError, ValueError) as err:
            raise CliError(f"registry: {err}") from None

    async def _on_registry(self, call: Any) -> Any:
        found = self._registry()
        try:
            return await call(found)
        except (CheckUnavailable, RuntimeError, OSError) as err:
            raise CliError(f"registry: {err}") from None
        finally:
            close = getattr(found, "close", None)
            if close is not None:
                close()

    async def lookup(self, *, number: str | None = None, appid: str | None = None, subject: str | None = None,
                     certificate: str | None = None, include_cancelled: bool = False) -> list[PublicEntry]:
        try:
            found: list[PublicEntry] = await self._on_registry(
                lambda r: r.lookup(number=number, appid=appid, subject=subject, certificate=certificate,
                                   include_cancelled=include_cancelled))
        except ValueError as err:
            raise CliError(str(err)) from None
        return found

    async def next_number(self, appid: str) -> NextNumber:
        handle = (await self._client()).get_workflow_handle(filing_id_for(appid))
        try:
            view = await handle.query("application", result_type=ApplicationView, rpc_timeout=ANSWER_TIMEOUT)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise CliError(f"no filing {filing_id_for(appid)}") from None
            raise
        subject_number = view.application.subject.subject_number if view.application is not None else None

        async def propose(r: Registry) -> NextNumber:
            number = subject_number
            if number is None:
                record = await r.mini_program(appid)
                number = record.subject_number if record is not None else None
            return NextNumber(subject_number=number, number=await r.next_number(number) if number else None)

        found: NextNumber = await self._on_registry(propose)
        return found

    async def verify_by_mobile(self, entry: SmsCodeEntry, key: str) -> MobileVerifyResult:
        raise CliError("without the filing, a code is matched to its filing by the filing service's record of "
                       "open verifications (POST /v1/sms/verify): run it without --direct, or give the filing "
                       "(`filings sms verify wx… --direct ...`); nothing was sent")

    async def application(self, appid: str) -> ApplicationRead:
        raise CliError("the application in clear is served by the filing service only, where every read is "
                       "audited (SPEC §9): run it without --direct")

    async def refresh_calendar(self, key: str) -> CalendarRefreshed:
        """Load the registry's overrides as the workers do (invalid ones are an error: nothing
        is signalled), then `calendar_updated` to exactly the running filings whose deadline
        is provisional."""
        from registry.calendar_overrides import CalendarOverrideStore

        store = CalendarOverrideStore(self.settings.registry_database_url)
        try:
            calendar = BusinessCalendar(store)
        except (CalendarDataError, RuntimeError) as err:  # RegistryUnavailable, SchemaNotCurrent
            raise CliError(f"calendar data: {err}; no filing was signalled") from None
        finally:
            store.close()
        client = await self._client()
        query = build_query(self.settings.task_queue, provisional=True)
        signalled, finished = [], []
        for row in await fetch_rows(client, query):
            # The run listed, else the filing's latest run (it may have continued as new, L10).
            for run_id in (row.run_id, None):
                try:
                    await client.get_workflow_handle(row.filing_id, run_id=run_id).signal(
                        "calendar_updated", CalendarUpdated())
                    signalled.append(row.filing_id)
                    break
                except RPCError as err:
                    if err.status is not RPCStatusCode.NOT_FOUND:
                        raise
            else:
                finished.append(row.filing_id)  # it finished since the list was read
        return CalendarRefreshed(calendar_version=calendar.version, signalled=len(signalled), filings=signalled,
                                 finished_meanwhile=finished)

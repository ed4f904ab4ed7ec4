"""Launching filings from files: the one implementation behind `starter.py` and
`filings start`.

A file holds an application (NEW, CHANGE) or a cancellation request (SPEC §2:
`{kind, appid, filing_number, reason}`). Each is read, checked (`engine.checks`: the
rules, the material store for R10, the registry for R8; every violation, nothing started
on any) and started with R9 idempotency. The result says what happened as data, so each front end
presents it its own way (plain lines for the starter, Rich tables for `filings`) without
a second copy of the logic.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import ValidationError

from engine.checks import CheckUnavailable, start_violations
from engine.settings import Settings
from filing.examples import example_application, example_materials
from filing.messages import Violation
from filing.models import Application, CancellationRequest
from filing.ports import MaterialOwner, MaterialStore, Registry, StoredMaterial
from filing.province_materials import ProvinceMaterials
from filing.rules import parse_application
from filing.schema_errors import violations_from_validation_error

if TYPE_CHECKING:  # the SDK and the composition root are imported where a filing is started or an
    # adapter built: reading and checking a file serves the `filings` commands that talk to the
    # filing service, which then start without the SDK (issue 21)
    from temporalio.client import Client

Outcome = Literal["started", "already_running", "rejected", "refused", "unreadable"]


@dataclass(frozen=True)
class LaunchResult:
    """What became of one file. `document` is the file's JSON as read (when it parses),
    kept so a front end can point at a violating value; it holds personal data."""

    path: Path
    outcome: Outcome
    filing_id: str | None = None
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    document: Any = None
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("started", "already_running")


def web_ui_link(settings: Settings, filing_id: str) -> str:
    return f"{settings.web_ui}/namespaces/{quote(settings.temporal_namespace)}/workflows/{quote(filing_id)}"


def example_document(now: datetime | None = None, appid: str | None = None) -> tuple[Application, str]:
    """A valid example application and its JSON text, as `--example` writes it. Another
    `appid` files another mini-program of the same company (its next number, `-2X`)."""
    application = (example_application(now or datetime.now(UTC)) if appid is None
                   else example_application(now or datetime.now(UTC), appid=appid))
    text = json.dumps(application.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2) + "\n"
    return application, text


def material_store(settings: Settings) -> MaterialStore:
    """The configured material store (`FILINGS_ADAPTERS__MATERIAL_STORE`)."""
    from engine.wiring import resolve_adapter

    store: MaterialStore = resolve_adapter("material_store", settings.adapters.material_store)(settings)
    return store


def registry(settings: Settings) -> Registry:
    """The configured registry (`FILINGS_ADAPTERS__REGISTRY`, `FILINGS_REGISTRY_URL`)."""
    from engine.wiring import resolve_adapter

    found: Registry = resolve_adapter("registry", settings.adapters.registry)(settings)
    return found


def is_cancellation(document: Any) -> bool:
    """A cancellation request is the short form: no subject, a kind of CANCEL_*."""
    return isinstance(document, dict) and "subject" not in document and str(document.get("kind", "")).startswith("CANCEL_")


def import_owner(tool: str, appids: list[str] | None = None) -> MaterialOwner:
    """An operator's import names its source: the tool and the system user who ran it
    (`starter:alice`, `cli:alice`), and the mini-programs it was stored for, if known."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container's uid without a passwd entry
        user = f"uid-{os.getuid()}"
    return MaterialOwner.imported(f"{tool}:{user}", appids)


async def store_example_materials(store: MaterialStore, application: Application) -> list[StoredMaterial]:
    """Put the example materials `application` names into `store`, so it starts as it is (SPEC §10);
    recorded as the starter's import for the example's appid."""
    named = {sha256 for _, sha256 in application.materials()}
    owner = import_owner("starter", [application.appid])
    return [await store.put(content, owner) for sha256, content in example_materials().items() if sha256 in named]


def read_application(path: Path, now: datetime | None = None) -> LaunchResult:
    """Read and check one file (the rules that need nothing outside); `outcome` is
    "rejected"/"unreadable" on failure, else provisionally "started" (nothing is started here)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return LaunchResult(path, "unreadable", error=f"cannot read: {getattr(err, 'strerror', None) or err}")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if is_cancellation(document):
        try:
            request = CancellationRequest.model_validate(document)
        except ValidationError as err:
            return LaunchResult(path, "rejected", document=document, violations=violations_from_validation_error(err))
        return LaunchResult(path, "started", cancellation=request, document=document)
    # The province's supplementary materials are judged by the outside check, on the lists
    # in force (the registry's import may differ from the shipped list): not here.
    application, violations = parse_application(text, now or datetime.now(UTC), province_lists=ProvinceMaterials())
    if application is None or violations:
        return LaunchResult(path, "rejected", application=application, document=document, violations=violations)
    return LaunchResult(path, "started", application=application, document=document)


async def check_outside(
    checked: LaunchResult, settings: Settings, store: MaterialStore | None, found: Registry | None
) -> LaunchResult:
    """R10 against the material store and R8 against the registry: a material never uploaded,
    or a number the registry does not hold, refuses the file as a rule does."""
    from registry.province_materials import ProvinceMaterialsStore

    request = checked.application or checked.cancellation
    assert request is not None
    lists = ProvinceMaterialsStore(settings.registry_database_url)  # R10's lists in force
    try:
        violations = await start_violations(
            request, datetime.now(UTC), store=store or material_store(settings), registry=found or registry(settings),
            province_lists=lists.lists,
        )
    except (CheckUnavailable, LookupError, OSError) as err:  # a part down, its key not configured, disk error
        return dataclasses.replace(checked, outcome="refused", error=str(err))
    finally:
        lists.close()
    if violations:
        return dataclasses.replace(checked, outcome="rejected", violations=violations)
    return checked


async def launch_file(
    client: Client,
    settings: Settings,
    path: Path,
    submission_id: str | None = None,
    *,
    store: MaterialStore | None = None,
    registry: Registry | None = None,
) -> LaunchResult:
    """Check one file and start its filing (R9: the same submission again is not an error).

    `store` and `registry` are what R10 and R8 are checked against (default: the configured
    ones; a batch passes one of each for all its files)."""
    checked = read_application(path)
    if not checked.ok:
        return checked
    return await launch_checked(client, settings, checked, submission_id, store=store, registry=registry)


async def launch_checked(
    client: Client,
    settings: Settings,
    checked: LaunchResult,
    submission_id: str | None = None,
    *,
    store: MaterialStore | None = None,
    registry: Registry | None = None,
) -> LaunchResult:
    """A file already read: the outside checks (R10, R8), then the start (R9 idempotent)."""
    from engine.launch import FilingInFlight, start_cancellation, start_filing

    checked = await check_outside(checked, settings, store, registry)
    if not checked.ok:
        return checked
    try:
        if checked.cancellation is not None:
            started = await start_cancellation(
                client, checked.cancellation, task_queue=settings.task_queue, submission_id=submission_id,
                policy=settings.policy, codec_endpoint=settings.codec_url,
            )
        else:
            assert checked.application is not None
            started = await start_filing(
                client, checked.application, task_queue=settings.task_queue, submission_id=submission_id,
                policy=settings.policy, codec_endpoint=settings.codec_url,
            )
    except FilingInFlight as err:
        return dataclasses.replace(checked, outcome="refused", filing_id=err.filing_id, error=str(err))
    return dataclasses.replace(checked, outcome=started.status, filing_id=started.filing_id)

"""Which implementation serves each port (SPEC §8), and the worker's registrations.

`ADAPTERS` maps each port to the implementations it can be served by; the settings
(`FILINGS_ADAPTERS__<PORT>`) choose one by name, or name a factory `package.module:attr`
directly, so a production adapter plugs in by configuration without touching workflows.
A factory takes the `Settings` and answers the port's implementation.

This is the composition root: the one module that reads the `Settings` to build the
registry and the adapters, which take their settings as plain arguments and import
nothing of the configuration (imports run downward: tests/unit/test_imports.py). The
names in `ADAPTERS` are the ones `engine.settings.ADAPTER_NAMES` accepts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activities.deadlines import CalendarActivities
from activities.notify import NotifyActivities
from activities.registry import RegistryActivities
from activities.review import ReviewActivities
from activities.sms import SmsActivities
from activities.submission import SubmissionActivities
from adapters.desk_http import HttpReviewDesk
from adapters.face import RecordFaceVerifier
from adapters.materials_local import FileMaterialStore
from adapters.materials_s3 import S3MaterialStore
from adapters.notifier import FileNotifier
from adapters.notify_http import HttpNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_http import HttpSmsGateway
from adapters.sms_outbox import OutboxSmsGateway
from adapters.webhook import WebhookClient
from engine.settings import Settings
from filing.calendar import BusinessCalendar
from filing.ports import FaceVerifier, MaterialStore, Notifier, Registry, ReviewDesk, SmsGateway
from filing.province_materials import ProvinceMaterials
from workflows.filing import FilingWorkflow

if TYPE_CHECKING:
    from registry.open_verifications import SqlOpenVerifications
    from registry.sql_registry import SqlRegistry

WORKFLOWS = [FilingWorkflow]

Factory = Callable[[Settings], Any]

ADAPTERS: dict[str, dict[str, Factory]] = {
    "sms_gateway": {"local": lambda s: OutboxSmsGateway(s.data_dir),
                    "http": lambda s: HttpSmsGateway(webhook_client(s, "sms_gateway"))},
    "notifier": {"local": lambda s: FileNotifier(s.data_dir),
                 "http": lambda s: HttpNotifier(webhook_client(s, "notifier"))},
    "review_desk": {"local": lambda s: FileReviewDesk(s.data_dir),
                    "http": lambda s: HttpReviewDesk(webhook_client(s, "review_desk"))},
    "face_verifier": {"local": lambda s: RecordFaceVerifier()},
    "calendar": {"local": lambda s: calendar_from_settings(s)},
    "registry": {"local": lambda s: registry_from_settings(s)},
    "material_store": {
        "local": lambda s: FileMaterialStore(s.data_dir, s.payload_keyring()),
        "s3": lambda s: S3MaterialStore(s.s3, s.payload_keyring()),
    },
}


def webhook_client(settings: Settings, port: str) -> WebhookClient:
    """The signed webhook client of a port chosen as `http` (the settings checked that its URL
    and secret are there: docs/outside-systems.md)."""
    hooks = settings.webhook
    url, secret = hooks.url_for(port), hooks.secret_for(port)
    if url is None or secret is None:  # Settings refuse this at load; a hand-made copy may not
        raise ValueError(f"FILINGS_ADAPTERS__{port.upper()}=http needs FILINGS_WEBHOOK__{port.upper()}_URL "
                         "and FILINGS_WEBHOOK__SECRET")
    return WebhookClient(name=port, url=url, secret=secret, timeout=hooks.timeout, connect_timeout=hooks.connect_timeout)


def registry_from_settings(settings: Settings) -> SqlRegistry:
    """The `local` registry adapter: `FILINGS_REGISTRY_URL` (default SQLite in the data dir),
    people on record sealed with the payload keyring. SQLAlchemy and Alembic load only when
    a registry is built (a service or CLI call that never needs one does not pay for them)."""
    from engine.sealing import Sealer
    from registry.sql_registry import SqlRegistry

    return SqlRegistry(settings.registry_database_url, Sealer(settings.payload_keyring()))


def open_verifications_from_settings(settings: Settings) -> SqlOpenVerifications:
    """Where a sent code opens the mobile's verification: the registry's database, the mobile
    keyed by an HMAC under a key derived from the payload keyring (the service finds it there)."""
    from registry.open_verifications import SqlOpenVerifications

    keyring = settings.payload_keyring()
    return SqlOpenVerifications(settings.registry_database_url, keyring.all_keys(), keyring.current)


def calendar_from_settings(settings: Settings) -> BusinessCalendar:
    """The `local` calendar: the official data plus the overrides imported into the registry
    database (`filings calendar import`), read by every worker alike. Override files left in
    FILINGS_CALENDAR_DIR by earlier versions are not read (one source, never two): a worker
    names them once at start, with the command that imports them."""
    import structlog

    from registry.calendar_overrides import CalendarOverrideStore

    leftovers = sorted(p.name for p in settings.calendar_path.glob("*.json")) if settings.calendar_path.is_dir() else []
    if leftovers:
        structlog.get_logger("calendar").warning(
            "calendar_override_files_not_read", directory=str(settings.calendar_path), files=leftovers,
            fix=f"filings calendar import {settings.calendar_path}/*.json (once), then remove the files")
    return BusinessCalendar(CalendarOverrideStore(settings.registry_database_url), strict=False)


def province_lists_from_settings(settings: Settings) -> Callable[[], ProvinceMaterials]:
    """R10's province lists in force, as every worker reads them: the list imported into the
    registry database (`filings materials provinces import`), else the one shipped."""
    from registry.province_materials import ProvinceMaterialsStore

    return ProvinceMaterialsStore(settings.registry_database_url).lists


def _variable(port: str) -> str:
    return f"FILINGS_ADAPTERS__{port.upper()}"


def resolve_adapter(port: str, choice: str) -> Factory:
    """The factory for `choice`; a clear error naming the variable when there is none."""
    known = ADAPTERS[port]
    if choice in known:
        return known[choice]
    module_name, sep, attribute = choice.partition(":")
    if not sep:
        raise ValueError(f"{_variable(port)}: unknown adapter {choice!r}; known: {', '.join(sorted(known))}, "
                         "or a factory as package.module:attribute")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{_variable(port)}: cannot load adapter factory {choice!r}: {err}") from None
    if not callable(factory):
        raise ValueError(f"{_variable(port)}: {choice!r} is not callable")
    return factory  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Ports:
    sms_gateway: SmsGateway
    notifier: Notifier
    review_desk: ReviewDesk
    face_verifier: FaceVerifier
    calendar: BusinessCalendar
    registry: Registry
    material_store: MaterialStore


def build_ports(settings: Settings) -> Ports:
    chosen = settings.adapters
    return Ports(**{port: resolve_adapter(port, getattr(chosen, port))(settings) for port in ADAPTERS})


@dataclass(frozen=True)
class ActivitySets:
    """What a worker process serves: `main` on the filing's task queue (regular activities
    and the workflow's local activities), `sms` on `<task queue>-sms`, whose
    activities-per-second limit holds across every worker (the SMS gateway's rate)."""

    main: list[Callable[..., Any]]
    sms: list[Callable[..., Any]]


def activity_sets(settings: Settings, calendar: BusinessCalendar | None = None) -> ActivitySets:
    """The activities on the configured adapters (by default the local ones: files under
    the data dir, no network). `calendar` replaces the configured calendar (tests)."""
    ports = build_ports(settings)
    sms = SmsActivities(ports.sms_gateway, settings.sms_code_keys(), open_verifications_from_settings(settings))
    review = ReviewActivities(ports.review_desk)
    return ActivitySets(
        main=[
            SubmissionActivities(ports.face_verifier, ports.registry, ports.material_store,
                                 province_lists_from_settings(settings)).check_submission,
            CalendarActivities(calendar or ports.calendar).compute_deadline,
            sms.current_sms_key,
            sms.check_sms_code,
            # also here: filings of the earlier shape send codes as local activities
            sms.send_sms_code,
            NotifyActivities(ports.notifier).notify,
            review.enqueue_platform_review,
            review.hand_over_to_province,
            RegistryActivities(ports.registry).record_approval,
        ],
        sms=[sms.send_sms_code],
    )


def engine_activities(settings: Settings, calendar: BusinessCalendar | None = None) -> list[Callable[..., Any]]:
    """Every activity of the engine, as one list (tests replace some by name)."""
    return activity_sets(settings, calendar).main


def split_activities(activities: list[Callable[..., Any]]) -> ActivitySets:
    """A flat list (tests that replace an adapter) as the two sets a worker process serves."""
    return ActivitySets(main=activities, sms=[fn for fn in activities if fn.__name__ == "send_sms_code"])


def sms_task_queue(task_queue: str) -> str:
    """The workflow derives the same name (`FilingWorkflow._sms_task_queue`)."""
    return f"{task_queue}-sms"

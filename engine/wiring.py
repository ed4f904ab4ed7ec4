"""Which implementation serves each port (SPEC §8), and the worker's registrations.

`ADAPTERS` maps each port to the implementations it can be served by; the settings
(`FILINGS_ADAPTERS__<PORT>`) choose one by name, or name a factory `package.module:attr`
directly, so a production adapter plugs in by configuration without touching workflows.
A factory takes the `Settings` and answers the port's implementation.
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
from adapters.face import RecordFaceVerifier
from adapters.materials_local import FileMaterialStore
from adapters.materials_s3 import S3MaterialStore
from adapters.notifier import FileNotifier
from adapters.review_desk import FileReviewDesk
from adapters.sms_outbox import OutboxSmsGateway
from filing.calendar import BusinessCalendar
from filing.ports import FaceVerifier, MaterialStore, Notifier, Registry, ReviewDesk, SmsGateway
from workflows.filing import FilingWorkflow

if TYPE_CHECKING:  # the settings import this module to check a choice
    from engine.settings import Settings

WORKFLOWS = [FilingWorkflow]

Factory = Callable[["Settings"], Any]

ADAPTERS: dict[str, dict[str, Factory]] = {
    "sms_gateway": {"local": lambda s: OutboxSmsGateway(s.data_dir)},
    "notifier": {"local": lambda s: FileNotifier(s.data_dir)},
    "review_desk": {"local": lambda s: FileReviewDesk(s.data_dir)},
    "face_verifier": {"local": lambda s: RecordFaceVerifier()},
    "calendar": {"local": lambda s: BusinessCalendar(s.calendar_path, strict=False)},
    # imported when chosen: loading the settings need not load SQLAlchemy and Alembic
    "registry": {"local": lambda s: importlib.import_module("registry.sql_registry").registry_from_settings(s)},
    "material_store": {
        "local": lambda s: FileMaterialStore(s.data_dir, s.payload_keyring()),
        "s3": lambda s: S3MaterialStore(s.s3, s.payload_keyring()),
    },
}


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


def check_adapter(port: str, choice: str) -> None:
    resolve_adapter(port, choice)


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
    sms = SmsActivities(ports.sms_gateway, settings.sms_code_keys())
    review = ReviewActivities(ports.review_desk)
    return ActivitySets(
        main=[
            SubmissionActivities(ports.face_verifier, ports.registry, ports.material_store).check_submission,
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

"""The two ways `filings` reaches filings: through the filing service (HTTP, the default:
the tool holds no payload key, SPEC §1, §12) or directly on Temporal with the operator's
keys (`--direct`). Commands speak to a `Door` and never know which: both answer with the
§7 models, both refuse with `Refused`, both fail with a one-line `CliError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel

from engine.visibility import FilingRow
from filing.messages import (
    DecisionResult,
    FilingStatus,
    PlatformDecision,
    ProvinceDecision,
    SmsCodeEntry,
    Stage,
)
from filing.models import FilingKind

if TYPE_CHECKING:  # the answers' types: each door imports what it builds, a command only what it runs
    from engine.batch import LaunchResult
    from filing.ports import StoredMaterial
    from filing.registry import PublicEntry
    from service.schemas import ApplicationRead, CalendarRefreshed, MobileVerifyResult, NextNumber

A = TypeVar("A", bound=BaseModel)
Desk = Literal["platform", "province"]


class Refused(Exception):
    """The filing refused a message as it stands (wrong stage, no-op, ...): `why`, and the §7
    answer when the refusal carries one (`no_valid_code`, `resend_limit_reached`)."""

    def __init__(self, why: str, answer: dict[str, object] | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.answer = answer


class MaterialRefused(Exception):
    """R10: the store refuses this content (its rule key and messages)."""

    def __init__(self, key: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.key, self.message_en, self.message_zh = key, message_en, message_zh


@dataclass(frozen=True)
class Filters:
    """A list's filters (the §7 search attributes)."""

    stages: list[Stage] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    kinds: list[FilingKind] = field(default_factory=list)
    overdue: bool = False
    provisional: bool = False
    running: bool = False


@dataclass(frozen=True)
class Rows:
    rows: list[FilingRow]
    total: int
    query: str | None = None  # direct mode: the visibility query, to reuse with `temporal workflow list`


class Door(ABC):
    direct: bool

    @abstractmethod
    async def status(self, appid: str) -> FilingStatus:
        """The §7 status; `no filing filing-<appid>` (CliError) when there is none to see."""

    @abstractmethod
    async def find(self, appid: str) -> FilingStatus | None:
        """The status, or None when there is no filing of the appid (to see)."""

    @abstractmethod
    async def update(self, appid: str, name: str, payload: BaseModel, answer: type[A], key: str) -> A:
        """A §7 update, sent once per `key`; raises `Refused`."""

    @abstractmethod
    async def verify_by_mobile(self, entry: SmsCodeEntry, key: str) -> MobileVerifyResult:
        """工信部短信核验 without the filing: the one whose code was sent to the mobile and is
        still open (the service's `POST /v1/sms/verify`), sent once per `key`."""

    @abstractmethod
    async def decide(self, appid: str, desk: Desk, decision: PlatformDecision | ProvinceDecision, key: str,
                     before: FilingStatus) -> DecisionResult:
        """A reviewer's decision, answered: applied, or not applied with why (L9)."""

    @abstractmethod
    async def rows(self, filters: Filters, limit: int) -> Rows:
        """Filings matching `filters` (at most `limit`)."""

    @abstractmethod
    async def start(self, checked: LaunchResult, key: str, submission_id: str | None) -> LaunchResult:
        """Start a checked application or cancellation (R8, R10 and R9 are judged on the way)."""

    @abstractmethod
    async def upload(self, content: bytes, key: str) -> StoredMaterial:
        """Store one material (R10); raises `MaterialRefused`."""

    @abstractmethod
    async def lookup(self, *, number: str | None = None, appid: str | None = None, subject: str | None = None,
                     certificate: str | None = None, include_cancelled: bool = False) -> list[PublicEntry]:
        """备案查询 (§11): what MIIT publishes, no personal data; cancelled filings only when asked for."""

    @abstractmethod
    async def next_number(self, appid: str) -> NextNumber:
        """The next free service number under the filing's subject number, or none."""

    @abstractmethod
    async def application(self, appid: str) -> ApplicationRead:
        """The application in clear (the service only: every such read is audited)."""

    @abstractmethod
    async def refresh_calendar(self, key: str) -> CalendarRefreshed:
        """Load the imported calendar overrides, then tell the filings with a provisional deadline."""

    async def close(self) -> None:
        return None

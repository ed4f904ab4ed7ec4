"""Everything a filing's page shows, read through the API as the signed-in person.

The status (masked) for everyone who may see the filing; the application in clear
(an audited read) only for the roles the API serves it to; for a provincial reviewer also
the proposed next number and the subject's filings in the registry. Which parts are asked
for depends on the role only so that no one triggers refusals for nothing: the API still
decides who may read what.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from filing.messages import FilingStatus, Stage
from filing.models import FilingKind
from filing.registry import PublicEntry
from service.console import fields, labels
from service.console.api import Answer, Api
from service.console.forecast import Figure, for_filing
from service.console.refusals import words as refusal_words
from service.principal import Principal, Role
from service.schemas import ApplicationRead, MaterialLink, NextNumber, ScreenFlag

#: Roles the API serves the application in clear to (SPEC §12); the others see the status.
READERS = frozenset({Role.PLATFORM_REVIEWER, Role.PROVINCE_REVIEWER, Role.APPLICANT})
#: The desk of each reviewing role: its decision forms show while the filing is there.
DESKS = {Role.PLATFORM_REVIEWER: Stage.PLATFORM_REVIEW, Role.PROVINCE_REVIEWER: Stage.PROVINCIAL_REVIEW}
#: Shown for the stage between a desk's applied approval and the engine's next stage.
MOVING_ON = "已通过，正在流转…"
#: Timeline events that open 平台初审 (an approval before them belongs to an earlier attempt).
_STAGE_OPENED = frozenset({"platform_review_started", "submitted", "resubmitted"})


@dataclass
class FilingView:
    appid: str
    status: FilingStatus
    read: ApplicationRead | None = None
    #: Why the application is not shown (an outage, or not this role's to read).
    read_problem: str | None = None
    groups: list[fields.Group] = field(default_factory=list)
    materials: dict[str, MaterialLink] = field(default_factory=dict)
    next_number: NextNumber | None = None
    registry: list[PublicEntry] | None = None
    registry_problem: str | None = None
    #: When the province will decide (the applicant's page): the figure, the expected days.
    forecast: Figure | None = None

    @property
    def leaves(self) -> list[fields.Leaf]:
        return [leaf for group in self.groups for leaf in group.leaves]

    def at_desk(self, principal: Principal) -> bool:
        """The filing waits for this reviewer's desk: its decision forms show. Not once the
        desk's approval is applied, while the engine moves the filing on (`moving_on`)."""
        return DESKS.get(principal.role) is self.status.stage and not self.moving_on

    @property
    def moving_on(self) -> bool:
        """平台初审 approved, the filing not yet in its next stage: the engine records the
        approval at once but enters 短信核验 only once every 12381 code is out (or 通管局审核
        once its deadline is computed). The timeline says so before the stage does."""
        if self.status.stage is not Stage.PLATFORM_REVIEW:
            return False
        for entry in reversed(self.status.timeline):
            if entry.event == "platform_approved":
                return True
            if entry.event in _STAGE_OPENED:
                return False
        return False

    @property
    def stage_words(self) -> str:
        """The stage as people read it: "已通过，正在流转…" while `moving_on`; a cancellation's
        ending as what it is (注销成功 / 已取消接入), never 备案成功."""
        if self.moving_on:
            return MOVING_ON
        return labels.stage(self.status.stage, self.status.kind)

    @property
    def returned_now(self) -> bool:
        """The return's reasons are the filing's current business (the red box): only while it
        is returned, or for a cancellation that ended refused."""
        return self.status.returned is not None and self.status.stage in (Stage.RETURNED, Stage.REJECTED)

    @property
    def earlier_return(self) -> tuple[int, bool] | None:
        """The last return, once the filing moved on from it: (its attempt, resubmitted?).
        A filing leaves RETURNED by a resubmission (the next attempt), a withdrawal or
        expiry (the same attempt)."""
        if self.status.returned is None or self.returned_now:
            return None
        resubmitted = self.status.stage not in (Stage.WITHDRAWN, Stage.EXPIRED)
        return (self.status.attempt - 1 if resubmitted else self.status.attempt), resubmitted

    @property
    def screen_flags(self) -> list[ScreenFlag]:
        """R6's keyword screen found a pre-approval category in an application that answered
        "以上都不涉及": the reviewer judges whether the declaration holds (issue 17). As the API
        serves them with the application (`ApplicationRead.screen_flags`): one source."""
        return self.read.screen_flags if self.read else []


async def load(api: Api, principal: Principal, appid: str) -> FilingView | Answer:
    """The filing as `principal` may see it, or the API's refusal (404, 503, ...)."""
    reads = [api.get(f"/v1/filings/{appid}")]
    if principal.role in READERS:
        reads.append(api.get(f"/v1/filings/{appid}/application"))
    status, *application = await asyncio.gather(*reads)
    if not status.ok:
        return status
    view = FilingView(appid, FilingStatus.model_validate(status.body))
    if application:
        if application[0].ok:
            view.read = ApplicationRead.model_validate(application[0].body)
            request = view.read.application or view.read.cancellation
            if request is not None:
                view.groups = fields.groups(request)
            view.materials = {link.field: link for link in view.read.materials}
        else:
            view.read_problem = refusal_words(application[0])
    if principal.role is Role.PROVINCE_REVIEWER and view.read is not None:
        await _registry(api, view)
    if principal.role is Role.APPLICANT:
        view.forecast = await for_filing(api, view.status)
    return view


async def _registry(api: Api, view: FilingView) -> None:
    """The proposed number (a NEW only: the other kinds keep the number they name) and the
    subject's filings on record (the public lookup)."""
    if view.status.kind is FilingKind.NEW:
        proposed = await api.get(f"/v1/filings/{view.appid}/next-number")
        if proposed.ok:
            view.next_number = NextNumber.model_validate(proposed.body)
        else:
            view.registry_problem = refusal_words(proposed)
    subject_number = view.next_number.subject_number if view.next_number else None
    application = view.read.application if view.read else None
    cancellation = view.read.cancellation if view.read else None
    if subject_number:
        query = {"number": subject_number}
    elif application is not None:
        query = {"subject": application.subject.name}
    elif cancellation is not None:
        query = {"number": cancellation.filing_number}
    else:
        return
    # The reviewer sees the subject's cancelled filings too (the public page hides them by default).
    found = await api.get("/v1/registry", params={**query, "include_cancelled": "true"})
    if found.ok:
        view.registry = [PublicEntry.model_validate(entry) for entry in found.body]
    else:
        view.registry_problem = refusal_words(found)

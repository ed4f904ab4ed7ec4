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
from service.console import fields
from service.console.api import Answer, Api
from service.principal import Principal, Role
from service.schemas import ApplicationRead, MaterialLink, NextNumber

#: Roles the API serves the application in clear to (SPEC §12); the others see the status.
READERS = frozenset({Role.PLATFORM_REVIEWER, Role.PROVINCE_REVIEWER, Role.APPLICANT})
#: The desk of each reviewing role: its decision forms show while the filing is there.
DESKS = {Role.PLATFORM_REVIEWER: Stage.PLATFORM_REVIEW, Role.PROVINCE_REVIEWER: Stage.PROVINCIAL_REVIEW}


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

    @property
    def leaves(self) -> list[fields.Leaf]:
        return [leaf for group in self.groups for leaf in group.leaves]

    def at_desk(self, principal: Principal) -> bool:
        return DESKS.get(principal.role) is self.status.stage


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
            view.read_problem = application[0].detail
    if principal.role is Role.PROVINCE_REVIEWER and view.read is not None:
        await _registry(api, view)
    return view


async def _registry(api: Api, view: FilingView) -> None:
    """The proposed number (a NEW only: the other kinds keep the number they name) and the
    subject's filings on record (the public lookup)."""
    if view.status.kind is FilingKind.NEW:
        proposed = await api.get(f"/v1/filings/{view.appid}/next-number")
        if proposed.ok:
            view.next_number = NextNumber.model_validate(proposed.body)
        else:
            view.registry_problem = proposed.detail
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
    found = await api.get("/v1/registry", params=query)
    if found.ok:
        view.registry = [PublicEntry.model_validate(entry) for entry in found.body]
    else:
        view.registry_problem = found.detail

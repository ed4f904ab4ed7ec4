"""When will the province decide, as the console shows it: on the applicant's page the
figure of the filing's province and kind (and, once the provincial review began, the days
the decision is expected by, on the business calendar), on the provincial desk its own
figures per kind. Read through the API (`GET /v1/forecasts/provincial-review`) like every
other part of a page; a figure that cannot be read leaves the page without it, never broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from filing.forecast import KIND_WORDS, PROVINCIAL_KINDS
from filing.messages import FilingStatus, Stage
from service.console.api import Api
from service.principal import Principal, Role

#: Stages in which the province has yet to decide: the figure is shown.
BEFORE_DECISION = frozenset({Stage.SUBMITTED, Stage.PLATFORM_REVIEW, Stage.SMS_VERIFICATION, Stage.PROVINCIAL_REVIEW})
#: The timeline event that starts a provincial review (the workflow's `_enter`).
STARTED = "provincial_review_started"
PATH = "/v1/forecasts/provincial-review"


@dataclass(frozen=True)
class Figure:
    """One line: the kind's words and the sentence (with the expected days when known)."""

    kind: str
    text: str
    enough: bool
    count: int
    started_on: date | None = None
    median_by: date | None = None
    p90_by: date | None = None


def _figure(entry: dict[str, object]) -> Figure:
    expected = entry.get("expected") or {}
    assert isinstance(expected, dict)

    def day(name: str) -> date | None:
        value = expected.get(name)
        return date.fromisoformat(value) if isinstance(value, str) else None

    return Figure(kind=KIND_WORDS.get(entry["kind"], str(entry["kind"])),  # type: ignore[call-overload]
                  text=str(entry["text"]), enough=bool(entry["enough"]), count=int(entry["count"]),  # type: ignore[call-overload]
                  started_on=day("started_on"), median_by=day("median_by"), p90_by=day("p90_by"))


async def for_filing(api: Api, status: FilingStatus) -> Figure | None:
    """The filing's own figure while the province has yet to decide; None otherwise or when
    the figures cannot be read."""
    if status.stage not in BEFORE_DECISION or status.kind not in PROVINCIAL_KINDS or not status.province:
        return None
    params = {"province": status.province, "kind": status.kind.value}
    if status.stage is Stage.PROVINCIAL_REVIEW:
        started = [entry.at for entry in status.timeline if entry.event == STARTED]
        if started:
            params["started_at"] = started[-1].isoformat()
    answer = await api.get(PATH, params=params)
    if not answer.ok or not isinstance(answer.body, dict) or not answer.body.get("forecasts"):
        return None
    return _figure(answer.body["forecasts"][0])


async def for_desk(api: Api, principal: Principal) -> list[Figure]:
    """A provincial desk's own figures, one per kind it reviews."""
    if principal.role is not Role.PROVINCE_REVIEWER or not principal.province:
        return []
    answer = await api.get(PATH, params={"province": principal.province})
    if not answer.ok or not isinstance(answer.body, dict):
        return []
    return [_figure(entry) for entry in answer.body.get("forecasts", [])]

"""Hand-overs to the review desks: the platform's queue (L2) and the province (L4)."""

from __future__ import annotations

from temporalio import activity

from activities.errors import permanent_failures_are_final
from filing.ports import HandOver, ReviewDesk


class ReviewActivities:
    def __init__(self, desk: ReviewDesk) -> None:
        self._desk = desk

    @activity.defn(name="enqueue_platform_review")
    async def enqueue_platform_review(self, handover: HandOver) -> str:
        with permanent_failures_are_final():
            return await self._desk.enqueue_platform_review(handover)

    @activity.defn(name="hand_over_to_province")
    async def hand_over_to_province(self, handover: HandOver) -> str:
        with permanent_failures_are_final():
            return await self._desk.hand_over_to_province(handover)

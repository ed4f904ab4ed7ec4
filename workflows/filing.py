"""`FilingWorkflow`: one filing from submission to an issued number (SPEC §4, L1–L10).

The workflow only decides and waits. Everything that touches the outside (the business
calendar, the registry, the SMS gateway, the review desks, the notifier) is an activity;
everything it decides on is its state (`filing.state.FilingState`), published through the
`status` query and the §7 search attributes, and carried whole into the next run when it
continues as new (L10).

Shape: `run` steps through stages; each step begins with the stage just entered and
ends by entering the next one, or returns early when the run should continue as new (the
next run re-enters the same step, which resumes where it was). Applicant updates and
reviewer messages only record what arrived (and answer); a withdraw or a resubmission
changes the stage, which every wait watches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.deadlines import CalendarActivities, DeadlineRequest
    from activities.registry import RegistryActivities
    from activities.review import ReviewActivities
    from activities.submission import SubmissionActivities, SubmissionCheckRequest
    from filing.calendar import Deadline
    from filing.filing_number import InvalidFilingNumber, parse_filing_number
    from filing.messages import (
        Decision,
        DecisionResult,
        FilingOutcome,
        PlatformDecision,
        ProvinceDecision,
        ReturnedBy,
        ReturnedView,
        Stage,
    )
    from filing.ports import Channel
    from filing.provinces import find_province
    from filing.registry import RegistryChange, RegistryOutcome
    from filing.state import FilingInput, FilingState, Route, VerifierState
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.support import (
        CONTINUE_AS_NEW,
        DEADLINE_RETRY_MAX,
        EFFECT_ATTEMPT_TIMEOUT,
        EFFECT_RETRY,
        EFFECTS_AS_ACTIVITIES,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        MIN_HISTORY_BYTES_BEFORE_CONTINUE,
        REGISTRY_L8,
        REGISTRY_TIMEOUT,
        RUNS_BOUNDED,
        cause,
        return_reason,
    )

from workflows.effects import _reraise_cancellation
from workflows.messages import FilingMessages

D = TypeVar("D", PlatformDecision, ProvinceDecision)

APPLICANT = [Channel.IN_APP, Channel.TEMPLATE, Channel.SMS]
#: How many of the timeline's last entries the result carries (L10: a summary).
OUTCOME_TIMELINE = 20
#: A run follows the server's suggestion to continue as new once it grew this much itself.
MIN_EVENTS_GROWN = 100


@workflow.defn(name="FilingWorkflow")
class FilingWorkflow(FilingMessages):
    """Versioning behaviour: auto-upgrade, declared by the worker's deployment when Worker
    Versioning is on (`worker.deployment`; a workflow may not declare one on an
    unversioned worker), with `workflow.patched` keeping running filings replaying."""

    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        self._policy = start.policy
        self._codec_endpoint = start.codec_endpoint
        self._s = start.carried or self._first_state(start)
        # Decided in the first activation: a filing started on the earlier shape replays
        # (and keeps running) on it; every new run takes the current one.
        self._shape = self._decide_shape()
        # Runs started before `RUNS_BOUNDED` keep measuring and draining as they recorded.
        self._bounded = self._shape and workflow.patched(RUNS_BOUNDED)
        info = workflow.info()
        #: Where this run's history began: its length is what it grew since (L10).
        self._began_at = (info.get_current_history_length(), info.get_current_history_size())
        self._ignored_logged = 0
        self._clock_floor = None
        self._sms_lock = asyncio.Lock()
        #: Notices on their way (regular activities, not awaited by the main flow).
        self._deliveries: set[asyncio.Task[None]] = set()
        self._resubmitted = False
        #: The answer to the province decision the main flow last took (for `decide_province`).
        self._province_answer: tuple[ProvinceDecision, DecisionResult] | None = None
        started_with = workflow.info().typed_search_attributes
        self._published: dict[str, Any] = {key.name: started_with.get(key) for key in sa.ALL}
        if start.carried is None:
            self._record("submitted", f"{self._s.kind.value}, attempt 1")
            metrics.filing_started(self._s.kind.value)

    def _decide_shape(self) -> bool:
        """The current shape, or the earlier one a filing started before it recorded."""
        return workflow.patched(EFFECTS_AS_ACTIVITIES)

    def _first_state(self, start: FilingInput) -> FilingState:
        info = workflow.info()
        return FilingState(
            filing_key=f"{info.workflow_id}/{info.first_execution_run_id}",
            submission_id=start.submission_id,
            kind=start.kind,
            route=Route.of(start.kind, short_request=start.cancellation is not None),
            province=_province_of(start),
            application=start.application,
            cancellation=start.cancellation,
            stage_since=workflow.now(),
        )

    @workflow.run
    async def run(self, start: FilingInput) -> FilingOutcome:
        steps = {
            Stage.SUBMITTED: self._check_submission,
            Stage.PLATFORM_REVIEW: self._platform_review,
            Stage.SMS_VERIFICATION: self._sms_verification,
            Stage.PROVINCIAL_REVIEW: self._provincial_review,
            Stage.RETURNED: self._await_resubmission,
        }
        if self._bounded:
            self._resume_notices()
        while not self._s.stage.is_terminal:
            if self._continue_now():
                await self._continue_as_new(start)
            elif self._resubmitted and not self._shape and workflow.patched(CONTINUE_AS_NEW):
                await self._drain()  # a filing of the earlier shape: its notices were awaited
                await self._continue_as_new(start)
            await steps[self._s.stage]()
        # The reasons of a refusal or of a withdrawal the SMS caused go to the applicant too.
        s = self._s
        why = s.stage is Stage.REJECTED or (s.stage is Stage.WITHDRAWN and s.kind.is_cancellation)
        ended_by = s.returned if why else None
        await self._notify(f"filing_{s.stage.value.lower()}", APPLICANT,
                           reasons=ended_by.reasons if ended_by is not None else None)
        await workflow.wait_condition(lambda: not self._deliveries and workflow.all_handlers_finished())
        return FilingOutcome(
            stage=self._s.stage,
            kind=self._s.kind,
            filing_number=self._s.filing_number,
            attempts=self._s.attempt,
            timeline=self._s.timeline[-OUTCOME_TIMELINE:],
            timeline_dropped=self._s.timeline_dropped + max(len(self._s.timeline) - OUTCOME_TIMELINE, 0),
            returned=self._s.returned,
        )

    def _history_long(self) -> bool:
        """The server suggests continuing, or the history passed the policy's bound.
        (Filings of the earlier shape continue as new only at a resubmission.)"""
        if not self._shape:
            return False
        info = workflow.info()
        if not self._bounded:  # as runs started before `RUNS_BOUNDED` measured
            return (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._policy.history_events_before_continue
                or info.get_current_history_size() >= self._policy.history_bytes_before_continue
            )
        # What the run grew since it began, never the carried state it began with: a run whose
        # input alone passed a bound would otherwise continue as new at once, for ever.
        events, size = self._began_at
        grown_events = info.get_current_history_length() - events
        grown_bytes = info.get_current_history_size() - size
        max_bytes = max(self._policy.history_bytes_before_continue, MIN_HISTORY_BYTES_BEFORE_CONTINUE)
        return (
            (info.is_continue_as_new_suggested() and grown_events >= MIN_EVENTS_GROWN)
            or grown_events >= self._policy.history_events_before_continue
            or grown_bytes >= max_bytes
        )

    def _continue_now(self) -> bool:
        """Continue as new at the next step boundary: after a resubmission, or when the
        history is long, once no notice is on its way, no handler runs and no decision
        waits (readable in wait conditions: steps wake on it and return)."""
        s = self._s
        return (
            self._shape
            and (self._resubmitted or self._history_long())
            and self._quiet()
            and s.platform_decision is None
            and s.province_decision is None
        )

    async def _continue_as_new(self, start: FilingInput) -> None:
        """Carry the state into a fresh history (L10)."""
        reason = "resubmission" if self._resubmitted else f"{workflow.info().get_current_history_length()} events"
        self._s.runs += 1
        self._record("continued_as_new", f"run {self._s.runs} ({reason})")
        workflow.continue_as_new(
            FilingInput(
                application=self._s.application,
                cancellation=self._s.cancellation,
                submission_id=self._s.submission_id,
                policy=self._policy,
                codec_endpoint=self._codec_endpoint,
                carried=self._s,
            )
        )

    def _quiet(self) -> bool:
        """No handler runs, and (runs started before `RUNS_BOUNDED`) no notice is on its way:
        since then undelivered notices travel in the carried state instead."""
        return (self._bounded or not self._deliveries) and workflow.all_handlers_finished()

    async def _drain(self) -> None:
        """Wait for notices on their way and for every handler to finish."""
        await workflow.wait_condition(self._quiet)

    async def _check_submission(self) -> None:
        """L1: the whole submission again (rules, registry, materials, face verification)."""
        stage = self._s.stage
        try:
            check = await self._effect(
                SubmissionActivities.check_submission,
                SubmissionCheckRequest(
                    application=self._s.application, cancellation=self._s.cancellation, submitted_at=self._now()
                ),
                summary="L1 submission check",
            )
        except FailureError as err:
            _reraise_cancellation(err)
            if self._s.stage is stage:
                await self._escalate("check_unavailable", f"L1 submission check: {cause(err)}")
                self._refuse(ReturnedBy.SUBMISSION, [return_reason("-", "check_unavailable")], "check_unavailable")
            return
        self._s.preapproval_categories = list(check.preapproval_categories)
        self._s.preapproval_index = dict(check.preapproval_index)
        self._s.service_types = list(check.service_types)
        self._s.preapproval_keywords = {word: list(found) for word, found in check.preapproval_keywords.items()}
        if check.province_materials is not None:
            self._s.province_materials = check.province_materials
        if self._s.stage is not stage:
            return
        if check.violations:
            self._refuse(ReturnedBy.SUBMISSION, [v.as_reason() for v in check.violations], "submission_rejected")
            return
        if check.verifiers:
            self._s.verifiers = [VerifierState(mobile=v.mobile, id_last6=v.id_last6) for v in check.verifiers]
        if self._s.route.platform_review:
            deadline = await self._compute_deadline(self._policy.platform_sla_business_days)
            if self._s.stage is stage:
                self._enter(Stage.PLATFORM_REVIEW, "platform_review_started", deadline=deadline)
        else:
            await self._open_sms_window()

    async def _platform_review(self) -> None:
        """L2: the reviewers' queue; SLA 2 business days; wait for a platform decision."""
        if not await self._hand_over(ReviewActivities.enqueue_platform_review, ReturnedBy.PLATFORM):
            return
        decision = await self._await_decision(lambda: self._s.platform_decision)
        if decision is None:
            return
        if decision.decision is Decision.REJECT:
            self._refuse(ReturnedBy.PLATFORM, decision.reasons, "platform_rejected", f"by {decision.reviewer}")
            return
        self._record("platform_approved", f"by {decision.reviewer}")
        # One local activity after another, never concurrently: the SDK replays concurrent
        # local activities' results in another order, which would move `workflow.now()`.
        await (self._open_sms_window() if self._s.route.sms else self._enter_provincial_review())
        await self._notify("platform_approved", [Channel.IN_APP, Channel.TEMPLATE])

    async def _open_sms_window(self) -> None:
        """L3 begins: a code to every verifier, then the stage opens with its window.

        The window opens once every first code is out, so each verifier has all of it."""
        stage = self._s.stage
        self._s.sms_exhausted = self._s.sms_undeliverable = False
        if self._s.application is not None:
            self._s.verifiers = [
                VerifierState(mobile=p.mobile, id_last6=p.identity_document.number[-6:])
                for p in self._s.application.verifiers()
            ]
        for verifier in self._s.verifiers:
            verifier.resends_left = self._policy.sms_resends
            verifier.send_pending = True
        sent = await self._send_pending_codes()
        if self._s.stage is not stage:
            return
        if not sent:
            await self._escalate("sms_undeliverable", "the SMS gateway refused a verification code")
            self._refuse(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_undeliverable")], "sms_undeliverable")
            return
        self._s.sms_expires_at = self._now() + self._policy.sms_window
        self._enter(Stage.SMS_VERIFICATION, "sms_verification_started", due_at=self._s.sms_expires_at)

    async def _sms_verification(self) -> None:
        """L3: wait for every verifier, at most until the window closes; one resend each."""
        assert self._s.sms_expires_at is not None
        s = self._s
        while True:
            try:
                await workflow.wait_condition(
                    lambda: s.stage is not Stage.SMS_VERIFICATION
                    or s.sms_exhausted
                    or s.sms_undeliverable
                    or all(v.verified for v in s.verifiers)
                    or any(v.send_pending for v in s.verifiers)
                    or self._continue_now(),
                    timeout=max(s.sms_expires_at - self._now(), timedelta(0)),
                    timeout_summary="sms window",
                )
            except TimeoutError:  # 自动驳回 (for a cancellation: the applicant let it go)
                self._reach(s.sms_expires_at)
                self._sms_failed("sms_ignored" if s.kind.is_cancellation else "sms_timeout")
                return
            if s.stage is not Stage.SMS_VERIFICATION:
                return
            # A resend the gateway refused for good leaves its send pending: without the
            # `sms_undeliverable` check (runs before `RUNS_BOUNDED`) it was sent again at once,
            # for ever; now the filing is returned and operators alerted, as for a first code.
            resend_refused = self._bounded and s.sms_undeliverable
            if any(v.send_pending for v in s.verifiers) and not s.sms_exhausted and not resend_refused:
                if not await self._send_pending_codes():
                    s.sms_undeliverable = True
                continue
            if s.sms_exhausted:
                self._sms_failed("sms_attempts_exhausted")
            elif s.sms_undeliverable:
                await self._escalate("sms_undeliverable", "the SMS gateway refused a resent code")
                self._refuse(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_undeliverable")], "sms_undeliverable")
            elif all(v.verified for v in s.verifiers):
                await self._enter_provincial_review()
            return  # else: continue as new, the next run waits on

    def _sms_failed(self, code: str) -> None:
        """The window closed or the attempts ran out: an application is returned; a
        cancellation ends as withdrawn (ignoring the SMS is how it is stopped, SPEC §2)."""
        reasons = [return_reason("sms", code)]
        if self._s.route.returns:
            self._return(ReturnedBy.MIIT_SMS, reasons, code)
        else:
            self._s.returned = ReturnedView(by=ReturnedBy.MIIT_SMS, reasons=reasons)
            self._enter(Stage.WITHDRAWN, code, reasons[0].error)

    async def _enter_provincial_review(self) -> None:
        deadline = await self._compute_deadline(self._policy.provincial_sla_for(self._s.province))
        self._enter(Stage.PROVINCIAL_REVIEW, "provincial_review_started", deadline=deadline)

    async def _provincial_review(self) -> None:
        """L4: hand over to the province; SLA 20 business days; wait for its decision; L8."""
        if not await self._hand_over(ReviewActivities.hand_over_to_province, ReturnedBy.PROVINCE):
            return
        while True:
            decision = await self._await_decision(lambda: self._s.province_decision)
            if decision is None:
                return
            if decision.decision is Decision.REJECT:
                self._answer_province(decision, applied=True)
                self._refuse(ReturnedBy.PROVINCE, decision.reasons, "province_rejected", f"by {decision.reviewer}")
                return
            outcome = await self._record_in_registry(decision)
            if outcome is not None and not outcome.applied:  # L8 refused the number: L9
                self._s.province_decision = None
                self._ignore("province_decision", f"approve by {decision.reviewer}", f"not applied: {outcome.why}")
                self._answer_province(decision, applied=False, why=outcome.why)
                continue
            number = (outcome.service_number if outcome else None) or decision.filing_number or self._named_number()
            self._s.filing_number = number
            self._answer_province(decision, applied=True)
            self._enter(Stage.APPROVED, "approved", f"{number} by {decision.reviewer}")
            return

    async def _record_in_registry(self, decision: ProvinceDecision) -> RegistryOutcome | None:
        """L8: the registry records the approval, once per filing. None for a filing of the
        earlier shape replaying an approval made before the registry existed."""
        if not (self._shape or workflow.patched(REGISTRY_L8)):
            return None
        change = RegistryChange(
            filing_key=self._s.filing_key,
            filing_id=self._filing_id(),
            kind=self._s.kind,
            appid=self._s.appid,
            number=decision.filing_number or self._named_number() or "",
            approved_at=self._now(),
            application=self._s.application if not self._s.kind.is_cancellation else None,
            # The provincial review's start, for the forecast: the activity's input only (no
            # new command), so recorded histories replay unchanged.
            review_started_at=self._s.stage_since if self._s.stage is Stage.PROVINCIAL_REVIEW else None,
        )
        try:
            return await workflow.execute_activity_method(
                RegistryActivities.record_approval,
                change,
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=REGISTRY_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary="L8 registry",
            )
        except FailureError as err:
            _reraise_cancellation(err)
            await self._escalate("registry_unavailable", f"L8: {cause(err)}")
            return RegistryOutcome(
                applied=False, why_key="registry_unavailable",
                why=f"the registry could not record the approval ({cause(err)}); send the decision again",
            )

    async def _await_resubmission(self) -> None:
        """L6: the applicant has `resubmission_window` to correct and resubmit."""
        # Read before notifying: a resubmission may arrive while the notice goes out,
        # and it starts the next attempt (clearing this stage's deadline).
        returned = self._s.returned
        expires_at = self._s.due_at or self._now() + self._policy.resubmission_window
        if not self._s.returned_notified:
            self._s.returned_notified = True
            await self._notify(
                "filing_returned",
                APPLICANT,
                detail=returned.by.value if returned else None,
                reasons=returned.reasons if returned else [],
            )
        try:
            await workflow.wait_condition(
                lambda: self._s.stage is not Stage.RETURNED or self._continue_now(),
                timeout=max(expires_at - self._now(), timedelta(0)),
                timeout_summary="resubmission window",
            )
        except TimeoutError:
            self._reach(expires_at)
            self._enter(Stage.EXPIRED, "expired", f"no resubmission within {self._policy.resubmission_window}")

    async def _await_decision(self, pending: Callable[[], D | None]) -> D | None:
        """Wait for a reviewer's decision while watching the SLA (L5) and calendar updates.

        Answers None when the stage changed meanwhile (a withdraw) or the run should
        continue as new."""
        s, stage = self._s, self._s.stage
        while True:
            if (decision := pending()) is not None or s.stage is not stage or self._continue_now():
                return decision
            if s.calendar_changed:
                await self._recompute_deadline()
                continue
            timeout = None
            if not s.sla_breached and s.deadline is not None:
                timeout = s.deadline.due_at - self._now()
                if timeout <= timedelta(0):
                    await self._breach_sla()
                    continue
            try:
                await workflow.wait_condition(
                    lambda: pending() is not None
                    or s.stage is not stage
                    or s.calendar_changed
                    or self._continue_now(),
                    timeout=timeout,
                    timeout_summary=f"{stage.value} SLA" if timeout else None,
                )
            except TimeoutError:
                if s.deadline is not None:
                    self._reach(s.deadline.due_at)
                await self._breach_sla()

    async def _breach_sla(self) -> None:
        """L5: an SLA is a promise to watch, not a decision: flag, escalate once, keep waiting."""
        s = self._s
        s.sla_breached = True
        self._record("sla_breached", f"{s.stage.value} past {s.deadline.due_at.isoformat() if s.deadline else '?'}")
        metrics.sla_breached(s.stage.value, s.province)
        self._publish()
        await self._escalate("sla_breached", f"{s.stage.value} SLA passed without a decision")
        # Versioned (README, "Changing the workflow"): filings that breached before this change replay without it.
        if workflow.patched("notify-applicant-on-sla-breach"):
            await self._notify("review_overdue", [Channel.IN_APP], detail=s.stage.value)

    async def _compute_deadline(self, business_days: int, start: datetime | None = None) -> Deadline:
        """§5, in a local activity. A calendar file the operators broke is refused by the
        calendar (the deadline says why) and escalated once; a worker fault is retried on
        durable timers and escalated, so a filing never stops on it."""
        backoff, escalated = timedelta(minutes=1), False
        while True:
            try:
                deadline: Deadline = await workflow.execute_local_activity_method(
                    CalendarActivities.compute_deadline,
                    DeadlineRequest(start=start or self._now(), business_days=business_days),
                    start_to_close_timeout=LOCAL_TIMEOUT,
                    retry_policy=LOCAL_RETRY,
                )
                break
            except FailureError as err:
                _reraise_cancellation(err)
                if not escalated:
                    escalated = True
                    await self._escalate("deadline_unavailable", f"computing a deadline: {cause(err)}")
                await workflow.sleep(backoff, summary="deadline retry")
                backoff = min(backoff * 2, DEADLINE_RETRY_MAX)
        if deadline.calendar_problem and deadline.calendar_problem != self._s.calendar_problem:
            self._s.calendar_problem = deadline.calendar_problem
            self._record("calendar_refused", deadline.calendar_problem[:300])
            await self._escalate("calendar_data_invalid", deadline.calendar_problem)
        return deadline

    async def _recompute_deadline(self) -> None:
        """§5: a provisional deadline is recomputed once the operators load the new year's
        data. While the calendar refuses a file, the deadline in force stays."""
        s = self._s
        s.calendar_changed = False
        old, stage = s.deadline, s.stage
        if old is None or not old.provisional:
            return
        new = await self._compute_deadline(old.business_days, start=old.start)
        if s.stage is not stage or s.deadline is not old or new.calendar_problem:
            return
        new = new.model_copy(update={"calendar_problem": None})
        if new == old:
            return
        s.deadline, s.due_at = new, new.due_at
        if new.due_at > self._now():
            s.sla_breached = False
        self._record(
            "deadline_recomputed",
            f"{stage.value} due {new.due_at.isoformat()}{' (provisional)' if new.provisional else ''}, "
            f"calendar {new.calendar_version}",
        )
        self._publish()


def _province_of(start: FilingInput) -> str:
    """The filing-number prefix of the province the filing is reviewed in: the subject's
    address for an application, the named number's prefix for a cancellation."""
    if start.application is not None:
        given = start.application.subject.address.province
        province = find_province(given)
        return province.prefix if province else given
    assert start.cancellation is not None
    try:
        return parse_filing_number(start.cancellation.filing_number).province.prefix
    except InvalidFilingNumber:
        return start.cancellation.filing_number[:1]

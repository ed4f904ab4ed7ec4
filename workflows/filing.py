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
from temporalio.common import RawValue
from temporalio.exceptions import CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.deadlines import CalendarActivities, DeadlineRequest
    from activities.notify import NotifyActivities
    from activities.registry import RegistryActivities
    from activities.review import ReviewActivities
    from activities.sms import UNKNOWN_SMS_KEY, CodeCheck, SendCodeRequest, SmsActivities
    from activities.submission import SubmissionActivities, SubmissionCheckRequest
    from filing.calendar import Deadline
    from filing.filing_number import InvalidFilingNumber, parse_filing_number
    from filing.masking import mask_mobile
    from filing.messages import (
        WITHDRAWABLE,
        ApplicationView,
        CalendarUpdated,
        Decision,
        DecisionResult,
        DeadlineView,
        FilingOutcome,
        FilingStatus,
        PlatformDecision,
        ProvinceDecision,
        Reason,
        ResubmitResult,
        Resubmission,
        ReturnedBy,
        ReturnedView,
        SmsCodeEntry,
        SmsResendRequest,
        SmsResendResult,
        SmsVerifyResult,
        SmsView,
        Stage,
        TimelineEntry,
        VerifierView,
        WithdrawRequest,
        WithdrawResult,
    )
    from filing.ports import Channel, HandOver, Notice, Recipient
    from filing.provinces import find_province
    from filing.registry import RegistryChange, RegistryOutcome
    from filing.rules import MAX_APPLICATION_BYTES, check_application
    from filing.sms_codes import code_context
    from filing.state import FilingInput, FilingState, Route, VerifierState
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.support import (
        CONTINUE_AS_NEW,
        DEADLINE_RETRY_MAX,
        EFFECT_ATTEMPT_TIMEOUT,
        EFFECT_LOCAL_RETRY_THRESHOLD,
        EFFECT_RETRY,
        EFFECTS_AS_ACTIVITIES,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        REGISTRY_L8,
        REGISTRY_TIMEOUT,
        M,
        Refused,
        cause,
        cause_type,
        parse_update,
        return_reason,
        schema_errors,
    )

D = TypeVar("D", PlatformDecision, ProvinceDecision)

APPLICANT = [Channel.IN_APP, Channel.TEMPLATE, Channel.SMS]
#: How many of the timeline's last entries the result carries (L10: a summary).
OUTCOME_TIMELINE = 20


@workflow.defn(name="FilingWorkflow")
class FilingWorkflow:
    """Versioning behaviour: auto-upgrade, declared by the worker's deployment when Worker
    Versioning is on (`worker.deployment`; a workflow may not declare one on an
    unversioned worker), with `workflow.patched` keeping running filings replaying."""

    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        self._policy = start.policy
        self._s = start.carried or self._first_state(start)
        # Decided in the first activation: a filing started on the earlier shape replays
        # (and keeps running) on it; every new run takes the current one.
        self._shape = workflow.patched(EFFECTS_AS_ACTIVITIES)
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

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, start: FilingInput) -> FilingOutcome:
        steps = {
            Stage.SUBMITTED: self._check_submission,
            Stage.PLATFORM_REVIEW: self._platform_review,
            Stage.SMS_VERIFICATION: self._sms_verification,
            Stage.PROVINCIAL_REVIEW: self._provincial_review,
            Stage.RETURNED: self._await_resubmission,
        }
        while not self._s.stage.is_terminal:
            if self._continue_now():
                await self._continue_as_new(start)
            elif self._resubmitted and not self._shape and workflow.patched(CONTINUE_AS_NEW):
                await self._drain()  # a filing of the earlier shape: its notices were awaited
                await self._continue_as_new(start)
            await steps[self._s.stage]()
        await self._notify(f"filing_{self._s.stage.value.lower()}", APPLICANT)
        await self._drain()
        return FilingOutcome(
            stage=self._s.stage,
            kind=self._s.kind,
            filing_number=self._s.filing_number,
            attempts=self._s.attempt,
            timeline=self._s.timeline[-OUTCOME_TIMELINE:],
            timeline_dropped=self._s.timeline_dropped + max(len(self._s.timeline) - OUTCOME_TIMELINE, 0),
            returned=self._s.returned,
        )

    # ------------------------------------------------------ continue-as-new (L10)

    def _history_long(self) -> bool:
        """The server suggests continuing, or the history passed the policy's bound.
        (Filings of the earlier shape continue as new only at a resubmission.)"""
        if not self._shape:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._policy.history_events_before_continue
            or info.get_current_history_size() >= self._policy.history_bytes_before_continue
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
                carried=self._s,
            )
        )

    def _quiet(self) -> bool:
        return not self._deliveries and workflow.all_handlers_finished()

    async def _drain(self) -> None:
        """Wait for notices on their way and for every handler to finish."""
        await workflow.wait_condition(self._quiet)

    # ------------------------------------------------------------ the steps

    async def _check_submission(self) -> None:
        """L1: the whole submission again (rules, registry, materials, face verification)."""
        stage = self._s.stage
        try:
            check = await self._effect(
                SubmissionActivities.check_submission,
                SubmissionCheckRequest(
                    application=self._s.application, cancellation=self._s.cancellation, submitted_at=workflow.now()
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
        self._s.sms_expires_at = workflow.now() + self._policy.sms_window
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
                    timeout=max(s.sms_expires_at - workflow.now(), timedelta(0)),
                    timeout_summary="sms window",
                )
            except TimeoutError:  # 自动驳回 (for a cancellation: the applicant let it go)
                self._sms_failed("sms_ignored" if s.kind.is_cancellation else "sms_timeout")
                return
            if s.stage is not Stage.SMS_VERIFICATION:
                return
            if any(v.send_pending for v in s.verifiers) and not s.sms_exhausted:
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
            approved_at=workflow.now(),
            application=self._s.application if not self._s.kind.is_cancellation else None,
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
        expires_at = self._s.due_at or workflow.now() + self._policy.resubmission_window
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
                timeout=max(expires_at - workflow.now(), timedelta(0)),
                timeout_summary="resubmission window",
            )
        except TimeoutError:
            self._enter(Stage.EXPIRED, "expired", f"no resubmission within {self._policy.resubmission_window}")

    # ----------------------------------------------------- waits and effects

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
                timeout = s.deadline.due_at - workflow.now()
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
                    DeadlineRequest(start=start or workflow.now(), business_days=business_days),
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
        if new.due_at > workflow.now():
            s.sla_breached = False
        self._record(
            "deadline_recomputed",
            f"{stage.value} due {new.due_at.isoformat()}{' (provisional)' if new.provisional else ''}, "
            f"calendar {new.calendar_version}",
        )
        self._publish()

    async def _hand_over(self, method: Callable[..., Any], returned_by: ReturnedBy) -> bool:
        """Hand the filing to a review desk, once per stage and attempt. A desk that stays
        down past the policy's timeout, or refuses for good, escalates to operators and the
        filing goes back (an application) or ends (a cancellation)."""
        s, stage = self._s, self._s.stage
        done = f"{stage.value}:{s.attempt}"
        if s.handed_over == done:
            return True
        application = s.application
        handover = HandOver(
            filing_id=self._filing_id(),
            attempt=s.attempt,
            kind=s.kind.value,
            province=s.province,
            idempotency_key=f"{s.filing_key}:{s.attempt}:{stage.value}",
            application_ref=f"/v1/filings/{s.appid}/application",
            materials=[sha for _, sha in application.materials()] if application else [],
            filing_number=s.cancellation.filing_number if s.cancellation else None,
            reason=s.cancellation.reason if s.cancellation else None,
        )
        try:
            ticket = await self._effect(method, handover, summary=f"{stage.value} hand-over")
        except FailureError as err:
            _reraise_cancellation(err)
            if s.stage is not stage:
                return False
            await self._escalate("handover_failed", f"{stage.value}: {cause(err)}")
            self._refuse(returned_by, [return_reason("-", "handover_failed")], "handover_failed", cause(err))
            return False
        s.handed_over = done
        self._record("handed_over", f"{stage.value} ticket {ticket}")
        return s.stage is stage

    async def _send_pending_codes(self) -> bool:
        """Send every code the main flow owes (first codes, resends); False when the gateway
        refused one for good or stayed down."""
        s = self._s
        key_id = None
        if self._shape:  # pin the SMS key: every retry of a send derives the same code
            try:
                key_id = await workflow.execute_local_activity_method(
                    SmsActivities.current_sms_key, start_to_close_timeout=LOCAL_TIMEOUT, retry_policy=LOCAL_RETRY
                )
            except FailureError as err:
                _reraise_cancellation(err)
                self._record("sms_failed", f"no SMS key: {cause(err)}")
                return False
        for verifier in s.verifiers:
            if verifier.send_pending and not await self._send_code(verifier, key_id):
                return False
        return True

    async def _send_code(self, verifier: VerifierState, key_id: str | None) -> bool:
        s = self._s
        key = f"{s.filing_key}:{s.attempt}:sms:{verifier.mobile}:{verifier.resend}"
        # Codes of the earlier shape were digested with the filing id and attempt as context.
        context = key if self._shape else code_context(self._filing_id(), s.attempt, verifier.mobile, verifier.resend)
        request = SendCodeRequest(
            filing_id=self._filing_id(), mobile=verifier.mobile, idempotency_key=key, context=context,
            key_id=key_id, window=self._policy.sms_window,
        )
        try:
            sent = await self._effect(
                SmsActivities.send_sms_code, request, summary="12381 SMS", task_queue=self._sms_task_queue()
            )
        except FailureError as err:
            _reraise_cancellation(err)
            self._record("sms_failed", f"{mask_mobile(verifier.mobile)}: {cause(err)}")
            return False
        verifier.digest, verifier.context = sent.digest, context
        verifier.attempts_left = self._policy.sms_attempts_per_code
        verifier.send_pending = False
        self._record("sms_sent", f"{mask_mobile(verifier.mobile)}{' (resend)' if verifier.resend else ''}")
        return True

    def _sms_task_queue(self) -> str:
        """The SMS gateway's own task queue, next to the filing's: its rate limit holds
        across every worker (the worker serves it with activities-per-second)."""
        return f"{workflow.info().task_queue}-sms"

    async def _effect(self, method: Callable[..., Any], arg: Any, *, summary: str, task_queue: str | None = None) -> Any:
        """An outside effect: a regular activity (an outage shows as a pending activity with
        its attempts and last failure), or, for a filing of the earlier shape, the local
        activity it recorded. Gives up after `outside_service_timeout` (ActivityError)."""
        if self._shape:
            return await workflow.execute_activity_method(
                method,
                arg,
                task_queue=task_queue,
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=self._policy.outside_service_timeout,
                retry_policy=EFFECT_RETRY,
                summary=summary,
            )
        return await workflow.execute_local_activity_method(
            method,
            arg,
            start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=self._policy.outside_service_timeout,
            retry_policy=EFFECT_RETRY,
            local_retry_threshold=EFFECT_LOCAL_RETRY_THRESHOLD,
        )

    async def _notify(
        self, event: str, channels: list[Channel], detail: str | None = None, reasons: list[Reason] | None = None
    ) -> None:
        """Notices never hold a filing up: they go out beside the main flow, and one that
        cannot be delivered is recorded and skipped. Each names its recipients."""
        s = self._s
        s.notices += 1  # a counter is a stable key across retries (a timeline length is not)
        notice = Notice(
            filing_id=self._filing_id(),
            attempt=s.attempt,
            event=event,
            channels=channels,
            detail=detail,
            reasons=reasons or [],
            filing_number=s.filing_number,
            idempotency_key=f"{s.filing_key}:{s.attempt}:{event}:{s.notices}",
            recipients=self._recipients(channels),
        )
        if not self._shape:
            await self._deliver(notice)  # the earlier shape waited for each notice
            return
        task = asyncio.create_task(self._deliver(notice))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, notice: Notice) -> None:
        try:
            await self._effect(NotifyActivities.notify, notice, summary=f"notice {notice.event}")
        except FailureError as err:
            _reraise_cancellation(err)
            workflow.logger.warning("notification %s not delivered: %s", notice.event, cause(err), extra=self._log_context())
            self._record("notification_failed", f"{notice.event}: {cause(err)}")
        else:
            self._record("notified", f"{notice.event} via {', '.join(c.value for c in notice.channels)}")

    def _recipients(self, channels: list[Channel]) -> list[Recipient]:
        """The applicant's account for 站内信/模板消息, the verifiers' mobiles for 短信 (from
        the application, or the registry's people on record), the operators for escalations."""
        found: list[Recipient] = []
        for channel in channels:
            if channel is Channel.OPERATOR:
                found.append(Recipient(channel=channel, to="operators"))
            elif channel is Channel.SMS:
                mobiles = (
                    [p.mobile for p in self._s.application.verifiers()]
                    if self._s.application is not None
                    else [v.mobile for v in self._s.verifiers]
                )
                found += [Recipient(channel=channel, to=mobile) for mobile in mobiles]
            else:
                found.append(Recipient(channel=channel, to=f"account:{self._s.appid}"))
        return found

    async def _escalate(self, event: str, detail: str) -> None:
        await self._notify(event, [Channel.OPERATOR], detail=detail)

    # -------------------------------------------------------- state changes

    def _enter(
        self,
        stage: Stage,
        event: str,
        detail: str | None = None,
        *,
        deadline: Deadline | None = None,
        due_at: datetime | None = None,
    ) -> None:
        """Every stage change goes through here: state, timeline and search attributes at
        once. Decisions accepted for the stage left do not carry over (L9)."""
        s = self._s
        metrics.stage_changed(s.stage.value, stage.value, event, s.stage_since)
        s.stage_since = workflow.now()
        s.stage = stage
        s.deadline = deadline
        s.due_at = deadline.due_at if deadline else due_at
        s.sla_breached = False
        s.platform_decision = s.province_decision = None
        self._record(event, detail)
        self._publish()

    def _refuse(self, by: ReturnedBy, reasons: list[Reason], event: str, detail: str | None = None) -> None:
        """A check, a desk or a reviewer said no: an application goes back to the applicant
        (RETURNED, L6); a cancellation ends (REJECTED), the filing staying active."""
        if self._s.route.returns:
            self._return(by, reasons, event, detail)
            return
        self._s.returned = ReturnedView(by=by, reasons=reasons)
        self._enter(Stage.REJECTED, event, detail or ", ".join(r.error for r in reasons)[:500])

    def _return(self, by: ReturnedBy, reasons: list[Reason], event: str, detail: str | None = None) -> None:
        s = self._s
        s.returned = ReturnedView(by=by, reasons=reasons)
        s.returned_notified = False
        detail = detail or ", ".join(r.error for r in reasons)[:500]
        self._enter(Stage.RETURNED, event, detail, due_at=workflow.now() + self._policy.resubmission_window)

    def _record(self, event: str, detail: str | None = None) -> None:
        self._s.record(TimelineEntry(at=workflow.now(), event=event, detail=detail))
        workflow.logger.info("filing %s: %s", event, detail or "", extra=self._log_context())
        metrics.event_recorded(event)

    def _log_context(self) -> dict[str, Any]:
        """What every log line of a filing carries besides its id (the SDK adds that)."""
        return {"stage": self._s.stage.value, "attempt": self._s.attempt}

    def _publish(self) -> None:
        """Upsert the §7 search attributes that changed, in one command."""
        s = self._s
        values: dict[str, Any] = {
            sa.FILING_KIND.name: s.kind.value,
            sa.PROVINCE.name: s.province,
            sa.APP_ID.name: s.appid,
            sa.FILING_STAGE.name: s.stage.value,
            sa.FILING_ATTEMPT.name: s.attempt,
            sa.SLA_BREACHED.name: s.sla_breached,
            sa.DEADLINE_PROVISIONAL.name: bool(s.deadline and s.deadline.provisional),
            sa.STAGE_DEADLINE.name: s.due_at,
        }
        keys = {k.name: k for k in sa.ALL}
        updates = [
            keys[name].value_set(value) if value is not None else keys[name].value_unset()
            for name, value in values.items()
            if self._published.get(name, _UNSET) != value
        ]
        if updates:
            self._published.update(values)
            workflow.upsert_search_attributes(updates)

    # ------------------------------------------------------ reviewer messages

    @workflow.signal(name="platform_decision")
    def platform_decision(self, payload: RawValue) -> None:
        """For the `temporal` CLI; the filing service sends `decide_platform` (an update)."""
        decision = self._decode("platform_decision", payload, PlatformDecision)
        if decision is None:
            return
        why = self._why_not_platform(decision)
        if why:
            self._ignore("platform_decision", f"{decision.decision.value} by {decision.reviewer}", why)
        else:
            self._s.platform_decision = decision

    @workflow.signal(name="province_decision")
    def province_decision(self, payload: RawValue) -> None:
        decision = self._decode("province_decision", payload, ProvinceDecision)
        if decision is None:
            return
        why = self._why_not_province(decision)
        if why:
            self._ignore("province_decision", f"{decision.decision.value} by {decision.reviewer}", why)
        else:
            self._s.province_decision = decision

    @workflow.update(name="decide_platform")
    def decide_platform(self, payload: RawValue) -> DecisionResult:
        """`platform_decision` answered: applied, or refused by the validator with why (L9),
        leaving no trace."""
        self._s.platform_decision = parse_update(PlatformDecision, payload)
        return DecisionResult(applied=True, stage=self._s.stage, attempt=self._s.attempt)

    @decide_platform.validator
    def _validate_decide_platform(self, payload: RawValue) -> None:
        why = self._why_not_platform(parse_update(PlatformDecision, payload))
        if why:
            raise Refused(why)

    @workflow.update(name="decide_province")
    async def decide_province(self, payload: RawValue) -> DecisionResult:
        """`province_decision` answered once the registry took the number (L8), or not."""
        decision = parse_update(ProvinceDecision, payload)
        s, attempt = self._s, self._s.attempt
        s.province_decision = decision
        await workflow.wait_condition(
            lambda: (self._province_answer is not None and self._province_answer[0] is decision)
            or s.stage is not Stage.PROVINCIAL_REVIEW
            or s.attempt != attempt
        )
        if self._province_answer is not None and self._province_answer[0] is decision:
            return self._province_answer[1]
        return DecisionResult(
            applied=False, stage=s.stage, attempt=s.attempt,
            why=f"the filing left PROVINCIAL_REVIEW (now {s.stage.value}) before the decision was taken",
        )

    @decide_province.validator
    def _validate_decide_province(self, payload: RawValue) -> None:
        why = self._why_not_province(parse_update(ProvinceDecision, payload))
        if why:
            raise Refused(why)

    def _answer_province(self, decision: ProvinceDecision, applied: bool, why: str | None = None) -> None:
        self._province_answer = (
            decision,
            DecisionResult(
                applied=applied, stage=self._s.stage, attempt=self._s.attempt, why=why,
                filing_number=decision.filing_number or self._named_number(),
            ),
        )

    @workflow.signal(name="calendar_updated")
    def calendar_updated(self, _: CalendarUpdated | None = None) -> None:
        if self._s.deadline is not None and self._s.deadline.provisional:
            self._s.calendar_changed = True
        else:
            self._s.ignored["calendar_updated"] = self._s.ignored.get("calendar_updated", 0) + 1

    def _decode(self, signal: str, payload: RawValue, model: type[M]) -> M | None:
        """Decode a signal ourselves, so that a malformed one is counted and recorded as
        ignored (L9) instead of being dropped by the SDK without a trace."""
        try:
            decoded = workflow.payload_converter().from_payload(payload.payload, model)
        except Exception as err:  # any payload at all: recorded, never a failed workflow task
            self._ignore(signal, "malformed payload", schema_errors(err))
            return None
        if decoded is None:  # a null payload decodes to None without complaint
            self._ignore(signal, "empty payload", f"a {model.__name__} object is required")
        return decoded

    def _why_not(self, stage: Stage, attempt: int | None, pending: object) -> str | None:
        s = self._s
        if s.stage is not stage:
            return f"the filing is in stage {s.stage.value}, not {stage.value}"
        if attempt is not None and attempt != s.attempt:
            return f"it names attempt {attempt}; the current attempt is {s.attempt}"
        if pending is not None:
            return "a decision for this attempt is already recorded"
        return None

    def _why_not_platform(self, decision: PlatformDecision) -> str | None:
        why = self._why_not(Stage.PLATFORM_REVIEW, decision.attempt, self._s.platform_decision)
        if why is None and decision.decision is Decision.REJECT and not decision.reasons:
            return "a reject needs at least one reason"
        return why

    def _why_not_province(self, decision: ProvinceDecision) -> str | None:
        why = self._why_not(Stage.PROVINCIAL_REVIEW, decision.attempt, self._s.province_decision)
        if why is not None:
            return why
        if decision.decision is Decision.REJECT:
            return None if decision.reasons else "a reject needs at least one reason"
        number = decision.filing_number
        if number is None:
            if self._s.kind.references_filing:
                return None  # a change or cancellation keeps the filing number it names
            return "an approval must carry the issued filing number"
        if self._s.kind.is_cancellation and number != self._named_number():
            return f"a cancellation is approved for the number it names ({self._named_number()}), not {number}"
        try:
            parsed = parse_filing_number(number, mini_program=True)
        except InvalidFilingNumber as err:
            return f"filing number {number!r} is malformed: {err}"
        if parsed.province.prefix != self._s.province:
            return f"filing number {number} is of {parsed.province.name}, the filing is in {self._s.province}"
        return None

    def _ignore(self, message: str, what: str, why: str) -> None:
        """L9/L10: counted, and recorded without the message's payload."""
        self._s.ignored[message] = self._s.ignored.get(message, 0) + 1
        self._record("decision_ignored", f"{message} {what}: {why}"[:300])

    # --------------------------------------------------- applicant updates

    @workflow.update(name="verify_sms_code")
    async def verify_sms_code(self, payload: RawValue) -> SmsVerifyResult:
        entry = parse_update(SmsCodeEntry, payload, personal=True)
        async with self._sms_lock:
            s = self._s
            verifier = s.verifier(entry.mobile)
            assert verifier is not None
            if verifier.verified:
                return self._sms_answer("verified", verifier)
            if s.stage is not Stage.SMS_VERIFICATION or verifier.digest is None or verifier.attempts_left == 0:
                return self._sms_answer("no_valid_code", verifier)
            try:
                ok = await workflow.execute_local_activity_method(
                    SmsActivities.check_sms_code,
                    CodeCheck(
                        filing_id=self._filing_id(),
                        mobile=verifier.mobile,
                        context=verifier.context or code_context(self._filing_id(), s.attempt, verifier.mobile, verifier.resend),
                        digest=verifier.digest,
                        code=entry.code,
                        id_last6=entry.id_last6,
                        expected_id_last6=verifier.id_last6,
                    ),
                    start_to_close_timeout=LOCAL_TIMEOUT,
                    retry_policy=LOCAL_RETRY,
                )
            except FailureError as err:
                _reraise_cancellation(err)
                if cause_type(err) == UNKNOWN_SMS_KEY:
                    # Not this worker's to judge (it lacks the key): fail the workflow task, so
                    # that it is retried, on any worker; no attempt is spent meanwhile.
                    raise RuntimeError(cause(err)) from None
                raise
            if s.stage is not Stage.SMS_VERIFICATION:
                return self._sms_answer("no_valid_code", verifier)
            masked = mask_mobile(verifier.mobile)
            if ok:
                verifier.verified = True
                self._record("sms_verified", masked)
                return self._sms_answer("verified", verifier)
            verifier.attempts_left -= 1
            self._record("sms_wrong_code", f"{masked}: {verifier.attempts_left} attempts left")
            if verifier.attempts_left == 0 and verifier.resends_left == 0:
                s.sms_exhausted = True
            return self._sms_answer("wrong_code", verifier)

    @verify_sms_code.validator
    def _validate_sms_entry(self, payload: RawValue) -> None:
        """No-op entries are refused (L10): a verified verifier, or no valid code."""
        verifier = self._require_sms_verifier(parse_update(SmsCodeEntry, payload, personal=True).mobile)
        if verifier.verified:
            raise Refused("already verified: this verifier's code was accepted", self._sms_answer("verified", verifier))
        if verifier.digest is None or verifier.attempts_left == 0 or verifier.send_pending:
            raise Refused(
                "no_valid_code: no code is waiting for this mobile (not sent yet, being resent, or its attempts "
                "are used up: ask for a resend)",
                self._sms_answer("no_valid_code", verifier),
            )

    @workflow.update(name="request_sms_resend")
    async def request_sms_resend(self, payload: RawValue) -> SmsResendResult:
        request = parse_update(SmsResendRequest, payload, personal=True)
        if not self._shape:
            return await self._resend_in_update(request)
        async with self._sms_lock:  # not while a code of this filing is being checked
            verifier = self._s.verifier(request.mobile)
            assert verifier is not None
            if verifier.verified or verifier.resends_left == 0:  # raced with another entry meanwhile
                return SmsResendResult(sent=False, resends_left=verifier.resends_left,
                                       reason="already_verified" if verifier.verified else "resend_limit_reached")
            # The previous code is void from now on; the main flow sends the new one.
            verifier.resends_left -= 1
            verifier.resend += 1
            verifier.digest, verifier.attempts_left = None, 0
            verifier.send_pending = True
            self._record("sms_resend_requested", mask_mobile(verifier.mobile))
            return SmsResendResult(sent=True, resends_left=verifier.resends_left)

    async def _resend_in_update(self, request: SmsResendRequest) -> SmsResendResult:
        """The earlier shape: the update itself sent the code (kept for the filings that run on it)."""
        async with self._sms_lock:
            s = self._s
            verifier = s.verifier(request.mobile)
            assert verifier is not None
            masked = mask_mobile(verifier.mobile)
            if verifier.verified:
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="already_verified")
            if verifier.resends_left == 0:
                self._record("sms_resend_refused", f"{masked}: no resend left")
                return SmsResendResult(sent=False, resends_left=0, reason="resend_limit_reached")
            if s.stage is not Stage.SMS_VERIFICATION or verifier.digest is None:
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="no_code_sent_yet")
            verifier.resends_left -= 1
            verifier.resend += 1
            verifier.digest, verifier.attempts_left = None, 0
            if not await self._send_code(verifier, None):
                s.sms_undeliverable = True
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="sms_undeliverable")
            return SmsResendResult(sent=True, resends_left=verifier.resends_left)

    @request_sms_resend.validator
    def _validate_resend(self, payload: RawValue) -> None:
        """No-op resends are refused (L10): already verified, none left, one on its way."""
        verifier = self._require_sms_verifier(parse_update(SmsResendRequest, payload, personal=True).mobile)
        if verifier.verified:
            raise Refused("already_verified: this verifier has verified; no resend is needed",
                          SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="already_verified"))
        if verifier.resends_left == 0:
            raise Refused("resend_limit_reached: this verifier has used the resend allowed (L3)",
                          SmsResendResult(sent=False, resends_left=0, reason="resend_limit_reached"))
        if verifier.digest is None or verifier.send_pending:
            raise Refused("no_code_sent_yet: a code for this mobile is on its way; wait for it",
                          SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="no_code_sent_yet"))

    def _require_sms_verifier(self, mobile: str) -> VerifierState:
        s = self._s
        if s.stage is not Stage.SMS_VERIFICATION:
            raise Refused(f"the filing is in stage {s.stage.value}, not SMS_VERIFICATION: no code is waiting")
        verifier = s.verifier(mobile)
        if verifier is None:
            raise Refused(
                f"mobile {mask_mobile(mobile)} is not a verifier of this filing; "
                f"verifiers: {', '.join(mask_mobile(v.mobile) for v in s.verifiers)}"
            )
        return verifier

    @workflow.update(name="resubmit")
    def resubmit(self, payload: RawValue) -> ResubmitResult:
        resubmission = parse_update(Resubmission, payload, personal=True)
        s = self._s
        s.application = resubmission.application
        s.attempt += 1
        self._resubmitted = True  # the main flow continues as new (L10)
        self._enter(Stage.SUBMITTED, "resubmitted", f"attempt {s.attempt}")
        return ResubmitResult(attempt=s.attempt)

    @resubmit.validator
    def _validate_resubmission(self, payload: RawValue) -> None:
        resubmission = parse_update(Resubmission, payload, personal=True)
        s = self._s
        if s.stage is not Stage.RETURNED:
            raise Refused(f"only a RETURNED filing can be resubmitted; the filing is in stage {s.stage.value}")
        new, old = resubmission.application, s.application
        assert old is not None  # only applications are ever RETURNED
        if new.appid != old.appid:
            raise Refused(f"application.mini_program.appid must stay {old.appid}: a new appid is a new filing")
        if new.kind is not s.kind:
            raise Refused(f"application.kind must stay {s.kind.value}: a different kind is a new filing")
        size = len(new.model_dump_json().encode())
        if size > MAX_APPLICATION_BYTES:
            raise Refused(f"application is {size} bytes; at most {MAX_APPLICATION_BYTES} bytes are accepted")
        violations = check_application(
            new, workflow.now(),
            categories=s.preapproval_index or frozenset(s.preapproval_categories),
            province_lists=s.province_materials,
        )
        if violations:
            listed = "; ".join(f"{v.field}: {v.key}: {v.message_en}" for v in violations)
            raise Refused(f"the application breaks {len(violations)} rule(s): {listed}")

    @workflow.update(name="withdraw")
    def withdraw(self, payload: RawValue) -> WithdrawResult:
        request = parse_update(WithdrawRequest, payload)
        self._enter(Stage.WITHDRAWN, "withdrawn", request.reason)
        return WithdrawResult(stage=self._s.stage)

    @withdraw.validator
    def _validate_withdraw(self, payload: RawValue) -> None:
        parse_update(WithdrawRequest, payload)
        s = self._s
        if not s.route.withdrawable:
            raise Refused("a cancellation cannot be withdrawn: to stop it, leave its verification SMS unanswered")
        approved = s.platform_decision is not None and s.platform_decision.decision is Decision.APPROVE
        if s.stage not in WITHDRAWABLE or (s.stage is Stage.PLATFORM_REVIEW and approved):
            raise Refused(
                f"withdraw is allowed in SUBMITTED, PLATFORM_REVIEW and RETURNED only; the filing is in stage "
                f"{s.stage.value}{' and has passed platform review' if approved else ''}"
            )

    # --------------------------------------------------------------- queries

    @workflow.query(name="status")
    def status(self) -> FilingStatus:
        s = self._s
        return FilingStatus(
            filing_id=self._filing_id(),
            kind=s.kind,
            stage=s.stage,
            attempt=s.attempt,
            deadline=DeadlineView(
                due_at=s.due_at,
                provisional=bool(s.deadline and s.deadline.provisional),
                sla_breached=s.sla_breached,
            )
            if s.due_at
            else None,
            sms=SmsView(
                expires_at=s.sms_expires_at,
                verifiers=[
                    VerifierView(
                        mobile=mask_mobile(v.mobile),
                        verified=v.verified,
                        attempts_left=v.attempts_left,
                        resends_left=v.resends_left,
                    )
                    for v in s.verifiers
                ],
            )
            if s.verifiers
            else None,
            returned=s.returned,
            filing_number=s.filing_number,
            timeline=s.timeline,
            timeline_dropped=s.timeline_dropped,
            ignored=s.ignored,
            appid=s.appid,
            province=s.province,
        )

    @workflow.query(name="application")
    def application(self) -> ApplicationView:
        """The application in clear, for the filing service (which audits every read)."""
        s = self._s
        return ApplicationView(
            filing_id=self._filing_id(), kind=s.kind, stage=s.stage, attempt=s.attempt,
            application=s.application, cancellation=s.cancellation,
            materials=[sha for _, sha in s.application.materials()] if s.application else [],
        )

    # ------------------------------------------------------------- helpers

    def _sms_answer(self, result: str, verifier: VerifierState) -> SmsVerifyResult:
        return SmsVerifyResult(
            result=result,  # type: ignore[arg-type]
            attempts_left=verifier.attempts_left,
            all_verified=all(v.verified for v in self._s.verifiers),
        )

    def _filing_id(self) -> str:
        return workflow.info().workflow_id

    def _named_number(self) -> str | None:
        """The filing number a CHANGE or a cancellation acts on."""
        if self._s.cancellation is not None:
            return self._s.cancellation.filing_number
        return self._s.application.filing_number if self._s.application else None


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


def _reraise_cancellation(err: FailureError) -> None:
    """An activity that failed is handled (a local activity's failure may arrive as the
    bare `ApplicationError`, hence `FailureError`); a cancellation (the worker shutting
    down, the workflow cancelled) is not a failure to recover from."""
    if isinstance(err, CancelledError):
        raise err


_UNSET = object()

"""`FilingWorkflow`: one filing from submission to an issued number (SPEC §4, L1–L9).

The workflow only decides and waits. Everything that touches the outside (the clock of
the business calendar, the SMS gateway, the review desks, the notifier) is an activity;
everything it decides on is recorded in its own state and published through the
`status` query and the §7 search attributes.

Shape: `run` steps through stages; each step begins with the stage just entered and
ends by entering the next one. Applicant updates and reviewer signals only record
what arrived (and answer); a withdraw or a resubmit changes the stage, which every
wait watches.
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
    from activities.review import ReviewActivities
    from activities.sms import CodeCheck, SendCodeRequest, SmsActivities
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
        FilingInput,
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
    from filing.ports import Channel, HandOver, Notice
    from filing.provinces import find_province
    from filing.rules import MAX_APPLICATION_BYTES, check_application
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.support import (
        EFFECT_ATTEMPT_TIMEOUT,
        EFFECT_LOCAL_RETRY_THRESHOLD,
        EFFECT_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        M,
        Refused,
        Verifier,
        cause,
        parse_update,
        return_reason,
        schema_errors,
    )

D = TypeVar("D", PlatformDecision, ProvinceDecision)


@workflow.defn(name="FilingWorkflow")
class FilingWorkflow:
    @workflow.init
    def __init__(self, start: FilingInput) -> None:
        self._app = start.application
        self._policy = start.policy
        self._kind = start.application.kind
        self._stage = Stage.SUBMITTED
        self._attempt = 1
        self._timeline: list[TimelineEntry] = []
        self._returned: ReturnedView | None = None
        self._filing_number: str | None = None
        # The current stage's deadline: a review SLA (business days) or a plain instant.
        self._deadline: Deadline | None = None
        self._due_at: datetime | None = None
        self._sla_breached = False
        self._calendar_changed = False
        # Decisions waiting to be applied by the current review step.
        self._platform_decision: PlatformDecision | None = None
        self._province_decision: ProvinceDecision | None = None
        # L3 state.
        self._verifiers: dict[str, Verifier] = {}
        self._sms_expires_at: datetime | None = None
        self._sms_exhausted = False
        self._sms_undeliverable = False
        self._sms_lock = asyncio.Lock()
        self._notices = 0
        self._preapproval_categories: frozenset[str] = frozenset()
        # What the search attributes hold now (the starter sets the first ones).
        started_with = workflow.info().typed_search_attributes
        self._published: dict[str, Any] = {key.name: started_with.get(key) for key in sa.ALL}
        self._stage_since = workflow.now()  # for the stage-duration metric only
        self._record("submitted", f"{self._kind.value}, attempt 1")
        metrics.filing_started(self._kind.value)

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
        while not self._stage.is_terminal:
            await steps[self._stage]()
        await self._notify(f"filing_{self._stage.value.lower()}", [Channel.IN_APP, Channel.TEMPLATE, Channel.SMS])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return FilingOutcome(
            stage=self._stage,
            kind=self._kind,
            filing_number=self._filing_number,
            attempts=self._attempt,
            timeline=self._timeline,
        )

    # ------------------------------------------------------------ the steps

    async def _check_submission(self) -> None:
        """L1: re-check what depends on the clock and outside services."""
        check = await workflow.execute_local_activity_method(
            SubmissionActivities.check_submission,
            SubmissionCheckRequest(application=self._app, submitted_at=workflow.now()),
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=LOCAL_RETRY,
        )
        self._preapproval_categories = frozenset(check.preapproval_categories)
        if self._stage is not Stage.SUBMITTED:
            return
        if check.violations:
            self._return(ReturnedBy.SUBMISSION, [v.asreturn_reason() for v in check.violations], "submission_rejected")
            return
        deadline = await self._compute_deadline(self._policy.platform_sla_business_days)
        if self._stage is Stage.SUBMITTED:
            self._enter(Stage.PLATFORM_REVIEW, "platform_review_started", deadline=deadline)

    async def _platform_review(self) -> None:
        """L2: the reviewers' queue; SLA 2 business days; wait for `platform_decision`."""
        self._platform_decision = None
        decision = await self._review(
            ReviewActivities.enqueue_platform_review, ReturnedBy.PLATFORM, lambda: self._platform_decision
        )
        if decision is None:
            return
        self._record("platform_approved", f"by {decision.reviewer}")
        # One local activity after another, never concurrently: the SDK replays concurrent
        # local activities' results in another order, which would move `workflow.now()`.
        await (self._open_sms_window() if self._kind.needs_sms else self._enter_provincial_review())
        await self._notify("platform_approved", [Channel.IN_APP, Channel.TEMPLATE])

    async def _open_sms_window(self) -> None:
        """L3 begins: a code to every verifier, then the stage opens with its 24-hour window.

        The window opens once every first code is out, so each verifier has the full 24 h."""
        self._sms_exhausted = self._sms_undeliverable = False
        self._verifiers = {
            person.mobile: Verifier(
                mobile=person.mobile,
                id_last6=person.identity_document.number[-6:],
                resends_left=self._policy.sms_resends,
            )
            for person in self._app.verifiers()
        }
        sent = [await self._send_code(v) for v in self._verifiers.values()]
        if self._stage is not Stage.PLATFORM_REVIEW:
            return
        if not all(sent):
            await self._escalate("sms_undeliverable", "the SMS gateway refused a verification code")
            self._return(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_undeliverable")], "sms_undeliverable")
            return
        self._sms_expires_at = workflow.now() + self._policy.sms_window
        self._enter(Stage.SMS_VERIFICATION, "sms_verification_started", due_at=self._sms_expires_at)

    async def _sms_verification(self) -> None:
        """L3: wait for every verifier, at most until the window closes; one resend each."""
        assert self._sms_expires_at is not None
        # The window opens once every first code is out, so each verifier has the full 24 h.
        try:
            await workflow.wait_condition(
                lambda: self._stage is not Stage.SMS_VERIFICATION
                or self._sms_exhausted
                or self._sms_undeliverable
                or all(v.verified for v in self._verifiers.values()),
                timeout=self._sms_expires_at - workflow.now(),
                timeout_summary="sms window",
            )
        except TimeoutError:
            self._return(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_timeout")], "sms_timeout")  # 自动驳回
            return
        if self._stage is not Stage.SMS_VERIFICATION:
            return
        if self._sms_exhausted:
            self._return(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_attempts_exhausted")], "sms_attempts_exhausted")
        elif self._sms_undeliverable:
            await self._escalate("sms_undeliverable", "the SMS gateway refused a resent code")
            self._return(ReturnedBy.MIIT_SMS, [return_reason("sms", "sms_undeliverable")], "sms_undeliverable")
        else:
            await self._enter_provincial_review()

    async def _enter_provincial_review(self) -> None:
        deadline = await self._compute_deadline(self._policy.provincial_sla_for(self._province()))
        self._enter(Stage.PROVINCIAL_REVIEW, "provincial_review_started", deadline=deadline)

    async def _provincial_review(self) -> None:
        """L4: hand over to the province; SLA 20 business days; wait for `province_decision`."""
        self._province_decision = None
        decision = await self._review(
            ReviewActivities.hand_over_to_province, ReturnedBy.PROVINCE, lambda: self._province_decision
        )
        if decision is None:
            return
        self._filing_number = decision.filing_number or self._app.filing_number
        self._enter(Stage.APPROVED, "approved", f"{self._filing_number} by {decision.reviewer}")  # L8

    async def _await_resubmission(self) -> None:
        """L6: the applicant has `resubmission_window` to correct and resubmit."""
        # Read before notifying: a resubmission may arrive while the notice goes out,
        # and it starts the next attempt (clearing this stage's deadline).
        returned = self._returned
        expires_at = self._due_at or workflow.now() + self._policy.resubmission_window
        await self._notify(
            "filing_returned",
            [Channel.IN_APP, Channel.TEMPLATE, Channel.SMS],
            detail=returned.by.value if returned else None,
            reasons=returned.reasons if returned else [],
        )
        try:
            await workflow.wait_condition(
                lambda: self._stage is not Stage.RETURNED,
                timeout=max(expires_at - workflow.now(), timedelta(0)),
                timeout_summary="resubmission window",
            )
        except TimeoutError:
            self._enter(Stage.EXPIRED, "expired", f"no resubmission within {self._policy.resubmission_window}")

    # ----------------------------------------------------- waits and effects

    async def _review(
        self, desk: Callable[..., Any], returned_by: ReturnedBy, pending: Callable[[], D | None]
    ) -> D | None:
        """Hand over to a review desk and wait for its decision. Answers an approval;
        a rejection returns the filing (and answers None), as does a withdraw meanwhile."""
        if not await self._hand_over(desk, returned_by):
            return None
        decision = await self._await_decision(pending)
        if decision is None or decision.decision is Decision.APPROVE:
            return decision
        event = f"{returned_by.value.lower()}_rejected"
        self._return(returned_by, decision.reasons, event, f"by {decision.reviewer}")
        return None

    async def _await_decision(self, pending: Callable[[], M | None]) -> M | None:
        """Wait for a reviewer's decision while watching the SLA (L5) and calendar updates.

        Answers None when the stage changed meanwhile (a withdraw)."""
        stage = self._stage
        while True:
            if (decision := pending()) is not None or self._stage is not stage:
                return decision
            if self._calendar_changed:
                await self._recompute_deadline()
                continue
            timeout = None
            if not self._sla_breached and self._deadline is not None:
                timeout = self._deadline.due_at - workflow.now()
                if timeout <= timedelta(0):
                    await self._breach_sla()
                    continue
            try:
                await workflow.wait_condition(
                    lambda: pending() is not None or self._stage is not stage or self._calendar_changed,
                    timeout=timeout,
                    timeout_summary=f"{stage.value} SLA" if timeout else None,
                )
            except TimeoutError:
                await self._breach_sla()

    async def _breach_sla(self) -> None:
        """L5: an SLA is a promise to watch, not a decision: flag, escalate once, keep waiting."""
        self._sla_breached = True
        self._record("sla_breached", f"{self._stage.value} past {self._deadline.due_at.isoformat() if self._deadline else '?'}")
        metrics.sla_breached(self._stage.value, self._province())
        self._publish()
        await self._escalate("sla_breached", f"{self._stage.value} SLA passed without a decision")
        # Versioned (README, "Changing the workflow"): filings that breached before this change replay without it.
        if workflow.patched("notify-applicant-on-sla-breach"):
            await self._notify("review_overdue", [Channel.IN_APP], detail=self._stage.value)

    async def _compute_deadline(self, business_days: int, start: datetime | None = None, reload: bool = False) -> Deadline:
        return await workflow.execute_local_activity_method(
            CalendarActivities.compute_deadline,
            DeadlineRequest(start=start or workflow.now(), business_days=business_days, reload=reload),
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=LOCAL_RETRY,
        )

    async def _recompute_deadline(self) -> None:
        """§5: a provisional deadline is recomputed once the operators load the new year's data."""
        self._calendar_changed = False
        old, stage = self._deadline, self._stage
        if old is None or not old.provisional:
            return
        new = await self._compute_deadline(old.business_days, start=old.start, reload=True)
        if self._stage is not stage or self._deadline is not old or new == old:
            return
        self._deadline, self._due_at = new, new.due_at
        if new.due_at > workflow.now():
            self._sla_breached = False
        self._record(
            "deadline_recomputed",
            f"{stage.value} due {new.due_at.isoformat()}{' (provisional)' if new.provisional else ''}, calendar {new.calendar_version}",
        )
        self._publish()

    async def _hand_over(self, method: Callable[..., Any], returned_by: ReturnedBy) -> bool:
        """Hand the filing to a review desk. A desk that stays down past the policy's
        timeout, or refuses for good, escalates to operators and returns the filing."""
        stage = self._stage
        handover = HandOver(
            filing_id=self._filing_id(),
            attempt=self._attempt,
            kind=self._kind.value,
            province=self._province(),
            idempotency_key=f"{self._filing_id()}:{self._attempt}:{stage.value}",
        )
        try:
            ticket = await workflow.execute_local_activity_method(
                method,
                handover,
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=self._policy.outside_service_timeout,
                retry_policy=EFFECT_RETRY,
                local_retry_threshold=EFFECT_LOCAL_RETRY_THRESHOLD,
            )
        except FailureError as err:
            if isinstance(err, CancelledError):
                raise
            if self._stage is not stage:
                return False
            await self._escalate("handover_failed", f"{stage.value}: {cause(err)}")
            self._return(returned_by, [return_reason("-", "handover_failed")], "handover_failed", cause(err))
            return False
        self._record("handed_over", f"{stage.value} ticket {ticket}")
        return self._stage is stage

    async def _send_code(self, verifier: Verifier) -> bool:
        try:
            sent = await workflow.execute_local_activity_method(
                SmsActivities.send_sms_code,
                SendCodeRequest(
                    filing_id=self._filing_id(), attempt=self._attempt, mobile=verifier.mobile, resend=verifier.resend
                ),
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=self._policy.outside_service_timeout,
                retry_policy=EFFECT_RETRY,
                local_retry_threshold=EFFECT_LOCAL_RETRY_THRESHOLD,
            )
        except FailureError as err:
            if isinstance(err, CancelledError):
                raise
            self._record("sms_failed", f"{mask_mobile(verifier.mobile)}: {cause(err)}")
            return False
        verifier.digest = sent.digest
        verifier.attempts_left = self._policy.sms_attempts_per_code
        self._record("sms_sent", f"{mask_mobile(verifier.mobile)}{' (resend)' if verifier.resend else ''}")
        return True

    async def _notify(self, event: str, channels: list[Channel], detail: str | None = None, reasons: list[Reason] | None = None) -> None:
        """Notifications never hold a filing up: a notifier that stays down is logged and skipped."""
        # Notices are sent from the main flow only, one at a time: a counter is a stable key
        # across retries (a timeline length is not: a signal may add entries meanwhile).
        self._notices += 1
        notice = Notice(
            filing_id=self._filing_id(),
            attempt=self._attempt,
            event=event,
            channels=channels,
            detail=detail,
            reasons=reasons or [],
            filing_number=self._filing_number,
            idempotency_key=f"{self._filing_id()}:{self._attempt}:{event}:{self._notices}",
        )
        try:
            await workflow.execute_local_activity_method(
                NotifyActivities.notify,
                notice,
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=self._policy.outside_service_timeout,
                retry_policy=EFFECT_RETRY,
                local_retry_threshold=EFFECT_LOCAL_RETRY_THRESHOLD,
            )
        except FailureError as err:
            if isinstance(err, CancelledError):
                raise
            workflow.logger.warning("notification %s not delivered: %s", event, cause(err), extra=self._log_context())
            self._record("notification_failed", f"{event}: {cause(err)}")
        else:
            self._record("notified", f"{event} via {', '.join(c.value for c in channels)}")

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
        """Every stage change goes through here: state, timeline and search attributes at once."""
        metrics.stage_changed(self._stage.value, stage.value, event, self._stage_since)
        self._stage_since = workflow.now()
        self._stage = stage
        self._deadline = deadline
        self._due_at = deadline.due_at if deadline else due_at
        self._sla_breached = False
        self._record(event, detail)
        self._publish()

    def _return(self, by: ReturnedBy, reasons: list[Reason], event: str, detail: str | None = None) -> None:
        self._returned = ReturnedView(by=by, reasons=reasons)
        detail = detail or ", ".join(r.error for r in reasons)[:500]
        self._enter(Stage.RETURNED, event, detail, due_at=workflow.now() + self._policy.resubmission_window)

    def _record(self, event: str, detail: str | None = None) -> None:
        self._timeline.append(TimelineEntry(at=workflow.now(), event=event, detail=detail))
        workflow.logger.info("filing %s: %s", event, detail or "", extra=self._log_context())
        metrics.event_recorded(event)

    def _log_context(self) -> dict[str, Any]:
        """What every log line of a filing carries besides its id (the SDK adds that)."""
        return {"stage": self._stage.value, "attempt": self._attempt}

    def _publish(self) -> None:
        """Upsert the §7 search attributes that changed, in one command."""
        values: dict[str, Any] = {
            sa.FILING_KIND.name: self._kind.value,
            sa.PROVINCE.name: self._province(),
            sa.APP_ID.name: self._app.appid,
            sa.FILING_STAGE.name: self._stage.value,
            sa.FILING_ATTEMPT.name: self._attempt,
            sa.SLA_BREACHED.name: self._sla_breached,
            sa.DEADLINE_PROVISIONAL.name: bool(self._deadline and self._deadline.provisional),
            sa.STAGE_DEADLINE.name: self._due_at,
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

    # ------------------------------------------------------ reviewer signals

    @workflow.signal(name="platform_decision")
    def platform_decision(self, payload: RawValue) -> None:
        decision = self._decode("platform_decision", payload, PlatformDecision)
        if decision is None:
            return
        why = self._why_not(Stage.PLATFORM_REVIEW, decision.attempt, self._platform_decision)
        if why is None and decision.decision is Decision.REJECT and not decision.reasons:
            why = "a reject needs at least one reason"
        if why:
            self._ignore("platform_decision", f"{decision.decision.value} by {decision.reviewer}", why)
        else:
            self._platform_decision = decision

    @workflow.signal(name="province_decision")
    def province_decision(self, payload: RawValue) -> None:
        decision = self._decode("province_decision", payload, ProvinceDecision)
        if decision is None:
            return
        why = self._why_not(Stage.PROVINCIAL_REVIEW, decision.attempt, self._province_decision)
        if why is None:
            why = self._why_not_province_decision(decision)
        if why:
            self._ignore("province_decision", f"{decision.decision.value} by {decision.reviewer}", why)
        else:
            self._province_decision = decision

    @workflow.update(name="decide_platform")
    def decide_platform(self, payload: RawValue) -> DecisionResult:
        """`platform_decision` as an update, for the filing service: answered as applied, or
        refused by the validator with why (L9), leaving no trace."""
        self._platform_decision = parse_update(PlatformDecision, payload)
        return DecisionResult(applied=True, stage=self._stage, attempt=self._attempt)

    @decide_platform.validator
    def _validate_decide_platform(self, payload: RawValue) -> None:
        decision = parse_update(PlatformDecision, payload)
        why = self._why_not(Stage.PLATFORM_REVIEW, decision.attempt, self._platform_decision)
        if why is None and decision.decision is Decision.REJECT and not decision.reasons:
            why = "a reject needs at least one reason"
        if why:
            raise Refused(why)

    @workflow.update(name="decide_province")
    def decide_province(self, payload: RawValue) -> DecisionResult:
        decision = parse_update(ProvinceDecision, payload)
        self._province_decision = decision
        return DecisionResult(applied=True, stage=self._stage, attempt=self._attempt,
                              filing_number=decision.filing_number)

    @decide_province.validator
    def _validate_decide_province(self, payload: RawValue) -> None:
        decision = parse_update(ProvinceDecision, payload)
        why = self._why_not(Stage.PROVINCIAL_REVIEW, decision.attempt, self._province_decision)
        if why is None:
            why = self._why_not_province_decision(decision)
        if why:
            raise Refused(why)

    @workflow.signal(name="calendar_updated")
    def calendar_updated(self, _: CalendarUpdated | None = None) -> None:
        if self._deadline is not None and self._deadline.provisional:
            self._calendar_changed = True

    def _decode(self, signal: str, payload: RawValue, model: type[M]) -> M | None:
        """Decode a signal ourselves, so that a malformed one is recorded as ignored (L9)
        instead of being dropped by the SDK without a trace."""
        try:
            return workflow.payload_converter().from_payload(payload.payload, model)
        except Exception as err:  # any payload at all: recorded, never a failed workflow task
            self._ignore(signal, "malformed payload", schema_errors(err))
            return None

    def _why_not(self, stage: Stage, attempt: int | None, pending: object) -> str | None:
        if self._stage is not stage:
            return f"the filing is in stage {self._stage.value}, not {stage.value}"
        if attempt is not None and attempt != self._attempt:
            return f"it names attempt {attempt}; the current attempt is {self._attempt}"
        if pending is not None:
            return "a decision for this attempt is already recorded"
        return None

    def _why_not_province_decision(self, decision: ProvinceDecision) -> str | None:
        if decision.decision is Decision.REJECT:
            return None if decision.reasons else "a reject needs at least one reason"
        number = decision.filing_number
        if number is None:
            if self._kind.references_filing:
                return None  # a change or cancellation keeps the filing number it names
            return "an approval must carry the issued filing number"
        try:
            parsed = parse_filing_number(number, mini_program=True)
        except InvalidFilingNumber as err:
            return f"filing number {number!r} is malformed: {err}"
        if parsed.province.prefix != self._province():
            return f"filing number {number} is of {parsed.province.name}, the subject is in {self._app.subject.address.province}"
        return None

    def _ignore(self, signal: str, what: str, why: str) -> None:
        self._record("decision_ignored", f"{signal} {what}: {why}")

    # --------------------------------------------------- applicant updates

    @workflow.update(name="verify_sms_code")
    async def verify_sms_code(self, payload: RawValue) -> SmsVerifyResult:
        entry = parse_update(SmsCodeEntry, payload)
        async with self._sms_lock:
            verifier = self._verifiers[entry.mobile]
            if verifier.verified:
                return self._sms_answer("verified", verifier)
            if self._stage is not Stage.SMS_VERIFICATION or verifier.digest is None or verifier.attempts_left == 0:
                return self._sms_answer("no_valid_code", verifier)
            ok = await workflow.execute_local_activity_method(
                SmsActivities.check_sms_code,
                CodeCheck(
                    filing_id=self._filing_id(),
                    attempt=self._attempt,
                    mobile=verifier.mobile,
                    resend=verifier.resend,
                    digest=verifier.digest,
                    code=entry.code,
                    id_last6=entry.id_last6,
                    expected_id_last6=verifier.id_last6,
                ),
                start_to_close_timeout=LOCAL_TIMEOUT,
                retry_policy=LOCAL_RETRY,
            )
            if self._stage is not Stage.SMS_VERIFICATION:
                return self._sms_answer("no_valid_code", verifier)
            masked = mask_mobile(verifier.mobile)
            if ok:
                verifier.verified = True
                self._record("sms_verified", masked)
                return self._sms_answer("verified", verifier)
            verifier.attempts_left -= 1
            self._record("sms_wrong_code", f"{masked}: {verifier.attempts_left} attempts left")
            if verifier.attempts_left == 0 and verifier.resends_left == 0:
                self._sms_exhausted = True
            return self._sms_answer("wrong_code", verifier)

    @verify_sms_code.validator
    def _validate_sms_entry(self, payload: RawValue) -> None:
        self._require_sms_verifier(parse_update(SmsCodeEntry, payload).mobile)

    @workflow.update(name="request_sms_resend")
    async def request_sms_resend(self, payload: RawValue) -> SmsResendResult:
        request = parse_update(SmsResendRequest, payload)
        async with self._sms_lock:
            verifier = self._verifiers[request.mobile]
            masked = mask_mobile(verifier.mobile)
            if verifier.verified:
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="already_verified")
            if verifier.resends_left == 0:
                self._record("sms_resend_refused", f"{masked}: no resend left")
                return SmsResendResult(sent=False, resends_left=0, reason="resend_limit_reached")
            if self._stage is not Stage.SMS_VERIFICATION or verifier.digest is None:
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="no_code_sent_yet")
            # The previous code is void from now on, whatever happens to the new one.
            verifier.resends_left -= 1
            verifier.resend += 1
            verifier.digest, verifier.attempts_left = None, 0
            if not await self._send_code(verifier):
                self._sms_undeliverable = True
                return SmsResendResult(sent=False, resends_left=verifier.resends_left, reason="sms_undeliverable")
            return SmsResendResult(sent=True, resends_left=verifier.resends_left)

    @request_sms_resend.validator
    def _validate_resend(self, payload: RawValue) -> None:
        self._require_sms_verifier(parse_update(SmsResendRequest, payload).mobile)

    def _require_sms_verifier(self, mobile: str) -> None:
        if self._stage is not Stage.SMS_VERIFICATION:
            raise Refused(f"the filing is in stage {self._stage.value}, not SMS_VERIFICATION: no code is waiting")
        if mobile not in self._verifiers:
            raise Refused(
                f"mobile {mask_mobile(mobile)} is not a verifier of this filing; "
                f"verifiers: {', '.join(mask_mobile(m) for m in self._verifiers)}"
            )

    @workflow.update(name="resubmit")
    def resubmit(self, payload: RawValue) -> ResubmitResult:
        resubmission = parse_update(Resubmission, payload)
        self._app = resubmission.application
        self._attempt += 1
        self._enter(Stage.SUBMITTED, "resubmitted", f"attempt {self._attempt}")
        return ResubmitResult(attempt=self._attempt)

    @resubmit.validator
    def _validate_resubmission(self, payload: RawValue) -> None:
        resubmission = parse_update(Resubmission, payload)
        if self._stage is not Stage.RETURNED:
            raise Refused(f"only a RETURNED filing can be resubmitted; the filing is in stage {self._stage.value}")
        new = resubmission.application
        if new.appid != self._app.appid:
            raise Refused(f"application.mini_program.appid must stay {self._app.appid}: a new appid is a new filing")
        if new.kind is not self._kind:
            raise Refused(f"application.kind must stay {self._kind.value}: a different kind is a new filing")
        size = len(new.model_dump_json().encode())
        if size > MAX_APPLICATION_BYTES:
            raise Refused(f"application is {size} bytes; at most {MAX_APPLICATION_BYTES} bytes are accepted")
        violations = check_application(new, workflow.now(), categories=self._preapproval_categories)
        if violations:
            listed = "; ".join(f"{v.field}: {v.key}: {v.message_en}" for v in violations)
            raise Refused(f"the application breaks {len(violations)} rule(s): {listed}")

    @workflow.update(name="withdraw")
    def withdraw(self, payload: RawValue) -> WithdrawResult:
        request = parse_update(WithdrawRequest, payload)
        self._enter(Stage.WITHDRAWN, "withdrawn", request.reason)
        return WithdrawResult(stage=self._stage)

    @withdraw.validator
    def _validate_withdraw(self, payload: RawValue) -> None:
        parse_update(WithdrawRequest, payload)
        approved = self._platform_decision is not None and self._platform_decision.decision is Decision.APPROVE
        if self._stage not in WITHDRAWABLE or (self._stage is Stage.PLATFORM_REVIEW and approved):
            raise Refused(
                f"withdraw is allowed in SUBMITTED, PLATFORM_REVIEW and RETURNED only; the filing is in stage "
                f"{self._stage.value}{' and has passed platform review' if approved else ''}"
            )

    # --------------------------------------------------------------- query

    @workflow.query(name="status")
    def status(self) -> FilingStatus:
        return FilingStatus(
            filing_id=self._filing_id(),
            kind=self._kind,
            stage=self._stage,
            attempt=self._attempt,
            deadline=DeadlineView(
                due_at=self._due_at,
                provisional=bool(self._deadline and self._deadline.provisional),
                sla_breached=self._sla_breached,
            )
            if self._due_at
            else None,
            sms=SmsView(
                expires_at=self._sms_expires_at,
                verifiers=[
                    VerifierView(
                        mobile=mask_mobile(v.mobile),
                        verified=v.verified,
                        attempts_left=v.attempts_left,
                        resends_left=v.resends_left,
                    )
                    for v in self._verifiers.values()
                ],
            )
            if self._verifiers
            else None,
            returned=self._returned,
            filing_number=self._filing_number,
            timeline=self._timeline,
            appid=self._app.appid,
            province=self._province(),
        )

    @workflow.query(name="application")
    def application(self) -> ApplicationView:
        """The application in clear, for the filing service (which audits every read)."""
        return ApplicationView(
            filing_id=self._filing_id(), kind=self._kind, stage=self._stage, attempt=self._attempt,
            application=self._app, materials=[sha for _, sha in self._app.materials()],
        )

    # ------------------------------------------------------------- helpers

    def _sms_answer(self, result: str, verifier: Verifier) -> SmsVerifyResult:
        return SmsVerifyResult(
            result=result,  # type: ignore[arg-type]
            attempts_left=verifier.attempts_left,
            all_verified=all(v.verified for v in self._verifiers.values()),
        )

    def _filing_id(self) -> str:
        return workflow.info().workflow_id

    def _province(self) -> str:
        province = find_province(self._app.subject.address.province)
        return province.prefix if province else self._app.subject.address.province


_UNSET = object()

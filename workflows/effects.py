"""What `FilingWorkflow` does to its state and to the outside: every stage change (state,
timeline, search attributes at once) and every outside effect (hand-overs, SMS sends,
notices), each an activity carrying an idempotency key that names the filing.

A base of the workflow class, kept apart so `workflows/filing.py` reads as the lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from activities.sms import SendCodeRequest, SmsActivities
    from filing.calendar import Deadline
    from filing.masking import mask_mobile
    from filing.messages import (
        DecisionResult,
        ProvinceDecision,
        Reason,
        ReturnedBy,
        ReturnedView,
        Stage,
        TimelineEntry,
    )
    from filing.policy import FilingPolicy
    from filing.ports import Channel, HandOver, Notice, Recipient
    from filing.sms_codes import code_context
    from filing.state import FilingState, PendingNotice, VerifierState
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.support import (
        EFFECT_ATTEMPT_TIMEOUT,
        EFFECT_LOCAL_RETRY_THRESHOLD,
        EFFECT_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        cause,
        return_reason,
    )


class FilingEffects:
    """State changes and outside effects (a base of `FilingWorkflow`)."""

    # The state every part of the workflow shares (set by `FilingWorkflow.__init__`).
    _policy: FilingPolicy
    #: Where clients reach the codec server, as the starter said (None: it did not).
    _codec_endpoint: str | None
    _s: FilingState
    #: Effects as regular activities (the current shape), or as the local activities a filing
    #: started before `EFFECTS_AS_ACTIVITIES` recorded.
    _shape: bool
    _sms_lock: asyncio.Lock
    #: Notices on their way (regular activities, not awaited by the main flow).
    _deliveries: set[asyncio.Task[None]]
    _resubmitted: bool
    #: Runs bounded (`RUNS_BOUNDED`): notices travel in the carried state; run length is growth.
    _bounded: bool
    #: Ignored messages logged in this run (the rest are counted, not logged: a flood of
    #: thousands must not make one workflow task slow enough to trip deadlock detection).
    _ignored_logged: int
    #: The answer to the province decision the main flow last took (for `decide_province`).
    _province_answer: tuple[ProvinceDecision, DecisionResult] | None
    _published: dict[str, Any]
    #: The earliest instant this run's clock may read (`_now`): the due instant of the last
    #: timer that woke the run.
    _clock_floor: datetime | None

    def _now(self) -> datetime:
        """The workflow's clock, never before an instant the run has reached.

        A timer-driven wake-up (a window closing, an SLA passing) happens at its due instant,
        but the SDK's clock can lag it: an activation built from a history that ends with
        `TimerFired, WorkflowTaskScheduled` (a status query's history, dispatched before the
        timer fired and read after) carries the previous task's start time, and a return
        stamped with it said the SMS window had closed 12 s early. `_reach(due)` raises the
        floor; whatever the workflow stamps or counts from reads `_now()`. Deterministic: the
        floor comes from the carried state, the clock from the history."""
        now = workflow.now()
        floor = self._clock_floor
        return floor if floor is not None and floor > now else now

    def _reach(self, instant: datetime) -> None:
        """A timer for `instant` fired: the run's clock reads no earlier from now on."""
        if self._clock_floor is None or instant > self._clock_floor:
            self._clock_floor = instant

    def _enter(
        self,
        stage: Stage,
        event: str,
        detail: str | None = None,
        *,
        deadline: Deadline | None = None,
        due_at: datetime | None = None,
        reasons: int | None = None,
    ) -> None:
        """Every stage change goes through here: state, timeline and search attributes at
        once. Decisions accepted for the stage left do not carry over (L9)."""
        s = self._s
        metrics.stage_changed(s.stage.value, stage.value, event, s.stage_since)
        s.stage_since = self._now()
        s.stage = stage
        s.deadline = deadline
        s.due_at = deadline.due_at if deadline else due_at
        s.sla_breached = False
        s.platform_decision = s.province_decision = None
        self._record(event, detail, reasons=reasons)
        self._publish()

    def _refuse(self, by: ReturnedBy, reasons: list[Reason], event: str, detail: str | None = None) -> None:
        """A check, a desk or a reviewer said no: an application goes back to the applicant
        (RETURNED, L6); a cancellation ends (REJECTED), the filing staying active."""
        if self._s.route.returns:
            self._return(by, reasons, event, detail)
            return
        self._s.returned = ReturnedView(by=by, reasons=reasons)
        self._enter(Stage.REJECTED, event, detail or ", ".join(r.error for r in reasons)[:500], reasons=len(reasons))

    def _return(self, by: ReturnedBy, reasons: list[Reason], event: str, detail: str | None = None) -> None:
        s = self._s
        s.returned = ReturnedView(by=by, reasons=reasons)
        s.returned_notified = False
        detail = detail or ", ".join(r.error for r in reasons)[:500]
        self._enter(Stage.RETURNED, event, detail, due_at=self._now() + self._policy.resubmission_window,
                    reasons=len(reasons))

    def _record(self, event: str, detail: str | None = None, *, log: bool = True, reasons: int | None = None) -> None:
        self._s.record(TimelineEntry(at=self._now(), event=event, detail=detail, reasons=reasons))
        if log:
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

    async def _effect(
        self, method: Callable[..., Any], arg: Any, *, summary: str, task_queue: str | None = None,
        give_up_after: timedelta | None = None,
    ) -> Any:
        """An outside effect: a regular activity (an outage shows as a pending activity with
        its attempts and last failure), or, for a filing of the earlier shape, the local
        activity it recorded. Gives up after `outside_service_timeout` (ActivityError), or
        `give_up_after` for an effect a previous run began."""
        if self._shape:
            return await workflow.execute_activity_method(
                method,
                arg,
                task_queue=task_queue,
                start_to_close_timeout=EFFECT_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=give_up_after or self._policy.outside_service_timeout,
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
            idempotency_key=f"{self._key_prefix()}:{s.attempt}:{stage.value}",
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
        key = f"{self._key_prefix()}:{s.attempt}:sms:{verifier.mobile}:{verifier.resend}"
        # Codes of the earlier shape were digested with the filing id and attempt as context.
        context = key if self._shape else code_context(self._filing_id(), s.attempt, verifier.mobile, verifier.resend)
        request = SendCodeRequest(
            filing_id=self._filing_id(), mobile=verifier.mobile, idempotency_key=key, context=context,
            key_id=key_id, window=self._policy.sms_window,
            # A resend's window is the one already open (L3: a resend does not extend it).
            expires_at=s.sms_expires_at if verifier.resend and s.stage is Stage.SMS_VERIFICATION else None,
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
            idempotency_key=f"{self._key_prefix()}:{s.attempt}:{event}:{s.notices}",
            recipients=self._recipients(channels),
            # What the notice's text names (rendered by the notifier activity): data only,
            # no command changes, so running filings replay as they recorded.
            appid=s.appid,
            kind=s.kind.value,
            service_name=s.application.mini_program.name if s.application is not None else None,
            stage=s.stage.value,
            due_at=s.due_at,
            province=s.province,
            returned_by=s.returned.by.value if s.returned is not None else None,
        )
        if not self._shape:
            await self._deliver(notice)  # the earlier shape waited for each notice
            return
        pending = None
        if self._bounded:
            pending = PendingNotice(notice=notice, give_up_at=self._now() + self._policy.outside_service_timeout)
            s.pending_notices.append(pending)
        self._send_notice(notice, pending)

    def _send_notice(self, notice: Notice, pending: PendingNotice | None) -> None:
        """Beside the main flow; a pending notice leaves the carried state once delivered or given up."""
        task = asyncio.create_task(self._deliver(notice, pending))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    def _resume_notices(self) -> None:
        """The notices the previous run had on their way, sent again under their own keys (the
        notifier answers a repeated key without a second notice)."""
        for pending in self._s.pending_notices:
            self._send_notice(pending.notice, pending)

    async def _deliver(self, notice: Notice, pending: PendingNotice | None = None) -> None:
        try:
            if pending is None:
                await self._effect(NotifyActivities.notify, notice, summary=f"notice {notice.event}")
            else:
                left = pending.give_up_at - self._now()
                if left <= timedelta(0):
                    raise ApplicationError(f"not delivered within {self._policy.outside_service_timeout}")
                await self._effect(NotifyActivities.notify, notice, summary=f"notice {notice.event}", give_up_after=left)
        except FailureError as err:
            _reraise_cancellation(err)
            workflow.logger.warning("notification %s not delivered: %s", notice.event, cause(err), extra=self._log_context())
            self._record("notification_failed", f"{notice.event}: {cause(err)}")
        else:
            self._record("notified", f"{notice.event} via {', '.join(c.value for c in notice.channels)}")
        if pending is not None:
            key = notice.idempotency_key
            self._s.pending_notices = [p for p in self._s.pending_notices if p.notice.idempotency_key != key]

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

    def _filing_id(self) -> str:
        return workflow.info().workflow_id

    def _key_prefix(self) -> str:
        """What every effect's idempotency key starts with: the filing itself (its first run);
        for a filing of the earlier shape, its workflow id, as the keys it made were built, so
        that an effect it began is retried under the key it began with."""
        return self._s.filing_key if self._shape else self._filing_id()

    def _named_number(self) -> str | None:
        """The filing number a CHANGE or a cancellation acts on."""
        if self._s.cancellation is not None:
            return self._s.cancellation.filing_number
        return self._s.application.filing_number if self._s.application else None


def _reraise_cancellation(err: FailureError) -> None:
    """An activity that failed is handled (a local activity's failure may arrive as the
    bare `ApplicationError`, hence `FailureError`); a cancellation (the worker shutting
    down, the workflow cancelled) is not a failure to recover from."""
    if isinstance(err, CancelledError):
        raise err


_UNSET = object()

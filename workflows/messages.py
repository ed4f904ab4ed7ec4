"""The messages of SPEC §7 a filing answers: reviewers' decisions (signals for the `temporal`
CLI, updates for the filing service), the applicant's and the verification site's updates,
and the queries. Handlers only record what arrived and answer; the main flow
(`workflows/filing.py`) acts on it.

Validators refuse what does not fit (wrong stage, stale attempt, no-op) before anything is
written to the history; ignored signals are counted and recorded without their payloads
(L9, L10).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.sms import UNKNOWN_SMS_KEY, CodeCheck, SmsActivities
    from filing.filing_number import InvalidFilingNumber, parse_filing_number
    from filing.masking import mask_mobile
    from filing.messages import (
        WITHDRAWABLE,
        ApplicationView,
        CalendarUpdated,
        DeadlineView,
        Decision,
        DecisionResult,
        FilingStatus,
        PlatformDecision,
        ProvinceDecision,
        Resubmission,
        ResubmitResult,
        SmsCodeEntry,
        SmsResendRequest,
        SmsResendResult,
        SmsVerifyResult,
        SmsView,
        Stage,
        VerifierView,
        WithdrawRequest,
        WithdrawResult,
    )
    from filing.rules import MAX_APPLICATION_BYTES, check_application
    from filing.sms_codes import code_context
    from filing.state import VerifierState
    from workflows.support import (
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        M,
        Refused,
        cause,
        cause_type,
        parse_update,
        schema_errors,
    )

from workflows.effects import FilingEffects, _reraise_cancellation

A = TypeVar("A", bound=BaseModel)
#: Ignored messages logged per run; every one is counted and on the timeline.
IGNORED_LOGGED_PER_RUN = 20


class FilingMessages(FilingEffects):
    """Signals, updates and queries (a base of `FilingWorkflow`)."""

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
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        self._s.platform_decision = parse_update(PlatformDecision, payload)
        return self._answer(DecisionResult(applied=True, stage=self._s.stage, attempt=self._s.attempt))

    @decide_platform.validator
    def _validate_decide_platform(self, payload: RawValue) -> None:
        if self._given_answer() is not None:
            return
        why = self._why_not_platform(parse_update(PlatformDecision, payload))
        if why:
            raise Refused(why)

    @workflow.update(name="decide_province")
    async def decide_province(self, payload: RawValue) -> DecisionResult:
        """`province_decision` answered once the registry took the number (L8), or not."""
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        decision = parse_update(ProvinceDecision, payload)
        s, attempt = self._s, self._s.attempt
        s.province_decision = decision
        await workflow.wait_condition(
            lambda: (self._province_answer is not None and self._province_answer[0] is decision)
            or s.stage is not Stage.PROVINCIAL_REVIEW
            or s.attempt != attempt
        )
        if self._province_answer is not None and self._province_answer[0] is decision:
            return self._answer(self._province_answer[1])
        return self._answer(DecisionResult(
            applied=False, stage=s.stage, attempt=s.attempt,
            why=f"the filing left PROVINCIAL_REVIEW (now {s.stage.value}) before the decision was taken",
        ))

    @decide_province.validator
    def _validate_decide_province(self, payload: RawValue) -> None:
        if self._given_answer() is not None:
            return
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

    def _personal(self, model: type[M], payload: RawValue) -> M:
        """An update carrying personal data: refused unless it came through the codec, the
        refusal naming the codec address this filing was started with."""
        return parse_update(model, payload, personal=True, codec=self._codec_endpoint)

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
        """L9/L10: counted, and recorded without the message's payload. Only the first few of a
        run are logged: a flood of thousands reaches the worker in one workflow task, and a
        log line each made that task slower than the SDK's deadlock detection allows (2 s),
        so it failed, and every retry carried more of them (tests/workflow/test_bounded_history.py)."""
        self._s.ignored[message] = self._s.ignored.get(message, 0) + 1
        log = self._ignored_logged < IGNORED_LOGGED_PER_RUN
        self._ignored_logged += 1
        self._record("decision_ignored", f"{message} {what}: {why}"[:300], log=log)

    def _given_answer(self) -> dict[str, object] | None:
        """The answer this update was given when it was applied in an earlier run: Temporal
        deduplicates an update id within a run only, so a client's retry that reaches the next
        run (a resubmission always continues as new) is answered the same, not applied again."""
        info = workflow.current_update_info()
        return self._s.answers.get(info.id) if info is not None else None

    def _answer(self, answer: A) -> A:
        """Keep the answer of an applied update under its id, for a retry in a later run."""
        info = workflow.current_update_info()
        if info is not None:
            self._s.remember(info.id, answer.model_dump(mode="json"))
        return answer

    @workflow.update(name="verify_sms_code")
    async def verify_sms_code(self, payload: RawValue) -> SmsVerifyResult:
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        return self._answer(await self._verify_sms_code(self._personal(SmsCodeEntry, payload)))

    async def _verify_sms_code(self, entry: SmsCodeEntry) -> SmsVerifyResult:
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
        if self._given_answer() is not None:
            return
        verifier = self._require_sms_verifier(self._personal(SmsCodeEntry, payload).mobile)
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
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        request = self._personal(SmsResendRequest, payload)
        if not self._shape:
            return self._answer(await self._resend_in_update(request))
        return self._answer(await self._request_resend(request))

    async def _request_resend(self, request: SmsResendRequest) -> SmsResendResult:
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
        if self._given_answer() is not None:
            return
        verifier = self._require_sms_verifier(self._personal(SmsResendRequest, payload).mobile)
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
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        resubmission = self._personal(Resubmission, payload)
        s = self._s
        s.application = resubmission.application
        s.attempt += 1
        self._resubmitted = True  # the main flow continues as new (L10)
        self._enter(Stage.SUBMITTED, "resubmitted", f"attempt {s.attempt}")
        return self._answer(ResubmitResult(attempt=s.attempt))

    @resubmit.validator
    def _validate_resubmission(self, payload: RawValue) -> None:
        if self._given_answer() is not None:
            return
        resubmission = self._personal(Resubmission, payload)
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
            new, self._now(),
            categories=s.preapproval_index or frozenset(s.preapproval_categories),
            province_lists=s.province_materials,
            service_types=s.service_types, keywords=s.preapproval_keywords,
        )
        if violations:
            listed = "; ".join(f"{v.field}: {v.key}: {v.message_en}" for v in violations)
            raise Refused(f"the application breaks {len(violations)} rule(s): {listed}")

    @workflow.update(name="withdraw")
    def withdraw(self, payload: RawValue) -> WithdrawResult:
        if (given := self._given_answer()) is not None:
            return given  # type: ignore[return-value]
        request = parse_update(WithdrawRequest, payload)
        self._enter(Stage.WITHDRAWN, "withdrawn", request.reason)
        return self._answer(WithdrawResult(stage=self._s.stage))

    @withdraw.validator
    def _validate_withdraw(self, payload: RawValue) -> None:
        if self._given_answer() is not None:
            return
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

    def _sms_answer(self, result: str, verifier: VerifierState) -> SmsVerifyResult:
        return SmsVerifyResult(
            result=result,  # type: ignore[arg-type]
            attempts_left=verifier.attempts_left,
            all_verified=all(v.verified for v in self._s.verifiers),
        )

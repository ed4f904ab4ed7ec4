"""L1: the worker re-checks what depends on the clock or outside services (R2, R7)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from filing.messages import Violation
from filing.models import Application, Model
from filing.ports import FaceVerifier
from filing.preapproval import load_preapproval_categories
from filing.rules import CLOCK_RULES, check_application


class SubmissionCheck(Model):
    violations: list[Violation]
    #: The R6 category list in force, kept by the workflow so that its `resubmit`
    #: validator checks the same rules without reading a file itself.
    preapproval_categories: list[str]


class SubmissionCheckRequest(Model):
    application: Application
    #: The workflow's clock at submission: the rules are judged at that instant.
    submitted_at: datetime


class SubmissionActivities:
    def __init__(self, face_verifier: FaceVerifier) -> None:
        self._face = face_verifier

    @activity.defn(name="check_submission")
    async def check_submission(self, request: SubmissionCheckRequest) -> SubmissionCheck:
        application, now = request.application, request.submitted_at
        violations = check_application(application, now, rules=CLOCK_RULES)
        face_field = "mini_program_principal.face_verification"
        if not any(v.field.startswith(face_field) for v in violations):
            record = application.mini_program_principal.face_verification
            violations += [
                Violation(
                    field=face_field,
                    key="R7.face_verification_rejected",
                    message_zh=f"人脸核身记录未通过核验:{problem}",
                    message_en=f"the face-verification service rejected the record: {problem}",
                )
                for problem in await self._face.problems(record, now)
            ]
        return SubmissionCheck(
            violations=violations, preapproval_categories=sorted(load_preapproval_categories())
        )

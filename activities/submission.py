"""L1: the worker checks the whole submission again (SPEC §4 L1): any client may start a
workflow, so the workflow is the boundary.

An application is checked against every rule (R1–R8, R10) at the submission instant,
against the registry (R8), the material store (R10) and the face-verification service
(R7). A cancellation request is checked against the registry, which also says whom to
text (the person on record for its kind, SPEC §2). Violations are data, answered to the
workflow, which returns (or, for a cancellation, rejects) the filing with them; an outside
service that is down raises, is retried, and escalated by the workflow when it stays down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import activity

from filing.materials import material_violations
from filing.messages import Violation
from filing.models import Application, CancellationRequest, FilingKind, Model
from filing.ports import FaceVerifier, MaterialStore, Registry
from filing.preapproval import load_preapproval_index, load_preapproval_keywords
from filing.province_materials import ProvinceMaterials, load_province_materials
from filing.references import reference_violations
from filing.rules import ALL_RULES, check_application
from filing.service_types import load_service_types

FACE_FIELD = "mini_program_principal.face_verification"


class VerifierOnRecord(Model):
    """Whom a cancellation texts: the person the registry holds for its kind."""

    mobile: str
    id_last6: str


class SubmissionCheck(Model):
    violations: list[Violation]
    #: The R6 and R10 data in force, kept by the workflow so that its `resubmit`
    #: validator checks the same rules without reading a file itself.
    preapproval_categories: list[str]
    preapproval_index: dict[str, str] = {}
    province_materials: ProvinceMaterials | None = None
    #: The service-content type list and the R6 keyword screen in force (empty in filings
    #: checked before they existed: the validator then skips them).
    service_types: list[str] = []
    preapproval_keywords: dict[str, list[str]] = {}
    #: A cancellation's verifiers, from the registry (an application names its own).
    verifiers: list[VerifierOnRecord] = []


class SubmissionCheckRequest(Model):
    application: Application | None = None
    cancellation: CancellationRequest | None = None
    #: The workflow's clock at submission: the rules are judged at that instant.
    submitted_at: datetime


class SubmissionActivities:
    def __init__(
        self, face_verifier: FaceVerifier, registry: Registry, materials: MaterialStore,
        province_lists: Callable[[], ProvinceMaterials] = load_province_materials,
    ) -> None:
        """`province_lists` reads R10's lists in force (the registry database's import,
        `registry.province_materials`; by default the shipped list)."""
        self._face = face_verifier
        self._registry = registry
        self._materials = materials
        self._province_lists = province_lists

    @activity.defn(name="check_submission")
    async def check_submission(self, request: SubmissionCheckRequest) -> SubmissionCheck:
        # The data files are read once per process: off the event loop, like every file read here.
        index = await asyncio.to_thread(load_preapproval_index)
        types = await asyncio.to_thread(load_service_types)
        keywords = await asyncio.to_thread(load_preapproval_keywords)
        if request.cancellation is not None:
            return await self._check_cancellation(request.cancellation)
        assert request.application is not None
        application, now = request.application, request.submitted_at
        lists = await asyncio.to_thread(self._province_lists)  # an outage raises: retried, then escalated
        violations = check_application(application, now, categories=index, rules=ALL_RULES - {"R10"},
                                       service_types=types, keywords=keywords)
        violations += await material_violations(application, self._materials, province_lists=lists)
        violations += await reference_violations(application, self._registry)
        if not any(v.field.startswith(FACE_FIELD) for v in violations):
            record = application.mini_program_principal.face_verification
            violations += [
                Violation(
                    field=FACE_FIELD,
                    key="R7.face_verification_rejected",
                    message_zh=f"人脸核身记录未通过核验:{problem}",
                    message_en=f"the face-verification service rejected the record: {problem}",
                )
                for problem in await self._face.problems(record, now)
            ]
        return SubmissionCheck(
            violations=violations, preapproval_categories=sorted(set(index.values())),
            preapproval_index=index, province_materials=lists,
            service_types=list(types), preapproval_keywords=keywords,
        )

    async def _check_cancellation(self, request: CancellationRequest) -> SubmissionCheck:
        violations = await reference_violations(request, self._registry)
        if violations or not request.kind.needs_sms:
            return SubmissionCheck(violations=violations, preapproval_categories=[])
        record = await self._registry.mini_program(request.appid)
        people = await self._registry.people_on_record(record.service_number) if record else None
        if people is None:
            return SubmissionCheck(
                violations=[Violation(
                    field="filing_number", key="R8.no_person_on_record",
                    message_zh="备案库中没有该备案的负责人信息，无法发送核验短信，请联系平台",
                    message_en="the registry holds no principal for this filing, so no verification SMS can be "
                               "sent: ask the platform's operators",
                )],
                preapproval_categories=[],
            )
        person = people.subject_principal if request.kind is FilingKind.CANCEL_SUBJECT else people.mini_program_principal
        verifier = VerifierOnRecord(mobile=person.mobile, id_last6=person.identity_document.number[-6:])
        return SubmissionCheck(violations=[], preapproval_categories=[], verifiers=[verifier])

"""`GET /v1/filings/{appid}/on-record` (issue 19): before a cancellation the applicant learns
what the registry holds and who its 12381 SMS would go to, masked, from the registry;
nobody else's filing, nobody in clear. And a cancellation's reason type is WeChat's."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from engine.wiring import registry_from_settings
from filing.ids import uscc_check_char
from filing.masking import mask_mobile
from filing.registry import ImportEntry
from service.principal import Role
from tests.service.conftest import Stack, application, fresh_subject_number, key, new_appid


async def test_an_applicant_learns_the_filing_on_record_and_who_a_cancellation_texts(started: Stack) -> None:
    stack, appid = started, new_appid()
    app = application(appid, own_mini_program_principal=True)
    first17 = f"91130000MB{secrets.randbelow(10**7):07d}"  # a company of its own: one subject number per certificate
    assert app.subject.unit_certificate is not None
    certificate = app.subject.unit_certificate.model_copy(update={"number": first17 + uscc_check_char(first17)})
    app = app.model_copy(update={"subject": app.subject.model_copy(update={"unit_certificate": certificate})})
    subject_number = fresh_subject_number("冀")
    registry = registry_from_settings(stack.settings)
    try:
        await registry.import_entries([ImportEntry(application=app, service_number=f"{subject_number}-1X",
                                                   approved_at=datetime.now(UTC) - timedelta(days=30))])
    finally:
        registry.close()
    mine = stack.auth(Role.APPLICANT, appids=[appid])

    answer = await stack.http.get(f"/v1/filings/{appid}/on-record", headers=mine)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["service_number"], body["subject_number"], body["state"]) == (f"{subject_number}-1X", subject_number,
                                                                               "ACTIVE")
    own = app.mini_program_principal.person
    assert own is not None
    assert body["sms_to"] == {"CANCEL_SUBJECT": [mask_mobile(app.subject_principal.mobile)],
                              "CANCEL_MINI_PROGRAM": [mask_mobile(own.mobile)], "CANCEL_ACCESS": []}
    for clear in (app.subject_principal.mobile, own.mobile, app.subject_principal.identity_document.number):
        assert clear not in answer.text

    # Another applicant's token, an unknown appid: the same 404; a reviewer: 403.
    other = await stack.http.get(f"/v1/filings/{appid}/on-record", headers=stack.auth(Role.APPLICANT, appids=[new_appid()]))
    unknown = new_appid()
    nothing = await stack.http.get(f"/v1/filings/{unknown}/on-record", headers=stack.auth(Role.APPLICANT, appids=[unknown]))
    assert other.status_code == nothing.status_code == 404
    reviewer = await stack.http.get(f"/v1/filings/{appid}/on-record", headers=stack.auth(Role.PLATFORM_REVIEWER))
    assert reviewer.status_code == 403

    # A reason type outside WeChat's list is refused naming the field; nothing starts.
    refused = await stack.http.post("/v1/cancellations", headers=mine | key(), json={
        "kind": "CANCEL_MINI_PROGRAM", "appid": appid, "filing_number": f"{subject_number}-1X",
        "reason_type": "BORED", "reason": "停止运营"})
    assert refused.status_code == 422, refused.text
    assert any(e["field"].endswith("reason_type") for e in refused.json()["errors"]), refused.text
    status = await stack.http.get(f"/v1/filings/{appid}", headers=mine)
    assert status.status_code == 404

"""A filing carried through HTTP alone, over the days it takes, by the four roles with their
own tokens: the applicant, the platform reviewer, the MIIT verification site and the
provincial reviewer; then anyone looks it up. A second mini-program of the same subject
follows, numbered under the subject's number by `next-number`."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, select

from registry.tables import audit_reads
from service.principal import Role
from tests.processes import wait_until
from tests.service.conftest import Stack, application, as_json, fresh_subject_number, key, new_appid, service_log


async def desk(stack: Stack, headers: dict[str, str], appid: str, **filters: str) -> dict:
    async def listed() -> dict | None:
        answer = await stack.http.get("/v1/filings", headers=headers, params=filters)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        return page if any(item["appid"] == appid for item in page["items"]) else None

    return await wait_until(listed, 20, f"{appid} on the desk")


def audit_rows(stack: Stack, appid: str) -> list:
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(audit_reads).where(audit_reads.c.appid == appid)))
    finally:
        engine.dispose()


async def carry_through_sms_and_province(
    stack: Stack, appid: str, mobile: str, id_last6: str, applicant: dict[str, str], site: dict[str, str],
    province: dict[str, str], expect_number: str | None, number: str,
) -> dict:
    # The SMS reaches the verifier's phone; the verifier types a wrong code first, then the right one.
    await stack.stage(appid, "SMS_VERIFICATION", applicant)
    code = await stack.sms_code(mobile)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    typo = await stack.http.post(f"/v1/filings/{appid}/sms/verify", headers=site | key(),
                                 json={"mobile": mobile, "code": wrong, "id_last6": id_last6})
    assert typo.status_code == 200 and typo.json()["result"] == "wrong_code", typo.text
    assert typo.json()["attempts_left"] == 4
    verified = await stack.http.post(f"/v1/filings/{appid}/sms/verify", headers=site | key(),
                                     json={"mobile": mobile, "code": code, "id_last6": id_last6})
    assert verified.json() == {"result": "verified", "attempts_left": 4, "all_verified": True}, verified.text

    # The provincial reviewer finds it on the province's desk and approves with the proposed number.
    await stack.stage(appid, "PROVINCIAL_REVIEW", applicant)
    await desk(stack, province, appid)
    proposed = await stack.http.get(f"/v1/filings/{appid}/next-number", headers=province)
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["number"] == expect_number
    approved = await stack.http.post(f"/v1/filings/{appid}/province-decision", headers=province | key(),
                                     json={"decision": "approve", "filing_number": number})
    assert approved.status_code == 200, approved.text
    assert approved.json()["applied"] is True
    return await stack.stage(appid, "APPROVED", applicant)


async def test_a_filing_from_upload_to_public_lookup_by_http_alone(started: Stack):
    stack = started
    first, second = new_appid(), new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="wx-admin-zhang", appids=[first, second])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-01")
    site = stack.auth(Role.VERIFICATION_SITE, sub="miit-site")
    province = stack.auth(Role.PROVINCE_REVIEWER, sub="冀-07", province="河北")

    # Day 1, morning: the applicant uploads the scans and files the first mini-program; the
    # first try gives the principal's own mobile as the emergency contact (R4): nothing starts.
    app = application(first)
    await stack.upload_materials(applicant)
    careless = as_json(app)
    careless["subject_principal"]["emergency_mobile"] = careless["subject_principal"]["mobile"]
    refused = await stack.http.post("/v1/filings", json=careless, headers=applicant | key())
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["key"][:3]) for e in refused.json()["errors"]] == [("subject_principal.emergency_mobile", "R4.")]
    assert (await stack.http.get(f"/v1/filings/{first}", headers=applicant)).status_code == 404
    created = await stack.http.post("/v1/filings", json=as_json(app), headers=applicant | key())
    assert created.status_code == 201, created.text
    assert created.json() == {"filing_id": f"filing-{first}", "stage": "SUBMITTED", "status": "started"}

    # Day 1, afternoon: filing again with a changed name while it is under review is refused (R9).
    await stack.stage(first, "PLATFORM_REVIEW", applicant)
    renamed = as_json(app) | {"mini_program": as_json(app)["mini_program"] | {"name": "示例小程序二"}}
    again = await stack.http.post("/v1/filings", json=renamed, headers=applicant | key())
    assert again.status_code == 409 and again.json()["stage"] == "PLATFORM_REVIEW", again.text

    # The platform reviewer reads it (audited) and returns it, per field.
    page = await desk(stack, platform, first)
    assert all(item["stage"] == "PLATFORM_REVIEW" for item in page["items"])
    read = await stack.http.get(f"/v1/filings/{first}/application", headers=platform)
    assert read.status_code == 200, read.text
    assert read.json()["application"]["subject_principal"]["mobile"] == app.subject_principal.mobile  # in clear, here only
    scan = read.json()["materials"][0]
    material = await stack.http.get(scan["href"], headers=platform)
    assert material.status_code == 200 and material.headers["content-type"] in ("image/png", "application/pdf")
    rows = audit_rows(stack, first)
    assert [(r.actor, r.role, r.action) for r in rows] == [("r-01", "platform_reviewer", "read_application"),
                                                           ("r-01", "platform_reviewer", "read_material")]
    assert "application.subject_principal.identity_document.number" in json.loads(rows[0].fields)
    assert json.loads(rows[1].fields) == [f"application.{scan['field']}"]

    reasons = [{"field": "subject.address.detail", "error": "地址未写到门牌号", "suggestion": "请填写到门牌号"}]
    rejected = await stack.http.post(f"/v1/filings/{first}/platform-decision", headers=platform | key(),
                                     json={"decision": "reject", "reasons": reasons, "attempt": 1})
    assert rejected.status_code == 200 and rejected.json()["applied"] is True, rejected.text
    returned = await stack.stage(first, "RETURNED", applicant)
    assert returned["returned"]["by"] == "PLATFORM" and returned["returned"]["reasons"][0]["field"] == "subject.address.detail"
    assert app.subject_principal.mobile not in json.dumps(returned)  # status is masked

    # Day 2: the applicant corrects the address and resubmits; the reviewer approves attempt 2.
    corrected = app.model_copy(update={"subject": app.subject.model_copy(update={
        "address": app.subject.address.model_copy(update={"detail": "示例路1号示例大厦1201室"})})})
    resubmitted = await stack.http.post(f"/v1/filings/{first}/resubmit", headers=applicant | key(),
                                        json={"application": as_json(corrected)})
    assert resubmitted.status_code == 200 and resubmitted.json() == {"attempt": 2}, resubmitted.text
    await stack.stage(first, "PLATFORM_REVIEW", applicant)
    stale = await stack.http.post(f"/v1/filings/{first}/platform-decision", headers=platform | key(),
                                  json={"decision": "approve", "attempt": 1})
    assert stale.status_code == 409 and "attempt" in stale.json()["why"], stale.text
    approved = await stack.http.post(f"/v1/filings/{first}/platform-decision", headers=platform | key(),
                                     json={"decision": "approve", "attempt": 2})
    assert approved.status_code == 200, approved.text

    # Day 2-3: SMS, then the province: a new subject, so no number is proposed; the province issues one.
    subject_number = fresh_subject_number("冀")
    person = app.subject_principal
    done = await carry_through_sms_and_province(
        stack, first, person.mobile, person.identity_document.number[-6:], applicant, site, province,
        expect_number=None, number=f"{subject_number}-1X")
    assert done["filing_number"] == f"{subject_number}-1X"
    timeline = [entry["event"] for entry in done["timeline"]]
    assert timeline.count("decision_ignored") == 0  # the stale decision was refused, not recorded

    # Anyone: the public lookup finds it, without personal data.
    public = await stack.http.get("/v1/registry", params={"number": f"{subject_number}-1X"})
    assert public.status_code == 200, public.text
    assert [e["service_name"] for e in public.json()] == [app.mini_program.name]
    assert person.mobile not in public.text and person.name not in public.text

    # Day 10: a second mini-program of the same company, which types no subject number: the
    # registry knows the company by its certificate, and the province is offered the next
    # number under its subject number.
    second_app = application(second, company=first)
    created = await stack.http.post("/v1/filings", json=as_json(second_app), headers=applicant | key())
    assert created.status_code == 201, created.text
    await stack.stage(second, "PLATFORM_REVIEW", applicant)
    approved = await stack.http.post(f"/v1/filings/{second}/platform-decision", headers=platform | key(),
                                     json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    person = second_app.subject_principal
    await carry_through_sms_and_province(
        stack, second, person.mobile, person.identity_document.number[-6:], applicant, site, province,
        expect_number=f"{subject_number}-2X", number=f"{subject_number}-2X")
    both = await stack.http.get("/v1/registry", params={"number": subject_number})
    assert sorted(e["service_number"] for e in both.json()) == [f"{subject_number}-1X", f"{subject_number}-2X"]

    # Nothing personal reached the service's log.
    log = service_log(stack)
    for secret in (person.mobile, person.identity_document.number, person.name, app.subject.address.detail):
        assert secret not in log

"""`GET /v1/filings/{appid}/on-record` (issue 19): before a cancellation the applicant learns
what the registry holds and who its 12381 SMS would go to, masked, from the registry;
nobody else's filing, nobody in clear. And a cancellation's reason type is WeChat's."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import create_engine, select

from engine.wiring import registry_from_settings
from filing.ids import uscc_check_char
from filing.masking import mask_mobile
from filing.registry import ImportEntry
from registry.tables import audit_reads
from service.principal import Role
from tests.service.conftest import Stack, application, filed_long_ago, fresh_subject_number, key, new_appid
from tests.service.console_login import SESSION_COOKIE, sign_in


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


async def test_a_change_is_prefilled_from_the_registry_once_the_filing_workflow_is_gone(started: Stack) -> None:
    """An approved filing whose workflow is past retention (here: recorded in the registry, no
    workflow at all): `/filings/{appid}/change` still prefills, from the registry, and says in
    Chinese which sections to fill in again; the clear read behind it is audited."""
    stack, appid = started, new_appid()
    app = application(appid, own_mini_program_principal=True)
    first17 = f"91130000MC{secrets.randbelow(10**7):07d}"
    assert app.subject.unit_certificate is not None and app.mini_program_principal.person is not None
    certificate = app.subject.unit_certificate.model_copy(update={"number": first17 + uscc_check_char(first17)})
    app = app.model_copy(update={"subject": app.subject.model_copy(update={"unit_certificate": certificate})})
    number = await filed_long_ago(stack, app)
    mine = stack.auth(Role.APPLICANT, sub="change-on-record", appids=[appid])
    assert (await stack.http.get(f"/v1/filings/{appid}", headers=mine)).status_code == 404  # the workflow is gone

    read = await stack.http.get(f"/v1/filings/{appid}/on-record/application", headers=mine)
    assert read.status_code == 200, read.text
    held = read.json()
    assert held["filing_number"] == number and held["application"]["kind"] == "CHANGE"
    assert held["application"]["subject"]["unit_certificate"]["number"] == certificate.number
    assert held["application"]["mini_program_principal"]["person"]["mobile"] == app.mini_program_principal.person.mobile
    assert any("通讯地址" in section for section in held["missing"])
    with create_engine(stack.settings.registry_database_url).connect() as connection:
        audited = connection.execute(select(audit_reads.c.fields).where(
            audit_reads.c.appid == appid, audit_reads.c.actor == "change-on-record")).scalars().all()
    assert len(audited) == 1 and "application.subject_principal.identity_document.number" in audited[0]
    other = stack.auth(Role.APPLICANT, appids=[new_appid()])
    assert (await stack.http.get(f"/v1/filings/{appid}/on-record/application", headers=other)).status_code == 404
    reviewer = stack.auth(Role.PLATFORM_REVIEWER)
    assert (await stack.http.get(f"/v1/filings/{appid}/on-record/application", headers=reviewer)).status_code == 403

    session = await sign_in(stack.service.url, Role.APPLICANT, sub="change-on-record", appids=[appid])
    async with httpx.AsyncClient(base_url=stack.service.url, timeout=30, cookies={SESSION_COOKIE: session}) as browser:
        page = await browser.get(f"/filings/{appid}/change")
    assert page.status_code == 200, page.text[:2000]
    text = page.text
    for typed in (app.subject.name, certificate.number, app.subject_principal.name, app.subject_principal.mobile,
                  app.mini_program_principal.person.mobile, app.mini_program.name, number):
        assert f'value="{typed}"' in text, typed
    assert "备案库未存有以下内容，请重新填写" in text and "通讯地址的城市、区县和详细地址" in text
    assert "服务类目" in text and "重新完成人脸核身" in text

"""The applicant's form without a browser: the API's draft check (`POST /v1/applications/check`,
which starts nothing), the form posted as a plain multipart form (no JavaScript: the files go
with the post), and the drafts, which are sealed and belong to the applicant who saved them."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from filing.examples import example_jpeg, example_pdf, example_png
from registry.tables import console_drafts
from service.console import apply_form as af
from service.principal import Role
from tests.service.conftest import Stack, application, as_json, new_appid
from tests.service.console_login import SESSION_COOKIE, hidden, sign_in


async def test_a_draft_is_checked_by_every_rule_and_nothing_is_started(started: Stack):
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="check-zhang", appids=[appid])
    await stack.upload_materials(applicant)
    good = as_json(application(appid))
    clean = await stack.http.post("/v1/applications/check", json=good, headers=applicant)
    assert clean.status_code == 200, clean.text
    assert clean.json() == {"appid": appid, "kind": "NEW", "ok": True}

    broken = as_json(application(appid))
    broken["mini_program"]["remark"] = "太短的备注"
    broken["subject"]["address"]["district"] = ""
    broken["subject_principal"]["identity_document"]["front"] = "0" * 64  # nobody uploaded it
    refused = await stack.http.post("/v1/applications/check", json=broken, headers=applicant)
    assert refused.status_code == 422, refused.text
    fields = {e["field"]: e["key"] for e in refused.json()["errors"]}
    assert fields["mini_program.remark"].startswith("R6.remark")
    assert fields["subject.address.district"].startswith("R5")
    assert fields["subject_principal.identity_document.front"] == "R10.material_not_uploaded"
    started_one = await stack.http.post("/v1/filings", json=broken, headers=applicant | {"Idempotency-Key": "chk-1"})
    assert {e["field"] for e in started_one.json()["errors"]} == set(fields)  # what a start answers

    draft = {"kind": "NEW", "mini_program": {"appid": appid}}  # a draft half typed: the shape first
    partial = await stack.http.post("/v1/applications/check", json=draft, headers=applicant)
    assert partial.status_code == 422 and "subject" in {e["field"] for e in partial.json()["errors"]}
    other = await stack.http.post("/v1/applications/check", json=as_json(application(new_appid())), headers=applicant)
    assert other.status_code == 403
    status = await stack.http.get(f"/v1/filings/{appid}", headers=applicant)
    assert status.status_code == 404  # the checks started nothing


async def _console(stack: Stack, sub: str, appids: list[str]) -> httpx.AsyncClient:
    session = await sign_in(stack.service.url, Role.APPLICANT, sub=sub, appids=appids)
    return httpx.AsyncClient(base_url=stack.service.url, timeout=30, cookies={SESSION_COOKIE: session})


def _form_of(appid: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    """The example application as a person fills in the form, its scans chosen as files."""
    values = af.from_application(as_json(application(appid)))
    data: dict[str, Any] = {}
    for name, value in values.items():
        if re.fullmatch(r"[0-9a-f]{64}", str(value)):
            continue  # a material: chosen as a file below, not typed
        data[name] = value
    files = {
        "file:subject.unit_certificate.scan": ("执照.jpg", example_jpeg((240, 200, 170)), "image/jpeg"),
        "file:subject_principal.identity_document.front": ("正面.png", example_png((180, 200, 240)), "image/png"),
        "file:subject_principal.identity_document.back": ("反面.png", example_png((170, 230, 180)), "image/png"),
        "file:extra:冀:备案承诺书": ("承诺书.pdf", example_pdf("Commitment letter"), "application/pdf"),
    }
    return data, files


async def test_the_form_works_as_a_plain_multipart_post_and_a_refusal_keeps_everything(started: Stack):
    stack = started
    appid = new_appid()
    async with await _console(stack, "form-zhang", [appid]) as browser:
        page = await browser.get("/apply")
        assert page.status_code == 200 and "主体信息" in page.text and "小程序负责人" in page.text
        data, files = _form_of(appid)
        data["mini_program.remark"] = "太短"
        data |= {"csrf": hidden(page.text, "csrf"), "idem": hidden(page.text, "idem"), "kind": "NEW", "draft": "",
                 "action": "submit"}
        refused = await browser.post("/apply", data=data, files=files)
        assert refused.status_code == 422, refused.text[:2000]
        assert 'id="f-mini_program-remark" name="mini_program.remark"' in refused.text
        assert 'aria-invalid="true"' in refused.text and "小程序备注" in refused.text
        # Everything typed and uploaded is kept: the values, and each file as its stored name.
        assert 'value="张三"' in refused.text
        for slot in ("subject.unit_certificate.scan", "subject_principal.identity_document.front", "extra:冀:备案承诺书"):
            assert re.search(rf'name="{re.escape(slot)}" value="[0-9a-f]{{64}}"', refused.text), slot
        draft = hidden(refused.text, "draft")
        assert draft
        again = {k: v for k, v in data.items()} | {
            "csrf": hidden(refused.text, "csrf"), "idem": hidden(refused.text, "idem"), "draft": draft,
            "mini_program.remark": "为本公司客户提供水电燃气费用的查询与在线缴纳，以及缴费记录和电子票据的查看"}
        for slot in ("subject.unit_certificate.scan", "subject_principal.identity_document.front",
                     "subject_principal.identity_document.back", "extra:冀:备案承诺书"):
            again[slot] = re.search(rf'name="{re.escape(slot)}" value="([0-9a-f]{{64}})"', refused.text).group(1)
        done = await browser.post("/apply", data=again, follow_redirects=False)
        assert done.status_code == 303, done.text[:3000]
        assert done.headers["location"] == f"/filings/{appid}"
        gone = await browser.get(f"/apply?draft={draft}")
        assert gone.status_code == 404  # submitted: the draft is gone
    status = await stack.http.get(f"/v1/filings/{appid}", headers=stack.auth(Role.OPERATOR))
    assert status.status_code == 200 and status.json()["kind"] == "NEW"


async def test_drafts_are_sealed_and_only_their_applicant_reads_them(started: Stack):
    stack = started
    appid = new_appid()
    app = application(appid)
    number = app.subject_principal.identity_document.number
    async with await _console(stack, "draft-zhang", [appid]) as owner, await _console(stack, "draft-li", [appid]) as other:
        page = await owner.get("/apply")
        saved = await owner.post("/apply", follow_redirects=False, data={
            "csrf": hidden(page.text, "csrf"), "idem": "x", "kind": "NEW", "draft": "", "action": "save",
            "mini_program.appid": appid, "subject_principal.name": "欧阳草稿", "subject_principal.identity_document.number": number})
        assert saved.status_code == 303, saved.text[:2000]
        location = saved.headers["location"]
        draft = location.split("draft=")[1]
        mine = await owner.get(location)
        assert mine.status_code == 200 and "欧阳草稿" in mine.text and number in mine.text
        assert draft in (await owner.get("/mine")).text

        # Another applicant of the same mini-program: the draft is not theirs (not listed, not readable, not writable).
        theirs = await other.get(location)
        assert theirs.status_code == 404 and "欧阳草稿" not in theirs.text and number not in theirs.text
        assert draft not in (await other.get("/mine")).text
        page = await other.get("/apply")
        overwrite = await other.post("/apply", follow_redirects=False, data={
            "csrf": hidden(page.text, "csrf"), "kind": "NEW", "draft": draft, "action": "save", "subject_principal.name": "改"})
        assert overwrite.status_code == 303 and draft not in overwrite.headers["location"]  # a draft of their own
        assert "欧阳草稿" in (await owner.get(location)).text

        engine = create_engine(stack.settings.registry_database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(select(console_drafts)).all()
        finally:
            engine.dispose()
        for row in rows:  # sealed: no personal value, no sub in clear
            assert "欧阳草稿".encode() not in row.sealed_content and number.encode() not in row.sealed_content
            assert "draft-zhang" not in row.owner_digest

        page = await owner.get(location)
        discarded = await owner.post("/apply", follow_redirects=False, data={
            "csrf": hidden(page.text, "csrf"), "kind": "NEW", "draft": draft, "action": "discard"})
        assert discarded.status_code == 303 and discarded.headers["location"] == "/mine"
        assert (await owner.get(location)).status_code == 404


async def test_the_check_refuses_a_district_outside_its_city_and_a_start_too(started: Stack):
    """Issue 19: the city and district were free text, so 河北省 / 石家庄市 / 海淀区 started a
    filing. Now the check (and a start) names the field, the rule and the valid districts."""
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="region-zhang", appids=[appid])
    await stack.upload_materials(applicant)
    body = as_json(application(appid))
    body["subject"]["address"] |= {"city": "石家庄市", "district": "海淀区"}
    refused = await stack.http.post("/v1/applications/check", json=body, headers=applicant)
    assert refused.status_code == 422, refused.text
    [wrong] = [e for e in refused.json()["errors"] if e["field"].startswith("subject.address")]
    assert (wrong["field"], wrong["key"]) == ("subject.address.district", "R5.district_not_in_city")
    assert "海淀区" in wrong["message_en"] and "长安区" in wrong["message_en"]
    assert "不是河北石家庄市的区县" in wrong["message_zh"]
    started_one = await stack.http.post("/v1/filings", json=body, headers=applicant | {"Idempotency-Key": "region-1"})
    assert started_one.status_code == 422 and "R5.district_not_in_city" in started_one.text
    assert (await stack.http.get(f"/v1/filings/{appid}", headers=applicant)).status_code == 404  # nothing started

    body["subject"]["address"] |= {"province": "北京市", "city": "北京市", "district": "海淀区"}  # a municipality
    moved = await stack.http.post("/v1/applications/check", json=body, headers=applicant)
    assert not [e for e in moved.json().get("errors", []) if e["key"].endswith(("_in_city", "_in_province"))], moved.text


async def test_without_javascript_the_lists_follow_the_province_and_city_by_a_plain_post(started: Stack):
    """更新城市和区县列表: the page comes back with the chosen city's districts, everything kept."""
    stack = started
    appid = new_appid()
    async with await _console(stack, "region-form", [appid]) as browser:
        page = await browser.get("/apply")
        assert 'data-regions="city"' in page.text and "请先选择城市" in page.text
        assert '<optgroup label="河北省">' in page.text and '<optgroup label="四川省">' in page.text  # every province's
        posted = await browser.post("/apply", data={
            "csrf": hidden(page.text, "csrf"), "idem": hidden(page.text, "idem"), "kind": "NEW", "draft": "",
            "action": "regions", "mini_program.appid": appid, "subject.name": "河北更新科技有限公司",
            "subject.address.province": "河北省", "subject.address.city": "石家庄"})
        assert posted.status_code == 200, posted.text[:2000]
        assert '<optgroup label="四川省">' not in posted.text and '<option value="石家庄市" selected>' in posted.text
        assert '<option value="长安区">' in posted.text and '<option value="海淀区">' not in posted.text
        assert 'value="河北更新科技有限公司"' in posted.text and hidden(posted.text, "draft")  # kept, as a draft
        assert re.search(r'id="f-subject-address-district"[^>]*autofocus', posted.text)

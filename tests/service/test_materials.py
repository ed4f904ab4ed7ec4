"""Materials over HTTP (R10): they belong to their uploader, they are what they claim, and
they are served as documents to look at, never as pages that run.

Written as the attacker's sequence: applicant A files with a scan of their own; applicant B
learns its hash (a hand-over ticket, a console URL, a proxy log) and names it in their own
filing, at the start and at a resubmission, and asks for it through their own filing. Each
refusal must be exactly the answer to a hash nobody uploaded, so the store tells B nothing.
"""

from __future__ import annotations

import io
import json
import secrets
from typing import Any

import httpx
from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from sqlalchemy import create_engine, select

from filing.examples import example_pdf, example_png
from filing.models import Application
from registry.tables import audit_reads
from service.principal import Role
from tests.service.conftest import Stack, application, as_json, key, new_appid
from tests.service.console_login import SESSION_COOKIE, sign_in

CSP = "sandbox; default-src 'none'"


def own_scan() -> bytes:
    """A scan nobody else has: its hash is A's alone (the store is content-addressed)."""
    return example_png((secrets.randbelow(200) + 40, secrets.randbelow(200) + 40, 200), width=86 + secrets.randbelow(40))


def naming(app: Application, scan: str) -> dict[str, Any]:
    body = as_json(app)
    body["subject_principal"]["identity_document"]["front"] = scan
    return body


def same_answer(a: httpx.Response, b: httpx.Response, a_hash: str, b_hash: str) -> None:
    """Two refusals that differ only by the hash asked about (which the caller gave)."""
    assert a.status_code == b.status_code
    assert a.text.replace(a_hash, "<sha256>") == b.text.replace(b_hash, "<sha256>")
    assert {k: v for k, v in a.headers.items() if k not in ("date", "content-length", "x-request-id")} == \
           {k: v for k, v in b.headers.items() if k not in ("date", "content-length", "x-request-id")}


def audit_material_rows(stack: Stack, appid: str) -> list[Any]:
    engine = create_engine(stack.settings.registry_database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(audit_reads).where(
                audit_reads.c.appid == appid, audit_reads.c.action == "read_material")))
    finally:
        engine.dispose()


async def upload(stack: Stack, headers: dict[str, str], content: bytes, name: str = "scan.png") -> httpx.Response:
    return await stack.http.post("/v1/materials", files={"file": (name, content)}, headers=headers | key())


async def test_another_applicants_material_is_neither_named_nor_read(started: Stack) -> None:
    stack = started
    a_appid, b_appid = new_appid(), new_appid()
    alice = stack.auth(Role.APPLICANT, sub="alice", appids=[a_appid])
    bob = stack.auth(Role.APPLICANT, sub="bob", appids=[b_appid])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-materials")

    # A uploads the scans, one of them her own ID scan, and files.
    await stack.upload_materials(alice)
    uploaded = await upload(stack, alice, own_scan())
    assert uploaded.status_code == 201, uploaded.text
    a_scan = uploaded.json()["sha256"]
    a_app = application(a_appid)
    started_a = await stack.http.post("/v1/filings", json=naming(a_app, a_scan), headers=alice | key())
    assert started_a.status_code == 201, started_a.text

    # B has the example's other scans of his own, and A's hash from somewhere.
    await stack.upload_materials(bob)
    unknown = secrets.token_hex(32)
    b_app = application(b_appid)
    stolen = await stack.http.post("/v1/filings", json=naming(b_app, a_scan), headers=bob | key())
    nobodys = await stack.http.post("/v1/filings", json=naming(b_app, unknown), headers=bob | key())
    assert stolen.status_code == 422, stolen.text
    assert [(e["field"], e["key"]) for e in stolen.json()["errors"]] == [
        ("subject_principal.identity_document.front", "R10.material_not_uploaded")]
    same_answer(stolen, nobodys, a_scan, unknown)
    assert (await stack.http.get(f"/v1/filings/{b_appid}", headers=bob)).status_code == 404  # nothing started

    # B files properly, then asks for A's scan through his own filing: as for a hash nobody has.
    assert (await stack.http.post("/v1/filings", json=as_json(b_app), headers=bob | key())).status_code == 201
    await stack.stage(b_appid, "PLATFORM_REVIEW", bob)
    through_b = await stack.http.get(f"/v1/materials/{a_scan}", params={"appid": b_appid}, headers=bob)
    through_b_unknown = await stack.http.get(f"/v1/materials/{unknown}", params={"appid": b_appid}, headers=bob)
    assert through_b.status_code == 404 and not through_b.content.startswith(b"\x89PNG")
    same_answer(through_b, through_b_unknown, a_scan, unknown)
    through_a = await stack.http.get(f"/v1/materials/{a_scan}", params={"appid": a_appid}, headers=bob)
    assert through_a.status_code in (403, 404)  # not his filing at all

    # Returned for a correction, B resubmits naming A's scan: refused as an unknown hash again.
    reasons = [{"field": "subject.address.detail", "error": "地址未写到门牌号", "suggestion": "请填写到门牌号"}]
    rejected = await stack.http.post(f"/v1/filings/{b_appid}/platform-decision", headers=platform | key(),
                                     json={"decision": "reject", "reasons": reasons})
    assert rejected.status_code == 200 and rejected.json()["applied"], rejected.text
    await stack.stage(b_appid, "RETURNED", bob)
    resubmit = f"/v1/filings/{b_appid}/resubmit"
    stolen_again = await stack.http.post(resubmit, json={"application": naming(b_app, a_scan)}, headers=bob | key())
    nobodys_again = await stack.http.post(resubmit, json={"application": naming(b_app, unknown)}, headers=bob | key())
    assert stolen_again.status_code == 422, stolen_again.text
    same_answer(stolen_again, nobodys_again, a_scan, unknown)
    assert (await stack.http.get(f"/v1/filings/{b_appid}", headers=bob)).json()["stage"] == "RETURNED"

    # A reads her own scan; a co-administrator of her mini-program too.
    mine = await stack.http.get(f"/v1/materials/{a_scan}", params={"appid": a_appid}, headers=alice)
    assert mine.status_code == 200, mine.text
    with Image.open(io.BytesIO(mine.content)) as image:
        assert image.format == "PNG"
    co_admin = stack.auth(Role.APPLICANT, sub="alice-colleague", appids=[a_appid])
    assert (await stack.http.get(f"/v1/materials/{a_scan}", params={"appid": a_appid}, headers=co_admin)).status_code == 200

    # The platform reviewer reads it: the audit row names the material's hash and its filing.
    await stack.stage(a_appid, "PLATFORM_REVIEW", alice)
    read = await stack.http.get(f"/v1/materials/{a_scan}", params={"appid": a_appid}, headers=platform)
    assert read.status_code == 200 and read.content == mine.content
    rows = [(r.actor, r.filing_id, r.material_sha256, json.loads(r.fields)) for r in audit_material_rows(stack, a_appid)]
    assert ("r-materials", f"filing-{a_appid}", a_scan, ["application.subject_principal.identity_document.front"]) in rows
    assert all(r[2] is not None for r in rows)  # every material read names its file
    assert not [r for r in audit_material_rows(stack, b_appid) if r.material_sha256 == a_scan]


async def test_ownership_survives_a_restart_of_the_service(started: Stack) -> None:
    stack = started
    appid, other = new_appid(), new_appid()
    alice = stack.auth(Role.APPLICANT, sub="alice-restart", appids=[appid])
    bob = stack.auth(Role.APPLICANT, sub="bob-restart", appids=[other])
    await stack.upload_materials(alice)
    await stack.upload_materials(bob)
    scan = (await upload(stack, alice, own_scan())).json()["sha256"]
    await stack.service.restart()
    refused = await stack.http.post("/v1/filings", json=naming(application(other), scan), headers=bob | key())
    assert refused.status_code == 422 and refused.json()["errors"][0]["key"] == "R10.material_not_uploaded"
    created = await stack.http.post("/v1/filings", json=naming(application(appid), scan), headers=alice | key())
    assert created.status_code == 201, created.text


def pdf_with(build: Any) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_uploads_are_what_they_claim_and_are_served_as_documents(started: Stack) -> None:
    stack = started
    appid = new_appid()
    applicant = stack.auth(Role.APPLICANT, sub="carol", appids=[appid])
    platform = stack.auth(Role.PLATFORM_REVIEWER, sub="r-headers")

    hostile = {
        "R10.unreadable_material": b"%PDF-<html><script>fetch('/v1/filings').then(r=>r.text()).then(alert)</script>",
        "R10.active_content": pdf_with(lambda w: w.add_open_action(JavaScript("app.alert(1)"))),
    }
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    open_action = example_pdf("letter").replace(catalog, catalog[:-2] + b"/OpenAction << /S /JavaScript /JS (x) >> >>")
    attachment = pdf_with(lambda w: w.add_attachment("page.html", b"<script>alert(1)</script>"))
    for content, want in [*((c, k) for k, c in hostile.items()), (open_action, "R10.active_content"),
                          (attachment, "R10.active_content")]:
        answer = await upload(stack, applicant, content, "letter.pdf")
        assert answer.status_code == 422, answer.text
        assert [(e["field"], e["key"]) for e in answer.json()["errors"]] == [("file", want)]

    # A PNG with an HTML page after it: stored as the picture alone, under the stored bytes' hash.
    scan = own_scan()
    answer = await upload(stack, applicant, scan + b"<html><script>alert(document.cookie)</script></html>")
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert stored["sha256"] != scan and stored["bytes"] == len(scan)

    await stack.upload_materials(applicant)
    app = application(appid)
    created = await stack.http.post("/v1/filings", json=naming(app, stored["sha256"]), headers=applicant | key())
    assert created.status_code == 201, created.text
    await stack.stage(appid, "PLATFORM_REVIEW", applicant)

    served = await stack.http.get(f"/v1/materials/{stored['sha256']}", params={"appid": appid}, headers=platform)
    assert served.status_code == 200 and served.content == scan and b"<script" not in served.content
    headers = {(f, sha) for f, sha in app.materials()} | {("subject_principal.identity_document.front", stored["sha256"])}
    kinds = set()
    for _, sha in sorted(headers):
        for who in (applicant, platform):
            answer = await stack.http.get(f"/v1/materials/{sha}", params={"appid": appid}, headers=who)
            if answer.status_code == 404:
                continue  # the example's own scan, replaced by the one above
            assert answer.status_code == 200, answer.text
            media = answer.headers["content-type"]
            disposition = answer.headers["content-disposition"]
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["content-security-policy"] == CSP
            assert answer.headers["cache-control"] == "private, no-store"
            if media == "application/pdf":
                assert disposition == f'attachment; filename="{sha}.pdf"'
            else:
                assert media == "image/png" and disposition == f'inline; filename="{sha}.png"'
            kinds.add(media)
    assert kinds == {"image/png", "application/pdf"}

    # The console serves the reviewers the same files with the same headers (a PDF's tile too).
    session = await sign_in(stack.service.url, Role.PLATFORM_REVIEWER, sub="r-headers")
    pdf_sha = next(sha for field, sha in app.materials() if field.startswith("extra_materials") or "pre_approval" in field)
    async with httpx.AsyncClient(base_url=stack.service.url, cookies={SESSION_COOKIE: session}, timeout=30) as page:
        for sha, preview, media, disposition in [
            (stored["sha256"], False, "image/png", f'inline; filename="{stored["sha256"]}.png"'),
            (pdf_sha, False, "application/pdf", f'attachment; filename="{pdf_sha}.pdf"'),
            (pdf_sha, True, "image/svg+xml", "inline"),
        ]:
            answer = await page.get(f"/filings/{appid}/materials/{sha}", params={"preview": "1"} if preview else {})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].split(";")[0] == media
            assert answer.headers["content-disposition"] == disposition
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["content-security-policy"] == CSP

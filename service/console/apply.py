"""The applicant's form pages: `/apply` (NEW), `/filings/{appid}/change` (a CHANGE prefilled
from the filing on record), and the small routes the page's script calls as the person
works: `/apply/upload` (one material to the store as it is chosen), `/apply/check` (the
draft against the API's own check, `POST /v1/applications/check`) and `/apply/regions` (the
province -> city -> district lists the pickers follow, `filing.regions`).

Without JavaScript the form is one multipart post: every chosen file is uploaded with it,
then the draft is kept (`service.console.drafts`) and, as the pressed button says, checked
or submitted (`POST /v1/filings`), or (更新, `action=regions`) shown again with the city and
district lists of the chosen province and city. A refused submission shows the page again with every
value and upload kept and each violation at its input. Everything goes through the API
with the person's own token (`service.console.api`): the console checks nothing itself.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from filing.material_types import FORMAT_NAMES, largest_limit, material_types
from filing.province_materials import ProvinceMaterials
from filing.provinces import PROVINCES
from filing.regions import picker_data
from service.console import apply_form as af
from service.console import forms
from service.console.api import Answer, Api
from service.console.drafts import Draft, DraftStore, TooManyDrafts
from service.console.refusals import problem_page
from service.console.why import explain
from service.principal import APPID, Principal, Role

ACTIONS = ("save", "check", "submit", "discard", "regions")
#: Form inputs that are the page's own, never values of the application.
OWN = ("csrf", "idem", "action", "draft", "kind")


def _drafts(request: Request) -> DraftStore:
    store: DraftStore = request.app.state.drafts
    return store


async def _lists(request: Request) -> ProvinceMaterials:
    services = request.app.state.services
    return await asyncio.to_thread(services.province_lists.lists)


def _file_slots(fields: list[af.Field], extras: list[af.Extra]) -> list[str]:
    return [f.name for f in fields if f.kind == "file"] + [af.extra_slot(p, i) for p, i in extras]


def _values(form: FormData, fields: list[af.Field], extras: list[af.Extra]) -> dict[str, Any]:
    """The application's values the form posted (known inputs only; the categories as a list)."""
    names = {f.name for f in fields} | {f.name + af.LONG_TERM_SUFFIX for f in fields if f.kind == "validity"}
    names |= {af.extra_slot(p, i) for p, i in extras}
    values: dict[str, Any] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or name not in names or name in OWN:
            continue
        if name == "mini_program.service_categories":
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values


def _meta(posted: str, sha256: str) -> dict[str, Any]:
    """What the page says of an upload its script made (name, format, size): shown again, never trusted
    for more (the sha256 is the material; the API checks it)."""
    try:
        said = json.loads(posted[:2000]) if posted else {}
    except ValueError:
        said = {}
    if not isinstance(said, dict) or said.get("sha256") != sha256:
        return {"sha256": sha256}
    meta: dict[str, Any] = {"sha256": sha256}
    for name in ("filename", "format", "media_type"):
        if isinstance(said.get(name), str):
            meta[name] = said[name][:100]
    if isinstance(said.get("bytes"), int) and not isinstance(said.get("bytes"), bool):
        meta["bytes"] = said["bytes"]
    return meta


def _limits() -> dict[str, dict[str, Any]]:
    """Each kind of material's formats and limit, as the page's file inputs check them at once."""
    return {kind: {"max": t.max_bytes, "types": ",".join(t.formats), "formats": t.formats_text, "limit": t.limit_text}
            for kind, t in material_types().items()}


async def _upload(api: Api, file: UploadFile) -> tuple[dict[str, Any] | None, str | None]:
    """One chosen file through `POST /v1/materials`: its stored name, or why it was refused."""
    limit = largest_limit()
    content = await file.read(limit + 1)
    if len(content) > limit:  # each kind's own limit is the API's to say (by the file's content)
        return None, f"文件过大：不超过 {limit / 1048576:g} MiB，请压缩后重新选择"
    answer = await api.upload(content, file.filename or "material")
    if answer.ok:
        body = answer.body
        return {"sha256": body["sha256"], "media_type": body["media_type"], "bytes": body["bytes"],
                "format": FORMAT_NAMES.get(body["media_type"], body["media_type"]),
                "filename": (file.filename or "")[:100]}, None
    said = [e.get("message_zh") or e.get("message_en", "") for e in answer.errors]
    return None, "；".join(said) or f"上传未完成：{explain(answer.detail)}"


def _render(request: Request, principal: Principal, *, kind: str, values: dict[str, Any],
            files: dict[str, dict[str, Any]], lists: ProvinceMaterials, draft_id: str = "", status: int = 200,
            placed: af.Placed | None = None, problem: str | None = None, key: str | None = None,
            notice: str | None = None, focus: str | None = None) -> Response:
    change = kind == "CHANGE"
    values = af.official_regions(values)
    sections = af.sections(principal.appids, change=change)
    fields = af.every_field(sections)
    placed = placed or af.Placed()
    order = [f.name for f in fields] + ["extra_materials"]
    focus = focus or next((name for name in order if name in placed.at), None)
    chosen = values.get("mini_program.service_categories") or []
    preapproval = any(dict(f.options).get(c) for f in fields if f.kind == "categories" for c in chosen) or any(
        str(v).strip() for k, v in values.items() if k.startswith("mini_program.pre_approvals"))
    current = {(p, i.name) for p, i in af.extras_for(values, lists)}
    return forms.pages_of(request).render(
        request, "apply.html", status=status, principal=principal, kind=kind, change=change, sections=sections,
        values=values, files=files, placed=placed, problem=problem, notice=notice, draft_id=draft_id,
        key=key or str(uuid.uuid4()), focus=focus, extras=af.all_extras(lists), current_extras=current,
        extra_slot=af.extra_slot, preapproval=preapproval, limits=_limits(), formats=af.NUMBER_FORMATS,
        long_term=af.LONG_TERM_SUFFIX, one=lambda name: _text(values, name),
        city_choices=af.city_choices(values), district_choices=af.district_choices(values),
        prefixes={p.name: p.prefix for p in PROVINCES},
        action="/apply")


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name, "")
    return str(value[0] if isinstance(value, list) and value else value if not isinstance(value, list) else "")


def _applicant(principal: Principal) -> bool:
    return principal.role is Role.APPLICANT


async def apply_page(request: Request, principal: Principal) -> Response:
    """`/apply` (a new form, or `?draft=` one kept)."""
    if not _applicant(principal):
        return problem_page(request, principal, Answer(403, {"detail": "只有申请人可以填写备案申请"}), "")
    lists = await _lists(request)
    draft_id = request.query_params.get("draft", "")
    if draft_id:
        draft = await _drafts(request).load(principal.key, draft_id)
        if draft is None:
            return problem_page(request, principal, Answer(404, {"detail": "没有这份草稿（已提交、已放弃，或不是您的）"}), "")
        return _render(request, principal, kind=draft.kind, values=draft.values, files=draft.files, lists=lists,
                       draft_id=draft.draft_id)
    values: dict[str, Any] = {"subject.principal_is_legal_representative": "true",
                              "mini_program_principal.reuse_subject_principal": "true",
                              "mini_program_principal.face_verification.passed": "true"}
    if len(principal.appids) == 1:
        values["mini_program.appid"] = next(iter(principal.appids))
    return _render(request, principal, kind="NEW", values=values, files={}, lists=lists)


async def change_page(request: Request, principal: Principal, appid: str) -> Response:
    """`/filings/{appid}/change`: the form prefilled from the approved filing's application."""
    if not _applicant(principal) or appid not in principal.appids:
        return problem_page(request, principal, Answer(404), appid)
    api = Api(request)
    status = await api.get(f"/v1/filings/{appid}")
    if status.status == 404:  # no workflow (past the namespace's retention): the registry's record
        return await _change_from_registry(request, principal, api, appid)
    number = status.body.get("filing_number") if status.ok and isinstance(status.body, dict) else None
    if not status.ok or status.body.get("stage") != "APPROVED" or not number or str(status.body.get("kind")) not in ("NEW", "CHANGE"):
        return problem_page(request, principal, Answer(409, {"detail": NOTHING_TO_CHANGE}), appid)
    read = await api.get(f"/v1/filings/{appid}/application")
    application = read.body.get("application") if read.ok and isinstance(read.body, dict) else None
    if not isinstance(application, dict):
        return problem_page(request, principal, read if not read.ok else Answer(404), appid)
    return await _change_form(request, principal, appid, number, application,
                              f"已按备案号 {number} 的备案信息预填，请修改需变更的内容，并重新完成人脸核身")


NOTHING_TO_CHANGE = "该小程序没有已通过的备案可以变更（变更须在备案成功之后）"


async def _change_from_registry(request: Request, principal: Principal, api: Api, appid: str) -> Response:
    """A filing whose workflow is gone: prefilled from what the registry holds of it
    (`GET /v1/filings/{appid}/on-record/application`), the sections it does not hold named."""
    read = await api.get(f"/v1/filings/{appid}/on-record/application")
    body = read.body if read.ok and isinstance(read.body, dict) else None
    if body is None or not isinstance(body.get("application"), dict):
        nothing = read.status in (404, 409) or read.ok
        return problem_page(request, principal, Answer(409, {"detail": NOTHING_TO_CHANGE}) if nothing else read, appid)
    number = str(body["filing_number"])
    missing = "；".join(f"{n}. {section}" for n, section in enumerate(body.get("missing") or [], 1))
    notice = (f"原备案的办理记录已过保存期，已按备案库中备案号 {number} 的记录预填。备案库未存有以下内容，请重新填写："
              f"{missing}。请修改需变更的内容，并重新完成人脸核身")
    return await _change_form(request, principal, appid, number, body["application"], notice)


async def _change_form(request: Request, principal: Principal, appid: str, number: str,
                       application: dict[str, Any], notice: str) -> Response:
    values = af.from_application(application)
    for stale in ("record_id", "verified_at"):  # a CHANGE needs a face verification of its own (3 days)
        values.pop(f"mini_program_principal.face_verification.{stale}", None)
    values.update({"kind": "CHANGE", "filing_number": number, "mini_program.appid": appid})
    lists = await _lists(request)
    sections = af.sections(principal.appids, change=True)
    slots = _file_slots(af.every_field(sections), af.all_extras(lists))
    files = {slot: {"sha256": values[slot], "on_record": True} for slot in slots if values.get(slot)}
    return _render(request, principal, kind="CHANGE", values=values, files=files, lists=lists, notice=notice)


async def _read(request: Request, principal: Principal, *, upload: bool
                ) -> tuple[FormData, str, dict[str, Any], dict[str, dict[str, Any]], ProvinceMaterials, dict[str, str]]:
    form = await forms.checked_form(request)
    kind = "CHANGE" if forms.text(form, "kind") == "CHANGE" else "NEW"
    lists = await _lists(request)
    fields = af.every_field(af.sections(principal.appids, change=kind == "CHANGE"))
    extras = af.all_extras(lists)
    values = _values(form, fields, extras)
    if kind == "CHANGE":
        values["filing_number"] = forms.text(form, "filing_number")[:40]
    draft_id = forms.text(form, "draft")[:36]
    kept = await _drafts(request).load(principal.key, draft_id) if draft_id else None
    files = dict(kept.files) if kept else {}
    refused: dict[str, str] = {}
    slots = _file_slots(fields, extras)
    for slot in slots:  # what the page already holds for each slot (a hidden input), and what it says of it
        if not values.get(slot):
            files.pop(slot, None)
        elif files.get(slot, {}).get("sha256") != values[slot]:
            files[slot] = _meta(forms.text(form, "meta:" + slot), values[slot])
    if upload:
        api = Api(request)
        for slot in slots:
            file = forms.upload(form, "file:" + slot)
            if file is None:
                continue
            stored, why = await _upload(api, file)
            if stored is None:
                refused[slot] = f"{file.filename}：{why}"
            else:
                values[slot] = stored["sha256"]
                files[slot] = stored
    return form, kind, values, files, lists, refused


async def apply_post(request: Request, principal: Principal) -> Response:
    """Save, check, submit or discard the form (the pressed button's `action`)."""
    if not _applicant(principal):
        return problem_page(request, principal, Answer(403, {"detail": "只有申请人可以填写备案申请"}), "")
    form, kind, values, files, lists, refused = await _read(request, principal, upload=True)
    action = forms.text(form, "action")
    action = action if action in ACTIONS else "save"
    store = _drafts(request)
    draft_id = forms.text(form, "draft")[:36]
    pages = forms.pages_of(request)
    if action == "discard":
        if draft_id:
            await store.discard(principal.key, draft_id)
        return pages.redirect(request, "/mine", flash="草稿已放弃")
    appid = _text(values, "mini_program.appid")
    try:
        draft_id = await store.save(principal.key, Draft(draft_id, kind, appid if APPID.match(appid) else "", values, files))
    except TooManyDrafts:
        return _render(request, principal, kind=kind, values=values, files=files, lists=lists, status=409,
                       problem="草稿已达 20 份上限，未保存：请先提交或放弃一份草稿", key=forms.text(form, "idem"))
    fields = af.every_field(af.sections(principal.appids, change=kind == "CHANGE"))
    names = [f.name for f in fields] + [af.extra_slot(p, i) for p, i in af.all_extras(lists)]
    placed = af.Placed(at=dict(refused))
    if action == "save" and not refused:
        return pages.redirect(request, f"/apply?draft={draft_id}", flash="草稿已保存")
    if action == "regions":  # the page without its script: the lists follow the chosen province and city
        return _render(request, principal, kind=kind, values=values, files=files, lists=lists, draft_id=draft_id,
                       status=422 if refused else 200, placed=placed, key=forms.text(form, "idem"),
                       notice="已按所选省份和城市更新城市、区县列表（草稿已保存）", focus=af.region_focus(values))
    body = af.to_body(values, fields, af.extras_for(values, lists), kind)
    api = Api(request)
    if action == "submit" and not refused:
        answer = await api.post("/v1/filings", body, forms.text(form, "idem"))
        if answer.ok:
            await store.discard(principal.key, draft_id)
            flash = "已提交备案申请，等待平台初审" if answer.status == 201 else "该申请已在办理中"
            return pages.redirect(request, f"/filings/{appid}", flash=flash)
    else:
        answer = await api.post("/v1/applications/check", body, str(uuid.uuid4()))
    checked = af.place(answer.errors, names)
    placed.at = {**checked.at, **placed.at}
    placed.general = checked.general
    problem = _problem(answer, action, len(placed.at) + len(placed.general))
    notice = "检查通过：可以提交" if answer.ok and not placed.at else None
    return _render(request, principal, kind=kind, values=values, files=files, lists=lists, draft_id=draft_id,
                   status=200 if answer.ok and not refused else (answer.status if not answer.ok else 422),
                   placed=placed, problem=problem, notice=notice,
                   key=forms.idempotency_key(form, answer.status) if action == "submit" else forms.text(form, "idem"))


def _problem(answer: Answer, action: str, count: int) -> str | None:
    if answer.ok and not count:
        return None
    done = "未提交" if action == "submit" else "已保存草稿"
    if answer.status == 409 and answer.problem("stage"):
        return f"未提交：该小程序已有一件备案在办理中（阶段：{answer.problem('stage')}），不能再次提交"
    if answer.status in (401, 403):
        return f"{done}：{explain(answer.detail)}"
    if answer.status >= 500:
        return f"{done}：暂时无法检查（{explain(answer.detail)}），内容已保留，请稍后再试"
    return f"{done}：有 {count} 处需要修改，已在各项旁标出"


def regions(principal: Principal) -> Response:
    """`/apply/regions`: province -> city -> districts, which the page's script makes the pickers follow."""
    if not _applicant(principal):
        return JSONResponse({"error": "只有申请人可以填写备案申请"}, status_code=403)
    return Response(_regions_json(), media_type="application/json", headers={"Cache-Control": "private, max-age=3600"})


@functools.cache
def _regions_json() -> bytes:
    return json.dumps(picker_data(), ensure_ascii=False, separators=(",", ":")).encode()


async def upload(request: Request, principal: Principal) -> Response:
    """One file chosen in the page (its script): stored through the API, answered as JSON."""
    if not _applicant(principal):
        return JSONResponse({"error": "只有申请人可以上传备案材料"}, status_code=403)
    form = await forms.checked_form(request)
    file = forms.upload(form, "file")
    if file is None:
        return JSONResponse({"error": "没有选择文件"}, status_code=422)
    stored, why = await _upload(Api(request), file)
    if stored is None:
        return JSONResponse({"error": why}, status_code=422, headers={"Cache-Control": "no-store"})
    return JSONResponse(stored, status_code=201, headers={"Cache-Control": "no-store"})


async def check(request: Request, principal: Principal) -> Response:
    """The form as it stands against the API's check: violations by input, as JSON."""
    if not _applicant(principal):
        return JSONResponse({"error": "只有申请人可以检查备案申请"}, status_code=403)
    form, kind, values, _, lists, _ = await _read(request, principal, upload=False)
    fields = af.every_field(af.sections(principal.appids, change=kind == "CHANGE"))
    names = [f.name for f in fields] + [af.extra_slot(p, i) for p, i in af.all_extras(lists)]
    body = af.to_body(values, fields, af.extras_for(values, lists), kind)
    answer = await Api(request).post("/v1/applications/check", body, str(uuid.uuid4()))
    placed = af.place(answer.errors, names)
    ids = {f.name: f.id for f in fields}
    return JSONResponse({"ok": answer.ok, "status": answer.status,
                         "at": {ids.get(name, name): message for name, message in placed.at.items()},
                         "general": placed.general,
                         "problem": None if answer.ok or answer.errors else explain(answer.detail)},
                        headers={"Cache-Control": "no-store"})

"""The applicant's form (`/apply`): every field of the application (`filing.models`) in the
four sections of WeChat's form, and the two ways between the form and an application.

An input is named by its field path (`subject.address.district`), so a violation the API
answers names the input it belongs to, and its label is `filing.field_labels`'. Values are
kept as the form posts them (strings, a list for the service categories); `to_body` builds
the application the API checks from them, leaving out what does not apply (a unit's
certificate for a personal subject, the mini-program principal when the subject principal
is reused), and `from_application` prefills the form from an application on record (a CHANGE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filing import regions
from filing.dates import CHINA_TZ
from filing.field_labels import label
from filing.material_types import material_types
from filing.models import IdentityDocumentType, SubjectType
from filing.preapproval import load_preapproval_index
from filing.province_materials import ProvinceMaterial, ProvinceMaterials
from filing.provinces import PROVINCES, find_province
from filing.rules import REMARK_MAX, REMARK_MIN
from filing.service_types import MAX_SERVICE_CATEGORIES, load_service_types
from service.console.labels import IDENTITY_DOCUMENTS, SUBJECT_TYPES, UNIT_CERTIFICATES

#: Pre-approval rows the form offers (WeChat's form: one per category that needs one; two is plenty here).
PRE_APPROVAL_ROWS = 2
#: The suffix of the "长期" checkbox beside a validity's date.
LONG_TERM_SUFFIX = ".long_term"
#: What each identity document's number looks like (`filing.ids` checks it: R3).
NUMBER_FORMATS: dict[str, str] = {
    IdentityDocumentType.RESIDENT_ID: "18 位，前 17 位为数字，最后一位为数字或 X（如 130102199003071234）",
    IdentityDocumentType.PASSPORT: "5–17 位大写字母和数字，至少含一位数字（如 E12345678）",
    IdentityDocumentType.HK_MACAO_PERMIT: "H 或 M 开头，后接 8 位数字（旧证 10 位）（如 H12345678）",
    IdentityDocumentType.TAIWAN_PERMIT: "8 位数字（如 12345678）",
    IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID: "18 位，以 9 开头（2017 年版）；或 3 位字母加 12 位数字（2004 年版）",
    IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT: "18 位，以 810000（香港）、820000（澳门）或 830000（台湾）开头",
}
_TRUE = ("true", "on", "1", "yes")


@dataclass(frozen=True)
class Field:
    """One input: its name (the field path), kind and what the person is told about it."""

    name: str
    kind: str  # text, textarea, select, city, district, date, validity, yesno, checkbox, file, datetime, categories, appid, tel, email
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    required: bool = True
    datalist: tuple[str, ...] = ()
    #: For a document number: the input naming the document type, whose format the hint follows.
    type_from: str = ""
    maxlength: int | None = None

    @property
    def label(self) -> str:
        return label(self.name)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("[", "-").replace("]", "")


@dataclass(frozen=True)
class Group:
    """Fields shown together; `show_when` (`name=value` or `name!=value`) says when they apply."""

    title: str
    fields: tuple[Field, ...]
    show_when: str = ""
    note: str = ""
    name: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    groups: tuple[Group, ...]
    anchor: str


def _choices(table: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((str(getattr(k, "value", k)), v) for k, v in table.items())


def _document_hint() -> str:
    kinds = material_types()
    return f"{kinds['document'].formats_text}，不超过 {kinds['document'].limit_text}"


def person_fields(prefix: str) -> tuple[Field, ...]:
    doc = f"{prefix}.identity_document"
    return (
        Field(f"{prefix}.name", "text", "与证件一致", maxlength=100),
        Field(f"{doc}.type", "select", options=_choices(IDENTITY_DOCUMENTS)),
        Field(f"{doc}.number", "text", NUMBER_FORMATS[IdentityDocumentType.RESIDENT_ID], type_from=f"{doc}.type",
              maxlength=32),
        Field(f"{doc}.valid_from", "date", "证件上的有效期起始日期，不晚于今天"),
        Field(f"{doc}.valid_until", "validity", "证件上的有效期截止日期；长期有效的证件勾选「长期」"),
        Field(f"{doc}.front", "file", f"人像面（护照为照片页）彩色扫描件：{_document_hint()}"),
        Field(f"{doc}.back", "file", f"国徽面彩色扫描件（护照无需）：{_document_hint()}", required=False),
        Field(f"{prefix}.mobile", "tel", "11 位大陆手机号，以 13–19 开头；将收到工信部核验短信", maxlength=20),
        Field(f"{prefix}.emergency_mobile", "tel", "11 位大陆手机号，不能与本人手机号相同", maxlength=20),
        Field(f"{prefix}.email", "email", "选填", required=False, maxlength=100),
        Field(f"{prefix}.authorization_letter", "file",
              f"非个人主体、负责人不是法人时上传主体出具的授权书：{_document_hint()}", required=False),
    )


def sections(appids: Iterable[str], *, change: bool) -> tuple[Section, ...]:
    """The form's four sections (and, for a CHANGE, the number it changes)."""
    provinces = tuple((p.name, p.name) for p in PROVINCES)
    subject = (
        Group("主体", (
            Field("subject.type", "select", options=_choices(SUBJECT_TYPES)),
            Field("subject.name", "text", "单位：与证件一致的全称；个人：本人姓名", maxlength=100),
            Field("subject.address.province", "select", "主体所在省份：备案由该省通信管理局审核", options=provinces),
            Field("subject.address.city", "city", "先选省份，再从该省的城市（地级行政区）中选择；直辖市选其本身，如 北京市"),
            Field("subject.address.district", "district", "从所选城市的区县中选择；没有区县的城市（如 东莞市、济源市）选城市本身"),
            Field("subject.address.detail", "text", "街道、门牌号、楼层房间", maxlength=200),
        )),
        Group("单位证件", (
            Field("subject.unit_certificate.type", "select", options=_choices(UNIT_CERTIFICATES)),
            Field("subject.unit_certificate.number", "text", "18 位统一社会信用代码（数字和大写字母，如 91130000MA0XXXXX0X）",
                  maxlength=32),
            Field("subject.unit_certificate.valid_until", "validity", "证件上的有效期截止日期；长期有效的勾选「长期」"),
            Field("subject.unit_certificate.address", "text", "证件上登记的住所", maxlength=200),
            Field("subject.unit_certificate.scan", "file", f"证件彩色扫描件：{_document_hint()}"),
        ), show_when="subject.type!=PERSONAL", note="非个人主体填写", name="unit"),
        Group("法人", (
            Field("subject.principal_is_legal_representative", "yesno", "主体负责人是否为单位的法定代表人"),
        ), show_when="subject.type!=PERSONAL", name="legal"),
        Group("法定代表人", (
            Field("subject.legal_representative.name", "text", maxlength=100),
            Field("subject.legal_representative.identity_type", "select", options=_choices(IDENTITY_DOCUMENTS)),
            Field("subject.legal_representative.identity_number", "text", NUMBER_FORMATS[IdentityDocumentType.RESIDENT_ID],
                  type_from="subject.legal_representative.identity_type", maxlength=32),
        ), show_when="subject.principal_is_legal_representative=false", note="负责人不是法人时填写", name="representative"),
        Group("其他", (
            Field("subject.subject_number", "text", "主体已有备案号时填写（如 冀ICP备18021892号）；新主体留空", required=False,
                  maxlength=40),
            Field("subject.remark", "textarea", "选填，200 字以内", required=False, maxlength=200),
            Field("subject.residence_certificate", "file",
                  f"个人主体的证件地址不在备案省份时上传居住证明：{_document_hint()}", required=False),
        )),
    )
    categories = load_service_types()
    index = load_preapproval_index()
    mini_program = (
        Group("小程序", (
            Field("mini_program.appid", "appid", "您管理的小程序", options=tuple((a, a) for a in sorted(appids))),
            Field("mini_program.name", "text", "与微信公众平台上的名称一致", maxlength=100),
            Field("mini_program.service_categories", "categories",
                  f"只能选二级服务内容类型，最多 {MAX_SERVICE_CATEGORIES} 个；标「需前置审批」的须添加前置审批记录",
                  options=tuple((name, needs_pre_approval(name, index)) for name in categories)),
            Field("mini_program.remark", "textarea",
                  f"{REMARK_MIN}–{REMARK_MAX} 字：具体描述小程序实际经营内容和主要服务内容，审核人员将与服务类目比对",
                  maxlength=REMARK_MAX),
            Field("mini_program.no_pre_approval_needed", "checkbox", "所选类目都不需前置审批时勾选", required=False),
        )),
        *(Group(f"前置审批记录 {i + 1}", (
            Field(f"mini_program.pre_approvals[{i}].category", "text", "需前置审批的类目（如 医疗保健）", required=i == 0,
                  maxlength=50),
            Field(f"mini_program.pre_approvals[{i}].approval_number", "text", "主管部门的审批号", required=i == 0, maxlength=100),
            Field(f"mini_program.pre_approvals[{i}].document_name", "text", "审批文件的名称", required=i == 0, maxlength=200),
            Field(f"mini_program.pre_approvals[{i}].document", "file", f"前置审批文件：{_document_hint()}", required=i == 0),
        ), show_when="preapproval", note="所选类目需前置审批时填写", name=f"preapproval-{i}") for i in range(PRE_APPROVAL_ROWS)),
    )
    own = (
        Group("小程序负责人", (
            Field("mini_program_principal.reuse_subject_principal", "yesno", "小程序负责人就是主体负责人时选「是」"),
        )),
        Group("小程序负责人信息", person_fields("mini_program_principal.person"),
              show_when="mini_program_principal.reuse_subject_principal=false", note="与主体负责人不同时填写", name="own"),
        Group("人脸核身", (
            Field("mini_program_principal.face_verification.record_id", "text", "人脸核身完成后得到的记录号", maxlength=64),
            Field("mini_program_principal.face_verification.passed", "yesno", "核身是否通过"),
            Field("mini_program_principal.face_verification.verified_at", "datetime", "核身时间（北京时间），提交前 3 天内"),
        )),
    )
    first = (Group("变更备案", (Field("filing_number", "readonly", "变更的是这个备案号上的信息"),)),) if change else ()
    return (
        Section("主体信息", (*first, *subject), "subject"),
        Section("主体负责人", (Group("主体负责人", person_fields("subject_principal")),), "subject-principal"),
        Section("小程序信息", mini_program, "mini-program"),
        Section("小程序负责人", own, "mini-program-principal"),
    )


def needs_pre_approval(category: str, index: Mapping[str, str]) -> str:
    """The pre-approval category a service category needs ("" for none), as R6 reads it."""
    name = category.strip()
    return index.get(name) or index.get(name.split("-", 1)[-1]) or ""


def every_field(all_sections: Iterable[Section]) -> list[Field]:
    return [f for s in all_sections for g in s.groups for f in g.fields]


# --- province -> city -> district ---------------------------------------------------------

CITY = "subject.address.city"
DISTRICT = "subject.address.district"
PROVINCE = "subject.address.province"


def city_choices(values: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The city picker's groups: the chosen province's cities, or every province's (one group
    each) before a province is chosen, so the page works by plain posts too."""
    found = find_province(_one(values, PROVINCE))
    chosen = (found,) if found is not None else PROVINCES
    return tuple((p.name, tuple(c.name for c in regions.cities(p))) for p in chosen)


def district_choices(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The district picker's choices: the chosen city's districts (the city itself when it has
    none); none before a city of the province is chosen."""
    found = find_province(_one(values, PROVINCE))
    city = regions.find_city(found, _one(values, CITY)) if found is not None else None
    return city.district_names if city is not None else ()


def official_regions(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with the city and district by their official names where they name one
    (石家庄 -> 石家庄市, 北京 -> 北京市), so the pickers show them chosen; anything else as typed
    (the check names it)."""
    out = dict(values)
    found = find_province(_one(values, PROVINCE))
    city = regions.find_city(found, _one(values, CITY)) if found is not None else None
    if city is None:
        return out
    out[CITY] = city.name
    district = regions.find_district(city, _one(values, DISTRICT)) if _one(values, DISTRICT) else None
    if district is not None and city.districts:
        out[DISTRICT] = district
    return out


def region_focus(values: Mapping[str, Any]) -> str:
    """Where a person goes on after the lists were brought up to date (the no-script 更新)."""
    return DISTRICT if district_choices(values) else CITY


# --- the province's supplementary materials ------------------------------------------------

Extra = tuple[str, ProvinceMaterial]  # (province prefix, item)


def extra_slot(prefix: str, item: ProvinceMaterial) -> str:
    """The input naming an item's upload: per province, as two provinces may ask for one name."""
    return f"extra:{prefix}:{item.name}"


def all_extras(lists: ProvinceMaterials) -> list[Extra]:
    """Every province's items (the page shows those of the chosen province and subject type)."""
    return [(prefix, item) for prefix, items in sorted(lists.provinces.items()) for item in items]


def extras_for(values: Mapping[str, Any], lists: ProvinceMaterials) -> list[Extra]:
    """What the chosen province asks of the chosen subject type (R10's list in force)."""
    try:
        kind = SubjectType(_one(values, "subject.type"))
    except ValueError:
        return []
    found = find_province(_one(values, "subject.address.province"))
    if found is None:
        return []
    return [(found.prefix, item) for item in lists.required(found.name, kind)]


# --- form values <-> application -------------------------------------------------------------

def _one(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        if "[" in part:
            name, index = part[:-1].split("[")
            items = node.setdefault(name, [])
            while len(items) <= int(index):
                items.append({})
            node = items[int(index)]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value


def _instant(text: str) -> str:
    """A `datetime-local` value, read as China time (the page says all times are)."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None).isoformat() + "+08:00"
    except ValueError:
        return text  # the API names it (not a date-time)


def to_body(values: Mapping[str, Any], fields: Iterable[Field], extras: Iterable[Extra], kind: str) -> dict[str, Any]:
    """The application the form's values describe (what the API checks and starts)."""
    body: dict[str, Any] = {"kind": kind}
    personal = _one(values, "subject.type") == SubjectType.PERSONAL
    legal = _one(values, "subject.principal_is_legal_representative") != "false"
    reuse = _one(values, "mini_program_principal.reuse_subject_principal") != "false"
    for f in fields:
        name = f.name
        if personal and name.startswith(("subject.unit_certificate", "subject.legal_representative",
                                         "subject.principal_is_legal_representative")):
            continue
        if legal and name.startswith("subject.legal_representative"):
            continue
        if reuse and name.startswith("mini_program_principal.person"):
            continue
        if f.kind == "categories":
            chosen = values.get(name, [])
            body.setdefault("mini_program", {})["service_categories"] = [c for c in (chosen if isinstance(chosen, list) else [chosen]) if c]
            continue
        if f.kind == "checkbox":
            _set(body, name, _one(values, name).lower() in _TRUE)
            continue
        if f.kind == "validity" and _one(values, name + LONG_TERM_SUFFIX).lower() in _TRUE:
            _set(body, name, "LONG_TERM")
            continue
        value = _one(values, name)
        if not value or f.kind == "readonly" and name != "filing_number":
            continue
        if f.kind == "yesno":
            _set(body, name, value.lower() in _TRUE)
        elif f.kind == "datetime":
            _set(body, name, _instant(value))
        else:
            _set(body, name, value)
    if reuse:
        body.setdefault("mini_program_principal", {})["reuse_subject_principal"] = True
    records = body.get("mini_program", {}).get("pre_approvals")
    if records:
        body["mini_program"]["pre_approvals"] = [r for r in records if r]
    found = [{"name": item.name, "sha256": _one(values, extra_slot(prefix, item))} for prefix, item in extras
             if _one(values, extra_slot(prefix, item))]
    if found:
        body["extra_materials"] = found
    return body


def _flatten(node: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{path}.{key}" if path else key, out)
    elif isinstance(node, list) and path != "mini_program.service_categories":
        for i, value in enumerate(node):
            _flatten(value, f"{path}[{i}]", out)
    else:
        out[path] = node


def from_application(application: Mapping[str, Any]) -> dict[str, Any]:
    """Form values from an application (JSON, as the API answers it): a CHANGE's prefill."""
    flat: dict[str, Any] = {}
    _flatten(dict(application), "", flat)
    values: dict[str, Any] = {}
    for name, value in flat.items():
        if name.startswith("extra_materials["):
            continue
        if value == "LONG_TERM":
            values[name + LONG_TERM_SUFFIX] = "on"
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif name.endswith("verified_at") and isinstance(value, str):
            values[name] = _china_local(value)
        elif value is not None:
            values[name] = value
    province = find_province(str(values.get("subject.address.province", "")))
    for extra in application.get("extra_materials") or []:
        if province is not None:
            values[f"extra:{province.prefix}:{extra['name']}"] = extra["sha256"]
    return values


def _china_local(instant: str) -> str:
    try:
        return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(CHINA_TZ).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return instant


# --- violations -> inputs ------------------------------------------------------------------

def input_of(path: str, names: Iterable[str]) -> str | None:
    """The input a violation's field path belongs to (None: shown above the form)."""
    path = path.removeprefix("application.").removeprefix("body.")
    known = list(names)
    if path in known:
        return path
    if path.startswith("mini_program.service_categories"):
        return "mini_program.service_categories"
    if path.startswith("extra_materials"):
        return "extra_materials"
    return next((n for n in known if n.startswith(path + ".")), None)


@dataclass
class Placed:
    """A check's violations placed on the form: by input name, and those naming no input."""

    at: dict[str, str] = field(default_factory=dict)
    general: list[dict[str, str]] = field(default_factory=list)


def place(errors: Iterable[Mapping[str, str]], names: Iterable[str]) -> Placed:
    known = list(names)
    placed = Placed()
    for error in errors:
        path = str(error.get("field", ""))
        message = str(error.get("message_zh") or error.get("message_en") or "")
        where = input_of(path, known)
        if where is None:
            placed.general.append({"field": path, "label": label(path.removeprefix("application.")), "message": message})
        elif where in placed.at:
            placed.at[where] += "；" + message
        else:
            placed.at[where] = message
    return placed


def china_label(kind: str) -> str:
    return {"NEW": "新增备案", "CHANGE": "变更备案"}.get(kind, kind)



"""An application as the seed's form shows it: every field, grouped as 主体信息, 主体负责人,
小程序信息 and 小程序负责人 (plus the filing's own facts and the province's extra materials),
each with its Chinese label and its field path.

The path (`subject.address.detail`) is what a reviewer's reason names and what the
applicant's page matches reasons against; the label is what people read. Editing works
on the application's JSON by path, so the API judges the result exactly as any client's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from filing.dates import CHINA_TZ
from filing.models import LONG_TERM, Application, CancellationRequest
from service.console import labels

GROUPS: tuple[tuple[str, str], ...] = (
    ("filing", "备案信息"),
    ("subject", "主体信息"),
    ("subject_principal", "主体负责人"),
    ("mini_program", "小程序信息"),
    ("mini_program_principal", "小程序负责人"),
    ("extra_materials", "补充材料"),
)
_GROUP_OF_TOP = {"subject": "subject", "subject_principal": "subject_principal", "mini_program": "mini_program",
                 "mini_program_principal": "mini_program_principal", "extra_materials": "extra_materials"}

_PERSON = {
    "name": "姓名",
    "identity_document": "",
    "mobile": "手机号码",
    "emergency_mobile": "应急联系人手机号码",
    "email": "电子邮箱",
}
_DOCUMENT = {"type": "证件类型", "number": "证件号码", "valid_until": "证件有效期至", "scan": "证件彩色扫描件"}

#: Labels by path pattern, indices written `[]`; a part with an empty label adds nothing.
LABELS: dict[str, str] = {
    "kind": "备案类型",
    "filing_number": "原备案号",
    "cancellation_reason": "注销原因",
    "appid": "AppID",
    "reason": "注销原因",
    "subject.type": "主体类型",
    "subject.name": "主体名称",
    "subject.unit_certificate.type": "单位证件类型",
    "subject.unit_certificate.number": "单位证件号码",
    "subject.unit_certificate.valid_until": "单位证件有效期至",
    "subject.unit_certificate.scan": "单位证件彩色扫描件",
    "subject.unit_certificate": "单位证件",
    "subject.address.province": "通讯地址（省份）",
    "subject.address.city": "通讯地址（城市）",
    "subject.address.detail": "详细通讯地址",
    "subject.subject_number": "主体备案号",
    "subject.principal_is_legal_representative": "负责人是否为法人",
    "subject.legal_representative": "法人",
    "subject.legal_representative.name": "法人姓名",
    **{f"subject.legal_representative.identity_document.{k}": f"法人{v}" for k, v in _DOCUMENT.items()},
    **{f"subject_principal.{k}": v for k, v in _PERSON.items() if v},
    **{f"subject_principal.identity_document.{k}": v for k, v in _DOCUMENT.items()},
    "mini_program.appid": "AppID",
    "mini_program.name": "小程序名称",
    "mini_program.service_categories": "服务类目",
    "mini_program.service_categories[]": "服务类目",
    "mini_program.pre_approvals": "前置审批",
    "mini_program.pre_approvals[].category": "前置审批类目",
    "mini_program.pre_approvals[].approval_number": "前置审批号",
    "mini_program.pre_approvals[].document_name": "前置审批文件名",
    "mini_program.pre_approvals[].document": "前置审批文件",
    "mini_program_principal.reuse_subject_principal": "复用主体负责人信息",
    "mini_program_principal.person": "小程序负责人",
    **{f"mini_program_principal.person.{k}": v for k, v in _PERSON.items() if v},
    **{f"mini_program_principal.person.identity_document.{k}": v for k, v in _DOCUMENT.items()},
    "mini_program_principal.face_verification.record_id": "人脸核身记录号",
    "mini_program_principal.face_verification.passed": "人脸核身结果",
    "mini_program_principal.face_verification.verified_at": "人脸核身时间",
    "extra_materials": "补充材料",
    "extra_materials[].name": "补充材料名称",
    "extra_materials[].sha256": "补充材料文件",
}

_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Leaf:
    """One field of the application as shown and, where a value can be typed, edited."""

    path: str
    label: str
    value: Any  # the JSON value
    text: str  # as people read it
    input: str  # text, date, select, material, none (nothing to type: an absent part)
    choices: tuple[tuple[str, str], ...] = ()
    material: bool = False

    @property
    def editable(self) -> bool:
        return self.input != "none"

    @property
    def form_value(self) -> str:
        """The value as an input shows it (`true`, `长期`, the text)."""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if self.value == LONG_TERM:
            return "长期"
        return "" if self.value is None else str(self.value)


@dataclass
class Group:
    key: str
    title: str
    leaves: list[Leaf] = field(default_factory=list)


def label(path: str) -> str:
    """`mini_program.pre_approvals[1].document` -> `前置审批文件（第2项）`; unknown paths stay as they are."""
    pattern = _INDEX.sub("[]", path)
    found = LABELS.get(pattern)
    if found is None:
        return path
    numbers = [int(n) + 1 for n in _INDEX.findall(path)]
    return found + "".join(f"（第{n}项）" for n in numbers)


def groups(request: Application | CancellationRequest) -> list[Group]:
    """Every field, in the seed's groups and the models' order; empty groups left out."""
    found = {key: Group(key, title) for key, title in GROUPS}
    materials = {path for path, _ in request.materials()} if isinstance(request, Application) else set()
    for leaf in _leaves(request, "", materials):
        top = leaf.path.split(".", 1)[0].split("[", 1)[0]
        found[_GROUP_OF_TOP.get(top, "filing")].leaves.append(leaf)
    return [g for g in found.values() if g.leaves]


#: Parts left out for a reason the application states itself: said so instead of "未填写".
_ABSENT_BECAUSE = {
    "subject.legal_representative": ("principal_is_legal_representative", "负责人即法人"),
    "mini_program_principal.person": ("reuse_subject_principal", "复用主体负责人"),
}


def _leaves(model: BaseModel, prefix: str, materials: set[str]) -> list[Leaf]:
    out: list[Leaf] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}.{name}" if prefix else name
        if path in ("cancellation_reason", "filing_number") and value is None:
            continue  # the NEW kind has neither: nothing to show
        because = _ABSENT_BECAUSE.get(path)
        if value is None and because is not None and getattr(model, because[0], False):
            out.append(Leaf(path, label(path), None, because[1], "none"))
            continue
        if isinstance(value, BaseModel):
            out += _leaves(value, path, materials)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for i, item in enumerate(value):
                out += _leaves(item, f"{path}[{i}]", materials)
        elif isinstance(value, list) and value:
            out += [_leaf(f"{path}[{i}]", item, materials) for i, item in enumerate(value)]
        else:
            out.append(_leaf(path, value, materials))
    return out


def _leaf(path: str, value: Any, materials: set[str]) -> Leaf:
    name = label(path)
    if value is None or value == []:
        return Leaf(path, name, None, "未填写" if value is None else "无", "none")
    if path in materials:
        return Leaf(path, name, value, value, "material", material=True)
    if isinstance(value, bool):
        return Leaf(path, name, value, "是" if value else "否", "select", (("true", "是"), ("false", "否")))
    if isinstance(value, Enum):
        words = labels.ENUMS.get(type(value), {})
        choices = tuple((member.value, words.get(member.value, member.value)) for member in type(value))
        return Leaf(path, name, value.value, words.get(value.value, value.value), "select", choices)
    if value == LONG_TERM or (isinstance(value, date) and not isinstance(value, datetime)):
        text = "长期" if value == LONG_TERM else value.isoformat()
        return Leaf(path, name, value if value == LONG_TERM else value.isoformat(), text, "date")
    if isinstance(value, datetime):
        shown = value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
        return Leaf(path, name, value.isoformat(), shown, "none")
    return Leaf(path, name, value, str(value), "text")


def all_leaves(request: Application | CancellationRequest) -> list[Leaf]:
    return [leaf for group in groups(request) for leaf in group.leaves]


def names(path: str, reason_field: str) -> bool:
    """Whether a reason naming `reason_field` is about the field at `path` (it or a part of it)."""
    return path == reason_field or path.startswith((f"{reason_field}.", f"{reason_field}["))


def typed(leaf: Leaf, given: str) -> Any:
    """What an edited input means as JSON: 是/否 as booleans, 长期 as LONG_TERM, text trimmed."""
    given = given.strip()
    if leaf.input == "select" and leaf.choices == (("true", "是"), ("false", "否")):
        return given == "true"
    if leaf.input == "date" and given in ("长期", LONG_TERM, LONG_TERM.lower()):
        return LONG_TERM
    return given


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set `subject.address.detail` or `mini_program.service_categories[0]` in a JSON document."""
    parts = [p for p in re.split(r"\.|(\[\d+\])", path) if p]
    target: Any = document
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value

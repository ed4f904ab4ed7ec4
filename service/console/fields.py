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
from filing.field_labels import label
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

# The labels by field path (`LABELS`, `label`) live in filing/field_labels.py: the notices the
# engine sends name returned fields by them too. Add a new field's label there.



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


def groups(request: Application | CancellationRequest) -> list[Group]:
    """Every field, in the seed's groups and the models' order; empty groups left out."""
    found = {key: Group(key, title) for key, title in GROUPS}
    materials = {path for path, _ in request.materials()} if isinstance(request, Application) else set()
    for leaf in _leaves(request, "", materials):
        top = leaf.path.split(".", 1)[0].split("[", 1)[0]
        found[_GROUP_OF_TOP.get(top, "filing")].leaves.append(leaf)
    return [g for g in found.values() if g.leaves]


#: Fields only old filings carry (decodable in their histories); a new application leaves them out.
_LEGACY_WHEN_ABSENT = ("identity_document.scan", "legal_representative.identity_document")

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
        if path in ("cancellation_reason", "filing_number", "reason_type") and value is None:
            continue  # the NEW kind has neither: nothing to show
        if value is None and path.endswith(_LEGACY_WHEN_ABSENT):
            continue  # shapes of filings before issue 17 (one scan, the 法人's document): shown only when given
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

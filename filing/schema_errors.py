"""Pydantic validation errors as `Violation`s, so shape errors read like rule violations.

The field path follows the application's own fields (`mini_program.pre_approvals[0].category`);
pydantic's union-member tags (`date`, `literal['LONG_TERM']`) are dropped and the
member errors merged, so `valid_until: "2025-13-01"` is one violation, not two.
Messages never echo the input: it may be personal data (SPEC §9).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from filing.messages import Violation
from filing.models import Application

ROOT = "application"  # field path of an error about the whole document

_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段，请删除",
    "string_too_short": "长度至少{min_length}个字符，不能为空",
    "string_too_long": "长度不能超过{max_length}个字符",
    "string_pattern_mismatch": "格式不正确，应匹配 {pattern}",
    "string_type": "应为字符串",
    "enum": "取值无效，可选值：{expected}",
    "literal_error": "取值无效，应为 {expected}",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "datetime_type": "应为带时区的日期时间，如 2025-01-01T08:00:00+08:00",
    "datetime_parsing": "应为带时区的日期时间，如 2025-01-01T08:00:00+08:00",
    "datetime_from_date_parsing": "应为带时区的日期时间，如 2025-01-01T08:00:00+08:00",
    "date_type": "应为日期，如 2030-12-31",
    "date_parsing": "应为日期，如 2030-12-31",
    "date_from_datetime_parsing": "应为日期，如 2030-12-31",
    "date_from_datetime_inexact": "应为日期（不含时间），如 2030-12-31",
    "list_type": "应为列表",
    "too_short": "至少需要{min_length}项",
    "too_long": "最多{max_length}项",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象",
    "json_invalid": "不是有效的 JSON：{error}",
    "json_type": "应为 JSON 文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
}


#: Union fields whose member errors read better as one sentence.
_UNION_MESSAGES: dict[str, tuple[str, str]] = {
    "valid_until": ("应为日期（如 2030-12-31）或 LONG_TERM（长期）", "expected a date (e.g. 2030-12-31) or LONG_TERM"),
}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for m in map(_model_of, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def field_path(loc: tuple[int | str, ...], model: type[BaseModel] = Application) -> str:
    """`('mini_program', 'pre_approvals', 0, 'category')` -> `mini_program.pre_approvals[0].category`."""
    path, annotation = "", typing.cast(Any, model)
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
            args = typing.get_args(annotation)
            annotation = args[0] if typing.get_origin(annotation) is list and args else None
            continue
        current = _model_of(annotation)
        if current is None:
            continue  # a union-member tag, not a field
        if not item.isidentifier():  # an unknown key such as " " or "\x85": shown quoted
            path += f"[{item!r}]"
        else:
            path += f".{item}" if path else item
        info = current.model_fields.get(item)
        annotation = info.annotation if info is not None else None
    return path or ROOT


def _zh(error: Any) -> str:
    # Never pydantic's English `msg` (message_en has it): a page shows message_zh as it is.
    template = _ZH.get(error["type"])
    try:
        return template.format(**error.get("ctx", {})) if template else f"取值不符合要求（{error['type']}）"
    except (KeyError, IndexError, ValueError):
        return f"取值不符合要求（{error['type']}）"


def violations_from_validation_error(exc: ValidationError) -> list[Violation]:
    """One violation per field, in pydantic's order; merged union-member errors join with 'or'."""
    grouped: dict[str, list[Any]] = {}
    for error in exc.errors(include_input=False, include_url=False):
        grouped.setdefault(field_path(error["loc"]), []).append(error)
    violations = []
    for path, errors in grouped.items():
        zh, en = "；或".join(dict.fromkeys(map(_zh, errors))), "; or ".join(dict.fromkeys(e["msg"] for e in errors))
        if len(errors) > 1 and (override := _UNION_MESSAGES.get(path.rsplit(".", 1)[-1])):
            zh, en = override
        violations.append(Violation(field=path, key=f"schema.{errors[0]['type']}", message_zh=zh, message_en=en))
    return violations

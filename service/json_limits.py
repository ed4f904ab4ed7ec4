"""JSON the service accepts: finite numbers only, nested at most `MAX_DEPTH` levels.

Python's `json` reads `1e999` as infinity and `NaN`/`Infinity` as floats, none of which
JSON allows and none of which can be written back (a 500 where the answer or the console's
own call re-encodes them); and it recurses once per level, so a body of a few kilobytes of
brackets exhausts the stack. The gatekeeper checks every JSON body with `check_json`
before a route parses it, and the console checks the application a person pastes or
uploads, so both refuse the same way: a 422 naming where the value is and what is allowed.
Messages never quote the value (it may be personal data).
"""

from __future__ import annotations

import json
import math
from typing import Any

from filing.messages import Violation

#: The deepest nesting accepted (an application nests 4 levels).
MAX_DEPTH = 64


class UnsafeJson(ValueError):
    """Each violation's `field` is the JSON path of the value (`body` for the whole document)."""

    def __init__(self, refusals: list[Violation]) -> None:
        super().__init__("; ".join(r.message_en for r in refusals))
        self.refusals = refusals


class _NonFinite:
    """Stands in for a non-finite number while the document is walked (to name its path)."""


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite()


def _path(parts: tuple[str | int, ...]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "body"


def _too_deep(where: str) -> Violation:
    return Violation(field=where, key="json.too_deep", message_zh=f"JSON 嵌套超过 {MAX_DEPTH} 层，不予接受",
                     message_en=f"JSON nested deeper than {MAX_DEPTH} levels is not accepted")


def check_json(raw: bytes | str) -> Any:
    """The document, parsed; `UnsafeJson` when it holds a non-finite number or nests too deep.
    A document that is not JSON at all raises `json.JSONDecodeError` (or `ValueError`)."""
    try:
        document = json.loads(raw, parse_float=_float, parse_constant=lambda _: _NonFinite())
    except RecursionError:
        raise UnsafeJson([_too_deep("body")]) from None
    refusals: list[Violation] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:  # iteratively: the walk itself must not recurse
        value, where = stack.pop()
        if isinstance(value, _NonFinite):
            refusals.append(Violation(
                field=_path(where), key="json.non_finite",
                message_zh="数值须为有限数（不接受 NaN、Infinity 或超出范围的数，如 1e999）",
                message_en="numbers must be finite (NaN, Infinity and out-of-range numbers such as 1e999 are not JSON)"))
        elif len(where) >= MAX_DEPTH and isinstance(value, (dict, list)):
            refusals.append(_too_deep(_path(where[:8]) + "…"))
        elif isinstance(value, dict):
            stack.extend((item, (*where, str(key))) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*where, index)) for index, item in enumerate(value))
        if len(refusals) >= 10:
            break
    if refusals:
        raise UnsafeJson(sorted(refusals, key=lambda r: r.field))
    return document

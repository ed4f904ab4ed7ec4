"""Every refusal the API can give reads in Chinese on the console's pages (issue 19, item 4).

The refusals are collected from the code itself, so a new one fails here until it has its
Chinese: every problem type the service raises (`Problem(..., kind=...)`), every violation
key with its Chinese message (`_v`, `violation`, `Violation(...)` in filing/, service/,
engine/), every explanation the workflow gives for a refused or unapplied message
(`Refused(...)`, the L9 `why`s), and every registry refusal (`_refused(...)`, which must
carry `why_zh`). Each is rendered as the page that reports it, with English filled in
wherever the code puts a value (an error's text, a cause), and the page's visible text
must hold no English word (`tests/browser/pages_scan.py`'s allow-list: codes, appids,
numbers, field paths).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from service.console import refusals, why
from service.console.api import Answer
from service.console.render import environment
from tests.browser.pages_scan import english_in, visible_text

ROOT = Path(__file__).resolve().parents[2]
CJK = range(0x4E00, 0xA000)
#: What a value of unknown shape is filled with: English, so a message that passes an
#: error's English text through to people fails.
ENGLISH_VALUE = "the thing went wrong"


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _sources(*folders: str) -> Iterator[tuple[Path, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, _parsed(path)


def _value(expression: str) -> str:
    """A plausible value for `{expression}` in a message, by what it names."""
    e = expression.lower()
    for words, value in [
        (("_zh",), "不在列表中"),
        (("stage",), "PLATFORM_REVIEW"),
        (("mobile", "mask"), "138****8000"),
        (("appid",), "wx1234567890abcdef"),
        (("number", "proposed", "next_free", "subject.text", "text"), "冀ICP备18021892号-2X"),
        (("province",), "河北"),
        (("holder", "name"), "示例科技有限公司"),
        (("field", "path", "where", "loc"), "subject.address.detail"),
        (("attempt", "len(", "count", "size", "limit", "max", "min", "bytes", "depth", "left", "days", "wait",
          "index", "item", "year"), "7"),
        (("err", "exc", "msg", "why", "cause", "reason", "detail"), ENGLISH_VALUE),
    ]:
        if any(word in e for word in words):
            return value
    return "7"


def _text(node: ast.AST) -> str | None:
    """A string literal or f-string, its values filled in; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else _value(ast.unparse(part.value))
                       for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _arg(call: ast.Call, index: int, keyword: str) -> ast.AST | None:
    found = next((k.value for k in call.keywords if k.arg == keyword), None)
    return found if found is not None else (call.args[index] if len(call.args) > index else None)


@dataclass(frozen=True)
class Found:
    where: str
    text: str


def _calls(names: set[str], *folders: str) -> Iterator[tuple[str, ast.Call]]:
    for path, tree in _sources(*folders):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node) in names:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node


@cache
def problem_kinds() -> dict[str, tuple[int, str]]:
    """Every `Problem(status, ..., kind=...)` of the service: kind -> (status, where)."""
    parts = {_text(call.args[1]) for _, call in _calls({"outside"}, "service") if len(call.args) > 1}
    parts |= {_text(call.args[0]) for _, call in _calls({"CheckUnavailable"}, "engine") if call.args}
    kinds: dict[str, tuple[int, str]] = {}
    for where, call in _calls({"Problem"}, "service"):
        status = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else 503
        kind = _arg(call, 99, "kind")
        if isinstance(kind, ast.Constant):
            kinds[kind.value] = (status, where)
        elif isinstance(kind, ast.JoinedStr):  # f"{part.replace(' ', '-')}-unavailable"
            for part in filter(None, parts):
                kinds[f"{part.replace(' ', '-')}-unavailable"] = (status, where)
    return kinds


def violations() -> list[tuple[str, dict[str, str]]]:
    """Every violation the code builds: its key and Chinese message, values filled in."""
    found = []
    for where, call in _calls({"_v", "violation", "Violation", "_key_violation"}, "filing", "service", "engine"):
        if _name(call) == "Violation" and not call.keywords:
            continue  # the class statement's own calls, if any
        if _name(call) == "_key_violation":
            field, key, zh = "header.Idempotency-Key", _arg(call, 0, "key"), _arg(call, 1, "zh")
        else:
            field_node, key, zh = _arg(call, 0, "field"), _arg(call, 1, "key"), _arg(call, 2, "message_zh")
            zh = zh if zh is not None else _arg(call, 2, "zh")
            field = _text(field_node) if field_node is not None else None
        if zh is None or key is None:
            continue
        key_text, zh_text = _text(key) or "", _text(zh)
        if zh_text is None:
            continue  # a message passed through (a helper's parameter): its callers are walked
        found.append((where, {"field": field or "subject.name", "key": key_text, "message_zh": zh_text or ""}))
    return found


def workflow_whys() -> list[Found]:
    """What the workflow says when a message is refused or not applied."""
    found = []
    for where, call in _calls({"Refused"}, "workflows"):
        text = _text(call.args[0]) if call.args else None
        if text is not None:
            found.append(Found(where, text))
    for path, tree in _sources("workflows"):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in ("_why_not", "_stale", "_number_problem"):
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and ret.value is not None and _text(ret.value) is not None:
                        found.append(Found(f"{path.relative_to(ROOT)}:{ret.lineno}", _text(ret.value)))  # type: ignore[arg-type]
            if isinstance(node, ast.keyword) and node.arg == "why" and _text(node.value) is not None:
                found.append(Found(f"{path.relative_to(ROOT)}:{node.value.lineno}", _text(node.value)))  # type: ignore[arg-type]
    return found


def registry_refusals() -> list[tuple[str, ast.Call]]:
    return [(where, call) for where, call in _calls({"_refused"}, "registry") if len(call.args) + len(call.keywords) >= 2]


@cache
def _environment():  # noqa: ANN202
    return environment()


def page(title: str, message: str) -> str:
    return _environment().get_template("problem.html").render(
        principal=None, csrf="", flash=None, title=title, message=message)


def assert_chinese(where: str, html: str) -> None:
    english = english_in(visible_text(html))
    assert not english, f"{where}: English on the page: {english}\n{visible_text(html)}"


# ---------------------------------------------------------------------------- the walk


def test_the_walk_finds_what_the_code_emits():
    """The collectors see the refusals (a collector that finds nothing proves nothing)."""
    kinds = problem_kinds()
    assert {"not-found", "forbidden-role", "refused", "not-applied", "rule-violations", "registry-unavailable",
            "material-store-unavailable", "temporal-timeout", "several-open-verifications"} <= set(kinds)
    keys = {v["key"] for _, v in violations()}
    assert len(keys) > 60 and any(k.startswith("R8") or "subject_number" in k for k in keys), sorted(keys)[:20]
    whys = [f.text for f in workflow_whys()]
    assert any("attempt" in w for w in whys) and any("SMS_VERIFICATION" in w for w in whys)
    assert len(registry_refusals()) >= 20


@pytest.mark.parametrize("kind", sorted(problem_kinds()))
def test_every_problem_type_has_its_chinese_page(kind: str):
    status, where = problem_kinds()[kind]
    assert kind in refusals.PROBLEMS, f"{where}: problem type {kind!r} has no Chinese in service/console/refusals.py"
    answer = Answer(status, {"type": f"/problems/{kind}", "title": "Not Found", "status": status,
                             "detail": f"no filing filing-wx1234567890abcdef; {ENGLISH_VALUE}"})
    assert_chinese(f"{where} ({kind})", page(refusals.title(answer), refusals.words(answer)))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504])
def test_a_bare_status_and_the_router_s_404_read_in_chinese(status: int):
    """Starlette's own 404 and 405 (`about:blank`), as a console path shows them."""
    answer = Answer(status, {"type": "about:blank", "title": "Not Found", "detail": "no route /nothing; see /docs"})
    assert_chinese(f"status {status}", page(refusals.title(answer), refusals.words(answer)))
    title, message = refusals.status_words(status)
    assert_chinese(f"status {status} (gatekeeper)", page(title, message))


def test_every_violation_reads_in_chinese_by_its_field_s_label():
    wrong = []
    for where, error in violations():
        if not any(ord(c) in CJK for c in error["message_zh"]):
            wrong.append(f"{where}: {error['key']} has no Chinese message: {error['message_zh']!r}")
            continue
        answer = Answer(422, {"type": "/problems/rule-violations", "errors": [error], "detail": "the application breaks"})
        html = page(refusals.title(answer), refusals.words(answer))
        english = english_in(visible_text(html))
        if english:
            wrong.append(f"{where}: {error['key']}: {english} in {refusals.words(answer)!r}")
    assert not wrong, "\n".join(wrong)


def test_a_field_is_named_by_its_chinese_label_with_the_violation():
    error = {"field": "subject.address.detail", "key": "R2.address", "message_zh": "须写到门牌号"}
    assert refusals.violation_text(error) == "详细通讯地址：须写到门牌号"


def test_every_refusal_of_the_workflow_is_explained_in_chinese():
    wrong = []
    for found in workflow_whys():
        said = why.known(found.text)
        if said is None:
            wrong.append(f"{found.where}: no Chinese for {found.text!r}")
        elif english_in(said):
            wrong.append(f"{found.where}: English left in {said!r}")
    assert not wrong, "\n".join(wrong)


def test_every_registry_refusal_carries_its_chinese():
    """`RegistryOutcome.why_zh`: the reviewer's page shows it instead of the English
    (a wrong provincial number said "未生效：the subject number … is held by …")."""
    wrong = []
    for where, call in registry_refusals():
        zh = _arg(call, 2, "why_zh")
        text = _text(zh) if zh is not None else None
        if not text or not any(ord(c) in CJK for c in text):
            wrong.append(f"{where}: `_refused` without why_zh")
            continue
        english = _text(_arg(call, 1, "why")) or ""  # type: ignore[arg-type]
        said = why.explain(f"not applied: {english} — {text}")
        if said != text.strip() or english_in(said):
            wrong.append(f"{where}: the page says {said!r}")
    assert not wrong, "\n".join(wrong)


def test_the_reported_refusal_of_a_held_subject_number():
    held = ("not applied: the subject number 冀ICP备18021892号 of 冀ICP备18021892号-2X is held by another subject "
            "(示例科技有限公司, another certificate); a new subject gets a new subject number — "
            "主体备案号冀ICP备18021892号属于另一主体（证件不同），新主体须使用新的主体备案号")
    answer = Answer(409, {"type": "/problems/not-applied", "why": held.removeprefix("not applied: "), "detail": held})
    assert refusals.words(answer) == "主体备案号冀ICP备18021892号属于另一主体（证件不同），新主体须使用新的主体备案号"


def test_an_explanation_not_known_is_never_shown_in_english():
    assert why.explain("some new refusal nobody translated") == why.UNKNOWN
    answer = Answer(409, {"type": "/problems/refused", "why": "some new refusal nobody translated"})
    assert refusals.words(answer) == refusals.PROBLEMS["refused"][1]

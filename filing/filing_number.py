"""Filing numbers (备案号, SPEC §6): `冀ICP备18021892号-2X`, and operating licences' numbers.

Province prefix, `ICP备`, an 8-digit (before 2020) or 10-digit serial that names the
subject, `号`, then for a service `-` and its sequence number, and `X` when the service
is a mini-program or an app. Without the `-N` part the number is the subject's own
filing number (主体备案号), which is what a subject cancellation names.

A subject that holds a value-added telecom operating licence (经营性ICP许可证) files its
services under the licence's number instead: `粤B2-20090059` (the 增值电信业务经营许可证,
`B2-`, 8 digits) or the older `京ICP证000000号` (`ICP证`, 6 digits, `号`), each followed by
`-N` and `X` for a service (`粤B2-20090059-1626X`, `京ICP证000000号-1X`). Those numbers are
accepted wherever a number is read; `form` says which kind a number is.

The parser explains what is wrong in both languages, since the message goes back to the
applicant as an R8 violation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from filing.provinces import ALL_PREFIXES, Province, province_by_prefix

EXAMPLE = "冀ICP备18021892号-2X"
_TAIL = re.compile(r"^(?:-(?P<seq>[0-9]+)(?P<x>X?))?$")


class NumberForm(StrEnum):
    """Which authority's number it is: a filing's, or an operating licence's (SPEC §6)."""

    FILING = "ICP备"  # issued by a filing approval (备案)
    LICENCE = "ICP证"  # an ICP operating licence, the older form (京ICP证000000号)
    B2 = "B2"  # a value-added telecom operating licence, category B2 (粤B2-20090059)

    @property
    def is_licence(self) -> bool:
        return self is not NumberForm.FILING


#: After the prefix: the form's marker, the serial's allowed lengths, and what ends the subject part.
_FORMS: tuple[tuple[NumberForm, str, tuple[int, ...], str], ...] = (
    (NumberForm.FILING, "ICP备", (8, 10), "号"),
    (NumberForm.LICENCE, "ICP证", (6,), "号"),
    (NumberForm.B2, "B2-", (8,), ""),
)


class InvalidFilingNumber(ValueError):
    """`str()` is the English message; `message_zh` says the same in Chinese."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh


@dataclass(frozen=True, slots=True)
class FilingNumber:
    text: str  # exactly as issued / given
    prefix: str  # as written, possibly an alias (川)
    province: Province
    serial: str  # ICP备: 8 or 10 digits; ICP证: 6; B2: 8
    sequence: int | None  # None: the subject's own number (主体备案号)
    mini_program: bool  # trailing X
    form: NumberForm = NumberForm.FILING
    #: Where the subject's own number ends in `text` (after `号`, or after a B2 serial).
    subject_length: int = 0

    @property
    def is_subject_number(self) -> bool:
        return self.sequence is None

    @property
    def subject_number(self) -> str:
        """The subject's own number (主体备案号 or licence number): the text before `-N`."""
        return self.text[: self.subject_length]

    def __str__(self) -> str:
        return self.text


def _fail(en: str, zh: str, example: str = EXAMPLE) -> InvalidFilingNumber:
    return InvalidFilingNumber(
        f"{en}; a valid filing number looks like {example}",
        f"{zh}；正确的备案号形如 {example}",
    )


def _serial_and_rest(form: NumberForm, after: str, lengths: tuple[int, ...], end: str) -> tuple[str, str]:
    """The serial's digits and what follows the subject part; raises when either is wrong."""
    digits = after[: len(after) - len(after.lstrip("0123456789"))]
    if len(digits) not in lengths:
        allowed = " or ".join(map(str, lengths))
        allowed_zh = "位或".join(map(str, lengths))
        raise _fail(
            f"the serial after '{form.value}' must be {allowed} digits, not {len(digits)}",
            f"“{form.value}”后的编号应为{allowed_zh}位数字，而不是{len(digits)}位",
        )
    rest = after[len(digits) :]
    if end and not rest.startswith(end):
        raise _fail(f"the serial must be followed by '{end}'", f"编号后应为“{end}”")
    return digits, rest[len(end) :]


def parse_filing_number(text: str, *, mini_program: bool | None = None) -> FilingNumber:
    """Parse and keep `text` as given.

    `mini_program=True` requires a mini-program service number (`-NX`); `False` refuses
    the `X`; `None` accepts any form, the subject's own number included."""
    if not text:
        raise _fail("the filing number is empty", "备案号为空")
    if any(c.isspace() for c in text):
        raise _fail("the filing number contains spaces", "备案号中不能有空格")
    province = province_by_prefix(text[0])
    if province is None:
        raise _fail(
            f"'{text[0]}' is not a province prefix (valid: {''.join(ALL_PREFIXES)})",
            f"“{text[0]}”不是省份简称（可用：{''.join(ALL_PREFIXES)}）",
        )
    found = next((f for f in _FORMS if text.startswith(f[1], 1)), None)
    if found is None:
        raise _fail(
            "the province prefix must be followed by 'ICP备' (a filing), or by 'ICP证' or 'B2-' (an operating licence)",
            "省份简称后应为“ICP备”（备案号），或“ICP证”“B2-”（经营许可证号）",
        )
    form, marker, lengths, end = found
    digits, after_subject = _serial_and_rest(form, text[1 + len(marker) :], lengths, end)
    tail = _TAIL.fullmatch(after_subject)
    if tail is None:
        where = f"'{end}'" if end else "the licence's serial"
        where_zh = f"“{end}”" if end else "许可证编号"
        raise _fail(
            f"after {where} only '-' with a sequence number and an optional 'X' may follow",
            f"{where_zh}之后只能是“-”加序号，可选结尾“X”",
        )
    seq, has_x = tail.group("seq"), tail.group("x") == "X"
    if seq is not None and seq.startswith("0"):
        raise _fail(
            "the sequence number must be a positive integer without leading zeros",
            "序号应为不以0开头的正整数",
        )
    if mini_program is True and not has_x:
        raise _fail(
            "a mini-program service filing number ends with '-<sequence>X'",
            "小程序备案号应以“-序号X”结尾",
        )
    if mini_program is False and has_x:
        raise _fail(
            "a mini-program number (trailing 'X') is not accepted here",
            "此处不接受小程序备案号（结尾不应有X）",
            "冀ICP备18021892号-1",
        )
    return FilingNumber(
        text=text,
        prefix=text[0],
        province=province,
        serial=digits,
        sequence=int(seq) if seq is not None else None,
        mini_program=has_x,
        form=form,
        subject_length=len(text) - len(after_subject),
    )

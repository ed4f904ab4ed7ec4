"""Filing numbers (备案号, SPEC §6): `冀ICP备18021892号-2X`.

Province prefix, `ICP备`, an 8-digit (before 2020) or 10-digit serial that names the
subject, `号`, then for a service `-` and its sequence number, and `X` when the service
is a mini-program or an app. Without the `-N` part the number is the subject's own
filing number (主体备案号), which is what a subject cancellation names.

The parser explains what is wrong in both languages, since the message goes back to the
applicant as an R8 violation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filing.provinces import ALL_PREFIXES, Province, province_by_prefix

EXAMPLE = "冀ICP备18021892号-2X"
_TAIL = re.compile(r"^(?:-(?P<seq>[0-9]+)(?P<x>X?))?$")


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
    serial: str  # 8 or 10 digits
    sequence: int | None  # None: the subject's own number (主体备案号)
    mini_program: bool  # trailing X

    @property
    def is_subject_number(self) -> bool:
        return self.sequence is None

    @property
    def subject_number(self) -> str:
        """The subject's own number (主体备案号): the text up to and including `号`."""
        return self.text[: self.text.index("号") + 1]

    def __str__(self) -> str:
        return self.text


def _fail(en: str, zh: str, example: str = EXAMPLE) -> InvalidFilingNumber:
    return InvalidFilingNumber(
        f"{en}; a valid filing number looks like {example}",
        f"{zh}；正确的备案号形如 {example}",
    )


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
    if not text.startswith("ICP备", 1):
        raise _fail("the province prefix must be followed by 'ICP备'", "省份简称后应为“ICP备”")
    after = text[1 + len("ICP备") :]
    digits = after[: len(after) - len(after.lstrip("0123456789"))]
    if len(digits) not in (8, 10):
        raise _fail(
            f"the serial after 'ICP备' must be 8 or 10 digits, not {len(digits)}",
            f"“ICP备”后的编号应为8位或10位数字，而不是{len(digits)}位",
        )
    rest = after[len(digits) :]
    if not rest.startswith("号"):
        raise _fail("the serial must be followed by '号'", "编号后应为“号”")
    tail = _TAIL.fullmatch(rest[1:])
    if tail is None:
        raise _fail(
            "after '号' only '-' with a sequence number and an optional 'X' may follow",
            "“号”之后只能是“-”加序号，可选结尾“X”",
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
    )

"""Filing numbers as the registry keys them (SPEC §6).

A number is stored as issued, and keyed with its province's canonical prefix: `川ICP备…`
and `蜀ICP备…` name the same province, so they are the same number and can be issued
only once. The subject number of a service number is the part before its `-N` (for a
licence number such as `粤B2-20090059-1626X`, the part before the last `-`).
"""

from __future__ import annotations

from filing.filing_number import FilingNumber, parse_filing_number


def key_of(number: FilingNumber) -> str:
    """The number with the canonical province prefix: what uniqueness is checked on."""
    return number.province.prefix + number.text[len(number.prefix) :]


def subject_part(number: FilingNumber) -> FilingNumber:
    """`冀ICP备18021892号-2X` -> `冀ICP备18021892号`, `粤B2-20090059-1626X` -> `粤B2-20090059`;
    a subject number is its own."""
    if number.is_subject_number:
        return number
    return parse_filing_number(number.subject_number, mini_program=False)


def service_number(subject: FilingNumber, sequence: int) -> str:
    """The mini-program number `sequence` under `subject` (`…号-3X`), as the subject writes it."""
    return f"{subject.text}-{sequence}X"

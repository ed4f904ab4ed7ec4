"""One masking function per kind of personal data (SPEC §9), used by logs, queries and tools."""

from __future__ import annotations


def mask_mobile(mobile: str) -> str:
    """`13812345678` -> `138****5678`, as Chinese platforms show mobiles."""
    if len(mobile) < 8:
        return "*" * len(mobile)
    return f"{mobile[:3]}****{mobile[-4:]}"


def mask_id_number(number: str) -> str:
    """Keep the first and last two characters: enough to tell documents apart, not to use one."""
    if len(number) <= 4:
        return "*" * len(number)
    return f"{number[:2]}{'*' * (len(number) - 4)}{number[-2:]}"


def mask_name(name: str) -> str:
    """`张三` -> `张*`, `欧阳娜娜` -> `欧***`."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_address(detail: str) -> str:
    return "*" * min(len(detail), 6) if detail else detail

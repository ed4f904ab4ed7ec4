"""Provinces (R5) and filing numbers (SPEC §6, R8)."""

from __future__ import annotations

import pytest

from filing.filing_number import InvalidFilingNumber, parse_filing_number
from filing.provinces import PROVINCES, find_province, province_by_code, province_by_prefix


def test_thirty_one_distinct_provinces() -> None:
    assert len(PROVINCES) == 31
    for attr in ("name", "short_name", "prefix", "code"):
        assert len({getattr(p, attr) for p in PROVINCES}) == 31, attr
    every_prefix = [x for p in PROVINCES for x in p.prefixes]
    assert len(every_prefix) == len(set(every_prefix)) == 36


@pytest.mark.parametrize("text", ["河北省", "河北", "冀", " 河北省 "])
def test_find_province_by_full_short_or_prefix(text: str) -> None:
    assert find_province(text) == province_by_code("13")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("内蒙古自治区", "内蒙古自治区"),
        ("内蒙古", "内蒙古自治区"),
        ("蒙", "内蒙古自治区"),
        ("广西", "广西壮族自治区"),
        ("新疆维吾尔自治区", "新疆维吾尔自治区"),
        ("沪", "上海市"),
    ],
)
def test_autonomous_regions_and_municipalities(text: str, name: str) -> None:
    found = find_province(text)
    assert found is not None and found.name == name


@pytest.mark.parametrize("text", ["香港特别行政区", "澳门", "台湾省", "河北市", "", "Hebei"])
def test_not_a_mainland_province(text: str) -> None:
    assert find_province(text) is None


@pytest.mark.parametrize(
    ("alias", "canonical", "name"),
    [
        ("川", "蜀", "四川省"),
        ("贵", "黔", "贵州省"),
        ("云", "滇", "云南省"),
        ("秦", "陕", "陕西省"),
        ("甘", "陇", "甘肃省"),
    ],
)
def test_aliases_resolve_to_one_province(alias: str, canonical: str, name: str) -> None:
    by_alias, by_canonical = province_by_prefix(alias), province_by_prefix(canonical)
    assert by_alias is not None and by_alias is by_canonical and by_alias.name == name
    assert by_alias.prefix == canonical


def test_parse_the_sources_number() -> None:
    number = parse_filing_number("冀ICP备18021892号-2X", mini_program=True)
    assert number.text == "冀ICP备18021892号-2X"
    assert (number.prefix, number.province.name, number.serial, number.sequence, number.mini_program) == (
        "冀",
        "河北省",
        "18021892",
        2,
        True,
    )


@pytest.mark.parametrize("prefix", [x for p in PROVINCES for x in p.prefixes])
def test_every_prefix_and_alias_parses(prefix: str) -> None:
    text = f"{prefix}ICP备2024012345号-12X"
    number = parse_filing_number(text, mini_program=True)
    assert number.text == text and str(number) == text  # stored as given, alias and all
    assert number.prefix == prefix and number.province is province_by_prefix(prefix)
    assert (number.serial, number.sequence) == ("2024012345", 12)


def test_subject_and_website_numbers() -> None:
    subject = parse_filing_number("蜀ICP备12014244号")
    assert subject.is_subject_number and subject.sequence is None and not subject.mini_program
    website = parse_filing_number("蜀ICP备12014244号-2", mini_program=False)
    assert (website.sequence, website.mini_program) == (2, False)


def test_mini_program_flag() -> None:
    with pytest.raises(InvalidFilingNumber, match="ends with"):
        parse_filing_number("冀ICP备18021892号-2", mini_program=True)
    with pytest.raises(InvalidFilingNumber, match="ends with"):
        parse_filing_number("冀ICP备18021892号", mini_program=True)
    with pytest.raises(InvalidFilingNumber, match="not accepted here"):
        parse_filing_number("冀ICP备18021892号-2X", mini_program=False)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "empty"),
        ("冀ICP备18021892号-2X ", "spaces"),
        ("冀ICP备 18021892号-2X", "spaces"),
        ("港ICP备18021892号-2X", "'港' is not a province prefix"),
        ("冀ICP18021892号-2X", "followed by 'ICP备'"),
        ("冀icp备18021892号-2X", "followed by 'ICP备'"),
        ("冀ICP备1802189号-2X", "8 or 10 digits, not 7"),
        ("冀ICP备180218921号-2X", "8 or 10 digits, not 9"),
        ("冀ICP备１８０２１８９２号-2X", "8 or 10 digits, not 0"),  # full-width digits
        ("冀ICP备18021892-2X", "followed by '号'"),
        ("冀ICP备18021892号2X", "only '-' with a sequence"),
        ("冀ICP备18021892号-X", "only '-' with a sequence"),
        ("冀ICP备18021892号-2x", "only '-' with a sequence"),
        ("冀ICP备18021892号-2X1", "only '-' with a sequence"),
        ("冀ICP备18021892号-0X", "positive integer"),
        ("冀ICP备18021892号-02X", "positive integer"),
    ],
)
def test_malformed_numbers_say_what_is_wrong_and_what_is_valid(text: str, what: str) -> None:
    with pytest.raises(InvalidFilingNumber) as caught:
        parse_filing_number(text)
    assert what in str(caught.value)
    assert "冀ICP备18021892号-2X" in str(caught.value)  # what a valid one looks like
    assert caught.value.message_zh and "冀ICP备18021892号-2X" in caught.value.message_zh
    assert isinstance(caught.value, ValueError)

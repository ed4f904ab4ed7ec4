"""Operating-licence numbers (SPEC §6): `粤B2-20090059-1626X` and `京ICP证000000号-1X` are read
wherever a filing number is (CHANGE, cancellations, lookups, the tools), keyed by province."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cli.cancellations import _request as cancellation_request
from cli.errors import CliError
from cli.lookup import query as lookup_query
from cli.parsing import filing_number as cli_filing_number
from filing.examples import example_application
from filing.filing_number import InvalidFilingNumber, NumberForm, parse_filing_number
from filing.models import FilingKind
from filing.rules import check_application
from registry.numbers import key_of, service_number, subject_part

NOW = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
APPID = "wx1234567890abcdef"


@pytest.mark.parametrize(
    ("text", "form", "subject", "serial", "sequence"),
    [
        ("粤B2-20090059-1626X", NumberForm.B2, "粤B2-20090059", "20090059", 1626),
        ("粤B2-20090059", NumberForm.B2, "粤B2-20090059", "20090059", None),
        ("京ICP证000000号-1X", NumberForm.LICENCE, "京ICP证000000号", "000000", 1),
        ("京ICP证000000号", NumberForm.LICENCE, "京ICP证000000号", "000000", None),
        ("冀ICP备18021892号-2X", NumberForm.FILING, "冀ICP备18021892号", "18021892", 2),
    ],
)
def test_licence_numbers_parse_with_their_subject_part(
    text: str, form: NumberForm, subject: str, serial: str, sequence: int | None
) -> None:
    number = parse_filing_number(text)
    assert (number.text, number.form, number.serial, number.sequence) == (text, form, serial, sequence)
    assert number.subject_number == subject and subject_part(number).text == subject
    assert subject_part(number).is_subject_number and number.form.is_licence is (form is not NumberForm.FILING)
    assert service_number(subject_part(number), 7) == f"{subject}-7X"


def test_a_licence_number_written_with_a_province_alias_is_the_same_number() -> None:
    assert key_of(parse_filing_number("川B2-20090059-3X")) == key_of(parse_filing_number("蜀B2-20090059-3X"))
    assert key_of(parse_filing_number("川ICP证000001号")) == key_of(parse_filing_number("蜀ICP证000001号"))


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("粤B2-2009005-1X", "the serial after 'B2' must be 8 digits, not 7"),
        ("粤B2-200900591-1X", "must be 8 digits, not 9"),
        ("粤B220090059-1X", "followed by 'ICP备' (a filing), or by 'ICP证' or 'B2-'"),
        ("粤B3-20090059-1X", "followed by 'ICP备'"),
        ("粤B2-20090059号-1X", "after the licence's serial only '-'"),
        ("粤B2-20090059-01X", "positive integer"),
        ("京ICP证00000号-1X", "the serial after 'ICP证' must be 6 digits, not 5"),
        ("京ICP证000000-1X", "followed by '号'"),
        ("京ICP证000000号1X", "after '号' only '-'"),
    ],
)
def test_malformed_licence_numbers_say_what_is_wrong(text: str, what: str) -> None:
    with pytest.raises(InvalidFilingNumber) as caught:
        parse_filing_number(text)
    assert what in str(caught.value) and caught.value.message_zh


def test_a_mini_program_licence_number_ends_with_x_like_any_other() -> None:
    with pytest.raises(InvalidFilingNumber, match="ends with"):
        parse_filing_number("粤B2-20090059-1626", mini_program=True)
    with pytest.raises(InvalidFilingNumber, match="not accepted here"):
        parse_filing_number("粤B2-20090059-1626X", mini_program=False)


def test_r8_reads_licence_numbers_on_a_change_and_names_a_province_mismatch() -> None:
    change = example_application(NOW, kind=FilingKind.CHANGE, province="广东省")
    for number in ("粤B2-20090059-1626X", "粤ICP证000123号-2X"):
        good = change.model_copy(update={"filing_number": number})
        assert [v.key for v in check_application(good, NOW) if v.key.startswith("R8.")] == []
    elsewhere = change.model_copy(update={"filing_number": "京B2-20090059-1626X"})
    assert [v.key for v in check_application(elsewhere, NOW) if v.key.startswith("R8.")] == ["R8.province_mismatch"]
    subject_only = change.model_copy(update={"filing_number": "粤B2-20090059"})
    assert [v.key for v in check_application(subject_only, NOW) if v.key.startswith("R8.")] == [
        "R8.invalid_filing_number"]


def test_the_tools_take_licence_numbers_for_cancellations_approvals_and_lookups() -> None:
    assert cancellation_request("CANCEL_MINI_PROGRAM", APPID, "粤B2-20090059-1626X", "停止运营").filing_number == (
        "粤B2-20090059-1626X")
    assert cancellation_request("CANCEL_SUBJECT", APPID, "京ICP证000000号", "公司注销").filing_number == "京ICP证000000号"
    with pytest.raises(CliError, match="filing_number"):
        cancellation_request("CANCEL_ACCESS", APPID, "粤B2-20090059", "x")  # a licence, not a mini-program
    assert cli_filing_number("粤B2-20090059-1627X").form is NumberForm.B2
    assert lookup_query("粤B2-20090059-1626X", None) == {"number": "粤B2-20090059-1626X"}
    assert lookup_query(None, None, " 91440300708461136t ") == {"certificate": "91440300708461136t"}
    with pytest.raises(CliError, match="at least 2 characters"):
        lookup_query(None, "腾")
    with pytest.raises(CliError, match="exactly one"):
        lookup_query(None, "腾讯", "91440300708461136T")

"""Checking what people type, before anything is sent: pure functions raising `CliError`.

Each message names the bad input and what a good one looks like, so a reviewer or an
applicant can correct it without reading the SPEC.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from cli.options import CliError
from engine.filing_ids import filing_id_for
from filing.filing_number import FilingNumber, InvalidFilingNumber, parse_filing_number
from filing.messages import Reason, SmsCodeEntry, SmsResendRequest, WithdrawRequest
from filing.provinces import find_province

APPID = re.compile(r"wx[0-9a-f]{16}")
PREFIX = "filing-"


def filing_id(text: str) -> str:
    """`filing-wx…` or the bare appid `wx…` (what applicants know) -> the workflow id."""
    value = text.strip()
    appid = value.removeprefix(PREFIX)
    if not APPID.fullmatch(appid):
        raise CliError(
            f"{text!r} is not a filing id: give filing-wx<16 hex digits> or the bare appid wx<16 hex digits>"
        )
    return filing_id_for(appid)


def appid_of(filing: str) -> str:
    return filing.removeprefix(PREFIX)


def reason(text: str) -> Reason:
    """`FIELD:ERROR[:SUGGESTION]` -> a §7 reason. Only the first two ASCII colons split, so
    an error or a suggestion may contain colons of its own."""
    field, sep, rest = text.partition(":")
    error, _, suggestion = rest.partition(":")
    if not sep or not field.strip() or not error.strip():
        raise CliError(
            f"reason {text!r} is not FIELD:ERROR[:SUGGESTION], e.g. 'subject.address:地址不详细:请填写门牌号'"
        )
    try:
        return Reason(field=field, error=error, suggestion=suggestion.strip() or None)
    except ValidationError as err:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in err.errors())
        raise CliError(f"reason {text!r}: {problems}") from None


def reasons(texts: list[str] | None) -> list[Reason]:
    """A reject needs at least one reason (L2, L4): refused here, before sending."""
    if not texts:
        raise CliError("a reject needs at least one --reason FIELD:ERROR[:SUGGESTION]; nothing was sent")
    return [reason(t) for t in texts]


def filing_number(text: str) -> FilingNumber:
    """A mini-program service filing number (§6), e.g. 冀ICP备18021892号-2X."""
    try:
        return parse_filing_number(text.strip(), mini_program=True)
    except InvalidFilingNumber as err:
        raise CliError(f"malformed filing number {text!r}: {err.message_en}") from None


def province_prefix(text: str) -> str:
    """冀, 河北, 河北省 or an alias (蜀) -> the prefix the Province search attribute holds."""
    found = find_province(text)
    if found is None:
        raise CliError(f"unknown province {text!r}: give a prefix (冀) or a name (河北, 河北省)")
    return found.prefix


_SMS_HINTS = {
    "mobile": "the mobile must be an 11-digit mainland number starting with 13-19",
    "code": "the code must be the 6 digits of the 12381 SMS",
    "id_last6": "--id-last6 must be the last 6 characters (digits or X) of the verifier's identity document",
}


def sms_entry(mobile: str, code: str, id_last6: str) -> SmsCodeEntry:
    try:
        return SmsCodeEntry(mobile=mobile, code=code, id_last6=id_last6)
    except ValidationError as err:
        raise CliError("; ".join(_SMS_HINTS[str(e["loc"][0])] for e in err.errors()) + "; nothing was sent") from None


def resend_request(mobile: str) -> SmsResendRequest:
    try:
        return SmsResendRequest(mobile=mobile)
    except ValidationError:
        raise CliError(_SMS_HINTS["mobile"] + "; nothing was sent") from None


def withdraw_request(reason: str) -> WithdrawRequest:
    try:
        return WithdrawRequest(reason=reason)
    except ValidationError:
        raise CliError("--reason must be 1 to 500 characters; nothing was sent") from None

"""Who is calling (SPEC §12): the claims of a verified bearer token, in the SPEC's words.

A token names one role. A provincial reviewer's scope is a province (its filing-number
prefix, 冀); an applicant's is the appids of their mini-programs. Claims are
canonicalised here, once, so an identity provider may say 河北 or 冀 alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from filing.provinces import find_province

APPID = re.compile(r"^wx[0-9a-f]{16}$")
#: A reviewer is recorded by the token's `sub` on a decision, whose field holds 64 characters.
MAX_SUB = 64


class Role(StrEnum):
    APPLICANT = "applicant"
    PLATFORM_REVIEWER = "platform_reviewer"  # 平台初审
    PROVINCE_REVIEWER = "province_reviewer"  # 通管局
    VERIFICATION_SITE = "verification_site"  # 工信部备案系统 (carries the 12381 code)
    OPERATOR = "operator"


class InvalidClaims(ValueError):
    """A token whose signature is good but whose claims cannot name a caller."""


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    province: str | None = None  # canonical filing-number prefix, province reviewers only
    appids: frozenset[str] = frozenset()  # applicants only

    @property
    def key(self) -> str:
        """The caller as the idempotency store and the audit log name it."""
        return f"{self.role.value}:{self.sub}"

    def owns(self, appid: str) -> bool:
        return self.role is Role.APPLICANT and appid in self.appids


def canonical_province(value: str) -> str:
    """A prefix, alias or name (冀, 河北, 河北省, 川) as the canonical prefix (冀, 蜀)."""
    province = find_province(value)
    if province is None:
        raise InvalidClaims(f"province {value!r} is not a mainland province (use a prefix such as 冀 or a name such as 河北)")
    return province.prefix


def canonical_appids(value: Any) -> frozenset[str]:
    """A list, or a string separated by spaces or commas (as some providers flatten lists)."""
    items: Iterable[Any] = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise InvalidClaims("appids must be a list of appids")
    appids = frozenset(str(a) for a in items if str(a))
    wrong = sorted(a for a in appids if not APPID.match(a))
    if wrong:
        raise InvalidClaims(f"appids must look like wx1234567890abcdef; {len(wrong)} do not")
    return appids


def principal_from_claims(
    claims: Mapping[str, Any], *, role_claim: str = "role", province_claim: str = "province",
    appids_claim: str = "appids",
) -> Principal:
    """The caller named by verified claims; `InvalidClaims` says which claim is wrong."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_SUB:
        raise InvalidClaims(f"sub must be a string of 1 to {MAX_SUB} characters")
    raw_role = claims.get(role_claim)
    try:
        role = Role(raw_role)
    except ValueError:
        raise InvalidClaims(f"claim {role_claim!r} must be one of {', '.join(Role)}") from None
    province: str | None = None
    appids: frozenset[str] = frozenset()
    if role is Role.PROVINCE_REVIEWER:
        raw = claims.get(province_claim)
        if not isinstance(raw, str) or not raw:
            raise InvalidClaims(f"a province_reviewer's token names its province in claim {province_claim!r}")
        province = canonical_province(raw)
    if role is Role.APPLICANT:
        appids = canonical_appids(claims.get(appids_claim) or [])
    return Principal(sub=sub, role=role, province=province, appids=appids)

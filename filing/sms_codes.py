"""12381 SMS codes: generated at random, kept by the workflow only as a keyed digest (SPEC §9).

The digest is an HMAC over the code *and* its context (filing, attempt, verifier, resend),
so a digest seen in a history neither reveals the code (the key stays on workers) nor
verifies a code sent to another verifier or before a resend.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_DIGITS = 6


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_context(filing_id: str, attempt: int, mobile: str, resend: int) -> str:
    return f"{filing_id}|{attempt}|{mobile}|{resend}"


class SmsCodeKeys:
    """The HMAC keys workers hold: one current key, older ones still accepted (rotation)."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"SMS code key {current!r} is not among the configured keys {sorted(keys)}")
        self._keys = keys
        self._current = current

    def digest(self, code: str, context: str) -> str:
        return f"{self._current}:{self._mac(self._current, code, context)}"

    def matches(self, code: str, context: str, digest: str) -> bool:
        """Constant-time comparison; an unknown key id never matches."""
        key_id, _, expected = digest.partition(":")
        if key_id not in self._keys:
            return False
        return hmac.compare_digest(self._mac(key_id, code, context), expected)

    def _mac(self, key_id: str, code: str, context: str) -> str:
        return hmac.new(self._keys[key_id], f"{context}|{code}".encode(), hashlib.sha256).hexdigest()

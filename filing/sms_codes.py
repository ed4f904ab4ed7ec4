"""12381 SMS codes: derived from the send's idempotency key, kept by the workflow only as a
keyed digest (SPEC §9).

A code is an HMAC of the send's idempotency key under an SMS key only workers hold, so
every retry of one send (another attempt, another worker, a gateway that answers a
repeated key without the body) sends and digests the same code. The workflow pins the
key id for each send, so a rotation between two attempts changes nothing either.

The digest is another HMAC, over the code *and* its context (the send's idempotency
key), so a digest seen in a history neither reveals the code nor verifies a code sent
for another filing, verifier or resend.
"""

from __future__ import annotations

import hashlib
import hmac

CODE_DIGITS = 6


class UnknownSmsKey(LookupError):
    """A code or digest under a key id this worker does not hold: another worker must
    handle it (retryable), never a wrong entry (README: rotation in two phases)."""


def code_context(filing_id: str, attempt: int, mobile: str, resend: int) -> str:
    """The context of codes sent before codes were derived from their send's key: kept so
    that filings that sent such codes still verify them."""
    return f"{filing_id}|{attempt}|{mobile}|{resend}"


class SmsCodeKeys:
    """The HMAC keys workers hold: one current key, older ones still accepted (rotation)."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"SMS code key {current!r} is not among the configured keys {sorted(keys)}")
        self._keys = keys
        self.current = current

    def derive_code(self, key_id: str, idempotency_key: str) -> str:
        """The code for one send: the same for every retry of that send."""
        mac = hmac.new(self._key(key_id), f"code|{idempotency_key}".encode(), hashlib.sha256).digest()
        return f"{int.from_bytes(mac[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"

    def digest(self, code: str, context: str, key_id: str | None = None) -> str:
        key_id = key_id or self.current
        return f"{key_id}:{self._mac(key_id, code, context)}"

    def matches(self, code: str, context: str, digest: str) -> bool:
        """Constant-time comparison; a key id not held here raises `UnknownSmsKey`."""
        key_id, _, expected = digest.partition(":")
        return hmac.compare_digest(self._mac(key_id, code, context), expected)

    def _key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownSmsKey(
                f"SMS key id {key_id!r} is not configured on this worker (configured: {', '.join(sorted(self._keys))}); "
                "give every worker the key before making it current"
            )
        return key

    def _mac(self, key_id: str, code: str, context: str) -> str:
        return hmac.new(self._key(key_id), f"{context}|{code}".encode(), hashlib.sha256).hexdigest()

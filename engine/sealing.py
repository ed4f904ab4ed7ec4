"""Encryption at rest with the payload keyring: the registry's people on record and the
material store's files (SPEC §9, §11, R10).

The same AES-256-GCM keys as the payload codec, the same rotation: data is sealed with
the current key and tagged with its id; any key still in the ring opens it. `context`
is bound as associated data, so a sealed blob moved to another record does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.keys import Keyring, MissingKey

MAGIC = b"FSL1"  # format version of a sealed blob
NONCE_BYTES = 12


class Sealer:
    def __init__(self, keyring: Keyring) -> None:
        self._current = keyring.current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.all_keys().items()}
        # Digest keys are derived (never the sealing key itself), one per key of the ring.
        self._digest_keys = {key_id: hmac.new(key, b"icp-filings keyed digests v1", hashlib.sha256).digest()
                             for key_id, key in keyring.all_keys().items()}

    def digest(self, value: str, purpose: str) -> str:
        """A keyed digest (HMAC-SHA256 under a key derived from the current key) naming `value`
        without revealing it: `<key id>:<hex>`. For lookups of personal data (a mobile, an
        identity number) that a plain hash would give away to anyone trying every number."""
        return self.digests(value, purpose)[0]

    def digests(self, value: str, purpose: str) -> list[str]:
        """`value`'s digest under every key of the ring, the current one first: what a lookup
        matches, so that rows digested before a key rotation are still found."""
        message = purpose.encode() + b"\n" + value.encode()
        ordered = [self._current, *sorted(k for k in self._digest_keys if k != self._current)]
        return [f"{k}:{hmac.new(self._digest_keys[k], message, hashlib.sha256).hexdigest()}" for k in ordered]

    def seal(self, plain: bytes, context: str) -> bytes:
        """`MAGIC | len(key id) | key id | nonce | ciphertext+tag`."""
        key_id = self._current.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plain, key_id + b"|" + context.encode())
        return MAGIC + bytes([len(key_id)]) + key_id + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 1:
            raise ValueError("not a sealed blob (wrong format)")
        at = len(MAGIC)
        length = blob[at]
        key_id = blob[at + 1 : at + 1 + length]
        rest = blob[at + 1 + length :]
        cipher = self._ciphers.get(key_id.decode())
        if cipher is None:
            raise MissingKey(
                f"data sealed with key id {key_id.decode()!r}, which is not configured here "
                f"(configured: {', '.join(sorted(self._ciphers))}); add it to FILINGS_PAYLOAD_KEYS or the keys file"
            )
        try:
            return cipher.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], key_id + b"|" + context.encode())
        except InvalidTag:
            raise ValueError(f"sealed data under key id {key_id.decode()!r} failed authentication: "
                             "corrupted, tampered, or moved from another record") from None

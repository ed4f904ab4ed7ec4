"""Payload encryption (SPEC §9): AES-256-GCM over every payload the server stores.

The Temporal server keeps every input, result, signal and query payload in its
database and shows it in the Web UI; a filing's payloads carry identity numbers,
mobiles, names and addresses. Each payload is encrypted with the keyring's current
key and tagged with its key id (also bound as associated data, so a tag cannot be
swapped); decryption accepts any key in the ring, which is what makes rotation safe.
Payloads without the encrypted encoding pass through, so plain histories stay readable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadCodec, PayloadConverter
from temporalio.exceptions import ApplicationError

from engine.keys import Keyring, MissingKey

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
#: Set on a payload this codec decrypted (and stripped from any that arrived in clear), so
#: the workflow can refuse personal data that a client sent without the codec.
SEALED = "filings-sealed"
NONCE_BYTES = 12


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self._current = keyring.current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.all_keys().items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher, key_id = self._ciphers[self._current], self._current.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            encoded.append(Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(p) for p in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if SEALED in payload.metadata:  # a client cannot claim encryption it did not use
                payload = Payload(metadata={k: v for k, v in payload.metadata.items() if k != SEALED}, data=payload.data)
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise MissingKey(
                f"payload encrypted with key id {key_id!r}, which is not configured here "
                f"(configured: {', '.join(sorted(self._ciphers))}); add it to FILINGS_PAYLOAD_KEYS or the keys file"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise ValueError(f"payload under key id {key_id!r} failed authentication: corrupted or tampered") from None
        inner = Payload.FromString(plain)
        inner.metadata[SEALED] = key_id.encode()
        return inner


#: Refusals of updates (raised by the workflow's validators) say what to do, never quote
#: personal data, and must reach a client that forgot the codec in a language it can read.
CLEAR_FAILURE_TYPES = frozenset({"Refused"})


class EncodedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go through the codec too: they can quote data.
    A refusal stays readable (its message is written for the caller; its stack is dropped)."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        if isinstance(exception, ApplicationError) and exception.type in CLEAR_FAILURE_TYPES:
            DefaultFailureConverter().to_failure(exception, payload_converter, failure)
            failure.stack_trace = ""
            return
        super().to_failure(exception, payload_converter, failure)


def data_converter(keyring: Keyring) -> DataConverter:
    """The one data converter of every process: pydantic payloads, encrypted."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=EncodedFailureConverter,
    )

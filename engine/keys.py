"""Keys that only workers and authorised tools hold: payload encryption and SMS digests.

Both rotate the same way: a keyring holds keys by id and names the current one. New
data is protected with the current key and tagged with its id; any key still in the
ring is accepted, so making a new key current keeps running filings working. A key id
that is not in the ring is a clear error naming it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

KEY_BYTES = 32


class MissingKey(LookupError):
    """Data protected with a key id this process is not configured with."""


class Keyring(BaseModel):
    """`{"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "..."}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    current: str
    keys: dict[str, SecretStr]

    @model_validator(mode="after")
    def _check(self) -> Keyring:
        if self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not among the keys {sorted(self.keys)}")
        for key_id in self.keys:
            self.key(key_id)
        return self

    def key(self, key_id: str) -> bytes:
        secret = self.keys.get(key_id)
        if secret is None:
            raise MissingKey(f"key id {key_id!r} is not configured (configured: {', '.join(sorted(self.keys))})")
        try:
            raw = base64.b64decode(secret.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {key_id!r} is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes, it is {len(raw)}")
        return raw

    def all_keys(self) -> dict[str, bytes]:
        return {key_id: self.key(key_id) for key_id in self.keys}

    @classmethod
    def generate(cls, key_id: str) -> Keyring:
        return cls(current=key_id, keys={key_id: SecretStr(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())})

    def with_new_current(self, key_id: str) -> Keyring:
        """Rotation: a new current key, the old ones kept for what they protected."""
        fresh = Keyring.generate(key_id)
        return Keyring(current=key_id, keys={**self.keys, **fresh.keys})

    def dump(self) -> dict[str, object]:
        return {"current": self.current, "keys": {k: v.get_secret_value() for k, v in self.keys.items()}}


class KeysFile(BaseModel):
    """The local keys file (`<data dir>/keys.json`, owner-only), made by `make run`."""

    model_config = ConfigDict(extra="forbid")

    payload: Keyring
    sms_hmac: Keyring


def load_keys_file(path: Path) -> KeysFile:
    return KeysFile.model_validate_json(path.read_text(encoding="utf-8"))


def ensure_local_keys(path: Path) -> KeysFile:
    """Create the development keys on first start (mode 0600), reuse them afterwards."""
    if path.exists():
        return load_keys_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = KeysFile(payload=Keyring.generate("local-1"), sms_hmac=Keyring.generate("local-1"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"payload": keys.payload.dump(), "sms_hmac": keys.sms_hmac.dump()}, f, indent=2)
    return keys


def ensure_local_codec_token(path: Path) -> str:
    """The local codec server's bearer token: made once (0600) under the data dir."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text(encoding="utf-8").strip()

"""The material store on S3-compatible storage (MinIO in compose; SPEC §8, R10).

Materials are sealed on the client with the payload keyring exactly as the local store
seals them (AES-256-GCM bound to the name), so the bucket holds no scan in clear whatever
its own encryption settings. Object key `materials/<sha256>`; the media type and size
ride in the object's metadata, so `stat` is one HEAD and never decrypts.

boto3 is blocking and slow to import: the client is made on first use (a worker that
never touches a material pays nothing) and every call runs off the event loop. Timeouts
and retries are short, so an endpoint that is down is an error naming the endpoint and
the bucket within seconds, never a hang; the secret is never part of a message.

Who stored a material (`MaterialOwner`) is kept in the same bucket, one small JSON object
per claim (the uploader, and each appid it was stored for) at
`material-owners/<sha256>/<SHA-256 of the claim>`, written once: every replica sees the
same owners, and asking whether a caller owns a material is one HEAD per claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr, ValidationError

from engine.keys import Keyring
from engine.sealing import Sealer
from filing.materials import check_material_name, material_sha256, prepare_material
from filing.ports import MaterialOwner, StoredMaterial

PREFIX = "materials/"
OWNERS_PREFIX = "material-owners/"
_MEDIA_TYPE, _BYTES = "media-type", "bytes"  # object metadata (S3 lower-cases the names)

T = TypeVar("T")


class S3Bucket(Protocol):
    """Where the store keeps materials: what it reads of its settings (`engine.settings.S3Settings`,
    FILINGS_S3__<FIELD>, has this shape; `engine.wiring` passes it), so the adapter never imports
    the configuration."""

    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def bucket(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def access_key_id(self) -> SecretStr | None: ...
    @property
    def secret_access_key(self) -> SecretStr | None: ...


class MaterialStoreUnavailable(RuntimeError):
    """The bucket cannot be used now (unreachable, missing, access refused); names where."""


class S3MaterialStore:
    """`filing.ports.MaterialStore` on an S3-compatible bucket."""

    def __init__(
        self,
        settings: S3Bucket,
        keyring: Keyring,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 20.0,
        attempts: int = 2,
    ) -> None:
        self._settings = settings
        self._sealer = Sealer(keyring)
        self._timeouts = (connect_timeout, read_timeout, attempts)
        self._client: Any = None
        self._bucket_checked = False
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The bucket and endpoint, as every error names them."""
        s = self._settings
        return f"bucket {s.bucket!r} at {s.endpoint_url or f'AWS S3 ({s.region})'}"

    async def put(self, content: bytes, owner: MaterialOwner) -> StoredMaterial:
        """Store `content` once, `owner` among its owners; raises `MaterialRejected` (R10) for
        content no filing may name. Answers the material as stored (an image re-encoded)."""
        prepared = await asyncio.to_thread(prepare_material, content)
        material = await self._run(self._put, prepared.content, prepared.material)
        await self._run(self._record_owner, material.sha256, owner)
        return material

    async def get(self, sha256: str) -> bytes | None:
        return await self._run(self._get, check_material_name(sha256))

    async def stat(self, sha256: str) -> StoredMaterial | None:
        return await self._run(self._stat, check_material_name(sha256))

    async def owned_by(self, sha256: str, caller: MaterialOwner) -> bool:
        return await self._run(self._owned_by, check_material_name(sha256), caller)

    # --- blocking parts -------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._translated, fn, *args)

    def _translated(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one call; what botocore raises becomes one clear `MaterialStoreUnavailable`."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            self._check_bucket()
            return fn(*args)
        except NoCredentialsError:
            raise MaterialStoreUnavailable(
                f"material store: no S3 credentials for {self.where}: set FILINGS_S3__ACCESS_KEY_ID and "
                "FILINGS_S3__SECRET_ACCESS_KEY"
            ) from None
        except ClientError as err:
            raise MaterialStoreUnavailable(f"material store: {self.where} refused: {_client_problem(err)}") from None
        except BotoCoreError as err:  # connection refused, timeouts, DNS, ...
            raise MaterialStoreUnavailable(
                f"material store unreachable: {self.where}: {type(err).__name__}: {err}"
            ) from None

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                s = self._settings
                connect, read, attempts = self._timeouts
                config = Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"max_attempts": attempts, "mode": "standard"},
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if s.endpoint_url else "auto"},  # MinIO wants path style
                )
                secret = s.secret_access_key.get_secret_value() if s.secret_access_key else None
                key_id = s.access_key_id.get_secret_value() if s.access_key_id else None
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=s.endpoint_url,
                    region_name=s.region,
                    aws_access_key_id=key_id,
                    aws_secret_access_key=secret,
                    config=config,
                )
            return self._client

    def _check_bucket(self) -> None:
        """Once per store: a missing bucket would otherwise look like a missing material (404)."""
        if self._bucket_checked:
            return
        from botocore.exceptions import ClientError

        try:
            self._s3().head_bucket(Bucket=self._settings.bucket)
        except ClientError as err:
            if _code(err) in ("404", "NoSuchBucket", "NotFound"):
                raise MaterialStoreUnavailable(
                    f"material store: {self.where} does not exist: create it (compose's setup job does) "
                    "or set FILINGS_S3__BUCKET"
                ) from None
            raise
        self._bucket_checked = True

    def _key(self, sha256: str) -> str:
        return PREFIX + sha256

    def _stat(self, sha256: str) -> StoredMaterial | None:
        from botocore.exceptions import ClientError

        try:
            head = self._s3().head_object(Bucket=self._settings.bucket, Key=self._key(sha256))
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        metadata = head.get("Metadata", {})
        try:
            return StoredMaterial(sha256=sha256, media_type=metadata.get(_MEDIA_TYPE), bytes=metadata.get(_BYTES))
        except ValidationError:
            return None  # not written by this store: a re-upload replaces it

    def _get(self, sha256: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            answer = self._s3().get_object(Bucket=self._settings.bucket, Key=self._key(sha256))
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        plain = self._sealer.open(answer["Body"].read(), sha256)
        if material_sha256(plain) != sha256:
            raise ValueError(f"material {sha256} in {self.where} failed its integrity check: upload it again")
        return plain

    def _put(self, content: bytes, material: StoredMaterial) -> StoredMaterial:
        if self._stat(material.sha256) is not None:
            return material  # content-addressed: what is there is this very content
        self._s3().put_object(
            Bucket=self._settings.bucket,
            Key=self._key(material.sha256),
            Body=self._sealer.seal(content, material.sha256),
            ContentType="application/octet-stream",
            Metadata={_MEDIA_TYPE: material.media_type, _BYTES: str(material.bytes)},
        )
        return material


    def _claim_key(self, sha256: str, claim: str) -> str:
        return f"{OWNERS_PREFIX}{sha256}/{hashlib.sha256(claim.encode()).hexdigest()}"

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3().head_object(Bucket=self._settings.bucket, Key=key)
        except ClientError as err:
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _owned_by(self, sha256: str, caller: MaterialOwner) -> bool:
        return any(self._exists(self._claim_key(sha256, claim)) for claim in caller.claims())

    def _record_owner(self, sha256: str, owner: MaterialOwner) -> None:
        record = owner.model_dump(mode="json") | {"sha256": sha256, "at": datetime.now(UTC).isoformat()}
        for claim in owner.claims():
            key = self._claim_key(sha256, claim)
            if self._exists(key):
                continue  # the first record of a claim stays
            self._s3().put_object(
                Bucket=self._settings.bucket, Key=key, ContentType="application/json",
                Body=json.dumps(record | {"claim": claim}, ensure_ascii=False).encode(),
            )


def _code(err: Any) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _client_problem(err: Any) -> str:
    code = _code(err)
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return (f"access denied ({code}): check FILINGS_S3__ACCESS_KEY_ID and FILINGS_S3__SECRET_ACCESS_KEY "
                "and the bucket's policy")
    return f"{code or 'error'} (HTTP {status})"

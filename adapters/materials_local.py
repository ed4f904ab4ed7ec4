"""The local material store (SPEC §8, R10): files under `<data dir>/materials/`, sealed.

A material is named by the SHA-256 of its plain content, so the same scan uploaded twice
is one file and a name can never point at other content. On disk each file is a short
plain header line (`FMAT1 {"media_type": ..., "bytes": ...}`) followed by the content
sealed with the payload keyring (AES-256-GCM, bound to the name): `stat` reads the header
only, never decrypts, and the scans of identity documents are never on disk in clear.

Files are written to a temp file and renamed into place, so a crash leaves either the
whole material or a temp file that no name ever resolves to. Several workers may share
the directory: two writers of the same content both write the same material.

Who stored a material (`MaterialOwner`) is kept beside it, in
`<data dir>/material-owners/<sha256>/`: one small JSON file per claim (the uploader, and
each appid it was stored for), named by the claim's SHA-256 and written once (the first
record of a claim stays). Asking whether a caller owns a material is one `stat` per claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from engine.keys import Keyring
from engine.sealing import Sealer
from filing.materials import check_material_name, material_sha256, prepare_material
from filing.ports import MaterialOwner, StoredMaterial

DIRECTORY = "materials"
OWNERS_DIRECTORY = "material-owners"
HEADER_MAGIC = b"FMAT1 "
#: A header line is far shorter; reading this much is enough to `stat` without the body.
HEADER_LIMIT = 512


def _header(material: StoredMaterial) -> bytes:
    fields = {"media_type": material.media_type, "bytes": material.bytes}
    return HEADER_MAGIC + json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def _parse_header(sha256: str, head: bytes) -> tuple[StoredMaterial, int] | None:
    """The material the header describes and where the sealed body starts; None if unreadable."""
    end = head.find(b"\n")
    if not head.startswith(HEADER_MAGIC) or end < 0:
        return None
    try:
        fields = json.loads(head[len(HEADER_MAGIC) : end])
        return StoredMaterial(sha256=sha256, **fields), end + 1
    except (ValueError, TypeError, ValidationError):
        return None


class FileMaterialStore:
    """`filing.ports.MaterialStore` on the local file system; blocking I/O runs off the event loop."""

    def __init__(self, data_dir: Path, keyring: Keyring) -> None:
        self._data_dir = data_dir
        self._dir = data_dir / DIRECTORY
        self._owners = data_dir / OWNERS_DIRECTORY
        self._sealer = Sealer(keyring)

    @property
    def directory(self) -> Path:
        return self._dir

    async def put(self, content: bytes, owner: MaterialOwner) -> StoredMaterial:
        """Store `content` once, `owner` among its owners; raises `MaterialRejected` (R10) for
        content no filing may name. Answers the material as stored (an image re-encoded)."""
        return await asyncio.to_thread(self._prepare_and_put, content, owner)

    async def get(self, sha256: str) -> bytes | None:
        return await asyncio.to_thread(self._get, check_material_name(sha256))

    async def stat(self, sha256: str) -> StoredMaterial | None:
        return await asyncio.to_thread(self._stat, check_material_name(sha256))

    async def owned_by(self, sha256: str, caller: MaterialOwner) -> bool:
        return await asyncio.to_thread(self._owned_by, check_material_name(sha256), caller)

    # --- blocking parts -------------------------------------------------------------

    def _prepare_and_put(self, content: bytes, owner: MaterialOwner) -> StoredMaterial:
        prepared = prepare_material(content)
        material = self._put(prepared.content, prepared.material)
        self._record_owner(material.sha256, owner)
        return material

    def _claim_path(self, sha256: str, claim: str) -> Path:
        return self._owners / sha256 / hashlib.sha256(claim.encode()).hexdigest()

    def _owned_by(self, sha256: str, caller: MaterialOwner) -> bool:
        return any(self._claim_path(sha256, claim).is_file() for claim in caller.claims())

    def _record_owner(self, sha256: str, owner: MaterialOwner) -> None:
        """One file per claim, created once (a hard link of a complete temp file: never torn)."""
        folder = self._owners / sha256
        record = owner.model_dump(mode="json") | {"sha256": sha256, "at": datetime.now(UTC).isoformat()}
        for claim in owner.claims():
            path = self._claim_path(sha256, claim)
            if path.is_file():
                continue
            self._private_dir(self._owners)
            self._private_dir(folder)
            fd, temp = tempfile.mkstemp(prefix=".owner.", suffix=".tmp", dir=folder)  # 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(record | {"claim": claim}, f, ensure_ascii=False)
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(temp, path)
                except FileExistsError:
                    pass  # another writer recorded this claim first: theirs stays
            finally:
                Path(temp).unlink(missing_ok=True)
            self._sync(folder)

    def _path(self, sha256: str) -> Path:
        return self._dir / sha256

    def _stat(self, sha256: str) -> StoredMaterial | None:
        """None when there is no such material, or its file is unreadable (a re-upload repairs it)."""
        try:
            with open(self._path(sha256), "rb") as f:
                head = f.read(HEADER_LIMIT)
        except FileNotFoundError:
            return None
        parsed = _parse_header(sha256, head)
        return parsed[0] if parsed else None

    def _get(self, sha256: str) -> bytes | None:
        try:
            blob = self._path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        parsed = _parse_header(sha256, blob[:HEADER_LIMIT])
        if parsed is None:
            raise ValueError(f"material {sha256} in {self._dir} is unreadable (bad header): upload it again")
        material, body = parsed
        plain = self._sealer.open(blob[body:], sha256)
        if material_sha256(plain) != sha256 or len(plain) != material.bytes:
            raise ValueError(f"material {sha256} in {self._dir} failed its integrity check: upload it again")
        return plain

    def _put(self, content: bytes, material: StoredMaterial) -> StoredMaterial:
        if self._stat(material.sha256) is not None:
            return material  # content-addressed: what is there is this very content
        self._ensure_directory()
        blob = _header(material) + self._sealer.seal(content, material.sha256)
        fd, temp = tempfile.mkstemp(prefix=f".{material.sha256[:16]}.", suffix=".tmp", dir=self._dir)  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self._path(material.sha256))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._sync_directory()
        return material

    def _ensure_directory(self) -> None:
        """Owner-only: `<data dir>` (when this creates it) and `materials/` are 0700."""
        self._private_dir(self._dir)

    def _private_dir(self, path: Path) -> None:
        if not self._data_dir.exists():
            self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)

    def _sync_directory(self) -> None:
        """Make the rename itself durable, so a material reported stored survives a power cut."""
        self._sync(self._dir)

    @staticmethod
    def _sync(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

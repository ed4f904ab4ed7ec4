"""The audit log of clear reads (SPEC §9): who, in which role, when, which filing, which fields,
and for a material the SHA-256 of the file served.

A read is recorded *before* the data leaves the service: when the row cannot be written,
nothing is served (503), so there is never a read without its row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError

from registry.database import WRITES, unavailable
from registry.tables import audit_reads
from service.principal import Principal
from service.problems import Problem

READ_APPLICATION = "read_application"
READ_MATERIAL = "read_material"


class AuditLog:
    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = url

    async def record(self, principal: Principal, action: str, filing_id: str, appid: str, fields: Iterable[str],
                     *, material_sha256: str | None = None) -> None:
        row = {
            "at": datetime.now(UTC),
            "actor": principal.sub,
            "role": principal.role.value,
            "filing_id": filing_id,
            "appid": appid,
            "fields": json.dumps(sorted(set(fields)), ensure_ascii=False),
            "action": action,
            "material_sha256": material_sha256,
        }
        try:
            await asyncio.to_thread(self._insert, row)
        except DBAPIError as err:
            raise Problem(503, f"{unavailable(self._url, err)}; nothing was served (every read is audited first)",
                          kind="audit-unavailable") from None

    def _insert(self, row: dict[str, Any]) -> None:
        with self._engine.connect().execution_options(**{WRITES: True}) as connection, connection.begin():
            connection.execute(insert(audit_reads).values(**row))


def field_paths(model: BaseModel | None, prefix: str = "") -> list[str]:
    """Every leaf field a model serves (`subject_principal.identity_document.number`), the
    `fields` of an audit row: exactly what was disclosed, not a section name."""
    if model is None:
        return []
    return _leaves(model.model_dump(mode="json", exclude_none=True), prefix)


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list) and value:
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}[{i}]")]
    return [path] if path else []

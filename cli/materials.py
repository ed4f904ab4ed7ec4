"""The applicant's and integrator's materials (备案材料, R10): upload scans and documents.

`filings materials add` uploads each file to the filing service (`POST /v1/materials`), or
with `--direct` stores it straight into the configured material store (the tool then holds
the payload keys, as a worker does; the store records the import as `cli:<user>`), and prints
the SHA-256 each application field names it by: the stored material's, an image being
re-encoded. A file refused (not JPEG/PNG/PDF by content, not readable as one, a PDF with
active content, empty, over 5 MiB) is reported with its
R10 rule and the exit status is 1; the other files are still stored, so one bad scan never
costs the good ones. The same content is the same material: uploading it again is harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.door import MaterialRefused
from cli.idempotency import call_key
from cli.options import EXIT_ERROR, EXIT_USAGE, CliError, Options, command
from filing.materials import MAX_MATERIAL_BYTES, check_material_size
from filing.ports import MaterialRejected
from service.principal import Role

app = typer.Typer(no_args_is_help=True, help="Materials (备案材料, R10): upload scans and documents, named by SHA-256.")


def _read(path: Path) -> bytes:
    """The file's content; an oversized file is refused before it is read into memory."""
    check_material_size(path.stat().st_size)
    with path.open("rb") as f:
        content = f.read(MAX_MATERIAL_BYTES + 1)
    check_material_size(len(content))  # it grew while we looked
    return content


@command(app, "add", roles=(Role.APPLICANT, Role.OPERATOR), mutating=True)
async def add(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Scans and documents.", show_default=False)],
) -> int:
    """Upload files (or, --direct, store them); print `sha256  media_type  bytes  path` for each."""
    if opts.idempotency_key and len(files) > 1:
        raise CliError("--idempotency-key names one call: give one file with it", EXIT_USAGE)
    door = opts.door()
    answers: list[dict[str, Any]] = []

    def refused(path: Path, key: str, en: str, zh: str) -> None:
        answers.append({"file": str(path), "refused": {"key": key, "message_en": en, "message_zh": zh}})
        if not opts.as_json:
            opts.err.print(f"{path}: refused [{key}] {en} / {zh}", style="red", soft_wrap=True, markup=False)

    for path in files:
        try:
            content = await asyncio.to_thread(_read, path)
            # The content names the call: the same file again is the same material.
            stored = await door.upload(content, opts.key(call_key("materials add", None,
                                                                  hashlib.sha256(content).hexdigest().encode())))
        except (MaterialRejected, MaterialRefused) as err:
            refused(path, err.key, err.message_en, err.message_zh)
            continue
        except OSError as err:
            answers.append({"file": str(path), "error": f"cannot read: {err.strerror or err}"})
            if not opts.as_json:
                opts.err.print(f"{path}: cannot read: {err.strerror or err}", style="red", soft_wrap=True, markup=False)
            continue
        answers.append({"file": str(path), **stored.model_dump(mode="json")})
        if not opts.as_json:
            opts.say(f"{stored.sha256}  {stored.media_type}  {stored.bytes}  {path}")
    if opts.as_json:
        opts.emit_json(answers)
    return EXIT_ERROR if any("sha256" not in a for a in answers) else 0

"""The applicant's and integrator's materials (备案材料, R10): upload scans and documents.

`filings materials add` stores files straight into the configured material store (direct
mode: the tool holds the payload keys, as a worker does) and prints the SHA-256 each
application field names it by. A file the store refuses (not JPEG/PNG/PDF by content,
empty, over 5 MiB) is reported with its R10 rule and the exit status is 1; the other
files are still stored, so one bad scan never costs the good ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.options import EXIT_ERROR, CliError, Options, command
from engine.batch import material_store
from filing.materials import MAX_MATERIAL_BYTES, check_material_size
from filing.ports import MaterialRejected, MaterialStore, StoredMaterial

app = typer.Typer(no_args_is_help=True, help="Materials (备案材料, R10): upload scans and documents, named by SHA-256.")


def _store(opts: Options) -> MaterialStore:
    try:
        return material_store(opts.settings)
    except LookupError as err:  # the payload keys the store seals with are not configured
        raise CliError(f"material store: {err}") from None


def _read(path: Path) -> bytes:
    """The file's content; an oversized file is refused before it is read into memory."""
    check_material_size(path.stat().st_size)
    with path.open("rb") as f:
        content = f.read(MAX_MATERIAL_BYTES + 1)
    check_material_size(len(content))  # it grew while we looked
    return content


@command(app, "add")
async def add(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Scans and documents.", show_default=False)],
) -> int:
    """Store files in the material store; print `sha256  media_type  bytes  path` for each."""
    store = _store(opts)
    answers: list[dict[str, Any]] = []
    for path in files:
        try:
            stored: StoredMaterial = await store.put(await asyncio.to_thread(_read, path))
        except MaterialRejected as err:
            answers.append({"file": str(path), "refused": {"key": err.key, "message_en": err.message_en,
                                                           "message_zh": err.message_zh}})
            if not opts.as_json:
                opts.err.print(f"{path}: refused [{err.key}] {err.message_en} / {err.message_zh}",
                               style="red", soft_wrap=True, markup=False)
            continue
        except OSError as err:
            answers.append({"file": str(path), "error": f"cannot read: {err.strerror or err}"})
            if not opts.as_json:
                opts.err.print(f"{path}: cannot read: {err.strerror or err}", style="red", soft_wrap=True, markup=False)
            continue
        except RuntimeError as err:  # the store itself is down: no point trying the next file
            raise CliError(str(err)) from None
        answers.append({"file": str(path), **stored.model_dump(mode="json")})
        if not opts.as_json:
            opts.say(f"{stored.sha256}  {stored.media_type}  {stored.bytes}  {path}")
    if opts.as_json:
        opts.emit_json(answers)
    return EXIT_ERROR if any("sha256" not in a for a in answers) else 0

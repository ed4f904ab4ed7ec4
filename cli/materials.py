"""The applicant's and integrator's materials (备案材料, R10): upload scans and documents.

`filings materials add` uploads each file to the filing service (`POST /v1/materials`), or
with `--direct` stores it straight into the configured material store (the tool then holds
the payload keys, as a worker does; the store records the import as `cli:<user>`), and prints
the SHA-256 each application field names it by: the stored material's, an image being
re-encoded. A file refused (not JPEG/PNG/PDF by content, not readable as one, a PDF with
active content, empty, over its kind's limit: 5 MiB, 20 MiB for an MP4 promise video) is reported with its
R10 rule and the exit status is 1; the other files are still stored, so one bad scan never
costs the good ones. The same content is the same material: uploading it again is harmless.

`filings materials provinces show|import` are the operators' commands for the provinces'
supplementary-material lists (各省补充材料, R10): which list is in force (imported into the
registry database, else the one shipped) with each province's source and checked date, and
the import of a checked list, whole or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.door import MaterialRefused
from cli.idempotency import call_key
from cli.options import EXIT_ERROR, EXIT_USAGE, CliError, Options, command
from filing.ports import MaterialRejected
from filing.provinces import find_province
from service.principal import Role

if TYPE_CHECKING:
    from filing.province_materials import ProvinceListing

# The material checks (filing.materials: images, PDFs, video) and the provinces' lists load in
# the commands that use them, not at every `filings` start (issue 21).

app = typer.Typer(no_args_is_help=True, help="Materials (备案材料, R10): upload scans and documents, named by SHA-256.")
provinces = typer.Typer(no_args_is_help=True, help="The provinces' supplementary-material lists (各省补充材料, R10): "
                                                   "show the list in force, import the operators' list.")
app.add_typer(provinces, name="provinces")


def _read(path: Path) -> bytes:
    """The file's content; an oversized file is refused before it is read into memory."""
    from filing.material_types import largest_limit
    from filing.materials import check_material_size

    check_material_size(path.stat().st_size)
    with path.open("rb") as f:
        content = f.read(largest_limit() + 1)
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


# --- the provinces' supplementary-material lists (operators) ------------------------------


def _listing_json(listing: ProvinceListing) -> list[dict[str, Any]]:
    return [
        {"province": prefix, "name": _province_name(prefix), "source": entry.source,
         "checked": entry.checked.isoformat() if entry.checked else None,
         "items": [item.model_dump(mode="json") | {"subject_types": sorted(item.subject_types)}
                   for item in entry.items]}
        for prefix, entry in listing.provinces.items()
    ]


def _province_name(prefix: str) -> str:
    found = find_province(prefix)
    return found.short_name if found else prefix


@command(provinces, "show")
async def provinces_show(opts: Options) -> None:
    """The list in force (imported into the registry database, else the one shipped): per
    province its source, the day it was checked and the items it asks for."""
    from registry.province_materials import ProvinceMaterialsStore

    store = ProvinceMaterialsStore(opts.settings.registry_database_url)
    try:
        found = await asyncio.to_thread(store.in_force)
    except RuntimeError as err:  # RegistryUnavailable, SchemaNotCurrent, StoredListInvalid
        raise CliError(f"province materials: {err}") from None
    finally:
        store.close()
    if opts.as_json:
        opts.emit_json({
            "origin": found.origin, "in_force": found.describe(), "version": found.version,
            "imported_at": found.imported_at.isoformat() if found.imported_at else None,
            "imported_from": found.imported_from, "checksum": found.checksum,
            "provinces": _listing_json(found.listing)})
        return
    opts.say(f"in force: {found.describe()}")
    for entry in _listing_json(found.listing):
        checked = f"checked {entry['checked']}" if entry["checked"] else "never checked: asks only the national materials"
        opts.say(f"{entry['name']} ({entry['province']}): {checked}; source: {entry['source']}")
        for item in entry["items"]:
            opts.say(f"    {item['name']} ({item['material_type']}) for {', '.join(item['subject_types'])}")
    opts.note("a province not listed asks only for the national materials; "
              "import the operators' list with `filings materials provinces import FILE`")


@command(provinces, "import")
async def provinces_import(
    opts: Options,
    file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, readable=True,
                                         help="The whole list, as filing/data/province_materials.json.")],
) -> None:
    """Check a list file whole and make it the list in force for every worker and replica
    (the registry database), all of it or nothing; the same list again changes nothing."""
    from filing.province_materials import parse_province_listing
    from registry.province_materials import ProvinceMaterialsStore

    try:
        listing = parse_province_listing(await asyncio.to_thread(file.read_bytes), str(file))
    except (ValueError, OSError) as err:
        raise CliError(f"province materials: {err}; nothing was imported") from None
    store = ProvinceMaterialsStore(opts.settings.registry_database_url)
    try:
        done = await asyncio.to_thread(store.import_listing, listing, str(file))
    except RuntimeError as err:  # RegistryUnavailable, SchemaNotCurrent
        raise CliError(f"province materials: {err}; nothing was imported") from None
    finally:
        store.close()
    in_force = sorted(_province_name(p) for p in listing.materials().provinces)
    if opts.as_json:
        opts.emit_json({"outcome": done.outcome, "version": done.version, "checksum": done.checksum,
                        "provinces": _listing_json(listing)})
        return
    opts.say(f"{file}: {done.outcome} (version {done.version}); supplementary materials asked in: "
             f"{', '.join(in_force) or 'no province'}; every worker and replica checks on it now")

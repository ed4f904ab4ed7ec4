"""The starter: launch one or many filings from JSON application files.

    python starter.py FILE.json [FILE.json ...] [--submission-id ID]
    python starter.py --example FILE.json

Every file is checked against R1–R8 and R10 first (R10 asks the material store whether
each named material was uploaded); a file that breaks a rule prints every violation and
starts nothing. `--example` also stores the example's materials in the configured
material store, so the file starts as it is. Exit status is non-zero when any file failed.
The logic lives in `engine.batch`, shared with `filings start`; this module only prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from engine.batch import (
    LaunchResult,
    example_document,
    launch_file,
    material_store,
    store_example_materials,
    web_ui_link,
)
from engine.client import connect
from engine.process import run_and_exit
from engine.settings import Settings, load_settings
from filing.messages import Violation


async def write_example(path: Path) -> None:
    """Materials first: a file is written only once everything it names is in the store."""
    settings = load_settings()
    application, text = example_document()
    stored = await store_example_materials(material_store(settings), application)
    path.write_text(text, encoding="utf-8")
    print(f"wrote a valid example application to {path} (appid {application.appid}); "
          f"its {len(stored)} materials are in the material store")


def print_violations(source: str, violations: list[Violation]) -> None:
    print(f"{source}: rejected, {len(violations)} rule violation(s); nothing was started", file=sys.stderr)
    for v in violations:
        print(f"  - {v.field}: [{v.key}] {v.message_en} / {v.message_zh}", file=sys.stderr)


def report(settings: Settings, result: LaunchResult) -> None:
    path = result.path
    if result.outcome == "rejected":
        print_violations(str(path), result.violations)
    elif result.outcome == "unreadable":
        print(f"{path}: {result.error}", file=sys.stderr)
    elif result.outcome == "refused":
        print(f"{path}: refused: {result.error}", file=sys.stderr)
    else:
        assert result.filing_id is not None
        verb = "started" if result.outcome == "started" else "already running (same submission)"
        print(f"{path}: {verb} {result.filing_id}  {web_ui_link(settings, result.filing_id)}")


async def main_async(args: argparse.Namespace) -> int:
    settings = load_settings()  # an invalid variable stops here, named
    client = await connect(settings)
    store = material_store(settings)
    ok = True
    for path in args.files:
        result = await launch_file(client, settings, Path(path), args.submission_id, store=store)
        report(settings, result)
        ok = result.ok and ok
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Launch ICP mini-program filings from JSON application files.")
    parser.add_argument("files", nargs="*", metavar="FILE.json", help="application files to start")
    parser.add_argument("--example", metavar="FILE.json", help="write a valid example application and exit")
    parser.add_argument("--submission-id", help="the caller's submission id (default: derived from the file's content)")
    args = parser.parse_args(argv)
    if args.example:
        try:
            asyncio.run(write_example(Path(args.example)))
        except (RuntimeError, LookupError, OSError) as err:  # store unreachable, no keys, cannot write
            print(f"error: {err}; no example was written", file=sys.stderr)
            return 1
        return 0
    if not args.files:
        parser.error("give at least one FILE.json, or --example FILE.json")
    if args.submission_id and len(args.files) > 1:
        parser.error("--submission-id names one submission: give one file with it")
    try:
        return asyncio.run(main_async(args))
    except (RuntimeError, LookupError) as err:  # the server cannot be reached; a key is not configured
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    run_and_exit(main)

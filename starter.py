"""The starter: launch one or many filings from JSON application files.

    python starter.py FILE.json [FILE.json ...] [--submission-id ID]
    python starter.py --example FILE.json

Every file is checked against R1–R8 first; a file that breaks a rule prints every
violation and starts nothing. Exit status is non-zero when any file failed.
The logic lives in `engine.batch`, shared with `filings start`; this module only prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from temporalio.client import Client

from engine.batch import LaunchResult, example_document, launch_file, web_ui_link
from engine.client import connect
from engine.process import run_and_exit
from engine.settings import Settings, load_settings
from filing.messages import Violation


def write_example(path: Path) -> None:
    application, text = example_document()
    path.write_text(text, encoding="utf-8")
    print(f"wrote a valid example application to {path} (appid {application.appid})")


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


async def launch(client: Client, settings: Settings, path: Path, submission_id: str | None) -> bool:
    result = await launch_file(client, settings, path, submission_id)
    report(settings, result)
    return result.ok


async def main_async(args: argparse.Namespace) -> int:
    settings = load_settings()  # an invalid variable stops here, named
    client = await connect(settings)
    ok = True
    for path in args.files:
        ok = await launch(client, settings, Path(path), args.submission_id) and ok
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Launch ICP mini-program filings from JSON application files.")
    parser.add_argument("files", nargs="*", metavar="FILE.json", help="application files to start")
    parser.add_argument("--example", metavar="FILE.json", help="write a valid example application and exit")
    parser.add_argument("--submission-id", help="the caller's submission id (default: derived from the file's content)")
    args = parser.parse_args(argv)
    if args.example:
        write_example(Path(args.example))
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

"""The starter: launch one or many filings from JSON application files.

    python starter.py FILE.json [FILE.json ...] [--submission-id ID]
    python starter.py --example FILE.json

Every file is checked against R1–R8 first; a file that breaks a rule prints every
violation and starts nothing. Exit status is non-zero when any file failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from temporalio.client import Client

from engine.client import connect
from engine.launch import FilingInFlight, start_filing
from engine.settings import Settings
from filing.examples import example_application
from filing.messages import Violation
from filing.rules import parse_application


def web_ui_link(settings: Settings, filing_id: str) -> str:
    return f"{settings.web_ui}/namespaces/{quote(settings.temporal_namespace)}/workflows/{quote(filing_id)}"


def write_example(path: Path) -> None:
    application = example_application(datetime.now(UTC))
    path.write_text(json.dumps(application.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2) + "\n")
    print(f"wrote a valid example application to {path} (appid {application.appid})")


def print_violations(source: str, violations: list[Violation]) -> None:
    print(f"{source}: rejected, {len(violations)} rule violation(s); nothing was started", file=sys.stderr)
    for v in violations:
        print(f"  - {v.field}: [{v.key}] {v.message_en} / {v.message_zh}", file=sys.stderr)


async def launch(client: Client, settings: Settings, path: Path, submission_id: str | None) -> bool:
    try:
        data = path.read_text(encoding="utf-8")
    except OSError as err:
        print(f"{path}: cannot read: {err.strerror}", file=sys.stderr)
        return False
    application, violations = parse_application(data, datetime.now(UTC))
    if application is None or violations:
        print_violations(str(path), violations)
        return False
    try:
        started = await start_filing(
            client, application, task_queue=settings.task_queue, submission_id=submission_id, policy=settings.policy
        )
    except FilingInFlight as err:
        print(f"{path}: refused: {err}", file=sys.stderr)
        return False
    verb = "started" if started.status == "started" else "already running (same submission)"
    print(f"{path}: {verb} {started.filing_id}  {web_ui_link(settings, started.filing_id)}")
    return True


async def main_async(args: argparse.Namespace) -> int:
    settings = Settings()
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
    except RuntimeError as err:  # e.g. the server cannot be reached
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

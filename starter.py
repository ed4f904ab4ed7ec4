"""The starter: launch one or many filings from JSON application files.

    python starter.py FILE.json [FILE.json ...] [--submission-id ID]
    python starter.py --example FILE.json
    python starter.py --via-service [--token JWT] FILE.json ...   # through the filing service (SPEC §12)

Every file is checked against R1–R8 and R10 first (R10 asks the material store whether
each named material was uploaded, R8 the registry, whose schema must be current: else it
stops with one line naming `filings registry migrate`); a file that breaks a rule prints
every violation and starts nothing. `--example` also stores the example's materials in
the configured material store, so the file starts as it is. Exit status is non-zero when
any file failed. The logic lives in `engine.batch`, shared with `filings start`; this
module only prints.
With `--via-service` it starts through `POST /v1/filings` / `/v1/cancellations` with a
bearer token instead, holding no payload key: that is `filings start`'s own code (`cli`).
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
from registry.migrate import require_current


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
    if settings.adapters.registry == "local":  # R8 reads the SQL registry: its schema must be current
        require_current(settings.registry_database_url)  # else one line naming `filings registry migrate`
    client = await connect(settings)
    store = material_store(settings)
    ok = True
    for path in args.files:
        result = await launch_file(client, settings, Path(path), args.submission_id, store=store)
        report(settings, result)
        ok = result.ok and ok
    return 0 if ok else 1


async def via_service(args: argparse.Namespace) -> int:
    """Start through the filing service with the CLI's own code: the same checks before
    sending, the same Idempotency-Keys, the same token (--token, FILINGS_TOKEN or a saved one)."""
    from cli.errors import CliError
    from cli.operator import launch, store_example
    from cli.options import build_options
    from engine.batch import read_application
    from service.principal import Role

    try:
        opts = build_options(token=args.token, api_url=args.api_url, roles=(Role.OPERATOR, Role.APPLICANT))
        opts.direct = False  # whatever FILINGS_MODE says: this is the service's way
        try:
            if args.example:
                application, text, named = await store_example(opts)
                Path(args.example).write_text(text, encoding="utf-8")
                print(f"wrote a valid example application to {args.example} (appid {application.appid}); "
                      f"its {len(named)} materials are in the filing service")
                return 0
            ok = True
            for path in args.files:
                result, _ = await launch(opts, read_application(Path(path)), None)
                if result.ok and result.filing_id is not None:
                    verb = "started" if result.outcome == "started" else "already running (same submission)"
                    print(f"{path}: {verb} {result.filing_id}  via {opts.settings.api_url}")
                else:
                    report(opts.settings, result)
                ok = result.ok and ok
            return 0 if ok else 1
        finally:
            await opts.close()
    except CliError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Launch ICP mini-program filings from JSON application files.")
    parser.add_argument("files", nargs="*", metavar="FILE.json", help="application files to start")
    parser.add_argument("--example", metavar="FILE.json", help="write a valid example application and exit")
    parser.add_argument("--submission-id", help="the caller's submission id (default: derived from the file's content)")
    parser.add_argument("--via-service", action="store_true",
                        help="start through the filing service (FILINGS_API_URL) with a bearer token, not Temporal")
    parser.add_argument("--token", help="with --via-service: the bearer token (default: FILINGS_TOKEN, then the "
                                        "token `filings login --save` kept for an operator or an applicant)")
    parser.add_argument("--api-url", help="with --via-service: the filing service (default: FILINGS_API_URL)")
    args = parser.parse_args(argv)
    if args.via_service:
        if args.submission_id:
            parser.error("--submission-id is not for --via-service: the service derives the submission from the content")
        if not args.files and not args.example:
            parser.error("give at least one FILE.json, or --example FILE.json")
        return asyncio.run(via_service(args))
    if args.token or args.api_url:
        parser.error("--token and --api-url go with --via-service")
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

"""What every `filings` command shares: connection options, `--json`, `--reveal`, and
turning failures into one line and an exit code.

Typer has no shared per-command options (a group callback's options must come before
the subcommand, `filings --json status ID`, which nobody types). `command` therefore adds
the common options to each command's own signature, builds `Options` from them and runs
the command's coroutine, so a command body only does its job and raises `CliError`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError

from engine.client import connect
from engine.settings import Settings, load_settings

# Exit codes (docs/cli.md): 2 is click's usage error.
EXIT_OK, EXIT_ERROR, EXIT_IGNORED, EXIT_UNCONFIRMED = 0, 1, 3, 4

CommandFn = Callable[..., Coroutine[Any, Any, int | None]]


class CliError(Exception):
    """A failure the user can act on: printed as `error: <message>`, no traceback."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line
        self.code = code


@dataclass
class Options:
    """The common options of one invocation, and its connection (made on first use)."""

    settings: Settings
    as_json: bool = False
    reveal: bool = False
    out: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))
    _client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            s = self.settings
            try:
                self._client = await connect(s)
            except RuntimeError as err:
                raise CliError(f"cannot reach Temporal at {s.temporal_address}: {err}") from None
            except LookupError as err:  # a key this tool needs to read the filings is not configured
                raise CliError(str(err)) from None
        return self._client

    def emit_json(self, data: Any) -> None:
        """Machine-readable output: JSON on stdout, nothing else there."""
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    def say(self, text: str, style: str | None = None) -> None:
        """One plain line for people (never wrapped, no markup interpretation)."""
        self.out.print(text, style=style, soft_wrap=True, markup=False)

    def note(self, text: str) -> None:
        self.err.print(text, style="dim", soft_wrap=True, markup=False)


PANEL = "Common options"


def _keyword(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _from_env(flag: str, variable: str, metavar: str, help: str) -> Any:
    """An option falling back to the worker's environment variable (then to Settings' default)."""
    return Annotated[str | None, typer.Option(flag, envvar=variable, metavar=metavar, rich_help_panel=PANEL, help=help)]


def _flag(flag: str, help: str) -> Any:
    return Annotated[bool, typer.Option(flag, rich_help_panel=PANEL, help=help)]


_COMMON = [
    _keyword(
        "address",
        _from_env(
            "--address", "TEMPORAL_ADDRESS", "HOST:PORT", "Temporal frontend host:port (default 127.0.0.1:7233)."
        ),
    ),
    _keyword(
        "namespace", _from_env("--namespace", "TEMPORAL_NAMESPACE", "NAME", "Temporal namespace (default: default).")
    ),
    _keyword(
        "task_queue",
        _from_env(
            "--task-queue",
            "FILINGS_TASK_QUEUE",
            "QUEUE",
            "The filings' task queue (default icp-filings); lists show its filings.",
        ),
    ),
    _keyword("as_json", _flag("--json", "Machine-readable JSON on stdout."), False),
    _keyword(
        "reveal",
        _flag(
            "--reveal",
            "Show personal data in clear where this tool holds it (application files, what you typed); "
            "what the workflow publishes is masked at the source.",
        ),
        False,
    ),
]


def _fail(console: Console, message: str, code: int) -> int:
    console.print(f"error: {' '.join(message.split())}", style="red", soft_wrap=True, markup=False)
    return code


def build_options(
    address: str | None, namespace: str | None, task_queue: str | None, as_json: bool, reveal: bool
) -> Options:
    """Settings exactly as the worker reads them, with the command line winning."""
    given = {"temporal_address": address, "temporal_namespace": namespace, "task_queue": task_queue}
    try:
        settings = load_settings(**{k: v for k, v in given.items() if v is not None})
    except SystemExit as err:  # load_settings names each variable that is wrong
        raise CliError("; ".join(str(err.code).splitlines()[1:]).strip() or str(err.code)) from None
    return Options(settings, as_json=as_json, reveal=reveal)


def run(opts: Options, main: Coroutine[Any, Any, int | None]) -> int:
    """Run one command's coroutine; every expected failure becomes `error: <one line>`."""
    try:
        return asyncio.run(main) or EXIT_OK
    except CliError as err:
        message, code = err.message, err.code
    except ValidationError as err:  # a value the §7 models refuse (e.g. a reviewer id too long)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in err.errors())
        message, code = f"invalid input: {problems}; nothing was sent", EXIT_ERROR
    except RPCError as err:
        message, code = (
            f"Temporal refused the request ({err.status.name if err.status else '?'}): {err.message}",
            EXIT_ERROR,
        )
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if os.environ.get("FILINGS_DEBUG"):
            raise
        message, code = f"unexpected {type(err).__name__}: {err} (FILINGS_DEBUG=1 shows the traceback)", EXIT_ERROR
    return _fail(opts.err, message, code)


def command(group: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[CommandFn], CommandFn]:
    """Register `async def fn(opts: Options, ...)` as a command of `group`, with the
    common options appended to its own parameters."""

    def register(fn: CommandFn) -> CommandFn:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + _COMMON

        def invoke(**values: Any) -> None:
            common = {p.name: values.pop(p.name) for p in _COMMON}
            try:
                opts = build_options(**common)
            except CliError as err:
                raise typer.Exit(_fail(Console(stderr=True), err.message, err.code)) from None
            raise typer.Exit(run(opts, fn(opts, **values)))

        invoke.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        invoke.__annotations__ = {p.name: p.annotation for p in params}
        invoke.__doc__, invoke.__name__ = fn.__doc__, fn.__name__
        group.command(name or fn.__name__.replace("_", "-"), **kwargs)(invoke)
        return fn

    return register

"""What every `filings` command shares: the mode (the filing service, or `--direct` on
Temporal), the service's URL and token, the connection options of direct mode, `--json`,
`--reveal`, and turning failures into one line and an exit code.

Typer has no shared per-command options (a group callback's options must come before
the subcommand, `filings --json status ID`, which nobody types). `command` therefore adds
the common options to each command's own signature, builds `Options` from them and runs
the command's coroutine, so a command body only does its job and raises `CliError`.
Commands that change something also get `--idempotency-key` and `--wait`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from cli.errors import (  # noqa: F401  (re-exported: the commands' one import for failures)
    EXIT_ERROR,
    EXIT_IGNORED,
    EXIT_NOT_APPLIED,
    EXIT_OK,
    EXIT_UNCONFIRMED,
    EXIT_USAGE,
    CliError,
)
from engine.settings import Settings, load_settings
from service.principal import Role

if TYPE_CHECKING:
    # What a command may never need is imported where it is used: the Temporal SDK (direct
    # mode), the HTTP client and JWT (the service), the doors. `filings --help` and the
    # commands that talk to the filing service start without the SDK (issue 21: a tool
    # started many times a minute, each start ~1 s of imports before).
    from temporalio.client import Client

    from cli.door import Door
    from cli.tokens import Token

CommandFn = Callable[..., Coroutine[Any, Any, int | None]]

#: FILINGS_MODE: `http` (the default: through the filing service) or `direct` (operators).
MODES = ("http", "direct")
#: What the service accepts as an Idempotency-Key (docs/api.md).
KEY = re.compile(r"[\x21-\x7e]{1,255}")
DEFAULT_WAIT = 30.0


@dataclass
class Options:
    """The common options of one invocation, and its door to the filings (made on first use)."""

    settings: Settings
    as_json: bool = False
    reveal: bool = False
    direct: bool = False
    token_given: str | None = None
    token_from_env: bool = False
    as_role: Role | None = None
    #: The roles the command is for, in the order their saved tokens are tried.
    roles: Sequence[Role] = ()
    idempotency_key: str | None = None
    wait: float = DEFAULT_WAIT
    out: Console = field(default_factory=lambda: _console())
    err: Console = field(default_factory=lambda: _console(stderr=True))
    _client: Client | None = None
    _door: Door | None = None

    @property
    def mode(self) -> str:
        return "direct" if self.direct else "http"

    async def client(self) -> Client:
        """Direct mode's Temporal client, with the payload keys (an operator's)."""
        if self._client is None:
            from engine.client import connect

            s = self.settings
            try:
                self._client = await connect(s)
            except RuntimeError as err:
                raise CliError(f"cannot reach Temporal at {s.temporal_address}: {err}") from None
            except LookupError as err:  # a key this tool needs to read the filings is not configured
                raise CliError(f"{err} (direct mode holds the payload keys; without them, drop --direct)") from None
        return self._client

    def token(self) -> Token:
        from cli.tokens import choose

        return choose(self.token_given, self.token_from_env, self.roles, self.as_role, self.settings.api_url)

    def door(self) -> Door:
        if self._door is None:
            if self.direct:
                from cli.via_temporal import TemporalDoor

                self._door = TemporalDoor(self.settings, self.client, wait=self.wait, note=self.note)
            else:
                from cli.via_service import ServiceDoor

                self._door = ServiceDoor(self.settings.api_url, self.token, wait=self.wait, note=self.note)
        return self._door

    def key(self, derived: str) -> str:
        """The call's Idempotency-Key (update id in direct mode): `--idempotency-key`, else derived."""
        return self.idempotency_key or derived

    async def close(self) -> None:
        if self._door is not None:
            await self._door.close()

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


def _text(flag: str, metavar: str, help: str, envvar: str | None = None) -> Any:
    return Annotated[str | None, typer.Option(flag, envvar=envvar, metavar=metavar, rich_help_panel=PANEL, help=help)]


def _flag(flag: str, help: str) -> Any:
    return Annotated[bool, typer.Option(flag, rich_help_panel=PANEL, help=help)]


_COMMON = [
    _keyword("direct", _flag("--direct", "Talk to Temporal directly with the payload keys (operators; "
                                          "also FILINGS_MODE=direct) instead of the filing service."), False),
    _keyword("api_url", _text("--api-url", "URL", "The filing service (default http://127.0.0.1:8400).",
                              "FILINGS_API_URL")),
    _keyword("token", _text("--token", "JWT", "Bearer token for the service (default: FILINGS_TOKEN, then the "
                                              "token `filings login --save` kept for the command's role).")),
    _keyword("as_role", Annotated[Role | None, typer.Option(
        "--as", case_sensitive=False, metavar="ROLE", rich_help_panel=PANEL,
        help=f"Which saved token to use when several roles may run the command: {', '.join(Role)}.")]),
    _keyword("address", _text("--address", "HOST:PORT", "Direct mode: Temporal frontend (default 127.0.0.1:7233).",
                              "TEMPORAL_ADDRESS")),
    _keyword("namespace", _text("--namespace", "NAME", "Direct mode: Temporal namespace (default: default).",
                                "TEMPORAL_NAMESPACE")),
    _keyword("task_queue", _text("--task-queue", "QUEUE",
                                 "Direct mode: the filings' task queue (default icp-filings); lists show its filings.",
                                 "FILINGS_TASK_QUEUE")),
    _keyword("as_json", _flag("--json", "Machine-readable JSON on stdout."), False),
    _keyword("reveal", _flag("--reveal", "Show personal data in clear where this tool holds it (files you give, "
                                         "what you typed, the application a reviewer reads); masked otherwise."),
             False),
]

_MUTATING = [
    _keyword("idempotency_key", Annotated[str | None, typer.Option(
        "--idempotency-key", metavar="KEY", rich_help_panel=PANEL,
        help="This call's key (default: derived from the command's inputs, so a re-run after a timeout "
             "answers the first call's result and never acts twice).")]),
    _keyword("wait", Annotated[float, typer.Option(
        "--wait", min=0, metavar="SECONDS", rich_help_panel=PANEL,
        help="How long to wait for the answer, retrying while the filing is busy.")], DEFAULT_WAIT),
]


#: Columns of output that is not a terminal (a pipe, a file): rich would cut tables to 80.
PIPED_WIDTH = 1000


def _console(*, stderr: bool = False) -> Console:
    """A terminal's own width; piped or redirected, wide enough that no table cell is cut
    (`filings platform queue | grep …` sees full values; `--json` for programs)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(stderr=stderr, highlight=False, width=width)


def _fail(console: Console, message: str, code: int) -> int:
    console.print(f"error: {' '.join(message.split())}", style="red", soft_wrap=True, markup=False)
    return code


def build_options(
    *,
    direct: bool = False,
    api_url: str | None = None,
    token: str | None = None,
    as_role: Role | None = None,
    address: str | None = None,
    namespace: str | None = None,
    task_queue: str | None = None,
    as_json: bool = False,
    reveal: bool = False,
    idempotency_key: str | None = None,
    wait: float = DEFAULT_WAIT,
    roles: Sequence[Role] = (),
) -> Options:
    """Settings exactly as the worker reads them, with the command line winning."""
    mode = os.environ.get("FILINGS_MODE", "").strip().lower() or "http"
    if mode not in MODES:
        raise CliError(f"FILINGS_MODE must be http or direct, not {mode!r}", 2)
    if idempotency_key is not None and not KEY.fullmatch(idempotency_key):
        raise CliError("--idempotency-key must be 1 to 255 visible ASCII characters (a UUID is a good choice)", 2)
    given = {"temporal_address": address, "temporal_namespace": namespace, "task_queue": task_queue,
             "api_url": api_url}
    try:
        settings = load_settings(**{k: v for k, v in given.items() if v is not None})
    except SystemExit as err:  # load_settings names each variable that is wrong
        raise CliError("; ".join(str(err.code).splitlines()[1:]).strip() or str(err.code)) from None
    from_env = token is None and bool(os.environ.get("FILINGS_TOKEN"))
    return Options(
        settings, as_json=as_json, reveal=reveal, direct=direct or mode == "direct",
        token_given=token or os.environ.get("FILINGS_TOKEN") or None, token_from_env=from_env,
        as_role=as_role, roles=roles, idempotency_key=idempotency_key, wait=wait,
    )


async def _run_then_close(opts: Options, main: Coroutine[Any, Any, int | None]) -> int | None:
    try:
        return await main
    finally:
        await opts.close()


def run(opts: Options, main: Coroutine[Any, Any, int | None]) -> int:
    """Run one command's coroutine; every expected failure becomes `error: <one line>`."""
    try:
        return asyncio.run(_run_then_close(opts, main)) or EXIT_OK
    except CliError as err:
        message, code = err.message, err.code
    except ValidationError as err:  # a value the §7 models refuse (e.g. a reviewer id too long)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in err.errors())
        message, code = f"invalid input: {problems}; nothing was sent", EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        message, code = _transport_failure(err), EXIT_ERROR
        if message is None:
            if os.environ.get("FILINGS_DEBUG"):
                raise
            message = f"unexpected {type(err).__name__}: {err} (FILINGS_DEBUG=1 shows the traceback)"
    return _fail(opts.err, message, code)


def _transport_failure(err: Exception) -> str | None:
    """Temporal's refusal (direct mode) or the service's transport failing, in one line; None
    for anything else. Looked up among the loaded modules: a command that never loaded the
    SDK (or httpx) cannot have failed in it, and loading it here would only cost time."""
    service, http = sys.modules.get("temporalio.service"), sys.modules.get("httpx")
    if service is not None and isinstance(err, service.RPCError):
        return f"Temporal refused the request ({err.status.name if err.status else '?'}): {err.message}"
    if http is not None and isinstance(err, http.HTTPError):
        return f"the filing service: {type(err).__name__}: {err}"
    return None


def command(
    group: typer.Typer,
    name: str | None = None,
    *,
    roles: Sequence[Role] = (),
    mutating: bool = False,
    **kwargs: Any,
) -> Callable[[CommandFn], CommandFn]:
    """Register `async def fn(opts: Options, ...)` as a command of `group`, with the common
    options appended to its own parameters. `roles`: whose saved tokens it may use, in order;
    `mutating`: it changes something (so it takes `--idempotency-key` and `--wait`)."""
    shared = _COMMON + (_MUTATING if mutating else [])

    def register(fn: CommandFn) -> CommandFn:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared

        def invoke(**values: Any) -> None:
            common = {p.name: values.pop(p.name) for p in shared}
            try:
                opts = build_options(**common, roles=roles)
            except CliError as err:
                raise typer.Exit(_fail(Console(stderr=True), err.message, err.code)) from None
            raise typer.Exit(run(opts, fn(opts, **values)))

        invoke.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        invoke.__annotations__ = {p.name: p.annotation for p in params}
        invoke.__doc__, invoke.__name__ = fn.__doc__, fn.__name__
        group.command(name or fn.__name__.replace("_", "-"), **kwargs)(invoke)
        return fn

    return register

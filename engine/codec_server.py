"""The codec server (`/encode`, `/decode`) the Temporal Web UI and CLI call to show payloads.

Two kinds of caller get plaintext, and nobody else:

- tools (the `temporal` CLI with `--codec-auth`, scripts): the bearer token
  (FILINGS_CODEC_TOKEN) in `Authorization`, and no browser `Origin` but a Web UI's;
- the Web UI's page in an operator's browser, which cannot hold a secret: `/decode` only,
  from one of the configured Web UI origins (FILINGS_CODEC_CORS_ORIGIN) and with the
  `X-Namespace` header the UI sends with every codec call. A browser sets `Origin` itself
  (no page can forge it) and a custom header makes it ask first (a CORS preflight, answered
  for the UI's origins only), so no other site can have a browser decode for it.

So the Web UI is configured with the bare endpoint (`http://127.0.0.1:8081`): the token is
in no URL, no UI settings answer and no command line. Who reaches the UI reaches
plaintext: the local UI listens on 127.0.0.1 for the operator at that machine; in compose
the UI signs its users in with the identity provider (docs/compose.md).

    python -m engine.codec_server     # FILINGS_CODEC_TOKEN, FILINGS_CODEC_PORT, keys as the worker

`make run` serves one already; started beside it, this one says which port is taken and
which variable moves it (exit status 1), as it does for a missing token or keys.
"""

from __future__ import annotations

import errno
import hmac
import sys
from collections.abc import Awaitable, Callable, Sequence

import aiohttp_cors
import structlog
from aiohttp import web
from google.protobuf.json_format import MessageToJson, Parse, ParseError
from temporalio.api.common.v1 import Payload, Payloads

from engine.codec import SEALED, EncryptionCodec
from engine.keys import Keyring, MissingKey
from engine.logs import configure_logging
from engine.ports import Listen, PortsBusy, check_ports
from engine.settings import load_settings

log = structlog.get_logger("codec_server")

#: Payloads the UI sends in one call are a page of history at most.
MAX_BODY_BYTES = 8 * 1024 * 1024

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


#: The header the Temporal Web UI sends with each codec call (temporalio/ui, data-encoder.ts).
UI_HEADER = "X-Namespace"


def build_app(keyring: Keyring, token: str, cors_origins: str) -> web.Application:
    """`cors_origins`: comma-separated, as FILINGS_CODEC_CORS_ORIGIN (the settings normalise it)."""
    if not token:
        raise ValueError("FILINGS_CODEC_TOKEN must be set: the codec server never answers without one")
    codec = EncryptionCodec(keyring)

    async def decode(payloads: Sequence[Payload]) -> list[Payload]:
        """For display: without the workers' `SEALED` marker (the CLI and UI would show it as raw metadata)."""
        decoded = await codec.decode(payloads)
        for payload in decoded:
            if SEALED in payload.metadata:
                del payload.metadata[SEALED]
        return decoded
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    origins = [origin.strip() for origin in cors_origins.split(",") if origin.strip()]

    def refusal(request: web.Request, *, for_the_ui: bool) -> str | None:
        """Why this caller gets no plaintext (None: it may have it)."""
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins:
            return "this origin is not a Web UI of this codec server (FILINGS_CODEC_CORS_ORIGIN)"
        if origin is not None and for_the_ui and request.headers.get(UI_HEADER, "").strip():
            return None  # the Web UI's own page
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return "a valid bearer token is required"

    def endpoint(transform: Transform, *, for_the_ui: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            why = refusal(request, for_the_ui=for_the_ui)
            if why is not None:
                log.warning("codec_refused", path=request.path.rsplit("/", 1)[-1], remote=request.remote,
                            origin=request.headers.get("Origin"))
                return web.json_response({"error": why}, status=401 if why.startswith("a valid") else 403)
            try:
                payloads = Parse(await request.text(), Payloads())
                result = await transform(payloads.payloads)
            except ParseError as err:
                return web.json_response({"error": f"body must be JSON Payloads: {err}"}, status=400)
            except (MissingKey, ValueError) as err:
                return web.json_response({"error": str(err)}, status=400)
            return web.Response(text=MessageToJson(Payloads(payloads=result)), content_type="application/json")

        return handle

    routes = [
        web.post("/encode", endpoint(codec.encode, for_the_ui=False)),  # the UI only ever decodes
        web.post("/decode", endpoint(decode, for_the_ui=True)),
    ]
    app.add_routes(routes)
    browser = aiohttp_cors.ResourceOptions(
        allow_credentials=False,  # the UI sends no cookies to its codec, and none are wanted
        allow_headers=("Content-Type", "Authorization", UI_HEADER),
        allow_methods=("POST",),
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, browser))
    for route in list(app.router.routes()):
        cors.add(route)

    # An orchestrator's probes (deploy/k8s): alive while it answers; ready once it holds its
    # keyring and token, which it does from the start (it refuses to start without them).
    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "keys": len(keyring.all_keys())})

    app.add_routes([web.get("/livez", alive), web.get("/readyz", ready)])
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Run the codec server inside an existing event loop (`make run`); clean up with `runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    token = settings.codec_token.get_secret_value() if settings.codec_token else ""
    listen = Listen("FILINGS_CODEC_PORT", settings.codec_host, settings.codec_port)
    try:
        app = build_app(settings.payload_keyring(), token, settings.codec_cors_origin)
        check_ports([listen])
        log.info("codec_server_started", url=f"http://{settings.codec_host}:{settings.codec_port}",
                 cors_origins=settings.codec_cors_origin)
        web.run_app(app, host=settings.codec_host, port=settings.codec_port, print=None, access_log=None)
    except PortsBusy as err:
        print(f"error: {err} (`make run` serves a codec server of its own: with it running, use that one,"
              f" its token is in {settings.data_dir / 'codec-token'})", file=sys.stderr)
        return 1
    except (MissingKey, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # lost the race for the port after the check
        if err.errno != errno.EADDRINUSE:
            raise
        print(f"error: {listen.variable}: port {listen.port} on {listen.host} is already in use", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

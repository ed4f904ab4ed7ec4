"""Only the configured host names are served (`Settings.allowed_hosts`).

A web page anywhere can point a name of its own at 127.0.0.1 (DNS rebinding) and then call
the service as a same-origin page: with `make run`'s password-free development login, as
any role. The browser still sends the page's name in `Host`, so answering only the names
the operators configured (the loopback names locally, the console's public host in
production) closes that door. Starlette's `TrustedHostMiddleware` makes the check; the
monitoring routes, which are public and carry no personal data, answer any host because
Prometheus scrapes replicas by address.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

MONITORING_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})


class KnownHosts:
    """`TrustedHostMiddleware` for every path but the monitoring ones."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in MONITORING_PATHS:
            await self.app(scope, receive, send)
        else:
            await self.checked(scope, receive, send)

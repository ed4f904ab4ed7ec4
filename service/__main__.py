"""`python -m service`: the filing service on FILINGS_API__HOST:FILINGS_API__PORT (127.0.0.1:8400).

It refuses to start, in one line naming what to fix, without payload keys, on a registry
database whose schema is not current (`filings registry migrate`), or on a busy port.
Temporal need not be up: calls answer 503 until it is.
"""

from __future__ import annotations

import uvicorn

from engine.keys import MissingKey
from engine.logs import configure_logging
from engine.ports import Listen, PortsBusy, check_ports
from engine.settings import load_settings
from registry.database import RegistryUnavailable
from registry.migrate import SchemaNotCurrent, require_current
from service.app import create_app
from service.tokens import SigningKeyMissing


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        settings.payload_keyring()
        require_current(settings.registry_database_url)
        check_ports([Listen("FILINGS_API__PORT", settings.api.host, settings.api.port)])
        app = create_app(settings)
    except (MissingKey, SchemaNotCurrent, RegistryUnavailable, PortsBusy, SigningKeyMissing, ValueError) as err:
        raise SystemExit(f"filing service: {err}") from None
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_config=None, access_log=False,
                server_header=False, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()

"""One way to reach Temporal, shared by the worker, the starter and the tools."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from engine.codec import data_converter
from engine.settings import Settings


def connect_options(settings: Settings) -> dict[str, Any]:
    """`Client.connect`'s TLS and API-key arguments, for a managed or mTLS Temporal.

    TLS is on when asked (TEMPORAL_TLS) or implied by an API key or a client certificate;
    the files are read here, at start, so a missing or unreadable one stops the process."""
    options: dict[str, Any] = {"tls": False}
    if settings.tls_enabled:
        def read(path: Any) -> bytes | None:
            return path.read_bytes() if path is not None else None

        options["tls"] = TLSConfig(
            server_root_ca_cert=read(settings.temporal_tls_server_ca_cert_path),
            client_cert=read(settings.temporal_tls_client_cert_path),
            client_private_key=read(settings.temporal_tls_client_key_path),
            domain=settings.temporal_tls_server_name,
        )
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    return options


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect with the settings' keys and TLS; `runtime` carries the worker's metrics."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_keyring()),
        runtime=runtime,
        **connect_options(settings),
    )

"""One way to reach Temporal, shared by the worker, the starter and the tools."""

from __future__ import annotations

from temporalio.client import Client

from engine.codec import data_converter
from engine.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings.payload_keyring()),
    )

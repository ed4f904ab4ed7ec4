"""Reading what a history really stores: every payload of an event, as the server keeps it."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload


def raw_payloads(event: Message) -> list[Payload]:
    """Every Payload anywhere in a history event (inputs, results, markers, search attributes)."""
    found: list[Payload] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                found.append(ParseDict(node, Payload()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(MessageToDict(event))
    return found

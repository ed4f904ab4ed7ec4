"""A filing's workflow id: `filing-<appid>`, so the server itself refuses a second running
filing of one mini-program (R9). A module of its own, without the Temporal SDK, because
the tools that only name a filing (the `filings` commands that talk to the filing service,
the service's access checks) need the id and nothing else of `engine.launch`.
"""

from __future__ import annotations

PREFIX = "filing-"


def filing_id_for(appid: str) -> str:
    return f"{PREFIX}{appid}"

"""The local notifier: every notice as a JSON line in `<data dir>/notifications.jsonl`, and a log line.

The file stands in for the channels, so it keeps the recipients as given (owner-only, like
every effect log); the log line names them masked, as logs never show a mobile in clear.
"""

from __future__ import annotations

import re
from pathlib import Path

import structlog

from adapters.jsonl import JsonLines
from filing.masking import mask_mobile
from filing.ports import Channel, Notice, Recipient

log = structlog.get_logger("notifier")

#: A mainland mobile, with or without the country code: masked on any channel, not only 短信.
_MOBILE = re.compile(r"(?:\+?86-?)?1\d{10}")


class FileNotifier:
    def __init__(self, data_dir: Path) -> None:
        self._file = JsonLines(data_dir / "notifications.jsonl")

    async def notify(self, notice: Notice) -> None:
        await self._file.append_once(notice.model_dump(mode="json"))
        level = log.warning if Channel.OPERATOR in notice.channels else log.info
        level(
            "notice",
            filing_id=notice.filing_id,
            attempt=notice.attempt,
            notice_event=notice.event,
            channels=[c.value for c in notice.channels],
            recipients=[f"{r.channel.value}:{_shown(r)}" for r in notice.recipients],
        )


def _shown(recipient: Recipient) -> str:
    """An account or the operators as they are; a mobile masked (`138****8000`)."""
    if recipient.channel is Channel.SMS or _MOBILE.fullmatch(recipient.to):
        return mask_mobile(recipient.to)
    return recipient.to

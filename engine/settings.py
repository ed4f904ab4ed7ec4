"""Configuration in one place: environment variables (SPEC §10) with the SPEC's defaults.

An invalid value stops the process at start with pydantic's message naming the variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from filing.policy import FilingPolicy
from filing.sms_codes import SmsCodeKeys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FILINGS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    temporal_address: str = Field(default="127.0.0.1:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field(default="default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE"))
    task_queue: str = "icp-filings"  # FILINGS_TASK_QUEUE
    data_dir: Path = Path(".data")  # FILINGS_DATA_DIR
    #: Yearly calendar override files (`<year>.json`); default `<data dir>/calendar`.
    calendar_dir: Path | None = None  # FILINGS_CALENDAR_DIR
    #: HMAC key for SMS code digests (hex). Default: `<data dir>/sms-hmac.key`, made on first start.
    sms_hmac_key: SecretStr | None = None  # FILINGS_SMS_HMAC_KEY
    web_ui: str = "http://127.0.0.1:8233"  # FILINGS_WEB_UI
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # FILINGS_LOG_LEVEL
    log_format: Literal["console", "json"] = "console"  # FILINGS_LOG_FORMAT
    #: Lifecycle numbers for newly started filings, e.g. FILINGS_POLICY__SMS_RESENDS=1.
    policy: FilingPolicy = Field(default_factory=FilingPolicy)

    @property
    def calendar_path(self) -> Path:
        return self.calendar_dir or self.data_dir / "calendar"

    def sms_code_keys(self) -> SmsCodeKeys:
        """The workers' SMS digest key: configured, or a local one kept owner-only under the data dir."""
        if self.sms_hmac_key is not None:
            secret = self.sms_hmac_key.get_secret_value()
            try:
                return SmsCodeKeys({"env": bytes.fromhex(secret)}, current="env")
            except ValueError as err:
                raise ValueError("FILINGS_SMS_HMAC_KEY must be a hex string (e.g. 64 hex digits)") from err
        path = self.data_dir / "sms-hmac.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return SmsCodeKeys({"local": bytes.fromhex(path.read_text().strip())}, current="local")

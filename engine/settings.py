"""Configuration in one place: environment variables (SPEC §10) with the SPEC's defaults.

An invalid value stops the process at start with pydantic's message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.keys import Keyring, KeysFile, MissingKey, load_keys_file
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
    web_ui: str = "http://127.0.0.1:8233"  # FILINGS_WEB_UI
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # FILINGS_LOG_LEVEL
    log_format: Literal["console", "json"] = "console"  # FILINGS_LOG_FORMAT
    #: Lifecycle numbers for newly started filings, e.g. FILINGS_POLICY__SMS_RESENDS=1.
    policy: FilingPolicy = Field(default_factory=FilingPolicy)

    @property
    def calendar_path(self) -> Path:
        return self.calendar_dir or self.data_dir / "calendar"

    # --- keys and the codec (SPEC §9) -------------------------------------------
    #: Payload encryption keyring, JSON `{"current": "k2", "keys": {"k1": "<base64>", ...}}`.
    payload_keys: Keyring | None = None  # FILINGS_PAYLOAD_KEYS
    #: SMS code digest keyring (workers only), same format.
    sms_hmac_keys: Keyring | None = None  # FILINGS_SMS_HMAC_KEYS
    #: A keys file holding both rings; default `<data dir>/keys.json` (made by `make run`).
    keys_file: Path | None = None  # FILINGS_KEYS_FILE
    #: Bearer token the codec server requires (FILINGS_CODEC_TOKEN).
    codec_token: SecretStr | None = None
    codec_host: str = "127.0.0.1"  # FILINGS_CODEC_HOST (0.0.0.0 in a container)
    codec_port: int = Field(default=8081, ge=1, le=65535)  # FILINGS_CODEC_PORT
    #: The only browser origin the codec server answers (the Web UI).
    codec_cors_origin: str = "http://127.0.0.1:8233"  # FILINGS_CODEC_CORS_ORIGIN

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.data_dir / "keys.json"

    def payload_keyring(self) -> Keyring:
        return self.payload_keys or self._keys_from_file("payload", "FILINGS_PAYLOAD_KEYS").payload

    def sms_code_keys(self) -> SmsCodeKeys:
        ring = self.sms_hmac_keys or self._keys_from_file("sms_hmac", "FILINGS_SMS_HMAC_KEYS").sms_hmac
        return SmsCodeKeys(ring.all_keys(), current=ring.current)

    def _keys_from_file(self, what: str, variable: str) -> KeysFile:
        path = self.keys_path
        if not path.exists():
            raise MissingKey(
                f"no {what} keys: set {variable}, or FILINGS_KEYS_FILE to a keys file "
                f"(`make run` creates {path} for local use)"
            )
        return load_keys_file(path)

"""Everything a request may use, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from engine.settings import Settings
from engine.wiring import resolve_adapter
from filing.ports import MaterialStore, OpenVerifications, Registry
from registry.database import create_registry_engine
from registry.open_verifications import SqlOpenVerifications
from registry.province_materials import ProvinceMaterialsStore
from registry.rate_windows import SharedMovingWindows
from service.audit import AuditLog
from service.auth import TokenVerifier, build_verifier
from service.forecasts import ForecastBoard
from service.idempotency import IdempotencyStore
from service.metrics import ServiceMetrics
from service.problems import Problem
from service.ratelimit import SmsVerifyLimits, pseudonym_key
from service.temporal import Temporal


@dataclass
class Services:
    settings: Settings
    verifier: TokenVerifier
    metrics: ServiceMetrics
    engine: Engine
    idempotency: IdempotencyStore
    audit: AuditLog
    registry: Registry
    materials: MaterialStore
    sms_limits: SmsVerifyLimits
    #: The mobiles' open 12381 verifications (`POST /v1/sms/verify` finds the filing there).
    verifications: OpenVerifications
    #: R10's province lists in force (the registry database's import, else the shipped list).
    province_lists: ProvinceMaterialsStore
    #: The provincial-review forecast (figures per province and kind, and their gauge).
    forecasts: ForecastBoard
    connected: Temporal | None = None

    @property
    def temporal(self) -> Temporal:
        if self.connected is None:  # only between construction and the app's start-up
            raise Problem(503, "the service is starting: not connected to Temporal yet", kind="temporal-unavailable",
                          headers={"Retry-After": "1"})
        return self.connected


def build_services(settings: Settings) -> Services:
    """Construct without connecting to anything (Temporal connects lazily at start-up)."""
    api = settings.api
    url = settings.registry_database_url
    engine = create_registry_engine(url)
    metrics = ServiceMetrics()
    keyring = settings.payload_keyring()
    payload_key = keyring.key(keyring.current)
    chosen = settings.adapters  # only the ports the service talks to (not the SMS gateway, the desks, ...)
    return Services(
        settings=settings,
        verifier=build_verifier(api, settings.data_dir),
        metrics=metrics,
        engine=engine,
        idempotency=IdempotencyStore(engine, url, api.idempotency_claim_timeout, metrics),
        audit=AuditLog(engine, url),
        registry=resolve_adapter("registry", chosen.registry)(settings),
        materials=resolve_adapter("material_store", chosen.material_store)(settings),
        # Counted in the registry database: every replica shares the windows.
        sms_limits=SmsVerifyLimits(api.sms_verify_per_mobile, api.sms_verify_per_client, metrics,
                                   SharedMovingWindows(url, engine=engine), pseudonym_key(payload_key)),
        verifications=SqlOpenVerifications(url, keyring.all_keys(), keyring.current, engine=engine),
        province_lists=ProvinceMaterialsStore(url, engine=engine),
        forecasts=ForecastBoard(engine, url, metrics),
    )


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found

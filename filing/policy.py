"""The numbers of the lifecycle (SLA, SMS window, attempts, expiry), with the SPEC's defaults.

A filing carries its policy in its workflow input, so a change of configuration never
changes the replay of a running filing: it applies to filings started afterwards.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from filing.models import Model


#: The least history (bytes) a run grows before it continues as new, whatever a policy
#: says: below it a run would spend itself continuing. Configuration below it is refused;
#: filings started with a smaller value (accepted before) are held to it by the workflow.
MIN_HISTORY_BYTES_BEFORE_CONTINUE = 1_000_000


class FilingPolicy(Model):
    platform_sla_business_days: int = Field(default=2, ge=1, le=60)  # L2: 1–2 business days
    provincial_sla_business_days: int = Field(default=20, ge=1, le=120)  # L4: 1–20 business days
    #: L4 per-province overrides, keyed by filing-number prefix (e.g. {"冀": 15}).
    provincial_sla_overrides: dict[str, int] = Field(default_factory=dict)
    sms_window: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))  # L3: wall-clock
    sms_attempts_per_code: int = Field(default=5, ge=1, le=20)  # L3
    sms_resends: int = Field(default=1, ge=0, le=5)  # L3: one resend per verifier
    resubmission_window: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))  # L6
    #: How long an outside service (queue, hand-over, SMS gateway) may stay down before the
    #: filing is escalated to operators and returned, rather than waiting without a trace.
    outside_service_timeout: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0))
    #: L10: a run continues as new once its history has this many events (or the server
    #: suggests it sooner), so a filing that receives thousands of messages stays bounded.
    history_events_before_continue: int = Field(default=5000, ge=200, le=40_000)
    #: ... or this many bytes (a few large messages weigh more than many small ones).
    history_bytes_before_continue: int = Field(default=4_000_000, ge=100_000, le=40_000_000)

    def provincial_sla_for(self, prefix: str) -> int:
        return self.provincial_sla_overrides.get(prefix, self.provincial_sla_business_days)

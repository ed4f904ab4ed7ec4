"""L3: the 12381 SMS. The code is born here and leaves only towards the phone (the gateway).

The workflow gets a keyed digest; checking an entered code happens here too, in a
local activity, so the entered code is not copied into the history a second time.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import structlog
from temporalio import activity

from activities.errors import permanent_failures_are_final
from filing.masking import mask_mobile
from filing.models import Model
from filing.ports import SmsGateway, SmsMessage
from filing.sms_codes import SmsCodeKeys, code_context, generate_code

log = structlog.get_logger("sms")

SMS_TEXT = "【工信部】您的小程序备案短信核验码为{code},请在24小时内登录工信部备案管理系统完成核验。如非本人操作,请忽略。"


class SendCodeRequest(Model):
    filing_id: str
    attempt: int
    mobile: str
    resend: int  # 0 for the first code, 1 for the first resend, ...


class SentCode(Model):
    digest: str
    sent_at: datetime


class CodeCheck(Model):
    filing_id: str
    attempt: int
    mobile: str
    resend: int
    digest: str
    code: str
    id_last6: str
    expected_id_last6: str


class SmsActivities:
    def __init__(self, gateway: SmsGateway, keys: SmsCodeKeys) -> None:
        self._gateway = gateway
        self._keys = keys

    @activity.defn(name="send_sms_code")
    async def send_sms_code(self, request: SendCodeRequest) -> SentCode:
        key = f"{request.filing_id}:{request.attempt}:sms:{request.mobile}:{request.resend}"
        code = generate_code()
        message = SmsMessage(
            to=request.mobile, text=SMS_TEXT.format(code=code), code=code,
            sent_at=datetime.now(UTC), idempotency_key=key,
        )
        with permanent_failures_are_final():
            delivered = await self._gateway.send(message)
        log.info("sms_sent", filing_id=request.filing_id, attempt=request.attempt,
                 to=mask_mobile(request.mobile), resend=request.resend)
        context = code_context(request.filing_id, request.attempt, request.mobile, request.resend)
        return SentCode(digest=self._keys.digest(delivered.code, context), sent_at=delivered.sent_at)

    @activity.defn(name="check_sms_code")
    async def check_sms_code(self, check: CodeCheck) -> bool:
        """A wrong code or wrong document digits is one wrong entry (L3); both compared in constant time."""
        context = code_context(check.filing_id, check.attempt, check.mobile, check.resend)
        code_ok = self._keys.matches(check.code, context, check.digest)
        id_ok = hmac.compare_digest(check.id_last6.upper().encode(), check.expected_id_last6.upper().encode())
        return code_ok and id_ok


"""L3: the 12381 SMS. The code is born here, from the send's idempotency key, and leaves only
towards the phone (the gateway).

The workflow gets a keyed digest; checking an entered code happens here too, in a local
activity, so the entered code is not copied into the history a second time. A key id
this worker does not hold is never a wrong entry: it is an error the workflow hands to
another worker (README: rotating the SMS keys).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import permanent_failures_are_final
from filing.masking import mask_mobile
from filing.models import Model
from filing.notice_texts import china_time
from filing.ports import OpenVerifications, SmsGateway, SmsMessage
from filing.sms_codes import SmsCodeKeys, UnknownSmsKey

log = structlog.get_logger("sms")

UNKNOWN_SMS_KEY = "UnknownSmsKey"
#: Worded and signed as the 12381 texts are (docs/outside-systems.md, "The 12381 SMS", names
#: the sources): the signature first, the code, where to verify (the MIIT filing site's
#: 短信核验 page) with what, and the window in force.
SMS_TEXT = ("【工业和信息化部】验证码：{code}。您的小程序备案申请需完成短信核验，请在{window}访问工信部"
            "备案管理系统（https://beian.miit.gov.cn/）“短信核验”页面，输入验证码、本手机号码及证件号码后6位"
            "完成核验；逾期未核验，备案申请将被退回。如非本人操作，请忽略本短信。")
#: How long past its window an open verification stays findable by mobile: the window opens
#: once every first code is out, a little after each send (the filing judges the window).
INDEX_GRACE = timedelta(minutes=10)


def window_text(window: timedelta, ends_at: datetime | None = None) -> str:
    """The window in force, as the SMS states it (L3): never a fixed "24小时". A first code's
    window opens as it is sent (`24小时内`); a resend's closes when the first one's does
    (`2026-12-09 16:30（北京时间）前`)."""
    if ends_at is not None:
        return f"{china_time(ends_at)}前"
    minutes = int(window.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60}小时内"
    return f"{minutes}分钟内" if minutes else f"{int(window.total_seconds())}秒内"


class SendCodeRequest(Model):
    filing_id: str
    mobile: str
    #: Names the filing, its attempt, the verifier and the resend: the code derives from it.
    idempotency_key: str
    #: What the digest binds (the idempotency key; older filings' codes: `code_context`).
    context: str
    #: The SMS key the workflow pinned for this send; None: this worker's current key.
    key_id: str | None = None
    window: timedelta = timedelta(hours=24)
    #: When the window in force closes, when it is already open (a resend); None for a first code.
    expires_at: datetime | None = None


class SentCode(Model):
    digest: str
    sent_at: datetime


class CodeCheck(Model):
    filing_id: str
    mobile: str
    context: str
    digest: str
    code: str
    id_last6: str
    expected_id_last6: str


def _unknown_key(err: UnknownSmsKey) -> ApplicationError:
    return ApplicationError(str(err), type=UNKNOWN_SMS_KEY)


class SmsActivities:
    def __init__(self, gateway: SmsGateway, keys: SmsCodeKeys, verifications: OpenVerifications | None = None) -> None:
        """`verifications`: where a sent code opens the mobile's verification (issue 17); None
        keeps no index (a worker whose verifiers always name the AppID)."""
        self._gateway = gateway
        self._keys = keys
        self._verifications = verifications

    @activity.defn(name="current_sms_key")
    async def current_sms_key(self) -> str:
        """The key id new codes are made with: the workflow pins it for a send, so a retry
        on a worker with another current key still sends the same code."""
        return self._keys.current

    @activity.defn(name="send_sms_code")
    async def send_sms_code(self, request: SendCodeRequest) -> SentCode:
        key_id = request.key_id or self._keys.current
        try:
            code = self._keys.derive_code(key_id, request.idempotency_key)
            digest = self._keys.digest(code, request.context, key_id)
        except UnknownSmsKey as err:  # retryable: another worker holds the key
            raise _unknown_key(err) from None
        message = SmsMessage(
            to=request.mobile,
            text=SMS_TEXT.format(code=code, window=window_text(request.window, request.expires_at)),
            code=code,
            sent_at=datetime.now(UTC),
            idempotency_key=request.idempotency_key,
        )
        with permanent_failures_are_final():
            delivered = await self._gateway.send(message)
        if self._verifications is not None:
            # Once the gateway took the code (a send refused for good opens nothing). Should this
            # write fail, the activity is retried and the gateway answers the repeated key as sent.
            ends = request.expires_at or delivered.sent_at + request.window
            await self._verifications.open(request.mobile, request.filing_id, ends + INDEX_GRACE)
        log.info("sms_sent", filing_id=request.filing_id, to=mask_mobile(request.mobile))
        # A real gateway may answer a repeated key without the body: the digest is of our
        # own code, which every retry derives again, never of what the gateway echoes.
        # Except for a send a filing of the earlier shape began (its context is not its key):
        # its first attempt sent a random code, which the gateway answers for the key.
        if request.context != request.idempotency_key and delivered.code and delivered.code != code:
            digest = self._keys.digest(delivered.code, request.context, key_id)
        return SentCode(digest=digest, sent_at=delivered.sent_at)

    @activity.defn(name="check_sms_code")
    async def check_sms_code(self, check: CodeCheck) -> bool:
        """A wrong code or wrong document digits is one wrong entry (L3); both compared in constant time."""
        try:
            code_ok = self._keys.matches(check.code, check.context, check.digest)
        except UnknownSmsKey as err:  # not this worker's to judge: the workflow task moves on
            raise ApplicationError(str(err), type=UNKNOWN_SMS_KEY, non_retryable=True) from None
        id_ok = hmac.compare_digest(check.id_last6.upper().encode(), check.expected_id_last6.upper().encode())
        return code_ok and id_ok

"""The SMS gateway, notifier and review desk over HTTP, against a real receiver on 127.0.0.1.

Each request is signed (the docs' recipe verifies it), carries the same `Idempotency-Key` on
every retry of one effect, and its answer is classified as the activity's retry policy needs
it: 2xx and 409 done; 5xx, 408, 429, a timeout or a refused connection retried; any other
4xx refused for good (non-retryable). Nothing personal reaches a log or an error message.
The activities run in the SDK's `ActivityEnvironment`, so what is checked is what the
workflow receives.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from activities.review import ReviewActivities
from activities.sms import SendCodeRequest, SmsActivities
from adapters.desk_http import HttpReviewDesk
from adapters.notify_http import HttpNotifier
from adapters.sms_http import HttpSmsGateway
from adapters.webhook import WebhookClient
from engine.settings import WEBHOOK_PORTS, Settings
from engine.wiring import resolve_adapter
from filing.ports import Channel, HandOver, Notice, Recipient
from filing.sms_codes import SmsCodeKeys
from tests.conftest import TEST_KEYS
from tests.webhook_receiver import HANG, SECRET, Receiver, Reply, receiving

MOBILE = "13912345678"
KEY = f"filing-wx0123456789abcdef/run-1:1:sms:{MOBILE}:0"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as started:
        yield started


def client(url: str, timeout: float = 8.0) -> WebhookClient:
    return WebhookClient(name="test", url=url, secret=SecretStr(SECRET), timeout=timedelta(seconds=timeout),
                         connect_timeout=timedelta(seconds=1))


def sms_activity(url: str, timeout: float = 8.0) -> SmsActivities:
    ring = TEST_KEYS.sms_hmac
    return SmsActivities(HttpSmsGateway(client(url, timeout)), SmsCodeKeys(ring.all_keys(), current=ring.current))


REQUEST = SendCodeRequest(filing_id="filing-wx0123456789abcdef", mobile=MOBILE, idempotency_key=KEY, context=KEY)


async def send(activities: SmsActivities) -> None:
    await ActivityEnvironment().run(activities.send_sms_code, REQUEST)


async def test_an_sms_request_is_signed_keyed_and_carries_what_the_gateway_needs(receiver):
    with structlog.testing.capture_logs() as logs:
        await send(sms_activity(receiver.url("/sms")))
    (request,) = receiver.on("/sms")
    assert request.signed_by(SECRET)
    assert not request.signed_by("another-secret-0123456789abcdef0123")
    assert request.key == hashlib.sha256(KEY.encode()).hexdigest()  # no mobile in a header
    assert request.headers["x-filings-event"] == "sms.send"
    assert request.headers["content-type"].startswith("application/json")
    body = request.json
    assert body["to"] == MOBILE and body["sender"] == "12381"
    assert body["code"] in body["text"] and len(body["code"]) == 6
    assert MOBILE not in str(request.headers)
    assert [entry["status"] for entry in logs if entry["event"] == "webhook"] == [200]
    assert MOBILE not in str(logs) and body["code"] not in str(logs)


async def test_failures_are_retried_under_the_same_key_until_taken(receiver):
    """503, 429 with Retry-After, a hang past the timeout, then 200: every failure is
    retryable (the activity's retry policy sends again), every attempt carries the same key
    and a valid signature, and the code sent is the same on every attempt."""
    receiver.script("/sms", Reply(503), Reply(429, headers={"Retry-After": "7"}), HANG)
    activities = sms_activity(receiver.url("/sms"))
    impatient = sms_activity(receiver.url("/sms"), timeout=0.3)  # only the hang waits for its timeout
    failures = []
    for attempt in (activities, activities, impatient):
        with pytest.raises(ApplicationError) as failed:
            await send(attempt)
        failures.append(failed.value)
    await send(activities)
    assert [f.non_retryable for f in failures] == [False, False, False]
    assert failures[1].next_retry_delay == timedelta(seconds=7)
    assert "HTTP 503" in failures[0].message and "no answer within 0.3s" in failures[2].message
    requests = receiver.on("/sms")
    assert len(requests) == 4
    assert {r.key for r in requests} == {hashlib.sha256(KEY.encode()).hexdigest()}
    assert all(r.signed_by() for r in requests)
    assert len({r.json["code"] for r in requests}) == 1
    for failure in failures:  # what the workflow records: the host and status, nothing personal
        assert MOBILE not in failure.message and requests[0].json["code"] not in failure.message
        assert "127.0.0.1" in failure.message


async def test_a_permanent_refusal_is_not_retried_and_shows_no_personal_data(receiver):
    receiver.script("/sms", Reply(422, {"error": "invalid_mobile", "detail": f"{MOBILE} is not a number we text"}))
    with pytest.raises(ApplicationError) as failed:
        await send(sms_activity(receiver.url("/sms")))
    assert failed.value.non_retryable is True and failed.value.type == "PermanentFailure"
    assert "HTTP 422 invalid_mobile" in failed.value.message
    assert MOBILE not in failed.value.message  # the receiver's detail echoed the mobile: not shown
    assert len(receiver.on("/sms")) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_signature_is_a_configuration_fault_retried_not_a_verdict(receiver, status):
    # A secret rolled out on one side only: no filing may be returned for it; retried until
    # the outside-service timeout escalates to the operators.
    receiver.script("/sms", Reply(status, {"error": "bad_signature"}))
    with pytest.raises(ApplicationError) as failed:
        await send(sms_activity(receiver.url("/sms")))
    assert failed.value.non_retryable is False and f"HTTP {status} bad_signature" in failed.value.message


async def test_a_duplicate_is_answered_as_done(receiver):
    activities = sms_activity(receiver.url("/sms"))
    await send(activities)
    await send(activities)  # a retry after a lost answer: the receiver says 409
    assert [r.key for r in receiver.on("/sms")] == [hashlib.sha256(KEY.encode()).hexdigest()] * 2


async def test_an_unreachable_receiver_is_retried():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApplicationError) as failed:
        await send(sms_activity(f"http://127.0.0.1:{port}/sms"))
    assert failed.value.non_retryable is False and "unreachable" in failed.value.message


async def test_a_notice_goes_out_signed_and_a_repeat_is_done(receiver):
    notice = Notice(
        filing_id="filing-wx0123456789abcdef", attempt=1, event="filing_returned", channels=[Channel.SMS, Channel.IN_APP],
        idempotency_key="filing-wx0123456789abcdef/run-1:1:filing_returned:3",
        recipients=[Recipient(channel=Channel.SMS, to=MOBILE), Recipient(channel=Channel.IN_APP, to="wx0123456789abcdef")],
    )
    activities = NotifyActivities(HttpNotifier(client(receiver.url("/notices"))))
    with structlog.testing.capture_logs() as logs:
        await ActivityEnvironment().run(activities.notify, notice)
        await ActivityEnvironment().run(activities.notify, notice)
    first, again = receiver.on("/notices")
    assert first.signed_by() and first.key == again.key
    assert first.json["recipients"][0] == {"channel": "sms", "to": MOBILE}
    assert first.json["text"].startswith("【小程序备案】您的备案申请已被退回")  # the text the person reads
    assert first.headers["x-filings-event"] == "notice"
    assert [e["outcome"] for e in logs if e["event"] == "webhook"] == ["ok", "duplicate"]
    assert MOBILE not in str(logs)
    receiver.script("/notices", Reply(400))
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(activities.notify, notice.model_copy(update={"idempotency_key": "other"}))
    assert failed.value.non_retryable is True


async def test_a_hand_over_answers_the_desks_ticket_also_on_a_repeat(receiver):
    receiver.answer_with("/desk", lambda r: {"ticket": f"DESK-{r.json['desk']}-{r.json['attempt']}"})
    handover = HandOver(filing_id="filing-wx0123456789abcdef", attempt=2, kind="NEW", province="冀",
                        idempotency_key="filing-wx0123456789abcdef/run-1:2:PLATFORM_REVIEW",
                        application_ref="/v1/filings/wx0123456789abcdef/application", materials=["ab" * 32])
    review = ReviewActivities(HttpReviewDesk(client(receiver.url("/desk"))))
    assert await ActivityEnvironment().run(review.enqueue_platform_review, handover) == "DESK-platform-2"
    assert await ActivityEnvironment().run(review.enqueue_platform_review, handover) == "DESK-platform-2"  # 409
    (request, repeat) = receiver.on("/desk")
    assert repeat.headers["x-filings-event"] == "handover.platform" and request.signed_by()
    assert request.json["materials"] == ["ab" * 32] and request.json["ticket"].startswith("PR-")
    receiver.script("/desk", Reply(409))  # a repeat the desk answers without its ticket: ours
    province = handover.model_copy(update={"idempotency_key": "filing-wx0123456789abcdef/run-1:2:PROVINCIAL_REVIEW"})
    assert (await ActivityEnvironment().run(review.hand_over_to_province, province)).startswith("冀-")
    receiver.script("/desk", Reply(404))  # a wrong URL: refused for good
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(review.hand_over_to_province, province)
    assert failed.value.non_retryable is True


def test_the_settings_choose_the_http_adapters(tmp_path, receiver):
    settings = Settings(
        data_dir=tmp_path,
        adapters={"sms_gateway": "http", "notifier": "http", "review_desk": "http"},
        webhook={"sms_gateway_url": receiver.url("/sms"), "notifier_url": receiver.url("/notices"),
                 "review_desk_url": receiver.url("/desk"), "secret": SECRET},
    )
    built = [resolve_adapter(port, getattr(settings.adapters, port))(settings) for port in WEBHOOK_PORTS]
    assert [type(adapter) for adapter in built] == [HttpSmsGateway, HttpNotifier, HttpReviewDesk]

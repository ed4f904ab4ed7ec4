"""A filing whose SMS gateway, notifier and review desks are webhooks (`http` adapters), as
a user lives it on the time-skipping server, against a real receiver on 127.0.0.1: no
effect log is written, the code comes from the gateway's request, a gateway that is down is
retried under the same key (a timeout is classified the same way:
tests/integration/test_http_adapters.py), and a gateway that refuses for good returns the
filing visibly (never a FAILED workflow)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.settings import AdapterChoice, Settings, WebhookSettings
from engine.wiring import engine_activities
from filing.masking import mask_mobile
from filing.messages import ReturnedBy, Stage
from tests.webhook_receiver import SECRET, Receiver, Reply, receiving
from tests.workflow.test_lifecycle import NUMBER, new_filing, to_sms
from tests.workflow.test_sweep_outside_failures import never_failed


def over_http(settings: Settings, receiver: Receiver) -> list[Any]:
    """The engine's activities with the three outside systems as webhooks on `receiver`."""
    chosen = settings.model_copy(update={
        "adapters": AdapterChoice(sms_gateway="http", notifier="http", review_desk="http"),
        "webhook": WebhookSettings(
            sms_gateway_url=receiver.url("/sms"), notifier_url=receiver.url("/notices"),
            review_desk_url=receiver.url("/desk"), secret=SECRET, timeout=timedelta(seconds=3),
        ),
    })
    return engine_activities(chosen)


def no_effect_logs(data_dir: Path) -> bool:
    return not [p.name for p in data_dir.glob("*.jsonl")]


async def test_a_filing_is_verified_and_approved_through_the_webhooks(env, make_engine):
    with receiving() as receiver:
        receiver.answer_with("/desk", lambda r: {"ticket": f"T-{r.json['desk']}-{r.json['attempt']}"})
        receiver.script("/sms", Reply(503))  # the gateway is down once: the activity retries (same key)
        engine, _ = make_engine()
        engine, worker = make_engine(activities=over_http(engine.settings, receiver))
        async with worker:
            filing = await new_filing(env, engine)
            await to_sms(filing)
            (person,) = filing.people
            sent = receiver.on("/sms")  # the 503, then the retry (more, on a machine slower than the timeout)
            assert len(sent) >= 2 and len({r.key for r in sent}) == 1 and all(r.signed_by() for r in sent)
            assert len({r.json["code"] for r in sent}) == 1, "every retry sends the same code"
            assert sent[-1].json["to"] == person.mobile
            answer = await filing.verify(person.mobile, code=sent[-1].json["code"])
            assert answer == {"result": "verified", "attempts_left": 5, "all_verified": True}
            await filing.wait_stage(Stage.PROVINCIAL_REVIEW)
            await filing.province("approve", filing_number=NUMBER)
            outcome = await filing.result()
            assert outcome.stage is Stage.APPROVED
            desk = receiver.on("/desk")
            assert list(dict.fromkeys(r.json["desk"] for r in desk)) == ["platform", "province"]
            assert all(r.signed_by() for r in desk)
            assert any(e.event == "handed_over" and "T-platform-1" in (e.detail or "") for e in outcome.timeline)
            await receiver.wait_for(lambda: any(r.json["event"] == "filing_approved" for r in receiver.on("/notices")))
            assert all(r.signed_by() for r in receiver.on("/notices"))
            assert no_effect_logs(engine.data_dir), "nothing written to a shared volume"


async def test_a_gateway_refusing_for_good_returns_the_filing_visibly(env, make_engine):
    with receiving() as receiver:
        receiver.script("/sms", Reply(400, {"error": "mobile_not_in_service"}))
        engine, _ = make_engine()
        engine, worker = make_engine(activities=over_http(engine.settings, receiver))
        async with worker:
            filing = await new_filing(env, engine)
            await filing.wait_stage(Stage.PLATFORM_REVIEW)
            await filing.platform("approve")
            status = await filing.wait_stage(Stage.RETURNED)
            assert status.returned.by is ReturnedBy.MIIT_SMS
            assert [r.error for r in status.returned.reasons] == ["sms_undeliverable"]
            (person,) = filing.people
            (failed,) = [e.detail or "" for e in status.timeline if e.event == "sms_failed"]
            assert "HTTP 400 mobile_not_in_service" in failed and mask_mobile(person.mobile) in failed
            assert person.mobile not in failed
            assert len(receiver.on("/sms")) == 1, "a refusal for good is not retried"
            await receiver.wait_for(lambda: any(
                r.json["event"] == "sms_undeliverable" and r.headers["x-filings-event"] == "escalation"
                for r in receiver.on("/notices")))
            await never_failed(filing)

"""What people read and where a verifier's mobile leads, on the time-skipping server: each
notice carries its Chinese text; a code sent opens the mobile's verification; a gateway that
refuses for good opens none and the filing goes back with a notice that says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.sms import SmsActivities
from filing.messages import ReturnedBy, Stage
from registry.open_verifications import SqlOpenVerifications
from tests.workflow.test_lifecycle import new_filing, to_sms
from tests.workflow.test_sweep_outside_failures import DownGateway, escalations, never_failed, replacing


def index_of(settings) -> SqlOpenVerifications:  # type: ignore[no-untyped-def]
    keyring = settings.payload_keyring()
    return SqlOpenVerifications(settings.registry_database_url, keyring.all_keys(), keyring.current)


async def test_a_sent_code_opens_the_mobiles_verification_and_the_notice_says_by_when(env, engine):
    filing = await new_filing(env, engine)
    await to_sms(filing)
    (person,) = filing.people
    index = index_of(engine.settings)
    try:
        (found,) = await index.find(person.mobile, datetime.now(UTC))
        assert found.filing_id == filing.handle.id
        assert found.expires_at > datetime.now(UTC) + timedelta(hours=23)
        assert await index.find("13700009999", datetime.now(UTC)) == []
    finally:
        index.dispose()
    notice = await filing.wait_for(lambda _: next((n for n in filing.notifications()
                                                   if n["event"] == "platform_approved"), None))
    text = next(n["text"] for n in filing.notifications() if n["event"] == "platform_approved")
    assert filing.application.mini_program.name in text and "https://beian.miit.gov.cn/" in text
    assert "（北京时间）前登录" in text and notice


async def test_a_gateway_refusing_for_good_opens_nothing_and_the_returned_notice_says_why(env, make_engine):
    engine, _ = make_engine()
    sms = SmsActivities(DownGateway(engine.data_dir), engine.settings.sms_code_keys(), index_of(engine.settings))
    engine, worker = make_engine(activities=replacing(engine.settings, sms.send_sms_code))
    async with worker:
        filing = await new_filing(env, engine)
        await filing.wait_stage(Stage.PLATFORM_REVIEW)
        await filing.platform("approve")
        status = await filing.wait_stage(Stage.RETURNED)
        assert status.returned.by is ReturnedBy.MIIT_SMS
        (person,) = filing.people
        index = index_of(engine.settings)
        try:
            assert await index.find(person.mobile, datetime.now(UTC)) == []
        finally:
            index.dispose()
        await filing.wait_for(lambda _: "sms_undeliverable" in escalations(filing)
                              and any(n["event"] == "filing_returned" for n in filing.notifications()))
        returned = next(n for n in filing.notifications() if n["event"] == "filing_returned")
        assert "已被退回（工信部短信核验）" in returned["text"] and "核验短信无法送达" in returned["text"]
        assert "（北京时间）；逾期未重新提交" in returned["text"]
        alert = next(n for n in filing.notifications() if n["channels"] == ["operator"])
        assert alert["text"].startswith("【小程序备案·运维告警】核验短信无法送达（sms_undeliverable）")
        await never_failed(filing)

"""备案查询 over HTTP (SPEC §11, §12): anyone, no token, MIIT's fields only; by a licence
number, a part of the name, a unit's certificate number; cancelled filings when asked for."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from engine.wiring import registry_from_settings
from filing.ids import uscc_check_char
from filing.models import Application, PreApproval
from filing.registry import ImportEntry, RecordState
from tests.service.conftest import Stack, application, new_appid


def licensed_company(appid: str, name: str, serial: int) -> Application:
    app = application(appid)
    first17 = f"91130000MB{serial:07d}"
    assert app.subject.unit_certificate is not None
    certificate = app.subject.unit_certificate.model_copy(update={"number": first17 + uscc_check_char(first17)})
    program = app.mini_program.model_copy(update={
        "name": "许可小程序", "service_categories": [*app.mini_program.service_categories, "教育"],
        "pre_approvals": [PreApproval(category="教育", approval_number="冀教审〔2019〕12号",
                                      document_name="民办学校办学许可证")]})
    return app.model_copy(update={"subject": app.subject.model_copy(update={"name": name,
                                                                            "unit_certificate": certificate}),
                                  "mini_program": program})


async def test_anyone_looks_up_a_licensed_subject_by_number_name_part_and_credit_code(started: Stack) -> None:
    stack, serial = started, secrets.randbelow(9 * 10**6) + 10**6
    licence, name = f"冀B2-2025{serial % 10**4:04d}", f"河北查询{serial}网络科技有限公司"
    live, closed = new_appid(), new_appid()
    approved = datetime(2024, 5, 6, 18, 0, tzinfo=UTC)  # 2024-05-07 in China
    registry = registry_from_settings(stack.settings)
    try:
        await registry.import_entries([
            ImportEntry(application=licensed_company(live, name, serial), service_number=f"{licence}-1626X",
                        approved_at=approved),
            ImportEntry(application=licensed_company(closed, name, serial), service_number=f"{licence}-1627X",
                        approved_at=approved + timedelta(days=1), state=RecordState.CANCELLED),
        ])
    finally:
        registry.close()
    credit_code = licensed_company(live, name, serial).subject.unit_certificate.number  # type: ignore[union-attr]

    by_number = await stack.http.get("/v1/registry", params={"number": f"{licence}-1626X"})
    assert by_number.status_code == 200, by_number.text
    assert by_number.json() == [{
        "subject_name": name, "subject_type": "ENTERPRISE", "subject_number": licence,
        "service_number": f"{licence}-1626X", "service_name": "许可小程序", "approval_date": "2024-05-07",
        "pre_approvals": ["教育"], "access_restricted": False, "state": "ACTIVE"}]
    for query in ({"number": licence}, {"subject": f"查询{serial}"}, {"certificate": credit_code.lower()}):
        found = await stack.http.get("/v1/registry", params=query)
        assert found.status_code == 200 and found.json() == by_number.json(), (query, found.text)
    every = await stack.http.get("/v1/registry", params={"number": licence, "include_cancelled": "true"})
    assert [(e["service_number"], e["state"]) for e in every.json()] == [
        (f"{licence}-1626X", "ACTIVE"), (f"{licence}-1627X", "CANCELLED")]

    # Too little, or two keys at once: 422 naming the parameter, in Chinese and English; nothing else.
    short = await stack.http.get("/v1/registry", params={"subject": "河"})
    assert short.status_code == 422
    assert [(e["field"], e["key"]) for e in short.json()["errors"]] == [("query.subject", "schema.lookup_refused")]
    assert "至少" in short.json()["errors"][0]["message_zh"]
    both = await stack.http.get("/v1/registry", params={"subject": name, "certificate": credit_code})
    assert both.status_code == 422 and {e["key"] for e in both.json()["errors"]} == {"schema.one_of"}
    malformed = await stack.http.get("/v1/registry", params={"number": "冀B2-2025-1X"})
    assert malformed.status_code == 422 and "B2" in malformed.json()["errors"][0]["message_zh"]

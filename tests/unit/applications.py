"""What the rules' unit tests share: the instant they check at, the example application and
its personal-subject variant, and the check that every violation names a field and a stable
key and speaks both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from filing.examples import example_application
from filing.messages import Violation
from filing.models import Application, SubjectType
from filing.rules import check_application

NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)


def checked(app: Application, now: datetime = NOW, **kwargs: Any) -> list[Violation]:
    violations = check_application(app, now, **kwargs)
    for v in violations:  # a field, a stable key, both languages
        assert v.field and v.key and v.message_zh and v.message_en
    return violations


def keys_of(violations: list[Violation]) -> set[tuple[str, str]]:
    return {(v.key, v.field) for v in violations}


def example(**kwargs: Any) -> Application:
    return example_application(NOW, **kwargs)


def personal(province: str = "河北省") -> Application:
    app = example(province=province)
    app.subject.type = SubjectType.PERSONAL
    app.subject.name = app.subject_principal.name
    app.subject.unit_certificate = None
    app.extra_materials = []
    return app

"""The §7 search attributes: what reviewers' queues and operators' lists filter on.

None of them holds personal data: they are stored in clear by the server.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

FILING_STAGE = SearchAttributeKey.for_keyword("FilingStage")
FILING_KIND = SearchAttributeKey.for_keyword("FilingKind")
PROVINCE = SearchAttributeKey.for_keyword("Province")
APP_ID = SearchAttributeKey.for_keyword("AppId")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
DEADLINE_PROVISIONAL = SearchAttributeKey.for_bool("DeadlineProvisional")
STAGE_DEADLINE = SearchAttributeKey.for_datetime("StageDeadline")
FILING_ATTEMPT = SearchAttributeKey.for_int("FilingAttempt")

ALL = (FILING_STAGE, FILING_KIND, PROVINCE, APP_ID, SLA_BREACHED, DEADLINE_PROVISIONAL, STAGE_DEADLINE, FILING_ATTEMPT)

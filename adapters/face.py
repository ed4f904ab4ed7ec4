"""The local face verifier (人脸核身): checks the record the application carries.

A production verifier would look the record id up at the verification service; the
local one trusts the record and only checks that it says passed.
"""

from __future__ import annotations

from datetime import datetime

from filing.models import FaceVerification


class RecordFaceVerifier:
    async def problems(self, record: FaceVerification, now: datetime) -> list[str]:
        return [] if record.passed else [f"face verification {record.record_id} did not pass"]

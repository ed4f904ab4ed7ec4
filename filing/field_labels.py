"""Every application field's Chinese label, by field path, as the seed's form names it.

A path (`subject.address.detail`) is what a reviewer's reason names; the label is what
people read: on the console's pages and in the notices the engine sends (a return's
reasons name each field by its label). Kept in the domain so both can use it.
"""

from __future__ import annotations

import re

_PERSON = {
    "name": "姓名",
    "identity_document": "",
    "mobile": "手机号码",
    "emergency_mobile": "应急联系人手机号码",
    "email": "电子邮箱",
    "authorization_letter": "授权书",
}
_DOCUMENT = {"type": "证件类型", "number": "证件号码", "valid_from": "证件有效期起始日期", "valid_until": "证件有效期至",
             "front": "证件正面（人像面）彩色扫描件", "back": "证件背面（国徽面）彩色扫描件", "scan": "证件彩色扫描件"}

#: Labels by path pattern, indices written `[]`; a part with an empty label adds nothing.
LABELS: dict[str, str] = {
    "kind": "备案类型",
    "filing_number": "原备案号",
    "cancellation_reason": "注销原因",
    "appid": "AppID",
    "reason": "注销原因",
    "reason_type": "注销原因类型",
    "subject.type": "主体类型",
    "subject.name": "主体名称",
    "subject.unit_certificate.type": "单位证件类型",
    "subject.unit_certificate.number": "单位证件号码",
    "subject.unit_certificate.valid_until": "单位证件有效期至",
    "subject.unit_certificate.scan": "单位证件彩色扫描件",
    "subject.unit_certificate": "单位证件",
    "subject.address.province": "通讯地址（省份）",
    "subject.address.city": "通讯地址（城市）",
    "subject.address.district": "通讯地址（区县）",
    "subject.unit_certificate.address": "证件住所",
    "subject.remark": "主体备注",
    "subject.residence_certificate": "居住证明",
    "subject.legal_representative.identity_type": "法人证件类型",
    "subject.legal_representative.identity_number": "法人证件号码",
    "subject.address.detail": "详细通讯地址",
    "subject.subject_number": "主体备案号",
    "subject.principal_is_legal_representative": "负责人是否为法人",
    "subject.legal_representative": "法人",
    "subject.legal_representative.name": "法人姓名",
    **{f"subject.legal_representative.identity_document.{k}": f"法人{v}" for k, v in _DOCUMENT.items()},
    **{f"subject_principal.{k}": v for k, v in _PERSON.items() if v},
    **{f"subject_principal.identity_document.{k}": v for k, v in _DOCUMENT.items()},
    "mini_program.appid": "AppID",
    "mini_program.name": "小程序名称",
    "mini_program.service_categories": "服务类目",
    "mini_program.service_categories[]": "服务类目",
    "mini_program.remark": "小程序备注",
    "mini_program.no_pre_approval_needed": "以上都不涉及（无前置审批）",
    "mini_program.pre_approvals": "前置审批",
    "mini_program.pre_approvals[].category": "前置审批类目",
    "mini_program.pre_approvals[].approval_number": "前置审批号",
    "mini_program.pre_approvals[].document_name": "前置审批文件名",
    "mini_program.pre_approvals[].document": "前置审批文件",
    "mini_program_principal.reuse_subject_principal": "复用主体负责人信息",
    "mini_program_principal.person": "小程序负责人",
    **{f"mini_program_principal.person.{k}": v for k, v in _PERSON.items() if v},
    **{f"mini_program_principal.person.identity_document.{k}": v for k, v in _DOCUMENT.items()},
    "mini_program_principal.face_verification.record_id": "人脸核身记录号",
    "mini_program_principal.face_verification.passed": "人脸核身结果",
    "mini_program_principal.face_verification.verified_at": "人脸核身时间",
    "extra_materials": "补充材料",
    "extra_materials[].name": "补充材料名称",
    "extra_materials[].sha256": "补充材料文件",
}

_INDEX = re.compile(r"\[(\d+)\]")


def label(path: str) -> str:
    """`mini_program.pre_approvals[1].document` -> `前置审批文件（第2项）`; unknown paths stay as they are."""
    pattern = _INDEX.sub("[]", path)
    found = LABELS.get(pattern)
    if found is None:
        return path
    numbers = [int(n) + 1 for n in _INDEX.findall(path)]
    return found + "".join(f"（第{n}项）" for n in numbers)

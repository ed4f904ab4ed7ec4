"""The console's Chinese words for the engine's codes: stages, kinds, events, enums.

The codes stay visible beside the words where reviewers need them (a reason's field path,
a timeline event), so a page and the API, the CLI or a log line can be matched up.
"""

from __future__ import annotations

from filing.messages import ReturnedBy, Stage
from filing.models import CancelReasonType, FilingKind, IdentityDocumentType, SubjectType, UnitCertificateType
from filing.field_labels import label
from filing.provinces import province_by_prefix
from filing.registry import RecordState
from service.principal import Role

STAGES: dict[str, str] = {
    Stage.SUBMITTED: "已提交",
    Stage.PLATFORM_REVIEW: "平台初审",
    Stage.SMS_VERIFICATION: "工信部短信核验",
    Stage.PROVINCIAL_REVIEW: "通管局审核",
    Stage.APPROVED: "备案成功",
    Stage.RETURNED: "已退回",
    Stage.WITHDRAWN: "已撤回",
    Stage.EXPIRED: "已过期",
    Stage.REJECTED: "未通过",
}

KINDS: dict[str, str] = {
    FilingKind.NEW: "新增备案",
    FilingKind.CHANGE: "变更备案",
    FilingKind.CANCEL_SUBJECT: "注销主体",
    FilingKind.CANCEL_MINI_PROGRAM: "注销小程序",
    FilingKind.CANCEL_ACCESS: "取消接入",
}

RETURNED_BY: dict[str, str] = {
    ReturnedBy.SUBMISSION: "提交检查",
    ReturnedBy.PLATFORM: "平台初审",
    ReturnedBy.MIIT_SMS: "工信部短信核验",
    ReturnedBy.PROVINCE: "通管局审核",
}

ROLES: dict[str, str] = {
    Role.APPLICANT: "申请人",
    Role.PLATFORM_REVIEWER: "平台初审员",
    Role.PROVINCE_REVIEWER: "通管局审核员",
    Role.VERIFICATION_SITE: "工信部短信核验",
    Role.OPERATOR: "运维",
}

SUBJECT_TYPES: dict[str, str] = {
    SubjectType.PERSONAL: "个人",
    SubjectType.ENTERPRISE: "企业",
    SubjectType.INDIVIDUAL_BUSINESS: "个体工商户",
    SubjectType.GOVERNMENT: "政府机关",
    SubjectType.PUBLIC_INSTITUTION: "事业单位",
    SubjectType.SOCIAL_ORGANIZATION: "社会团体",
    SubjectType.OTHER_ORGANIZATION: "其他组织",
}

IDENTITY_DOCUMENTS: dict[str, str] = {
    IdentityDocumentType.RESIDENT_ID: "居民身份证",
    IdentityDocumentType.PASSPORT: "护照",
    IdentityDocumentType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    IdentityDocumentType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
    IdentityDocumentType.FOREIGN_PERMANENT_RESIDENT_ID: "外国人永久居留身份证",
    IdentityDocumentType.HK_MACAO_TAIWAN_RESIDENCE_PERMIT: "港澳台居民居住证",
}

UNIT_CERTIFICATES: dict[str, str] = {
    UnitCertificateType.BUSINESS_LICENSE: "营业执照",
    UnitCertificateType.PUBLIC_INSTITUTION_CERTIFICATE: "事业单位法人证书",
    UnitCertificateType.SOCIAL_ORGANIZATION_CERTIFICATE: "社会团体法人登记证书",
    UnitCertificateType.GOVERNMENT_CODE_CERTIFICATE: "统一社会信用代码证书",
    UnitCertificateType.OTHER: "其他",
}

RECORD_STATES: dict[str, str] = {
    RecordState.ACTIVE: "正常",
    RecordState.CANCELLED: "已注销",
    RecordState.ACCESS_CANCELLED: "已取消接入",
}

#: WeChat's reason types of a cancellation (`cancel_icp_filing`'s `reason_type`), in its words.
CANCEL_REASONS: dict[str, str] = {
    CancelReasonType.NO_LONGER_OPERATED: "不再运营该小程序",
    CancelReasonType.SUBJECT_CHANGED: "主体信息发生变更，需注销备案后重新备案",
    CancelReasonType.OTHER: "其他原因",
}

#: How an approved cancellation is worded: what it is, never 备案成功.
CANCELLED: dict[str, str] = {
    FilingKind.CANCEL_SUBJECT: "注销成功",
    FilingKind.CANCEL_MINI_PROGRAM: "注销成功",
    FilingKind.CANCEL_ACCESS: "已取消接入",
}

#: A cancellation's other endings, in its own words (a verifier who leaves the SMS unanswered stops it).
CANCELLATION_STAGES: dict[str, str] = {
    Stage.WITHDRAWN: "注销已终止",
    Stage.REJECTED: "注销未通过",
}

#: What an approved cancellation did to the registry, said on the filing's page.
CANCELLED_OUTCOME: dict[str, str] = {
    FilingKind.CANCEL_SUBJECT: "主体及其下全部小程序的备案已注销",
    FilingKind.CANCEL_MINI_PROGRAM: "该小程序的备案已注销",
    FilingKind.CANCEL_ACCESS: "已取消接入：本平台不再为该小程序提供接入，备案号保留",
}

#: Every enum the application holds, by its class: the words of its values.
ENUMS: dict[type, dict[str, str]] = {
    CancelReasonType: CANCEL_REASONS,
    FilingKind: KINDS,
    SubjectType: SUBJECT_TYPES,
    IdentityDocumentType: IDENTITY_DOCUMENTS,
    UnitCertificateType: UNIT_CERTIFICATES,
}

EVENTS: dict[str, str] = {
    "submitted": "已提交",
    "resubmitted": "重新提交",
    "submission_rejected": "提交检查未通过",
    "platform_review_started": "进入平台初审",
    "platform_approved": "平台初审通过",
    "platform_rejected": "平台初审驳回",
    "sms_verification_started": "进入短信核验",
    "sms_sent": "核验短信已发送",
    "sms_failed": "核验短信发送失败",
    "sms_verified": "短信核验成功",
    "sms_wrong_code": "验证码错误",
    "sms_resend_requested": "申请重发验证码",
    "sms_resend_refused": "重发验证码被拒",
    "sms_timeout": "短信核验超时",
    "sms_ignored": "核验短信未处理",
    "sms_attempts_exhausted": "验证码错误次数用尽",
    "sms_undeliverable": "短信无法送达",
    "provincial_review_started": "进入通管局审核",
    "province_rejected": "通管局审核驳回",
    "approved": "备案成功",
    "filing_returned": "已退回",
    "withdrawn": "已撤回",
    "expired": "已过期",
    "handed_over": "已移交",
    "handover_failed": "移交失败",
    "notified": "已通知",
    "notification_failed": "通知失败",
    "sla_breached": "审核超时",
    "review_overdue": "审核逾期",
    "decision_ignored": "消息未生效",
    "deadline_recomputed": "截止时间已重算",
    "deadline_unavailable": "截止时间暂无法计算",
    "calendar_refused": "日历数据被拒",
    "continued_as_new": "续接新运行",
    "check_unavailable": "检查服务不可用",
    "registry_unavailable": "备案库不可用",
}

SMS_RESULTS: dict[str, str] = {
    "verified": "核验成功",
    "wrong_code": "验证码错误",
    "no_valid_code": "验证码无效或已过期",
}


def stage(code: str | None, kind: str | None = None) -> str:
    """A stage's words; given the filing's kind, a cancellation's ending is worded as what it
    is (注销成功 / 已取消接入 / 注销已终止), never 备案成功."""
    if kind and FilingKind(kind).is_cancellation:
        if code == Stage.APPROVED:
            return CANCELLED[kind]
        if code in CANCELLATION_STAGES:
            return CANCELLATION_STAGES[code]
    return STAGES.get(code or "", code or "—")


#: What a reason may name besides a field: the whole application, the SMS step.
_WHOLE = {"application": "整份申请", "sms": "短信核验", "cancellation": "注销申请"}


def field_label(path: str) -> str:
    """A reason's field by its Chinese label (the path is shown beside it as a small hint)."""
    return _WHOLE.get(path) or label(path.removeprefix("application."))


def kind(code: str | None) -> str:
    return KINDS.get(code or "", code or "—")


def event(code: str, kind: str | None = None) -> str:
    if code == "approved" and kind and FilingKind(kind).is_cancellation:
        return CANCELLED[kind]
    return EVENTS.get(code, code)


def province(prefix: str | None) -> str:
    found = province_by_prefix(prefix or "")
    return f"{found.short_name}（{found.prefix}）" if found else (prefix or "—")

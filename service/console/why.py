"""Why a message was not applied (L9) or refused, in the reviewer's and applicant's words.

The filing explains itself in English (`the filing is in stage SMS_VERIFICATION, not
PLATFORM_REVIEW`); the console puts every explanation it can meet into Chinese: the
registry's refusals carry their own Chinese after " — " (`RegistryOutcome.why_zh`), the
workflow's are matched here. A page never shows the English: an explanation not known
here reads as a plain Chinese sentence (the API, the CLI and the logs keep the original),
and tests/service/test_refusal_words.py walks every refusal the code can give.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from service.console import labels

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _stage(code: str) -> str:
    return f"「{labels.stage(code)}」"


#: The registry's refusals: "<English> — <中文>" (`registry.changes._refused`).
_WITH_CHINESE = re.compile(r" — ([^—]*[\u4e00-\u9fff][^—]*)$")
#: What a page says for an explanation it does not know (never the English itself).
UNKNOWN = "备案当前不接受此操作，请刷新页面查看当前状态"

_RULES: list[_Rule] = [
    (re.compile(r"the filing is in stage (\w+), not (\w+)"),
     lambda m: f"备案当前处于{_stage(m[1])}阶段，不在{_stage(m[2])}：页面上的状态已过时，请查看当前状态"),
    (re.compile(r"it names attempt (\d+); the current attempt is (\d+)"),
     lambda m: f"页面对应第 {m[1]} 次提交，备案已是第 {m[2]} 次提交：请按当前内容重新审核"),
    (re.compile(r"a decision for this attempt is already recorded"),
     lambda m: "本次提交已有审核结论（可能其他审核员刚刚作出）"),
    (re.compile(r"a reject needs at least one reason"), lambda m: "驳回须至少填写一条理由（字段与问题描述）"),
    (re.compile(r"an approval must carry the issued filing number"), lambda m: "通过时须填写下发的备案号"),
    (re.compile(r"filing number .* is malformed"), lambda m: "备案号格式不正确，应形如 冀ICP备18021892号-2X"),
    (re.compile(r"filing number (\S+) is of (\S+), the filing is in (\S+)"),
     lambda m: f"备案号 {m[1]} 属于{m[2]}，本备案属于 {labels.province(m[3])}"),
    (re.compile(r"a cancellation is approved for the number it names \((\S+)\)"),
     lambda m: f"注销申请只能按其所注销的备案号 {m[1]} 通过"),
    (re.compile(r"the filing left (\w+) \(now (\w+)\)"),
     lambda m: f"备案已离开{_stage(m[1])}阶段（现为{_stage(m[2])}），结论未生效"),
    (re.compile(r"(\S+) was already issued to"), lambda m: f"备案号 {m[1]} 已发放给其他小程序：备案号只发放一次，注销后也不再使用"),
    (re.compile(r"does not extend the subject number (\S+) .*the next number under it is (\S+)\)"),
     lambda m: f"备案号不在主体备案号 {m[1]} 之下：其下一个可用号为 {m[2]}"),
    (re.compile(r"is a number of (\S+), but the subject is in (\S+)"),
     lambda m: f"备案号属于{m[1]}，主体在{m[2]}"),
    (re.compile(r"already holds the active filing (\S+)"), lambda m: f"该小程序已持有有效备案 {m[1]}"),
    (re.compile(r"^already verified|already_verified"), lambda m: "该手机号已完成核验，无需再次输入"),
    (re.compile(r"^no_valid_code"), lambda m: "验证码无效或已过期：新验证码正在发送或错误次数已用完，请申请重发后使用新验证码"),
    (re.compile(r"mobile (\S+) is not a verifier of this filing"), lambda m: f"手机号 {m[1]} 不是本备案的核验人"),
    (re.compile(r"^resend_limit_reached"), lambda m: "重发次数已用完"),
    (re.compile(r"^no_code_sent_yet"), lambda m: "验证码正在发送中，请稍候再试"),
    (re.compile(r"only a RETURNED filing can be resubmitted; the filing is in stage (\w+)"),
     lambda m: f"只有已退回的备案可以重新提交，备案当前处于{_stage(m[1])}"),
    (re.compile(r"must stay (\S+): a new appid is a new filing"), lambda m: "AppID 不能修改：新的 AppID 是一次新的备案"),
    (re.compile(r"must stay (\S+): a different kind is a new filing"), lambda m: "备案类型不能修改"),
    (re.compile(r"a cancellation cannot be withdrawn"), lambda m: "注销申请不能撤回：如需终止，忽略核验短信即可"),
    (re.compile(r"withdraw is allowed in .* the filing is in stage (\w+)( and has passed platform review)?"),
     lambda m: f"只有已提交、平台初审（通过前）和已退回的备案可以撤回；备案当前处于{_stage(m[1])}"
               + ("且已通过平台初审" if m[2] else "")),
    (re.compile(r"has finished: nothing more can be done|the filing has finished"), lambda m: "该备案已结束，不能再操作"),
    (re.compile(r"the filing left PROVINCIAL_REVIEW \(now (\w+)\) before the decision"),
     lambda m: f"备案已离开「通管局审核」阶段（现为{_stage(m[1])}），结论未生效"),
    (re.compile(r"already verified: this verifier's code was accepted"), lambda m: "该核验人已核验成功，无需再次输入"),
    (re.compile(r"the filing is in stage (\w+), not SMS_VERIFICATION: no code is waiting"),
     lambda m: f"备案当前处于{_stage(m[1])}阶段，没有等待核验的验证码"),
    (re.compile(r"application is (\d+) bytes; at most (\d+) bytes"),
     lambda m: f"申请内容过大（{m[1]} 字节，最多 {m[2]} 字节）"),
    (re.compile(r"the application breaks (\d+) rule\(s\)"), lambda m: f"申请有 {m[1]} 处不符合要求，请按标出的内容修改"),
    (re.compile(r"the registry could not record the approval"),
     lambda m: "备案库暂时无法记录该结论，结论未生效：请稍后再次提交"),
    (re.compile(r"carries personal data and arrived unencrypted"),
     lambda m: "含个人信息的消息未经加密送达，未作任何处理：请通过备案服务提交"),
    (re.compile(r"^invalid \S+: "), lambda m: "提交的内容不符合要求，未作任何处理"),
    (re.compile(r"the workflow is not running|workflow execution already completed", re.IGNORECASE),
     lambda m: "该备案已结束，不能再操作"),
]


def known(why: str | None) -> str | None:
    """The Chinese explanation of `why`, or None when it is not a known one."""
    if not why:
        return None
    text = why.removeprefix("not applied: ")
    chinese = _WITH_CHINESE.search(text)
    if chinese:
        return chinese[1].strip()
    for pattern, words in _RULES:
        found = pattern.search(text)
        if found:
            return words(found)
    return None


def explain(why: str | None) -> str:
    """The Chinese explanation of `why`; a plain Chinese sentence when it is not a known one."""
    if not why:
        return ""
    return known(why) or UNKNOWN

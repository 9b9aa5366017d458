"""Statements of reasons: what a notice says, built from a decision or a reviewer's choice.

Pure. A statement carries every Art. 17(3) element: what was decided and until when, the facts
(what was detected and how: an automated rule, a user's report, a reviewer), whether a machine
detected it and whether a machine decided, the contractual ground (the policy clause and why),
and redress (appeal until a date). The rule explanation is exact (list entry, projection, span)
unless the operator marked the list confidential; then only its category shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from courtyard.governance.ladder import Measure
from courtyard.governance.model import Decision, Verdict


class Source(StrEnum):
    """How the matter came to the platform (the Transparency Database's ``source_type``)."""

    VOLUNTARY = "voluntary"  # own initiative: rules, virality, a reviewer's own finding
    NOTICE = "notice"  # a user's report (DSA Art. 16)
    TRUSTED_FLAGGER = "trusted_flagger"


class Automation(StrEnum):
    FULLY = "fully"
    PARTIALLY = "partially"
    NOT_AUTOMATED = "not_automated"


class Ground(StrEnum):
    INCOMPATIBLE = "incompatible"  # against the terms (community guidelines)
    ILLEGAL = "illegal"


# The public policy clauses map onto the Transparency Database's categories. An operator's own
# clause that is not listed here reports as "other violation of the terms".
CLAUSE_CATEGORIES: dict[str, str] = {
    "fraud": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "scam": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "impersonation": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "spam": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "privacy": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "personal-data": "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "violence": "STATEMENT_CATEGORY_VIOLENCE",
    "harassment": "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "hate": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "self-harm": "STATEMENT_CATEGORY_SELF_HARM",
    "minors": "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "intellectual-property": "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "misinformation": "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "virality": "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "public-security": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "products": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "animals": "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "consumer": "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
}
OTHER_CATEGORY = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"

# What a reporter picks from, and the clause each stands for until a reviewer decides.
REPORT_CATEGORIES: dict[str, str] = {
    "spam": "community-guidelines#spam",
    "scam": "community-guidelines#fraud",
    "impersonation": "community-guidelines#impersonation",
    "harassment": "community-guidelines#harassment",
    "hate": "community-guidelines#hate",
    "violence": "community-guidelines#violence",
    "self_harm": "community-guidelines#self-harm",
    "minors": "community-guidelines#minors",
    "personal_data": "community-guidelines#privacy",
    "intellectual_property": "community-guidelines#intellectual-property",
    "misinformation": "community-guidelines#misinformation",
    "illegal": "community-guidelines#illegal",
    "other": "community-guidelines",
}


def category_for(clause: str) -> str:
    anchor = clause.rpartition("#")[2].strip().lower()
    return CLAUSE_CATEGORIES.get(anchor, OTHER_CATEGORY)


_WHAT: dict[Measure, tuple[str, str]] = {
    Measure.BLOCK: ("Your message was not delivered.", "你的消息未被发送。"),
    Measure.HOLD: (
        "Your message is held for review; only you can see it until a reviewer decides.",
        "你的消息正在等待审核，审核完成前只有你能看到。",
    ),
    Measure.REMOVE: ("Your content was removed.", "你的内容已被移除。"),
    Measure.REDUCE_REACH: (
        "Your content is kept out of discovery and recommendations.",
        "你的内容不会出现在发现和推荐中。",
    ),
    Measure.WARNING: (
        "This is a warning. Further violations can restrict your account.",
        "这是一次警告。再次违规可能导致账号受限。",
    ),
    Measure.FEATURE_LIMIT: (
        "Some features of your account are limited.",
        "你的账号部分功能受到限制。",
    ),
    Measure.LIMITED: (
        "Your account is in limited mode: you can read, pay, export your data and appeal,"
        " but not send, post, comment or create.",
        "你的账号处于受限模式：你可以阅读、付款、导出数据和申诉，但不能发送、发布、评论或创建。",
    ),
    Measure.SUSPENDED: (
        "Your account is suspended: you can read your notices, export your data, withdraw"
        " your money and appeal.",
        "你的账号已被暂停：你可以查看通知、导出数据、提取余额和申诉。",
    ),
    Measure.TERMINATED: (
        "Your account will be terminated when the appeal window closes, unless your appeal"
        " succeeds; until then it is suspended. You can export your data and appeal.",
        "申诉期结束后你的账号将被终止，除非申诉成功；在此之前账号处于暂停状态。你可以导出数据和申诉。",
    ),
    Measure.PAYMENT_HOLD: (
        "One payment is held while it is reviewed; the rest of your wallet is unaffected.",
        "一笔付款正在审核中被暂扣；钱包的其他功能不受影响。",
    ),
    Measure.GROUP_READ_ONLY: (
        "The group is read-only: members can read it but nobody can post.",
        "该群已设为只读：成员可以阅读，但无人可以发言。",
    ),
}


def what_it_means(measure: Measure) -> tuple[str, str]:
    return _WHAT[measure]


def visible_explanation(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule explanation a notice may show: exact, except what a confidential list matched,
    of which only the list's category remains (its entries must not leak to evaders)."""
    shown: list[dict[str, Any]] = []
    for hit in hits:
        if hit.get("mode") == "shadow":
            continue
        evidence = dict(hit.get("evidence") or {})
        signals = []
        for signal in evidence.get("signals", ()):
            if signal.get("confidential"):
                signals.append(
                    {
                        "signal": signal.get("signal"),
                        "type": signal.get("type"),
                        "category": signal.get("category"),
                        "confidential": True,
                    }
                )
            else:
                signals.append(signal)
        evidence["signals"] = signals
        evidence.pop("condition", None)
        shown.append({**{k: v for k, v in hit.items() if k != "evidence"}, "evidence": evidence})
    return shown


@dataclass(frozen=True, slots=True)
class StatementDraft:
    """A statement before it is stored; the service fills ids and writes it."""

    account_id: str
    measure: Measure
    starts_at: datetime
    ends_at: datetime | None
    policy_clause: str
    reason: str
    reason_zh: str
    facts: str
    source: Source
    automated_detection: bool
    automated_decision: Automation
    ground: Ground = Ground.INCOMPATIBLE
    category: str = OTHER_CATEGORY
    content_type: str | None = None
    content_id: str | None = None
    conversation_id: str | None = None
    excerpt: str | None = None
    explanation: list[dict[str, Any]] = field(default_factory=list)
    decided_by: str | None = None
    decision_id: str | None = None
    item_id: str | None = None
    caused_by: str | None = None
    facts_zh: str = ""

    def row(self, statement_id: str, now: datetime, appeal_window: timedelta) -> dict[str, Any]:
        return {
            "id": statement_id,
            "account_id": self.account_id,
            "measure": self.measure.value,
            "created_at": now,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "content_type": self.content_type,
            "content_id": self.content_id,
            "conversation_id": self.conversation_id,
            "excerpt": self.excerpt,
            "ground": self.ground.value,
            "policy_clause": self.policy_clause,
            "category": self.category,
            "reason": self.reason,
            "reason_zh": self.reason_zh,
            "facts": self.facts,
            "facts_zh": self.facts_zh or self.facts,
            "explanation": self.explanation,
            "source": self.source.value,
            "automated_detection": self.automated_detection,
            "automated_decision": self.automated_decision.value,
            "decided_by": self.decided_by,
            "decision_id": self.decision_id,
            "restriction_id": None,
            "item_id": self.item_id,
            "caused_by": self.caused_by,
            "appealable_until": now + appeal_window,
            "status": "active",
            "reversed_at": None,
            "reversal": None,
        }


EXCERPT_CHARS = 280


def excerpt_of(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def from_decision(
    decision: Decision,
    *,
    account_id: str,
    measure: Measure,
    now: datetime,
    content_type: str,
    content_id: str,
    conversation_id: str | None,
    text: str,
) -> StatementDraft:
    """The statement for content the rules engine held or blocked on its own."""
    enforced = [hit for hit in decision.hits if hit.action in {Verdict.BLOCK, Verdict.HOLD}]
    lead = enforced[0] if enforced else decision.hits[0]
    hits = [hit.explain() for hit in decision.hits]
    rules = ", ".join(hit.rule_id for hit in enforced or decision.hits)
    facts = (
        f"An automated rule ({rules}) matched your {content_type} when you sent it, on"
        f" {now:%Y-%m-%d %H:%M} UTC. No person has looked at it yet"
        + (
            "; a reviewer will decide whether it is published."
            if measure is Measure.HOLD
            else "; you can ask for a person to review it by appealing."
        )
    )
    facts_zh = f"自动规则（{rules}）在你于 {now:%Y-%m-%d %H:%M} UTC 发送时匹配了你的内容。" + (
        "目前还没有人工查看；审核员将决定是否发布。"
        if measure is Measure.HOLD
        else "目前还没有人工查看；你可以通过申诉请求人工复核。"
    )
    return StatementDraft(
        account_id=account_id,
        measure=measure,
        starts_at=now,
        ends_at=None,
        facts_zh=facts_zh,
        policy_clause=lead.policy_clause,
        reason="; ".join(dict.fromkeys(hit.reason for hit in enforced or decision.hits)),
        reason_zh="；".join(dict.fromkeys(hit.reason_zh for hit in enforced or decision.hits)),
        facts=facts,
        source=Source.VOLUNTARY,
        automated_detection=True,
        automated_decision=Automation.FULLY,
        category=category_for(lead.policy_clause),
        content_type=content_type,
        content_id=content_id,
        conversation_id=conversation_id,
        excerpt=excerpt_of(text),
        explanation=visible_explanation(hits),
        decision_id=decision.decision_id,
    )

"""Statements of reasons as DSA Transparency Database submissions (API v2 schema).

Pure. ``to_dsa_statement`` maps one ``statements`` row onto the object the Transparency
Database's ``POST /api/v1/statement`` accepts; ``batches`` cuts them into bodies for
``POST /api/v1/statements`` (at most 100 each). Courtyard never submits by itself: the operator
exports (``courtyard transparency statements``) and sends the bodies with their own token.

The Transparency Database is public, so a submission carries only what the notice's reader may
know without identifying anyone: the measure, the grounds, the facts as the statement states
them, how it was detected and decided, dates. Never the account, the content's excerpt or the
reporter (``source_identity`` is always left out: Art. 17(3)(b) names the notifier only where
strictly necessary, and the schema forbids it for own-initiative decisions).

``schemas/dsa_statement_v2.schema.json`` is the field table written as a JSON Schema; the tests
validate every kind of row against it.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from courtyard.core.errors import InvalidInput
from courtyard.core.ids import id_time_ms, is_valid_id
from courtyard.governance.ladder import Measure
from courtyard.governance.reasons import OTHER_CATEGORY, Automation, Ground, Source

SCHEMA_PATH = Path(__file__).parent / "schemas" / "dsa_statement_v2.schema.json"
BATCH_SIZE = 100  # statements per POST /api/v1/statements

# Limits of the submission API (characters, as both Laravel's max: and JSON Schema count them).
FACTS_LIMIT = 5000
GROUND_LIMIT = 500
EXPLANATION_LIMIT = 2000
OTHER_LIMIT = 500
PUID_LIMIT = 500

PUID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
_PUID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")

CONTENT_DATE_RANGE = (date(2000, 1, 1), date(2038, 1, 1))
APPLICATION_DATE_RANGE = (date(2020, 1, 1), date(2038, 1, 1))

# Every decision applies to the whole service, so everywhere in the EU and the EEA.
TERRITORIAL_SCOPE = [
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    *("IS", "LI", "NO"),
]

DSA_CATEGORIES = frozenset(
    "STATEMENT_CATEGORY_" + name
    for name in (
        "ANIMAL_WELFARE",
        "CONSUMER_INFORMATION",
        "CYBER_VIOLENCE",
        "CYBER_VIOLENCE_AGAINST_WOMEN",
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "ILLEGAL_OR_HARMFUL_SPEECH",
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "NOT_SPECIFIED_NOTICE",
        "OTHER_VIOLATION_TC",
        "PROTECTION_OF_MINORS",
        "RISK_FOR_PUBLIC_SECURITY",
        "SCAMS_AND_FRAUD",
        "SELF_HARM",
        "UNSAFE_AND_PROHIBITED_PRODUCTS",
        "VIOLENCE",
    )
)


class RestrictionType(StrEnum):
    """The four kinds of restriction of DSA Art. 17(1), one per decision field."""

    VISIBILITY = "visibility"
    PROVISION = "provision"
    ACCOUNT = "account"
    MONETARY = "monetary"


WARNING_TEXT = (
    "A warning to the account holder under the terms: nothing was removed or restricted, and"
    " further violations can lead to restrictions of the account."
)


@dataclass(frozen=True, slots=True)
class DsaDecision:
    """What one measure is in the Transparency Database's terms."""

    restriction: RestrictionType
    fields: Mapping[str, Any]

    @property
    def end_date_field(self) -> str:
        return _END_DATE_FIELDS[self.restriction]


_END_DATE_FIELDS = {
    RestrictionType.VISIBILITY: "end_date_visibility_restriction",
    RestrictionType.PROVISION: "end_date_service_restriction",
    RestrictionType.ACCOUNT: "end_date_account_restriction",
    RestrictionType.MONETARY: "end_date_monetary_restriction",
}


def _visibility(*values: str, other: str | None = None) -> DsaDecision:
    fields: dict[str, Any] = {"decision_visibility": [f"DECISION_VISIBILITY_{v}" for v in values]}
    if other is not None:
        fields["decision_visibility_other"] = other
    return DsaDecision(RestrictionType.VISIBILITY, fields)


# One decision field per measure. A suspension or termination is an *account* decision only:
# the person keeps reading their notices, exporting their data, withdrawing their money and
# appealing, so the service is not totally suspended, and a second field would count one
# decision twice in the database's statistics. Limited mode and feature limits take part of
# the service away from an account that stays open: a partial suspension of the provision.
DSA_DECISIONS: dict[Measure, DsaDecision] = {
    Measure.BLOCK: _visibility("CONTENT_REMOVED"),
    Measure.REMOVE: _visibility("CONTENT_REMOVED"),
    Measure.HOLD: _visibility("CONTENT_DISABLED"),
    Measure.REDUCE_REACH: _visibility("CONTENT_DEMOTED"),
    Measure.GROUP_READ_ONLY: _visibility("CONTENT_INTERACTION_RESTRICTED"),
    Measure.WARNING: _visibility("OTHER", other=WARNING_TEXT),
    Measure.FEATURE_LIMIT: DsaDecision(
        RestrictionType.PROVISION, {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"}
    ),
    Measure.LIMITED: DsaDecision(
        RestrictionType.PROVISION, {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"}
    ),
    Measure.SUSPENDED: DsaDecision(
        RestrictionType.ACCOUNT, {"decision_account": "DECISION_ACCOUNT_SUSPENDED"}
    ),
    Measure.TERMINATED: DsaDecision(
        RestrictionType.ACCOUNT, {"decision_account": "DECISION_ACCOUNT_TERMINATED"}
    ),
    Measure.PAYMENT_HOLD: DsaDecision(
        RestrictionType.MONETARY, {"decision_monetary": "DECISION_MONETARY_SUSPENSION"}
    ),
}

SOURCE_TYPES: dict[Source, str] = {
    Source.VOLUNTARY: "SOURCE_VOLUNTARY",
    # Every in-app report goes through the notice form (what, where, why, by a logged-in
    # person): Courtyard's Art. 16 mechanism, whichever clause the reporter picked.
    Source.NOTICE: "SOURCE_ARTICLE_16",
    Source.TRUSTED_FLAGGER: "SOURCE_TRUSTED_FLAGGER",
}

AUTOMATED_DECISIONS: dict[Automation, str] = {
    Automation.FULLY: "AUTOMATED_DECISION_FULLY",
    Automation.PARTIALLY: "AUTOMATED_DECISION_PARTIALLY",
    Automation.NOT_AUTOMATED: "AUTOMATED_DECISION_NOT_AUTOMATED",
}

DECISION_GROUNDS: dict[Ground, str] = {
    Ground.ILLEGAL: "DECISION_GROUND_ILLEGAL_CONTENT",
    Ground.INCOMPATIBLE: "DECISION_GROUND_INCOMPATIBLE_CONTENT",
}

# Written content is text; what is not content (an account, a group, a payment) is "other",
# named in content_type_other.
TEXT_CONTENT = frozenset({"message", "post", "comment", "article"})


def restriction_type(measure: Measure) -> RestrictionType:
    return DSA_DECISIONS[measure].restriction


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (code points, as the API counts), with an
    ellipsis when cut; a character is never separated from the marks that follow it."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = limit - 1
    # Do not leave a base character without the combining marks that follow it.
    while cut > 0 and _is_combining(text[cut]):
        cut -= 1
    return text[:cut].rstrip() + "…"


def _is_combining(char: str) -> bool:
    """A mark, joiner or variation selector: it belongs to the character before it."""
    return unicodedata.combining(char) != 0 or char == "\u200d" or "\ufe00" <= char <= "\ufe0f"


def _text(value: Any, limit: int, fallback: str) -> str:
    text = truncate(str(value or ""), limit)
    return text or fallback


def _clamp(day: date, low: date, high: date) -> date:
    return min(max(day, low), high)


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def content_date(row: Mapping[str, Any], application: date) -> date:
    """When the content (or account, group, payment) was created: read from its time-ordered
    id when it has one, else the day of the statement. Never after the decision applied."""
    created = _utc_date(row["created_at"])
    content_id = row.get("content_id")
    if isinstance(content_id, str) and is_valid_id(content_id):
        with contextlib.suppress(OverflowError, OSError, ValueError):  # past year 9999
            created = datetime.fromtimestamp(id_time_ms(content_id) / 1000, UTC).date()
    low, high = CONTENT_DATE_RANGE
    return _clamp(created, low, min(high, application))


def puid_for(statement_id: str, prefix: str) -> str:
    puid = f"{prefix}-{statement_id}" if prefix else statement_id
    if len(puid) > PUID_LIMIT or not PUID_PATTERN.match(puid):
        raise ValueError(f"puid {puid!r} is not 1 to 500 of [a-zA-Z0-9_-]")
    return puid


def default_puid_prefix(public_url: str | None) -> str:
    """The server's host name made puid-safe (``social.example.org`` → ``social-example-org``),
    or ``courtyard``; puids must be unique per platform, and a platform may run many servers."""
    host = urlsplit(public_url).hostname if public_url else None
    prefix = _PUID_UNSAFE.sub("-", host or "").strip("-")
    return prefix[:100] or "courtyard"


def to_dsa_statement(row: Mapping[str, Any], *, platform_puid_prefix: str) -> dict[str, Any]:
    """One ``statements`` row as a Transparency Database v2 submission."""
    measure = Measure(row["measure"])
    decision = DSA_DECISIONS[measure]
    ground = Ground(row["ground"])
    source = Source(row["source"])
    application = _clamp(_utc_date(row["starts_at"]), *APPLICATION_DATE_RANGE)
    statement: dict[str, Any] = {**decision.fields}
    # Copy the list: every statement gets its own (a caller may edit one).
    if "decision_visibility" in statement:
        statement["decision_visibility"] = list(statement["decision_visibility"])

    clause = _text(row.get("policy_clause"), GROUND_LIMIT, "terms of service")
    explanation = _text(row.get("reason"), EXPLANATION_LIMIT, clause)
    statement["decision_ground"] = DECISION_GROUNDS[ground]
    if ground is Ground.ILLEGAL:
        statement["illegal_content_legal_ground"] = clause
        statement["illegal_content_explanation"] = explanation
    else:
        statement["incompatible_content_ground"] = clause
        statement["incompatible_content_explanation"] = explanation

    kind = row.get("content_type") or "account"
    if kind in TEXT_CONTENT:
        statement["content_type"] = ["CONTENT_TYPE_TEXT"]
    else:
        statement["content_type"] = ["CONTENT_TYPE_OTHER"]
        statement["content_type_other"] = _text(kind, OTHER_LIMIT, "account")

    category = row.get("category")
    statement["category"] = category if category in DSA_CATEGORIES else OTHER_CATEGORY
    statement["territorial_scope"] = list(TERRITORIAL_SCOPE)
    statement["account_type"] = "ACCOUNT_TYPE_PRIVATE"
    statement["content_date"] = content_date(row, application).isoformat()
    statement["application_date"] = application.isoformat()
    ends_at = row.get("ends_at")
    if ends_at is not None:
        end = max(_utc_date(ends_at), application)
        statement[decision.end_date_field] = end.isoformat()
    statement["decision_facts"] = _text(row.get("facts"), FACTS_LIMIT, explanation)
    statement["source_type"] = SOURCE_TYPES[source]
    statement["automated_detection"] = "Yes" if row["automated_detection"] else "No"
    statement["automated_decision"] = AUTOMATED_DECISIONS[Automation(row["automated_decision"])]
    statement["puid"] = puid_for(str(row["id"]), platform_puid_prefix)
    return statement


def batches(
    statements: Iterable[dict[str, Any]], size: int = BATCH_SIZE
) -> Iterator[dict[str, Any]]:
    """Bodies for ``POST /api/v1/statements``: ``{"statements": [...]}``, at most ``size``."""
    if not 1 <= size <= BATCH_SIZE:
        raise ValueError(f"a batch holds 1 to {BATCH_SIZE} statements")
    chunk: list[dict[str, Any]] = []
    for statement in statements:
        chunk.append(statement)
        if len(chunk) == size:
            yield {"statements": chunk}
            chunk = []
    if chunk:
        yield {"statements": chunk}


@cache
def _schema_text() -> str:
    return SCHEMA_PATH.read_text("utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema of one submission (a fresh copy)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


# -- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last >= date.max - timedelta(days=1):
            raise InvalidInput(
                "The period must end before 9999-12-30.", details={"to": self.last.isoformat()}
            )
        if self.last < self.first:
            raise InvalidInput(
                "The period ends before it starts.",
                details={"from": self.first.isoformat(), "to": self.last.isoformat()},
            )

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def parse_period(first: str, last: str) -> Period:
    """A period from two ``YYYY-MM-DD`` days (the CLI's ``--from`` and ``--to``)."""
    days = []
    for name, text in (("from", first), ("to", last)):
        try:
            days.append(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).date())
        except ValueError:
            raise InvalidInput(
                f"{name} is not a day: use YYYY-MM-DD.", details={"field": name, "value": text}
            ) from None
    return Period(days[0], days[1])


def export_document(period: Period, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``courtyard transparency statements`` writes: the period and the request bodies."""
    return {
        "schema": "dsa-transparency-database-v2",
        "period": period.as_dict(),
        "count": len(statements),
        "batches": list(batches(statements)),
    }

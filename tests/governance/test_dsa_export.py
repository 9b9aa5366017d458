"""Statements of reasons as DSA Transparency Database (v2) submissions, checked against the JSON
Schema written from the submission API's field table, and the schema checked against wrong
objects (so that it can fail)."""

from __future__ import annotations

import itertools
import json
import tomllib
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.core.ids import new_id
from courtyard.governance.ladder import Measure
from courtyard.governance.reasons import CLAUSE_CATEGORIES, Automation, Ground, Source
from courtyard.governance.transparency import (
    DSA_CATEGORIES,
    DSA_DECISIONS,
    SCHEMA_PATH,
    RestrictionType,
    batches,
    default_puid_prefix,
    load_schema,
    puid_for,
    to_dsa_statement,
    truncate,
)

VALIDATOR = jsonschema_rs.Draft202012Validator(load_schema(), validate_formats=True)
PREFIX = "courtyard-example-org"
WHEN = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def problems(statement: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(statement)]


def assert_valid(statement: dict[str, Any]) -> None:
    assert problems(statement) == [], json.dumps(statement, ensure_ascii=False)[:2000]


def row(**overrides: Any) -> dict[str, Any]:
    """A ``statements`` row as the due-process service writes it."""
    values: dict[str, Any] = {
        "id": new_id(),
        "account_id": "01ACCOUNTACCOUNTACCOUNTAAA",
        "measure": Measure.BLOCK.value,
        "created_at": WHEN,
        "starts_at": WHEN,
        "ends_at": None,
        "content_type": "message",
        "content_id": new_id(int((WHEN - timedelta(minutes=1)).timestamp() * 1000)),
        "conversation_id": "01CONVERSATIONCONVERSATION",
        "excerpt": "call me at +49 30 1234567, secret excerpt",
        "ground": Ground.INCOMPATIBLE.value,
        "policy_clause": "community-guidelines#fraud",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "reason": "Asking for one-time codes is phishing.",
        "reason_zh": "索要验证码属于网络钓鱼。",
        "facts": "An automated rule (spam.otp) matched your message when you sent it.",
        "explanation": [],
        "source": Source.VOLUNTARY.value,
        "automated_detection": True,
        "automated_decision": Automation.FULLY.value,
        "decided_by": None,
        "decision_id": new_id(),
        "restriction_id": None,
        "item_id": None,
        "appealable_until": WHEN + timedelta(days=183),
        "status": "active",
        "reversed_at": None,
        "reversal": None,
    }
    values.update(overrides)
    return values


def export(**overrides: Any) -> dict[str, Any]:
    return to_dsa_statement(row(**overrides), platform_puid_prefix=PREFIX)


# -- the schema itself -----------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema_rs.meta.validate(schema)
    props = schema["properties"]
    assert len(props["category"]["enum"]) == 16
    assert set(props["category"]["enum"]) == DSA_CATEGORIES
    assert len(props["category_specification"]["items"]["enum"]) == 69
    assert "KEYWORD_DANGEROUS_TOYS" not in props["category_specification"]["items"]["enum"]
    assert set(CLAUSE_CATEGORIES.values()) <= DSA_CATEGORIES


def test_the_schema_ships_in_the_package() -> None:
    """setuptools package data must include it, or an installed server cannot export."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["courtyard"]
    relative = SCHEMA_PATH.relative_to(SCHEMA_PATH.parents[2]).as_posix()
    assert any(fnmatch(relative, pattern) for pattern in patterns), (relative, patterns)


# -- every kind of statement is a valid submission -------------------------------------------


@pytest.mark.parametrize(
    ("measure", "source", "automation", "ground"),
    list(itertools.product(Measure, Source, Automation, Ground)),
)
def test_every_measure_source_and_automation_is_a_valid_submission(
    measure: Measure, source: Source, automation: Automation, ground: Ground
) -> None:
    statement = export(
        measure=measure.value,
        source=source.value,
        automated_decision=automation.value,
        automated_detection=automation is not Automation.NOT_AUTOMATED,
        ground=ground.value,
        ends_at=WHEN + timedelta(days=7),
    )
    assert_valid(statement)
    assert "source_identity" not in statement


_texts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda piece, n: piece * n, st.text(min_size=1, max_size=7), st.integers(1, 1200)),
)
_moments = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2045, 1, 1), timezones=st.just(UTC)
)
_ulids = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)
_content_ids = st.one_of(st.none(), st.text(max_size=64), _ulids)
_rows = st.fixed_dictionaries(
    {
        "measure": st.sampled_from([m.value for m in Measure]),
        "source": st.sampled_from([s.value for s in Source]),
        "automated_decision": st.sampled_from([a.value for a in Automation]),
        "automated_detection": st.booleans(),
        "ground": st.sampled_from([g.value for g in Ground]),
        "category": st.one_of(st.sampled_from(sorted(DSA_CATEGORIES)), st.text(max_size=20)),
        "content_type": st.one_of(
            st.none(),
            st.sampled_from(["message", "post", "comment", "article", "account", "group"]),
            st.sampled_from(["payment", "profile"]),
            _texts,
        ),
        "content_id": _content_ids,
        "created_at": _moments,
        "starts_at": _moments,
        "ends_at": st.one_of(st.none(), _moments),
        "policy_clause": _texts,
        "reason": _texts,
        "facts": _texts,
        "id": _ulids,
    }
)


@given(_rows)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_statement_row_is_a_valid_submission(values: dict[str, Any]) -> None:
    statement = to_dsa_statement(row(**values), platform_puid_prefix=PREFIX)
    assert_valid(statement)
    assert statement["puid"] == f"{PREFIX}-{values['id']}"
    assert statement["application_date"] >= statement["content_date"]
    for field in (k for k in statement if k.startswith("end_date_")):
        assert statement[field] >= statement["application_date"]


# -- what each measure becomes ---------------------------------------------------------------

EXPECTED: dict[Measure, tuple[dict[str, Any], str | None]] = {
    Measure.BLOCK: (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
        "end_date_visibility_restriction",
    ),
    Measure.REMOVE: (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
        "end_date_visibility_restriction",
    ),
    Measure.HOLD: (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"]},
        "end_date_visibility_restriction",
    ),
    Measure.REDUCE_REACH: (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DEMOTED"]},
        "end_date_visibility_restriction",
    ),
    Measure.GROUP_READ_ONLY: (
        {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED"]},
        "end_date_visibility_restriction",
    ),
    Measure.WARNING: (
        {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]},
        "end_date_visibility_restriction",
    ),
    Measure.FEATURE_LIMIT: (
        {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"},
        "end_date_service_restriction",
    ),
    Measure.LIMITED: (
        {"decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION"},
        "end_date_service_restriction",
    ),
    Measure.SUSPENDED: (
        {"decision_account": "DECISION_ACCOUNT_SUSPENDED"},
        "end_date_account_restriction",
    ),
    Measure.TERMINATED: (
        {"decision_account": "DECISION_ACCOUNT_TERMINATED"},
        "end_date_account_restriction",
    ),
    Measure.PAYMENT_HOLD: (
        {"decision_monetary": "DECISION_MONETARY_SUSPENSION"},
        "end_date_monetary_restriction",
    ),
}
DECISION_FIELDS = ("decision_visibility", "decision_monetary", "decision_provision")
DECISION_FIELDS += ("decision_account",)


@pytest.mark.parametrize("measure", list(Measure))
def test_each_measure_maps_to_its_decision_field_and_end_date(measure: Measure) -> None:
    fields, end_field = EXPECTED[measure]
    statement = export(measure=measure.value, ends_at=WHEN + timedelta(days=30))
    assert {k: statement[k] for k in DECISION_FIELDS if k in statement} == fields
    assert [k for k in statement if k.startswith("end_date_")] == [end_field]
    assert statement[str(end_field)] == "2026-04-13"
    restriction = DSA_DECISIONS[measure].restriction
    assert restriction is RestrictionType(next(iter(fields)).split("_")[1])
    indefinite = export(measure=measure.value, ends_at=None)
    assert not [k for k in indefinite if k.startswith("end_date_")]


def test_a_warning_says_what_it_is_in_the_other_text() -> None:
    statement = export(measure="warning", content_type=None, content_id=None)
    assert "warning" in statement["decision_visibility_other"].lower()
    assert statement["content_type"] == ["CONTENT_TYPE_OTHER"]
    assert statement["content_type_other"] == "account"


@pytest.mark.parametrize(
    ("content_type", "expected", "other"),
    [
        ("message", ["CONTENT_TYPE_TEXT"], None),
        ("post", ["CONTENT_TYPE_TEXT"], None),
        ("comment", ["CONTENT_TYPE_TEXT"], None),
        ("account", ["CONTENT_TYPE_OTHER"], "account"),
        ("group", ["CONTENT_TYPE_OTHER"], "group"),
        ("payment", ["CONTENT_TYPE_OTHER"], "payment"),
    ],
)
def test_content_types(content_type: str, expected: list[str], other: str | None) -> None:
    statement = export(content_type=content_type)
    assert statement["content_type"] == expected
    assert statement.get("content_type_other") == other


def test_the_fields_of_a_typical_automated_block() -> None:
    values = row()
    statement = to_dsa_statement(values, platform_puid_prefix=PREFIX)
    assert statement == {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": "community-guidelines#fraud",
        "incompatible_content_explanation": "Asking for one-time codes is phishing.",
        "content_type": ["CONTENT_TYPE_TEXT"],
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "territorial_scope": statement["territorial_scope"],
        "account_type": "ACCOUNT_TYPE_PRIVATE",
        "content_date": "2026-03-14",
        "application_date": "2026-03-14",
        "decision_facts": values["facts"],
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "puid": f"{PREFIX}-{values['id']}",
    }
    assert len(statement["territorial_scope"]) == 30
    assert {"DE", "FR", "GR", "IS", "LI", "NO"} <= set(statement["territorial_scope"])


def test_grounds_sources_and_automation() -> None:
    illegal = export(ground="illegal", source="notice", automated_decision="not_automated")
    assert illegal["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert illegal["illegal_content_legal_ground"] == "community-guidelines#fraud"
    assert illegal["illegal_content_explanation"] == "Asking for one-time codes is phishing."
    assert not [k for k in illegal if k.startswith("incompatible_")]
    assert illegal["source_type"] == "SOURCE_ARTICLE_16"
    assert illegal["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    flagged = export(source="trusted_flagger", automated_detection=False)
    assert flagged["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert flagged["automated_detection"] == "No"
    assert export(automated_decision="partially")["automated_decision"] == (
        "AUTOMATED_DECISION_PARTIALLY"
    )


def test_nothing_identifies_the_person_the_reporter_or_the_content() -> None:
    values = row(source="notice", decided_by="01REVIEWERREVIEWERREVIEWER")
    text = json.dumps(to_dsa_statement(values, platform_puid_prefix=PREFIX), ensure_ascii=False)
    for private in ("account_id", "excerpt", "conversation_id", "content_id", "decided_by"):
        assert str(values[private]) not in text
    assert "source_identity" not in text


def test_dates_come_from_the_content_id_and_stay_in_range() -> None:
    posted = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    statement = export(content_id=new_id(int(posted.timestamp() * 1000)))
    assert statement["content_date"] == "2025-12-31"
    assert export(content_id="not-an-id")["content_date"] == "2026-03-14"  # the statement's day
    future = export(content_id=new_id(int(datetime(2030, 1, 1).timestamp() * 1000)))
    assert future["content_date"] == "2026-03-14"  # never after the decision applied
    ancient = export(content_id=new_id(0))
    assert ancient["content_date"] == "2000-01-01"
    old = export(
        starts_at=datetime(2019, 5, 1, tzinfo=UTC), created_at=datetime(2019, 5, 1, tzinfo=UTC)
    )
    assert old["application_date"] == "2020-01-01"
    late = export(starts_at=WHEN, ends_at=WHEN - timedelta(days=3))
    assert late["end_date_visibility_restriction"] == late["application_date"]


def test_long_texts_are_cut_to_the_limits() -> None:
    statement = export(facts="事实" * 4000, reason="why " * 1000, policy_clause="c" * 900)
    assert_valid(statement)
    assert len(statement["decision_facts"]) == 5000
    assert statement["decision_facts"].endswith("…")
    assert len(statement["incompatible_content_explanation"]) <= 2000
    assert len(statement["incompatible_content_ground"]) == 500
    empty = export(facts="  ", reason="", policy_clause="")
    assert_valid(empty)
    assert empty["incompatible_content_ground"] == "terms of service"


def test_truncate_keeps_marks_with_their_character() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("abcdef", 4) == "abc…"
    accented = "e\u0301" * 5  # é as e + combining acute
    cut = truncate(accented, 4)
    assert len(cut) <= 4
    assert not cut.rstrip("…").endswith("e")  # no e left without its accent
    assert cut.endswith("…")


def test_puids() -> None:
    assert puid_for("01ABC", "srv") == "srv-01ABC"
    with pytest.raises(ValueError, match="puid"):
        puid_for("01ABC", "bad prefix!")
    with pytest.raises(ValueError, match="puid"):
        puid_for("x" * 600, "srv")
    assert default_puid_prefix("https://social.example.org:8443/") == "social-example-org"
    assert default_puid_prefix(None) == "courtyard"
    assert default_puid_prefix("not a url") == "courtyard"


def test_batches_hold_at_most_one_hundred() -> None:
    statements = [export() for _ in range(250)]
    bodies = list(batches(statements))
    assert [len(body["statements"]) for body in bodies] == [100, 100, 50]
    assert [s for body in bodies for s in body["statements"]] == statements
    assert list(batches([])) == []
    with pytest.raises(ValueError, match="batch"):
        list(batches(statements, size=101))


# -- the schema refuses what the Transparency Database refuses -------------------------------


def _without(*names: str) -> Any:
    return lambda s: {k: v for k, v in s.items() if k not in names}


def _with(**values: Any) -> Any:
    return lambda s: {**s, **values}


WRONG: dict[str, Any] = {
    "no decision field": _without("decision_visibility"),
    "an empty visibility decision": _with(decision_visibility=[]),
    "an unknown visibility value": _with(decision_visibility=["DECISION_VISIBILITY_HIDDEN"]),
    "visibility as a string, not an array": _with(
        decision_visibility="DECISION_VISIBILITY_CONTENT_REMOVED"
    ),
    "OTHER without its text": _with(decision_visibility=["DECISION_VISIBILITY_OTHER"]),
    "other text without OTHER": _with(decision_visibility_other="something"),
    "monetary OTHER without its text": _with(decision_monetary="DECISION_MONETARY_OTHER"),
    "an unknown account decision": _with(decision_account="DECISION_ACCOUNT_BANNED"),
    "an unknown category": _with(category="STATEMENT_CATEGORY_SPAM"),
    "a v1-only keyword": _with(category_specification=["KEYWORD_DANGEROUS_TOYS"]),
    "KEYWORD_OTHER without its text": _with(category_specification=["KEYWORD_OTHER"]),
    "an unknown ground": _with(decision_ground="DECISION_GROUND_RUDE"),
    "incompatible without its ground": _without("incompatible_content_ground"),
    "incompatible without its explanation": _without("incompatible_content_explanation"),
    "illegal without its legal ground": _with(decision_ground="DECISION_GROUND_ILLEGAL_CONTENT"),
    "illegal fields on incompatible content": _with(illegal_content_legal_ground="x"),
    "a ground too long": _with(incompatible_content_ground="g" * 501),
    "an explanation too long": _with(incompatible_content_explanation="e" * 2001),
    "facts too long": _with(decision_facts="f" * 5001),
    "empty facts": _with(decision_facts=""),
    "no facts": _without("decision_facts"),
    "no content type": _without("content_type"),
    "CONTENT_TYPE_OTHER without its text": _with(content_type=["CONTENT_TYPE_OTHER"]),
    "an unknown content type": _with(content_type=["CONTENT_TYPE_MEME"]),
    "voluntary with a source identity": _with(source_identity="reporter@example.org"),
    "an unknown source type": _with(source_type="SOURCE_USER"),
    "automated detection as a boolean": _with(automated_detection=True),
    "an unknown automation": _with(automated_decision="AUTOMATED_DECISION_MOSTLY"),
    "a puid with a space": _with(puid="srv 01ABC"),
    "a puid too long": _with(puid="p" * 501),
    "content date in 1999": _with(content_date="1999-12-31"),
    "content date after 2038-01-01": _with(content_date="2038-01-02"),
    "application date in 2019": _with(application_date="2019-12-31"),
    "not a calendar date": _with(application_date="2026-02-30"),
    "29 February of a common year": _with(application_date="2026-02-29"),
    "a date with a time": _with(application_date="2026-03-14T09:30:00"),
    "an end date in the wrong format": _with(end_date_account_restriction="14/03/2026"),
    "a country outside the EEA": _with(territorial_scope=["US"]),
    "a lower-case language": _with(content_language="en"),
    "an unknown account type": _with(account_type="ACCOUNT_TYPE_GOVERNMENT"),
    "a misspelt field": _with(decision_fact="typo"),
    "an EAN that is not 13 digits": _with(content_id={"EAN-13": "12345"}),
}


@pytest.mark.parametrize("mistake", list(WRONG))
def test_the_schema_refuses(mistake: str) -> None:
    good = export()
    assert_valid(good)
    wrong = WRONG[mistake](good)
    assert problems(wrong), f"the schema accepted {mistake}"


def test_the_schema_accepts_what_the_table_allows() -> None:
    """The optional parts, so the refusals above are about the mistake, not the field."""
    good = export()
    assert_valid(
        {
            **good,
            "decision_visibility": [
                "DECISION_VISIBILITY_OTHER",
                "DECISION_VISIBILITY_CONTENT_LABELLED",
            ],
            "decision_visibility_other": "x",
            "decision_monetary": "DECISION_MONETARY_OTHER",
            "decision_monetary_other": "y",
            "decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION",
            "decision_account": "DECISION_ACCOUNT_TERMINATED",
            "incompatible_content_illegal": "No",
            "category_addition": ["STATEMENT_CATEGORY_VIOLENCE"],
            "category_specification": ["KEYWORD_OTHER", "KEYWORD_PHISHING"],
            "category_specification_other": "z",
            "content_language": "ZH",
            "decision_ground_reference_url": "https://example.org/terms#fraud",
            "end_date_account_restriction": "2028-02-29",
            "content_date": "2000-02-29",
            "application_date": "2038-01-01",
            "content_id": {"EAN-13": "4006381333931"},
        }
    )
    assert_valid({**good, "source_type": "SOURCE_ARTICLE_16", "source_identity": "a notifier"})

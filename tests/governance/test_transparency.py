"""The transparency report: figures from known rows (actions, reports, appeals, restorations,
per-rule overturn rates, flags), its Markdown and charts, the admin API and the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from PIL import Image
from typer.testing import CliRunner

from courtyard.accounts.model import OperatorRole
from courtyard.cli import app as cli
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.errors import InvalidInput
from courtyard.core.ids import new_id
from courtyard.governance import due_process_store as dp
from courtyard.governance.store import policy_decision_rules
from courtyard.governance.transparency import Period, load_schema, parse_period
from courtyard.governance.transparency_report import (
    BAR,
    BAR_MAX,
    bar_chart,
    bar_length,
    build_report,
    charts,
    format_duration,
    render_markdown,
)
from courtyard.governance.transparency_store import report_figures
from tests.conftest import PASSWORD, ClientFactory, UserFactory

PERIOD = Period(date(2025, 1, 1), date(2025, 3, 31))
FROM, TO = "2025-01-01", "2025-03-31"
ACCOUNT = "01JACCOUNTJACCOUNTJACCOUNT"


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def statement(
    measure: str,
    created_at: datetime,
    *,
    source: str = "voluntary",
    detected: bool = True,
    automation: str = "fully",
    ground: str = "incompatible",
    category: str = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    content_type: str | None = "message",
    decision_id: str | None = None,
    status: str = "active",
    reversed_at: datetime | None = None,
    caused_by: str | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(int(created_at.timestamp() * 1000)),
        "account_id": ACCOUNT,
        "measure": measure,
        "created_at": created_at,
        "starts_at": created_at,
        "ends_at": ends_at,
        "content_type": content_type,
        "content_id": new_id(int(created_at.timestamp() * 1000)) if content_type else None,
        "conversation_id": None,
        "excerpt": "a private excerpt",
        "ground": ground,
        "policy_clause": "community-guidelines#fraud",
        "category": category,
        "reason": "Asking for one-time codes is phishing.",
        "reason_zh": "索要验证码属于网络钓鱼。",
        "facts": "An automated rule matched your message when you sent it.",
        "explanation": [],
        "source": source,
        "automated_detection": detected,
        "automated_decision": automation,
        "decided_by": None,
        "decision_id": decision_id,
        "restriction_id": None,
        "item_id": None,
        "caused_by": caused_by,
        "appealable_until": created_at + timedelta(days=183),
        "status": status,
        "reversed_at": reversed_at,
        "reversal": {"at": reversed_at.isoformat()} if reversed_at else None,
    }


def report_row(
    category: str, created_at: datetime, status: str, resolved_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "reporter_id": new_id(),
        "target_type": "message",
        "target_id": new_id(),
        "target_account_id": ACCOUNT,
        "conversation_id": None,
        "category": category,
        "explanation": "reporter's private words",
        "created_at": created_at,
        "item_id": new_id(),
        "status": status,
        "outcome": None,
        "resolved_at": resolved_at,
        "unfounded": False,
    }


def appeal(
    statement_id: str, created_at: datetime, status: str, decided_at: datetime | None
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "statement_id": statement_id,
        "account_id": ACCOUNT,
        "created_at": created_at,
        "text": "Please look again.",
        "additions": [],
        "status": status,
        "item_id": new_id(),
        "decided_by": None,
        "decided_at": decided_at,
        "reasons": None,
    }


def rule(decision_id: str, rule_id: str, mode: str = "enforce") -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "rule_id": rule_id,
        "pack_id": "spam_scams",
        "pack_version": 1,
        "action": "block",
        "mode": mode,
        "event_kind": "message",
        "decided_at": at(1, 1),
    }


def flag(rule_id: str, flagged_at: datetime, cleared_at: datetime | None) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "flagged_at": flagged_at,
        "appeals": 3,
        "reversals": 1,
        "rate": 1 / 3,
        "cleared_at": cleared_at,
    }


async def seed(services: Services) -> dict[str, Any]:
    """Rows with known figures (worked out in the comments) in and around Q1 2025."""
    d1, d2, d3, d9 = new_id(), new_id(), new_id(), new_id()
    s1 = statement("block", at(1, 10), decision_id=d1, status="reversed", reversed_at=at(1, 12))
    s2 = statement("block", at(1, 10, 1), decision_id=d2)
    # A hold a reviewer approved: reversed with no appeal.
    s3 = statement(
        "hold",
        at(1, 20),
        decision_id=d3,
        category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        status="reversed",
        reversed_at=at(2, 1),
    )
    s4 = statement(
        "remove",
        at(2, 1, 1),
        source="notice",
        detected=False,
        automation="not_automated",
        ground="illegal",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        content_type="post",
    )
    s5 = statement(
        "suspended",
        at(2, 5),
        source="notice",
        detected=False,
        automation="not_automated",
        category="STATEMENT_CATEGORY_CYBER_VIOLENCE",
        content_type=None,
        status="reversed",
        reversed_at=at(2, 10, 12),
        ends_at=at(3, 7),
    )
    # A reviewer's own warning, later reversed by a reviewer without an appeal.
    s6 = statement(
        "warning",
        at(2, 20),
        detected=False,
        automation="partially",
        category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        content_type=None,
        status="reversed",
        reversed_at=at(3, 1),
    )
    s7 = statement(
        "payment_hold",
        at(3, 3),
        source="trusted_flagger",
        detected=False,
        automation="not_automated",
        ground="illegal",
        content_type="payment",
    )
    # A ladder step caused by s1, reversed with it (not "restored without an appeal").
    s8 = statement(
        "feature_limit",
        at(1, 10, 2),
        category="STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        content_type=None,
        caused_by=s1["id"],
        status="reversed",
        reversed_at=at(1, 12),
        ends_at=at(1, 17),
    )
    s9 = statement("block", at(12, 20, year=2024), decision_id=d9)  # before the period
    s10 = statement("block", at(3, 29))
    s11 = statement("block", at(4, 1))  # after the period
    statements = [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11]
    reports = [
        report_row("spam", at(1, 5, 10), "actioned", at(1, 5, 12)),  # 2 h
        report_row("spam", at(1, 6), "actioned", at(1, 7)),  # 24 h
        report_row("harassment", at(2, 1), "actioned", at(2, 1, 0, 30)),  # 30 min
        report_row("harassment", at(2, 2), "dismissed", at(2, 3)),
        report_row("scam", at(3, 31, 23), "open", None),
        # Made before the period, actioned in it: 4 h.
        report_row("spam", at(12, 31, 23, year=2024), "actioned", at(1, 1, 3)),
        report_row("spam", at(4, 2), "open", None),  # after the period
    ]
    appeals = [
        appeal(s1["id"], at(1, 11), "reversed", at(1, 12)),  # 24 h
        appeal(s2["id"], at(1, 11), "upheld", at(1, 11, 6)),  # 6 h
        appeal(s5["id"], at(2, 10), "reversed", at(2, 10, 12)),  # 12 h
        appeal(s9["id"], at(12, 25, year=2024), "upheld", at(1, 5)),  # 264 h, made before
        appeal(s10["id"], at(3, 30), "open", None),
    ]
    rules = [
        rule(d1, "spam.otp"),
        rule(d1, "spam.label", mode="shadow"),
        rule(d2, "spam.otp"),
        rule(d3, "review.hold"),
        rule(d9, "spam.otp"),
        rule(d9, "spam.links"),
    ]
    flags = [
        flag("spam.otp", at(1, 12), None),
        flag("old.rule", at(6, 1, year=2024), at(7, 1, year=2024)),
        flag("spam.links", at(12, 1, year=2024), at(2, 1)),
    ]
    async with services.db.write() as tx:
        for values in statements:
            await dp.insert_row(tx.conn, dp.statements, values)
        for values in reports:
            await dp.insert_row(tx.conn, dp.reports, values)
        for values in appeals:
            await dp.insert_row(tx.conn, dp.appeals, values)
        for values in rules:
            await dp.insert_row(tx.conn, policy_decision_rules, values)
        for values in flags:
            await dp.insert_row(tx.conn, dp.rule_flags, values)
    return {"statements": statements, "in_period": [s1, s2, s3, s4, s5, s6, s7, s8, s10]}


async def report_of(services: Services) -> dict[str, Any]:
    async with services.db.read() as conn:
        figures = await report_figures(conn, PERIOD.start, PERIOD.end)
    return build_report(figures, PERIOD, at(4, 2))


HOUR = 3600.0


async def test_the_figures(services: Services) -> None:
    await seed(services)
    report = await report_of(services)
    assert report["period"] == {"from": FROM, "to": TO}
    actions = report["actions"]
    assert actions["total"] == 9
    assert actions["by_measure"] == {
        "block": 3,
        "feature_limit": 1,
        "hold": 1,
        "payment_hold": 1,
        "remove": 1,
        "suspended": 1,
        "warning": 1,
        "group_read_only": 0,
        "limited": 0,
        "reduce_reach": 0,
        "terminated": 0,
    }
    assert actions["by_ground"] == {"incompatible": 7, "illegal": 2}
    assert actions["by_detection_method"] == {
        "automated rule": 5,
        "user report": 2,
        "reviewer": 1,
        "trusted flagger": 1,
    }
    assert actions["by_automation"] == {"fully": 5, "not_automated": 3, "partially": 1}
    assert actions["by_restriction_type"] == {
        "visibility": 6,
        "account": 1,
        "monetary": 1,
        "provision": 1,
    }
    assert actions["by_category"] == {
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": 4,
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 3,
        "STATEMENT_CATEGORY_CYBER_VIOLENCE": 1,
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": 1,
    }
    assert actions["by_content_type"] == {"message": 4, "account": 3, "payment": 1, "post": 1}
    assert report["reports"] == {
        "received": 5,
        "by_category": {"harassment": 2, "spam": 2, "scam": 1},
        "actioned": 4,
        "dismissed": 1,
        "median_seconds_to_action": 3 * HOUR,  # of 0.5, 2, 4 and 24 hours
    }
    assert report["appeals"] == {
        "received": 4,
        "decided": 4,
        "upheld": 2,
        "reversed": 2,
        "reversal_rate": 0.5,
        "median_seconds_to_decision": 18 * HOUR,  # of 6, 12, 24 and 264 hours
    }
    assert report["restored_without_appeal"] == {
        "total": 2,
        "holds_approved": 1,
        "other_decisions_reversed": 1,
        "by_measure": {"hold": 1, "warning": 1},
    }
    assert report["rules"] == [
        {"rule_id": "spam.links", "appeals_decided": 1, "reversed": 0, "overturn_rate": 0.0},
        {"rule_id": "spam.otp", "appeals_decided": 3, "reversed": 1, "overturn_rate": 0.3333},
    ]
    assert [f["rule_id"] for f in report["flagged_rules"]] == ["spam.links", "spam.otp"]
    otp = report["flagged_rules"][1]
    assert (otp["appeals"], otp["reversals"], otp["rate"], otp["cleared_at"]) == (
        3,
        1,
        0.3333,
        None,
    )
    json.dumps(report)  # JSON-ready as it is


async def test_an_empty_period(services: Services) -> None:
    await seed(services)
    async with services.db.read() as conn:
        empty = Period(date(2030, 1, 1), date(2030, 1, 1))
        report = build_report(await report_figures(conn, empty.start, empty.end), empty, at(1, 1))
    assert report["actions"]["total"] == 0
    assert report["appeals"]["reversal_rate"] is None
    assert report["reports"]["median_seconds_to_action"] is None
    assert report["rules"] == []
    markdown = render_markdown(report)
    assert "median time from report to action: n/a" in markdown
    for png in charts(report).values():
        assert Image.open(io.BytesIO(png)).size[0] > 0


async def test_the_markdown_states_the_figures(services: Services) -> None:
    await seed(services)
    markdown = render_markdown(await report_of(services))
    assert markdown.startswith("# Courtyard transparency report: 2025-01-01 to 2025-03-31")
    for expected in (
        "- Actions (statements of reasons issued): 9",
        "- Received: 5",
        "- Median time from report to action: 3 h",
        "- Decided: 4 (upheld 2, reversed 2)",
        "- Reversal rate: 50.0 %",
        "- Median decision time: 18 h",
        "- Held content approved and published: 1",
        "- Other decisions reversed: 1",
        "| `spam.otp` | 3 | 1 | 33.3 % |",
        "| `spam.links` | 1 | 0 | 0.0 % |",
        "| STATEMENT_CATEGORY_SCAMS_AND_FRAUD | 4 |",
        "| automated rule | 5 |",
        "| user report | 2 |",
        "| not_automated | 3 |",
        "| visibility | 6 |",
        "| harassment | 2 |",
        "![Actions by measure](actions_by_measure.png)",
    ):
        assert expected in markdown, expected
    assert "private" not in markdown  # no excerpt, no reporter's words


def test_durations_read_well() -> None:
    assert format_duration(None) == "n/a"
    assert format_duration(42) == "42 s"
    assert format_duration(30 * 60) == "30 min"
    assert format_duration(3 * HOUR) == "3 h"
    assert format_duration(2.5 * HOUR) == "2 h 30 min"
    assert format_duration(264 * HOUR) == "11 d"
    assert format_duration(26 * HOUR) == "1 d 2 h"


# -- charts ----------------------------------------------------------------------------------


def bars(png: bytes) -> list[int]:
    """The length in pixels of each bar, top to bottom: runs of rows holding the bar colour."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image = image.convert("RGB")
    width, height = image.size
    pixels = list(image.get_flattened_data())
    lengths: list[int] = []
    current = 0
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        count = sum(1 for p in row if p == BAR)
        if count:
            current = max(current, count)
        elif current:
            lengths.append(current)
            current = 0
    if current:
        lengths.append(current)
    return lengths


def test_a_bar_chart_draws_bars_in_proportion() -> None:
    values = {"block": 30, "hold": 15, "warning": 5, "terminated": 0, "remove": 1}
    png = bar_chart("Actions by measure", values)
    image = Image.open(io.BytesIO(png))
    assert image.size[0] > BAR_MAX
    assert image.size[1] > 5 * 18
    lengths = bars(png)
    assert lengths == [BAR_MAX, BAR_MAX // 2, BAR_MAX // 6, BAR_MAX // 30]  # no bar for 0
    for length, value in zip(lengths, [30, 15, 5, 1], strict=True):
        assert abs(length - value / 30 * BAR_MAX) <= 1
    # Labels and values are drawn: dark text pixels left of the bars and right of them.
    gray = image.convert("L")
    assert min(gray.crop((0, 40, 50, image.size[1])).get_flattened_data()) < 100
    assert bar_length(0, 10) == 0
    assert bar_length(0.001, 10) == 1


async def test_the_report_charts_match_the_figures(services: Services) -> None:
    await seed(services)
    report = await report_of(services)
    files = charts(report)
    assert set(files) >= {
        "actions_by_category.png",
        "actions_by_ground.png",
        "actions_by_detection_method.png",
        "actions_by_automation.png",
        "actions_by_restriction_type.png",
        "actions_by_measure.png",
        "reports_by_category.png",
        "appeals_outcomes.png",
        "rules_overturned_on_appeal.png",
    }
    # by_measure: 3, 1, 1, 1, 1, 1, 1 (and four zeros without a bar)
    assert bars(files["actions_by_measure.png"]) == [BAR_MAX] + [round(BAR_MAX / 3)] * 6
    assert bars(files["actions_by_ground.png"]) == [BAR_MAX, round(BAR_MAX * 2 / 7)]
    assert bars(files["appeals_outcomes.png"]) == [BAR_MAX, BAR_MAX]
    # overturn rates 0 % (no bar) and 33.3 %
    assert bars(files["rules_overturned_on_appeal.png"]) == [BAR_MAX]


# -- the admin API ---------------------------------------------------------------------------


async def operator(
    services: Services, make_client: ClientFactory, role: OperatorRole
) -> CourtyardClient:
    await services.accounts.create_operator(role.value, PASSWORD, role)
    client = make_client("198.51.100.7")
    await client.login(role.value, PASSWORD)
    return client


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


async def test_the_api_report_is_for_admins_and_reviewers(
    services: Services, make_client: ClientFactory, make_user: UserFactory
) -> None:
    await seed(services)
    expected = without_time(await report_of(services))
    params = {"from": FROM, "to": TO}
    for role in (OperatorRole.ADMIN, OperatorRole.REVIEWER):
        client = await operator(services, make_client, role)
        got = await client.request("GET", "/api/v1/admin/transparency/report", params=params)
        assert without_time(got) == expected
    alice = await make_user("alice")
    for path in ("report", "statements"):
        with pytest.raises(ApiError) as hidden:
            await alice.request("GET", f"/api/v1/admin/transparency/{path}", params=params)
        assert (hidden.value.status, hidden.value.code) == (404, "not_found")


async def test_the_api_refuses_bad_periods(services: Services, make_client: ClientFactory) -> None:
    admin = await operator(services, make_client, OperatorRole.ADMIN)
    for params in (
        {"from": "2025-02-30", "to": TO},
        {"from": "yesterday", "to": TO},
        {"from": FROM},
        {"from": TO, "to": FROM},
    ):
        for path in ("report", "statements"):
            with pytest.raises(ApiError) as refused:
                await admin.request("GET", f"/api/v1/admin/transparency/{path}", params=params)
            assert (refused.value.status, refused.value.code) == (422, "invalid_input"), params
    with pytest.raises(ApiError) as bad_cursor:
        await admin.request(
            "GET",
            "/api/v1/admin/transparency/statements",
            params={"from": FROM, "to": TO, "after": "not a statement id"},
        )
    assert bad_cursor.value.status == 422


async def test_the_api_pages_through_dsa_statements(
    services: Services, make_client: ClientFactory
) -> None:
    seeded = await seed(services)
    reviewer = await operator(services, make_client, OperatorRole.REVIEWER)
    validator = jsonschema_rs.Draft202012Validator(load_schema(), validate_formats=True)
    seen: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"from": FROM, "to": TO, "limit": 4, **({"after": after} if after else {})}
        page = await reviewer.request("GET", "/api/v1/admin/transparency/statements", params=params)
        pages += 1
        assert page["period"] == {"from": FROM, "to": TO}
        assert page["puid_prefix"] == "courtyard"
        seen += page["statements"]
        after = page["next_after"]
        if after is None:
            break
    assert pages == 3  # 4 + 4 + 1
    expected = sorted(s["id"] for s in seeded["in_period"])
    assert [s["puid"] for s in seen] == [f"courtyard-{i}" for i in expected]
    for item in seen:
        assert validator.is_valid(item), item
    assert ACCOUNT not in json.dumps(seen)


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("COURTYARD_"):
            monkeypatch.delenv(name)
    return {
        "COURTYARD_DATABASE_URL": services.settings.database_url,
        "COURTYARD_DATA_DIR": str(tmp_path / "cli-data"),
    }


async def invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The CLI runs its own event loop: run it on a thread, off this test's loop."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


async def test_the_cli_writes_the_report(
    services: Services, cli_env: dict[str, str], tmp_path: Path
) -> None:
    await seed(services)
    out = tmp_path / "report"
    code, output = await invoke(
        ["transparency", "report", "--from", FROM, "--to", TO, "--out", str(out)], cli_env
    )
    assert code == 0, output
    assert "report.md" in output
    written = json.loads((out / "report.json").read_text("utf-8"))
    assert without_time(written) == without_time(await report_of(services))
    markdown = (out / "report.md").read_text("utf-8")
    assert "- Reversal rate: 50.0 %" in markdown
    assert "- Median time from report to action: 3 h" in markdown
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 10
    for name in pngs:
        assert f"]({name})" in markdown or name == "rules_overturned_on_appeal.png"
        with Image.open(out / name) as image:
            image.verify()
        assert (out / name).stat().st_size > 200
    assert bars((out / "actions_by_ground.png").read_bytes()) == [BAR_MAX, round(BAR_MAX * 2 / 7)]


async def test_the_cli_exports_statements_in_batches(
    services: Services, cli_env: dict[str, str], tmp_path: Path
) -> None:
    seeded = await seed(services)
    out = tmp_path / "statements.json"
    args = ["transparency", "statements", "--from", FROM, "--to", TO, "--out", str(out)]
    code, output = await invoke([*args, "--puid-prefix", "cy-test"], cli_env)
    assert code == 0, output
    assert "Wrote 9 statements (1 request bodies of at most 100)" in output
    document = json.loads(out.read_text("utf-8"))
    assert document["period"] == {"from": FROM, "to": TO}
    assert document["count"] == 9
    [body] = document["batches"]
    assert set(body) == {"statements"}
    assert [s["puid"] for s in body["statements"]] == [
        f"cy-test-{i}" for i in sorted(s["id"] for s in seeded["in_period"])
    ]
    validator = jsonschema_rs.Draft202012Validator(load_schema(), validate_formats=True)
    assert all(validator.is_valid(s) for s in body["statements"])
    by_measure = {s["puid"].removeprefix("cy-test-"): s for s in body["statements"]}
    suspended = next(s for s in seeded["in_period"] if s["measure"] == "suspended")
    assert by_measure[suspended["id"]]["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert by_measure[suspended["id"]]["end_date_account_restriction"] == "2025-03-07"
    assert by_measure[suspended["id"]]["source_type"] == "SOURCE_ARTICLE_16"


async def test_the_cli_refuses_bad_periods(
    services: Services, cli_env: dict[str, str], tmp_path: Path
) -> None:
    for command, target in (("report", tmp_path / "r"), ("statements", tmp_path / "s.json")):
        for first, last in ((TO, FROM), ("2025-13-01", TO), ("01/01/2025", TO)):
            code, output = await invoke(
                ["transparency", command, "--from", first, "--to", last, "--out", str(target)],
                cli_env,
            )
            assert code == 2, output
        assert not target.exists()
    code, output = await invoke(
        [
            "transparency",
            "statements",
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            str(tmp_path / "s.json"),
            "--puid-prefix",
            "not ok!",
        ],
        cli_env,
    )
    assert code == 2, output


def test_periods() -> None:
    assert parse_period("2025-01-01", "2025-01-01").end - PERIOD.start == timedelta(days=1)
    assert PERIOD.end == datetime(2025, 4, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        parse_period("2025-02-01", "2025-01-31")
    with pytest.raises(InvalidInput):
        parse_period("2025-1-1x", "2025-01-31")


def test_a_period_ending_at_the_end_of_the_calendar_is_refused() -> None:
    from courtyard.core.errors import InvalidInput
    from courtyard.governance.transparency import parse_period

    with pytest.raises(InvalidInput):
        parse_period("2026-01-01", "9999-12-31")

"""The governance seam every write passes: decisions are honoured and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.governance.model import Decision, EventKind, PolicyEvent, RuleHit, Verdict
from courtyard.governance.store import list_decisions_for_actor, policy_decisions
from tests.accounts._helpers import assert_error, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory


class WordPolicy:
    """Blocks profile text containing ``block_word`` and labels text containing ``label_word``."""

    def __init__(self, block_word: str = "forbidden", label_word: str = "rumour") -> None:
        self.block_word = block_word
        self.label_word = label_word
        self.seen: list[PolicyEvent] = []

    async def evaluate(self, event: PolicyEvent) -> Decision:
        self.seen.append(event)
        for field, value in event.text.items():
            if self.block_word in value.lower():
                return Decision(
                    Verdict.BLOCK,
                    hits=(
                        RuleHit(
                            rule_id="test.words.block",
                            policy_clause="§1 test words",
                            reason=f"The {field} contains a blocked word.",
                            evidence={"field": field, "word": self.block_word},
                        ),
                    ),
                )
            if self.label_word in value.lower():
                return Decision(
                    Verdict.LABEL,
                    hits=(RuleHit("test.words.label", "§2 context", "Needs context."),),
                    labels=("needs_context",),
                )
        return Decision.allow()


async def decisions(services: Services, actor_id: str) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return await list_decisions_for_actor(conn, actor_id)


async def count_decisions(services: Services) -> int:
    async with services.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(policy_decisions))).scalar_one()
        )


async def test_a_blocked_profile_update_is_refused_explained_and_recorded(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice", display_name="Alice")
    await alice.update_profile(bio="before")
    policy = WordPolicy()
    services.governance.policy = policy

    response = await raw(
        alice, "PATCH", "/api/v1/me", json={"display_name": "Alice", "bio": "This is FORBIDDEN"}
    )

    error = assert_error(response, 422, "policy_blocked")
    rules = error["details"]["rules"]
    assert [
        {key: rule[key] for key in ("rule_id", "policy_clause", "reason", "action", "evidence")}
        for rule in rules
    ] == [
        {
            "rule_id": "test.words.block",
            "policy_clause": "§1 test words",
            "reason": "The bio contains a blocked word.",
            "action": "block",
            "evidence": {"field": "bio", "word": "forbidden"},
        }
    ]
    decision_id = error["details"]["decision_id"]
    assert decision_id
    # Nothing of the refused update was written: neither the bio nor the unchanged name.
    me = await alice.me()
    assert (me["display_name"], me["bio"]) == ("Alice", "before")
    # The decision outlives the refused write, so it can be explained and appealed.
    recorded = await decisions(services, alice.account["id"])  # type: ignore[attr-defined]
    assert [d["id"] for d in recorded] == [decision_id]
    row = recorded[0]
    assert row["verdict"] == "block"
    assert row["event_kind"] == EventKind.ACCOUNT_PROFILE.value
    assert row["subject_type"] == "account"
    assert row["subject_id"] == alice.account["id"]  # type: ignore[attr-defined]
    assert row["hits"] == rules
    assert row["decided_at"] == services.clock.now()
    # The policy saw the text it was asked about.
    assert policy.seen[-1].text["bio"] == "This is FORBIDDEN"
    assert policy.seen[-1].actor_id == alice.account["id"]  # type: ignore[attr-defined]


async def test_a_blocked_update_leaves_no_audit_row(
    make_user: UserFactory, services: Services
) -> None:
    from courtyard.governance.store import list_audit_for_target

    bob = await make_user("bob")
    services.governance.policy = WordPolicy()
    with pytest.raises(ApiError):
        await bob.update_profile(display_name="forbidden bob")
    async with services.db.read() as conn:
        rows = await list_audit_for_target(conn, "account", bob.account["id"])  # type: ignore[attr-defined]
    assert "accounts:profile:update" not in [r["tag"] for r in rows]


async def test_a_label_is_recorded_and_the_write_proceeds(
    make_user: UserFactory, services: Services
) -> None:
    cara = await make_user("cara")
    services.governance.policy = WordPolicy()
    updated = await cara.update_profile(bio="heard a rumour today")
    assert updated["bio"] == "heard a rumour today"
    recorded = await decisions(services, cara.account["id"])  # type: ignore[attr-defined]
    assert len(recorded) == 1
    assert recorded[0]["verdict"] == "label"
    assert recorded[0]["labels"] == ["needs_context"]
    assert recorded[0]["hits"][0]["rule_id"] == "test.words.label"


async def test_allowed_writes_record_no_decision(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    policy = WordPolicy()
    services.governance.policy = policy
    dan = await make_user("dan")
    await dan.update_profile(display_name="Dan", bio="nothing to see")
    await make_client().login("dan", PASSWORD)
    assert policy.seen  # the policy was asked ...
    assert await count_decisions(services) == 0  # ... and allow leaves no row


async def test_registration_passes_the_policy_too(
    make_client: ClientFactory, services: Services
) -> None:
    services.governance.policy = WordPolicy(block_word="badname")
    response = await raw(
        make_client(),
        "POST",
        "/api/v1/accounts",
        json={
            "handle": "erin",
            "password": PASSWORD,
            "accept_terms": True,
            "display_name": "BadName Erin",
        },
    )
    error = assert_error(response, 422, "policy_blocked")
    assert error["details"]["decision_id"]
    assert await services.accounts.find_by_handle("erin") is None
    # The decision is recorded without an actor: there is no account yet.
    async with services.db.read() as conn:
        rows = (await conn.execute(select(policy_decisions))).all()
    assert len(rows) == 1
    assert rows[0].actor_id is None
    assert rows[0].event_kind == EventKind.ACCOUNT_REGISTER.value


async def test_a_capability_check_comes_before_the_policy(
    make_user: UserFactory, services: Services
) -> None:
    from courtyard.governance.model import AccountState
    from tests.accounts._helpers import set_state

    fay = await make_user("fay")
    policy = WordPolicy()
    services.governance.policy = policy
    await set_state(services, fay.account["id"], AccountState.LIMITED)  # type: ignore[attr-defined]
    response = await raw(fay, "PATCH", "/api/v1/me", json={"bio": "forbidden"})
    assert_error(response, 403, "capability_denied")
    assert policy.seen == []
    assert await count_decisions(services) == 0


async def test_decide_records_every_non_allow_verdict(services: Services) -> None:
    class Fixed:
        def __init__(self, verdict: Verdict) -> None:
            self.verdict = verdict

        async def evaluate(self, event: PolicyEvent) -> Decision:
            return Decision(self.verdict, hits=(RuleHit("r", "c", "why"),))

    event = PolicyEvent(EventKind.POST, actor_id="A" * 26, subject_type="post", subject_id="p1")
    for verdict in Verdict:
        services.governance.policy = Fixed(verdict)
        decision = await services.governance.decide(event)
        assert decision.verdict is verdict
        if verdict is Verdict.ALLOW:
            assert decision.decision_id is None
        else:
            assert decision.decision_id
    recorded = await decisions(services, "A" * 26)
    assert sorted(d["verdict"] for d in recorded) == sorted(
        v.value for v in Verdict if v is not Verdict.ALLOW
    )


class _RecordingPolicy:
    """Allows everything and remembers what it was asked about."""

    def __init__(self) -> None:
        self.events: list[PolicyEvent] = []

    async def evaluate(self, event: PolicyEvent) -> Decision:
        self.events.append(event)
        return Decision.allow()


async def test_security_changes_pass_governance_too(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    policy = _RecordingPolicy()
    services.governance.policy = policy
    await alice.two_factor_setup()
    await alice.change_password(PASSWORD, "another long passphrase for alice")
    await alice.logout()
    actions = [
        e.context.get("action") for e in policy.events if e.kind is EventKind.ACCOUNT_SECURITY
    ]
    assert actions == ["two_factor_setup", "password_change", "session_revoke"]

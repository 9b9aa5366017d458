"""The governance seam every write passes: ``authorize`` = capabilities + ``decide``.

Until the rules engine lands the policy allows everything, but the call sites, the Decision
values and the recording of every non-allow decision are real, so nothing has to change in
the pillars when rules arrive.
"""

from __future__ import annotations

from typing import Any, Protocol

from courtyard.core.clock import Clock
from courtyard.core.db import Database, Tx
from courtyard.core.errors import PolicyBlocked
from courtyard.governance import store
from courtyard.governance.model import (
    Capabilities,
    Capability,
    Decision,
    PolicyEvent,
    Standing,
    Verdict,
    capabilities_for,
)


class Policy(Protocol):
    async def evaluate(self, event: PolicyEvent) -> Decision: ...


class AllowAllPolicy:
    """The policy of a server with no rule packs loaded."""

    async def evaluate(self, event: PolicyEvent) -> Decision:
        return Decision.allow()


class GovernanceService:
    def __init__(self, db: Database, clock: Clock, policy: Policy | None = None) -> None:
        self._db = db
        self._clock = clock
        self.policy: Policy = policy or AllowAllPolicy()

    def capabilities(self, standing: Standing) -> Capabilities:
        """The actor's capabilities now (a timed restriction that has ended no longer counts)."""
        return capabilities_for(standing, now=self._clock.now())

    async def decide(self, event: PolicyEvent) -> Decision:
        """Evaluate an event; every non-allow decision is recorded before it is returned.

        The record is written in its own transaction so a blocked write (whose own
        transaction never commits) still leaves its explanation behind.
        """
        decision = await self.policy.evaluate(event)
        if decision.verdict is Verdict.ALLOW:
            return decision
        async with self._db.write() as tx:
            decision_id = await store.insert_decision(
                tx.conn,
                decided_at=self._clock.now(),
                event_kind=event.kind.value,
                actor_id=event.actor_id,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                verdict=decision.verdict.value,
                labels=list(decision.labels),
                hits=decision.explanation(),
            )
        return Decision(decision.verdict, decision.hits, decision.labels, decision_id)

    async def decide_in(self, tx: Tx, event: PolicyEvent) -> Decision:
        """``decide`` for a batched write: a non-allow decision is recorded in ``tx``.

        Message sends are written many to a transaction that commits whatever each message's
        fate, so the record of a blocked message commits with the batch.
        """
        decision = await self.policy.evaluate(event)
        if decision.verdict is Verdict.ALLOW:
            return decision
        decision_id = await store.insert_decision(
            tx.conn,
            decided_at=self._clock.now(),
            event_kind=event.kind.value,
            actor_id=event.actor_id,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            verdict=decision.verdict.value,
            labels=list(decision.labels),
            hits=decision.explanation(),
        )
        return Decision(decision.verdict, decision.hits, decision.labels, decision_id)

    async def authorize(
        self, standing: Standing | None, needs: Capability | None, event: PolicyEvent
    ) -> Decision:
        """Check the actor's capability, then ask for a decision; raise on a block.

        ``standing`` is None only for actions by someone without an account yet (registration).
        Call this before opening the use case's write transaction.
        """
        if standing is not None and needs is not None:
            self.capabilities(standing).require(needs)
        decision = await self.decide(event)
        if decision.verdict is Verdict.BLOCK:
            raise PolicyBlocked(
                details={"decision_id": decision.decision_id, "rules": decision.explanation()}
            )
        return decision

    async def audit(
        self,
        tx: Tx,
        *,
        actor_id: str | None,
        tag: str,
        target_type: str,
        target_id: str | None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        """Write the audit row of a ``do_*`` use case inside its own transaction."""
        await store.insert_audit(
            tx.conn,
            at=self._clock.now(),
            actor_id=actor_id,
            tag=tag,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            note=note,
        )

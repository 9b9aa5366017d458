"""The governance seam every write passes: ``authorize`` = capabilities + ``decide``.

``decide`` runs the rules engine over the loaded rule packs, after fetching what the
candidate rules read (author facts, counters), and records every decision that is not a
plain allow, with the rules, versions and matched signals behind it: what a statement of
reasons is built from. Packs come from the built-in defaults and the operator's policy
directory, and can be edited through the admin API; every version is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from courtyard.core.bus import Bus, Subscription
from courtyard.core.clock import Clock
from courtyard.core.db import Conn, Database, Tx, is_unique_violation
from courtyard.core.errors import Conflict, InvalidInput, NotFound, PolicyBlocked, PolicyHeld
from courtyard.governance import store
from courtyard.governance.classifiers import check_classifier
from courtyard.governance.conditions import COUNTER_FIELDS
from courtyard.governance.counters import CounterOp, CounterRead, Counters
from courtyard.governance.engine import Classifier, CompiledPolicy, Pending
from courtyard.governance.model import (
    Capabilities,
    Capability,
    Decision,
    EventKind,
    Mode,
    PolicyEvent,
    Standing,
    Verdict,
    capabilities_for,
)
from courtyard.governance.packs import Pack, PackError, parse_pack

log = logging.getLogger(__name__)

BUILTIN_PACKS_DIR = Path(__file__).resolve().parent / "packs"
POLICY_CHANNEL = "courtyard:policy"
# An account whose sessions or standing changed (the payload is its id): every node checks that
# account's open sockets again at once instead of at their next periodic check.
ACCESS_CHANNEL = "courtyard:access"
_AUTHOR_FACTS_TTL = 60.0


class Policy(Protocol):
    async def evaluate(self, event: PolicyEvent) -> Decision: ...


class AllowAllPolicy:
    """The policy of a server with no rule packs loaded."""

    async def evaluate(self, event: PolicyEvent) -> Decision:
        return Decision.allow()


class RulesPolicy:
    """The loaded packs, compiled; replaced whole when a pack changes."""

    def __init__(self, compiled: CompiledPolicy) -> None:
        self.compiled = compiled

    async def evaluate(self, event: PolicyEvent) -> Decision:
        return self.compiled.evaluate(event)


AuthorFacts = Callable[[str], Awaitable[dict[str, Any]]]
# The same for many accounts at once (two queries): a batch of sends fetches the facts of all
# its authors not in the cache together, instead of one query per author in its transaction.
AuthorFactsMany = Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]]


class PackRefused(InvalidInput):
    code = "pack_refused"
    default_message = "The rule pack was refused."


def pack_not_found() -> NotFound:
    return NotFound("No such rule pack or version.", code="pack_not_found")


@dataclass(frozen=True, slots=True)
class LoadedPack:
    """A pack in force: its stored version and what it compiled to."""

    row: store.PackRow
    pack: Pack


@dataclass(slots=True)
class _LoadReport:
    loaded: list[str] = field(default_factory=list)
    refused: list[PackError] = field(default_factory=list)


class GovernanceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: Policy | None = None,
        *,
        counters: Counters | None = None,
        policy_dir: Path | None = None,
        builtin_packs: bool = False,
        classifiers: Sequence[Classifier] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self.policy: Policy = policy or AllowAllPolicy()
        self.counters = counters
        self.policy_dir = policy_dir
        self.builtin_packs = builtin_packs
        for classifier in classifiers:
            check_classifier(classifier)
        self.classifiers = tuple(classifiers)
        self.author_facts: AuthorFacts | None = None
        self.author_facts_many: AuthorFactsMany | None = None
        self.loaded: dict[str, LoadedPack] = {}
        self._author_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._bus: Bus | None = None
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None

    def capabilities(self, standing: Standing) -> Capabilities:
        """The actor's capabilities now (a timed restriction that has ended no longer counts)."""
        return capabilities_for(standing, now=self._clock.now())

    def reads_images(self, kind: EventKind) -> bool:
        """Whether a loaded rule compares images of this kind of event with a hash list
        (hashing an image costs milliseconds: only then is it done)."""
        policy = self.policy
        return isinstance(policy, RulesPolicy) and policy.compiled.reads_images(kind)

    # -- deciding ----------------------------------------------------------------------------

    async def decide(self, event: PolicyEvent) -> Decision:
        """Evaluate an event; every non-allow decision is recorded before it is returned.

        The record is written in its own transaction so a blocked write (whose own
        transaction never commits) still leaves its explanation behind.
        """
        decision = await self._evaluate(event, None)
        if not decision.recorded:
            return decision
        async with self._db.write() as tx:
            return await self._record(tx.conn, event, decision)

    async def decide_in(self, tx: Tx, event: PolicyEvent) -> Decision:
        """``decide`` for a batched write: counters and the record are written in ``tx``.

        Message sends are written many to a transaction that commits whatever each message's
        fate, so the record of a blocked message commits with the batch.
        """
        decision = await self._evaluate(event, tx.conn)
        if not decision.recorded:
            return decision
        return await self._record(tx.conn, event, decision)

    async def decide_many_in(self, tx: Tx, events: Sequence[PolicyEvent]) -> list[Decision]:
        """``decide_in`` for a batch of events (a group commit of chat sends): the counters
        the rules read are applied and read in one round trip for the whole batch.

        So within one batch (a few milliseconds of traffic) an author's events are counted
        together: a rate rule can take effect up to one batch early, never late.
        """
        policy = self.policy
        if not isinstance(policy, RulesPolicy):
            return [await self.decide_in(tx, event) for event in events]
        compiled = policy.compiled
        pendings = [compiled.prepare(event) for event in events]
        counted = await self._count_batch(tx, compiled, events, pendings)
        await self._prefetch_facts(events, pendings)
        decisions: list[Decision] = []
        for event, pending in zip(events, pendings, strict=True):
            if pending is None:
                decisions.append(Decision.allow())
                continue
            author: dict[str, Any] = {}
            if event.actor_id:
                for name in pending.counter_reads:
                    author[name] = int(counted.get(_counter_read(event.actor_id, name).name, 0))
            decision = compiled.finish(pending, await self._with_facts(event, pending, author))
            if decision.recorded:
                decision = await self._record(tx.conn, event, decision)
            decisions.append(decision)
        return decisions

    async def _count_batch(
        self,
        tx: Tx,
        compiled: CompiledPolicy,
        events: Sequence[PolicyEvent],
        pendings: Sequence[Pending | None],
    ) -> dict[str, int]:
        if self.counters is None:
            return {}
        ops: list[CounterOp] = []
        reads: dict[str, CounterRead] = {}
        for event, pending in zip(events, pendings, strict=True):
            if not event.actor_id:
                continue
            ops.extend(_counter_ops(event, compiled.needs(event.kind).counter_increments))
            for name in pending.counter_reads if pending is not None else ():
                read = _counter_read(event.actor_id, name)
                reads[read.name] = read
        if not ops and not reads:
            return {}
        return await self.counters.apply(
            ops, list(reads.values()), now=self._clock.now(), conn=tx.conn
        )

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
        if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
            raise blocked(decision)
        return decision

    async def _evaluate(self, event: PolicyEvent, conn: Conn | None) -> Decision:
        policy = self.policy
        if not isinstance(policy, RulesPolicy):
            return await policy.evaluate(event)
        compiled = policy.compiled
        increments = compiled.needs(event.kind).counter_increments
        pending = compiled.prepare(event)
        reads = pending.counter_reads if pending is not None else frozenset()
        author: dict[str, Any] = {}
        if (increments or reads) and event.actor_id and self.counters is not None:
            author.update(await self._count(event, increments, reads, conn))
        if pending is None:
            return Decision.allow()
        return compiled.finish(pending, await self._with_facts(event, pending, author))

    async def _count(
        self,
        event: PolicyEvent,
        increments: frozenset[str],
        reads: frozenset[str],
        conn: Conn | None,
    ) -> dict[str, int]:
        assert self.counters is not None
        assert event.actor_id is not None
        wanted = {name: _counter_read(event.actor_id, name) for name in sorted(reads)}
        values = await self.counters.apply(
            _counter_ops(event, increments), list(wanted.values()), now=self._clock.now(), conn=conn
        )
        return {name: int(values.get(read.name, 0)) for name, read in wanted.items()}

    async def _with_facts(
        self, event: PolicyEvent, pending: Pending, author: dict[str, Any]
    ) -> dict[str, Any]:
        """The counters already read, plus the account facts a candidate rule reads and the
        event does not carry."""
        missing = pending.author_fields - set(author) - set(event.facts.get("author", {}))
        if missing and event.actor_id and self.author_facts is not None:
            author.update(await self._facts_of(event.actor_id))
        return author

    async def _facts_of(self, account_id: str) -> dict[str, Any]:
        """Account facts for rules (age, state), cached briefly: they change rarely and
        capabilities, which must be exact, are checked separately."""
        assert self.author_facts is not None
        cached = self._author_cache.get(account_id)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        facts = await self.author_facts(account_id)
        self._cache_facts(account_id, facts)
        return facts

    def _cache_facts(self, account_id: str, facts: dict[str, Any]) -> None:
        if len(self._author_cache) > 50_000:
            self._author_cache.clear()
        # Spread over a quarter of the TTL, so that authors first seen together (a server's
        # first minute, a benchmark) do not all expire in the same batch.
        expires = time.monotonic() + _AUTHOR_FACTS_TTL * (0.75 + 0.25 * random.random())  # noqa: S311
        self._author_cache[account_id] = (expires, facts)

    async def _prefetch_facts(
        self, events: Sequence[PolicyEvent], pendings: Sequence[Pending | None]
    ) -> None:
        """Fill the cache for every author in the batch whose facts a candidate rule reads
        and the cache does not hold: one bulk read instead of a query per author."""
        if self.author_facts_many is None:
            return
        now = time.monotonic()
        wanted: set[str] = set()
        for event, pending in zip(events, pendings, strict=True):
            if pending is None or not pending.author_fields or not event.actor_id:
                continue
            cached = self._author_cache.get(event.actor_id)
            if cached is None or now >= cached[0]:
                wanted.add(event.actor_id)
        if not wanted:
            return
        found = await self.author_facts_many(sorted(wanted))
        for account_id in wanted:
            self._cache_facts(account_id, found.get(account_id, {}))

    async def _record(self, conn: Conn, event: PolicyEvent, decision: Decision) -> Decision:
        enforced = bool(decision.hits)
        rules = [
            store.RuleRow(
                hit.rule_id, hit.pack_id, hit.pack_version, hit.action.value, hit.mode.value
            )
            for hit in (*decision.hits, *decision.shadow_hits)
        ]
        decision_id = await store.insert_decision(
            conn,
            decided_at=self._clock.now(),
            event_kind=event.kind.value,
            actor_id=event.actor_id,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            verdict=decision.verdict.value,
            labels=list(decision.labels),
            hits=[hit.explain() for hit in (*decision.hits, *decision.shadow_hits)],
            mode=(Mode.ENFORCE if enforced else Mode.SHADOW).value,
            automated_detection=decision.automated,
            automated_decision=decision.automated,
            content_type=event.context.get("content_type"),
            content_id=event.context.get("content_id"),
            rules=rules,
        )
        return decision.with_id(decision_id)

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
        """Write the audit row of a ``do_*`` use case inside its own transaction.

        The rows are appended to the hash chain as the transaction's last statements: the
        chain's head row is locked from then until the commit, so it is held briefly and always
        taken after the use case's own locks (no lock-order deadlock between use cases)."""
        entries = tx.pending.setdefault("audit", [])
        if not entries:

            async def append() -> None:
                for entry in entries:
                    await store.insert_audit(tx.conn, **entry)

            tx.before_commit(append)
        entries.append(
            {
                "at": self._clock.now(),
                "actor_id": actor_id,
                "tag": tag,
                "target_type": target_type,
                "target_id": target_id,
                "before": before,
                "after": after,
                "note": note,
            }
        )

    # -- rule packs --------------------------------------------------------------------------

    def _pack_files(self) -> list[Path]:
        files: list[Path] = []
        if self.builtin_packs:
            files.extend(sorted(BUILTIN_PACKS_DIR.glob("*.toml")))
        if self.policy_dir is not None and self.policy_dir.is_dir():
            files.extend(sorted(self.policy_dir.glob("*.toml")))
        return files

    async def load_policy(self) -> list[PackError]:
        """At start: record any pack file that changed since it was last recorded, then
        compile the newest version of every pack. A refused pack is logged and left out
        (its previous good version stays in force); the others load."""
        refused: list[PackError] = []
        for path in self._pack_files():
            source = path.read_text(encoding="utf-8")
            try:
                pack = parse_pack(source, source_name=str(path), base_dir=path.parent)
            except PackError as error:
                log.error("%s", error.render())
                refused.append(error)
                continue
            try:
                await self._record_file(pack, source, path)
            except Exception as error:
                # Two nodes starting together both try to record a changed file; the
                # unique (pack_id, version) key lets one win, and the other reads its row.
                if not is_unique_violation(error):
                    raise
        report = await self.reload_policy()
        return refused + report.refused

    async def _record_file(self, pack: Pack, source: str, path: Path) -> None:
        async with self._db.write() as tx:
            if await store.latest_file_sha(tx.conn, pack.id) == pack.sha256:
                return
            await store.insert_pack_version(
                tx.conn,
                pack_id=pack.id,
                source=source,
                files=dict(pack.files),
                sha256=pack.sha256,
                origin="file",
                enabled=True,
                created_at=self._clock.now(),
                created_by=None,
                note=f"loaded from {path.name}",
            )

    async def reload_policy(self) -> _LoadReport:
        """Compile the newest version of every enabled pack and put it in force."""
        async with self._db.read() as conn:
            rows = await store.latest_packs(conn)
        report = _LoadReport()
        candidates: list[LoadedPack] = []
        for row in sorted(rows.values(), key=lambda r: r.pack_id):
            if not row.enabled:
                continue
            try:
                pack = self._parse_row(row)
                CompiledPolicy([pack], classifiers=self.classifiers)
            except PackError as error:
                log.error("%s", error.render())
                report.refused.append(error)
                previous = self.loaded.get(row.pack_id)
                if previous is not None:
                    candidates.append(previous)
                continue
            candidates.append(LoadedPack(row, pack))
        compiled = CompiledPolicy(
            [item.pack for item in candidates], classifiers=self.classifiers, check_examples=False
        )
        self.loaded = {item.row.pack_id: item for item in candidates}
        self.policy = RulesPolicy(compiled)
        report.loaded = sorted(self.loaded)
        return report

    def _parse_row(self, row: store.PackRow) -> Pack:
        return parse_pack(
            row.source,
            source_name=f"{row.pack_id} v{row.version}",
            files=row.files,
            version=row.version,
        )

    async def list_packs(self) -> list[store.PackRow]:
        async with self._db.read() as conn:
            rows = await store.latest_packs(conn)
        return sorted(rows.values(), key=lambda row: row.pack_id)

    async def pack_history(self, pack_id: str) -> list[store.PackRow]:
        async with self._db.read() as conn:
            history = await store.pack_history(conn, pack_id)
        if not history:
            raise pack_not_found()
        return history

    async def pack_version(self, pack_id: str, version: int) -> store.PackRow:
        async with self._db.read() as conn:
            row = await store.get_pack_version(conn, pack_id, version)
        if row is None:
            raise pack_not_found()
        return row

    def check_pack(self, source: str, files: dict[str, str] | None = None) -> Pack:
        """Parse and compile a pack on its own (examples included); raise PackRefused.

        List files come from the policy directory, else from ``files`` (the copies stored
        with the pack's newest version)."""
        try:
            pack = parse_pack(source, source_name="pack", base_dir=self.policy_dir, files=files)
            CompiledPolicy([pack], classifiers=self.classifiers)
        except PackError as error:
            raise PackRefused(error.render(), details={"problems": error.as_details()}) from error
        return pack

    async def put_pack(
        self,
        actor_id: str | None,
        source: str,
        *,
        note: str | None,
        enabled: bool = True,
        files: dict[str, str] | None = None,
    ) -> store.PackRow:
        """Store a new version of a pack from the admin API, put it in force, and tell the
        other nodes. The file in the policy directory is rewritten too, so the directory
        and the database agree."""
        if files is None:
            files = await self.stored_files(source)
        pack = self.check_pack(source, files)
        async with self._db.write() as tx:
            latest = (await store.latest_packs(tx.conn)).get(pack.id)
            if latest is not None and latest.sha256 == pack.sha256 and latest.enabled == enabled:
                raise Conflict("This version is already in force.", code="pack_unchanged")
            row = await store.insert_pack_version(
                tx.conn,
                pack_id=pack.id,
                source=source,
                files=dict(pack.files),
                sha256=pack.sha256,
                origin="admin",
                enabled=enabled,
                created_at=self._clock.now(),
                created_by=actor_id,
                note=note,
            )
            await self.audit(
                tx,
                actor_id=actor_id,
                tag="governance:pack:update",
                target_type="policy_pack",
                target_id=pack.id,
                before={"version": latest.version, "sha256": latest.sha256} if latest else None,
                after={"version": row.version, "sha256": row.sha256, "enabled": enabled},
                note=note,
            )
        self._write_back(pack.id, source)
        await self.reload_policy()
        await self._announce()
        return row

    async def stored_files(self, source: str) -> dict[str, str] | None:
        """The list files stored with the newest version of the pack this source is for."""
        try:
            pack_id = str(tomllib.loads(source).get("pack", {}).get("id", ""))
        except (tomllib.TOMLDecodeError, AttributeError):
            return None
        async with self._db.read() as conn:
            latest = (await store.latest_packs(conn)).get(pack_id)
        return dict(latest.files) if latest is not None else None

    async def set_pack_enabled(
        self, actor_id: str | None, pack_id: str, enabled: bool, note: str | None
    ) -> store.PackRow:
        async with self._db.read() as conn:
            latest = (await store.latest_packs(conn)).get(pack_id)
        if latest is None:
            raise pack_not_found()
        return await self.put_pack(
            actor_id, latest.source, note=note, enabled=enabled, files=latest.files
        )

    async def revert_pack(
        self, actor_id: str | None, pack_id: str, version: int, note: str | None
    ) -> store.PackRow:
        old = await self.pack_version(pack_id, version)
        return await self.put_pack(
            actor_id, old.source, note=note or f"revert to version {version}", files=old.files
        )

    def _write_back(self, pack_id: str, source: str) -> None:
        if self.policy_dir is None:
            return
        target = self.policy_dir / f"{pack_id}.toml"
        try:
            self.policy_dir.mkdir(parents=True, exist_ok=True)
            scratch = target.with_suffix(".toml.tmp")
            scratch.write_text(source, encoding="utf-8")
            scratch.replace(target)
        except OSError as error:
            log.warning("could not write %s back to the policy directory: %s", target, error)

    async def rule_activity(self, rule_id: str, *, days: int = 7) -> dict[str, Any]:
        """What a rule did, or in shadow mode would have done, over recent traffic."""
        since = self._clock.now() - timedelta(days=days)
        async with self._db.read() as conn:
            counts, recent = await store.rule_activity(conn, rule_id, since=since)
        return {"rule_id": rule_id, "since": since, "counts": counts, "recent": recent}

    async def decision(self, decision_id: str) -> dict[str, Any]:
        async with self._db.read() as conn:
            row = await store.get_decision(conn, decision_id)
        if row is None:
            raise NotFound("No such decision.", code="decision_not_found")
        return row

    # -- keeping nodes in step -----------------------------------------------------------------

    async def start(self, bus: Bus) -> None:
        """Follow pack changes made on other nodes (in the background: a bus that is down
        at start must not keep the node from serving; it is retried)."""
        self._bus = bus
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._follow(bus, subscribed))
        with contextlib.suppress(TimeoutError):
            # Usually immediate; waiting briefly makes a change right after start reach us.
            await asyncio.wait_for(subscribed.wait(), timeout=1.0)

    async def _follow(self, bus: Bus, subscribed: asyncio.Event) -> None:
        delay = 0.5
        missed = False
        while True:
            try:
                self._subscription = await bus.subscribe(POLICY_CHANNEL)
                subscribed.set()
                delay = 0.5
                if missed:  # changes may have been announced while we were not listening
                    await self.reload_policy()
                async for _ in self._subscription:
                    try:
                        await self.reload_policy()
                    except Exception:  # keep the old policy; the next change retries
                        log.exception("reloading the policy failed")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("policy change channel unavailable (%s); retrying", error)
            missed = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def access_changed(self, tx: Tx, account_id: str) -> None:
        """Once ``tx`` commits, tell every node that ``account_id`` lost (or regained) a session
        or a capability, so that a revoked session or a suspended account stops receiving
        events now, not at its socket's next periodic check (which still covers a lost
        message)."""

        async def announce() -> None:
            await self._announce(ACCESS_CHANNEL, account_id.encode(), "an access change")

        tx.after_commit(announce)

    async def _announce(
        self,
        channel: str = POLICY_CHANNEL,
        payload: bytes = b"reload",
        what: str = "a policy change",
    ) -> None:
        """Publish after a commit; a failure is logged, never raised: the change is committed,
        and what listens has its own way to catch up (a reload on reconnect, the periodic
        session check)."""
        if self._bus is None:
            return
        try:
            await self._bus.publish(channel, payload)
        except Exception as error:
            log.warning("could not announce %s: %s", what, error)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None


def _counter_ops(event: PolicyEvent, increments: frozenset[str]) -> list[CounterOp]:
    """The counter increments one event makes (only counters some loaded rule reads)."""
    ops: list[CounterOp] = []
    for name in sorted(increments):
        spec = COUNTER_FIELDS[name]
        key = f"author:{event.actor_id}:{name}"
        if spec.distinct_of is not None:
            member = str(getattr(event, spec.distinct_of, "") or "")
            if member:
                ops.append(CounterOp(key, spec.window_seconds, member=member))
        elif spec.amount_of is not None:
            amount = int(event.context.get(spec.amount_of, 0) or 0)
            if amount:
                ops.append(CounterOp(key, spec.window_seconds, amount=amount))
        else:
            ops.append(CounterOp(key, spec.window_seconds))
    return ops


def _counter_read(actor_id: str, name: str) -> CounterRead:
    spec = COUNTER_FIELDS[name]
    return CounterRead(
        f"author:{actor_id}:{name}", spec.window_seconds, distinct=spec.distinct_of is not None
    )


def blocked(decision: Decision) -> PolicyBlocked:
    """The error a blocked or held write raises: the author is always told why."""
    details = {"decision_id": decision.decision_id, "rules": decision.explanation()}
    if decision.verdict is Verdict.HOLD:
        return PolicyHeld(details=details)
    return PolicyBlocked(details=details)

"""The audit log is hash-chained and `courtyard audit verify` finds any edited, deleted,
inserted or reordered entry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from courtyard.cli import app as cli
from courtyard.container import Services
from courtyard.core.config import Settings
from courtyard.core.db import Database, JSONDocument, UTCDateTime
from courtyard.core.migrate import alembic_config, ensure_schema
from courtyard.governance.audit import (
    EDITED,
    GENESIS_HASH,
    HEAD_MISMATCH,
    MISSING,
    OUT_OF_ORDER,
    RELINKED,
    ChainVerifier,
    Head,
    chain_entries,
    entry_hash,
    verify_chain,
)
from courtyard.governance.store import insert_audit, verify_audit_log
from courtyard.testing import scratch_postgres
from tests.conftest import PASSWORD, POSTGRES_URL, ClientFactory, UserFactory

# ---- the chain itself (pure) ---------------------------------------------------------------

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
contents = st.fixed_dictionaries(
    {
        "id": st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26),
        "at": st.integers(0, 10**9).map(lambda us: T0 + timedelta(microseconds=us)),
        "actor_id": st.none() | st.text(min_size=1, max_size=26),
        "tag": st.sampled_from(["accounts:account:register", "governance:appeal:decide"]),
        "target_type": st.sampled_from(["account", "appeal", "policy_pack"]),
        "target_id": st.none() | st.text(max_size=64),
        "before": st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
        "after": st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
        "note": st.none() | st.text(max_size=20),
    }
)
chains = st.lists(contents, min_size=1, max_size=12).map(chain_entries)

CONTENT_FIELDS = ["id", "at", "actor_id", "tag", "target_type", "target_id", "before", "after"]


def head_of(chain: list[dict[str, Any]]) -> Head:
    return Head(chain[-1]["seq"], chain[-1]["hash"]) if chain else Head(0, GENESIS_HASH)


def kinds(problems: list[Any]) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in problems]


def changed(value: Any) -> Any:
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, dict):
        return {**value, "tampered": True}
    return "tampered" if value != "tampered" else "Tampered"


@given(chains)
def test_an_untouched_chain_verifies(chain: list[dict[str, Any]]) -> None:
    assert verify_chain(chain, head_of(chain)) == []
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert chain[0]["prev_hash"] == GENESIS_HASH


@given(chains, st.data())
def test_any_edited_field_is_reported_at_its_entry(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from([*CONTENT_FIELDS, "note"]))
    head = head_of(chain)
    chain[i] = {**chain[i], field: changed(chain[i][field])}
    assert kinds(verify_chain(chain, head)) == [(i + 1, EDITED)]


@given(chains, st.data())
def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    chain: list[dict[str, Any]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(chain) - 1))
    head = head_of(chain)
    forged = {**chain[i], "note": changed(chain[i]["note"])}
    forged["hash"] = entry_hash(forged)
    chain[i] = forged
    expected = [(i + 2, RELINKED)] if i + 1 < len(chain) else [(i + 1, HEAD_MISMATCH)]
    assert kinds(verify_chain(chain, head)) == expected


@given(chains, st.data())
def test_any_deleted_entry_is_reported(chain: list[dict[str, Any]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 1))
    head = head_of(chain)
    del chain[i]
    problems = verify_chain(chain, head)
    if i < len(chain):  # from the middle (or the start): a gap, and the next entry's link
        assert kinds(problems) == [(i + 1, MISSING)]
    else:  # the tail: only the head row remembers it
        assert kinds(problems) == [(i + 1, HEAD_MISMATCH)]
        assert "deleted" in problems[0].detail


@given(st.lists(contents, min_size=2, max_size=12).map(chain_entries), st.data())
def test_any_swap_is_reported(chain: list[dict[str, Any]], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    head = head_of(chain)
    # Swapped in place (rows read back in the wrong order) ...
    swapped = list(chain)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert verify_chain(swapped, head)
    # ... or renumbered so seq still runs 1..n (contents moved, links kept).
    renumbered = list(swapped)
    renumbered[i] = {**swapped[i], "seq": i + 1, "prev_hash": chain[i]["prev_hash"]}
    renumbered[j] = {**swapped[j], "seq": j + 1, "prev_hash": chain[j]["prev_hash"]}
    problems = verify_chain(renumbered, head)
    assert problems[0].seq == i + 1


@given(chains, contents, st.data())
def test_an_inserted_entry_is_reported(
    chain: list[dict[str, Any]], extra: dict[str, Any], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(chain)))
    head = head_of(chain)
    # A well-formed entry slotted in at position i, the later entries renumbered.
    prev = chain[i - 1]["hash"] if i else GENESIS_HASH
    forged = {**extra, "seq": i + 1, "prev_hash": prev}
    forged["hash"] = entry_hash(forged)
    tampered = [*chain[:i], forged, *({**e, "seq": e["seq"] + 1} for e in chain[i:])]
    problems = verify_chain(tampered, head)
    assert problems
    assert problems[0].seq <= i + 2


def test_a_repeated_entry_is_out_of_order() -> None:
    chain = chain_entries(_plain(3))
    assert kinds(verify_chain([*chain[:2], chain[1], chain[2]], head_of(chain))) == [
        (2, OUT_OF_ORDER)
    ]


def test_a_full_rewrite_is_only_caught_against_a_recorded_head() -> None:
    chain = chain_entries(_plain(4))
    recorded = head_of(chain)
    rewritten = chain_entries([{**e, "note": "rewritten"} for e in chain])
    # The limit: whoever can recompute every hash produces a valid chain ...
    assert verify_chain(rewritten, head_of(rewritten)) == []
    # ... that no longer matches the head recorded outside the database.
    assert head_of(rewritten) != recorded


def test_hashes_do_not_depend_on_how_the_backend_returns_values() -> None:
    entry = chain_entries(_plain(1))[0]
    # The same instant in another zone; JSONB prints 1e16 back as an integer.
    other = {
        **entry,
        "at": entry["at"].astimezone(timezone(timedelta(hours=8))),
        "after": {"big": 10**16, "one": 1},
    }
    assert entry_hash({**entry, "after": {"big": 1e16, "one": 1.0}}) == entry_hash(other)
    assert entry_hash(entry) != entry_hash({**entry, "prev_hash": "1" * 64})


def _plain(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"01JAUDIT{k:018d}",
            "at": T0 + timedelta(seconds=k),
            "actor_id": None,
            "tag": "test:audit",
            "target_type": "t",
            "target_id": str(k),
            "before": None,
            "after": {"k": k},
            "note": None,
        }
        for k in range(n)
    ]


# ---- on the database, through `courtyard audit verify` -------------------------------------


async def verify_cli(settings_: Settings) -> tuple[int, dict[str, Any], str]:
    env = {
        "COURTYARD_DATABASE_URL": settings_.database_url,
        "COURTYARD_DATA_DIR": str(settings_.data_dir),
    }
    runner = CliRunner()
    # The CLI runs its own event loop: keep it off the test's.
    as_json = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify", "--json"], env=env)
    text = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify"], env=env)
    assert as_json.exit_code == text.exit_code, text.output
    return as_json.exit_code, json.loads(as_json.output), text.output


async def some_audited_actions(make_user: UserFactory, make_client: ClientFactory) -> None:
    alice = await make_user("alice", display_name="Alice")
    await make_user("bob")
    await alice.update_profile(display_name="Alice B.")
    await make_client(ip="192.0.2.77").login("bob", PASSWORD)


async def execute(services: Services, statement: str, **params: Any) -> None:
    async with services.db.write() as tx:
        await tx.conn.execute(sa.text(statement), params)


async def test_verify_passes_on_an_untouched_log(
    services: Services, settings: Settings, make_user: UserFactory, make_client: ClientFactory
) -> None:
    await some_audited_actions(make_user, make_client)
    code, report, text = await verify_cli(settings)
    assert code == 0
    assert report["ok"] is True
    assert report["checked"] >= 4
    assert report["head"]["seq"] == report["checked"]
    assert "OK" in text
    assert f"seq {report['head']['seq']}, hash {report['head']['hash']}" in text


async def test_verify_catches_a_hand_edited_entry(
    services: Services, settings: Settings, make_user: UserFactory, make_client: ClientFactory
) -> None:
    await some_audited_actions(make_user, make_client)
    await execute(services, "UPDATE audit_log SET note = 'x' WHERE seq = 2")
    code, report, text = await verify_cli(settings)
    assert code == 1
    assert report["ok"] is False
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(2, EDITED)]
    assert "entry 2: edited" in text


async def test_verify_catches_an_edited_json_document(
    services: Services, settings: Settings, make_user: UserFactory
) -> None:
    await make_user("alice")
    async with services.db.write() as tx:
        table = sa.table("audit_log", sa.column("seq"), sa.column("after", JSONDocument))
        await tx.conn.execute(sa.update(table).where(table.c.seq == 1).values(after={"x": 1}))
    code, report, _ = await verify_cli(settings)
    assert code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(1, EDITED)]


async def test_verify_catches_deleted_entries(
    services: Services, settings: Settings, make_user: UserFactory, make_client: ClientFactory
) -> None:
    await some_audited_actions(make_user, make_client)
    _, before, _ = await verify_cli(settings)
    last = before["head"]["seq"]

    await execute(services, "DELETE FROM audit_log WHERE seq = 2")
    code, report, _ = await verify_cli(settings)
    assert code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(2, MISSING)]

    await execute(services, "DELETE FROM audit_log WHERE seq = :seq", seq=last)
    code, report, text = await verify_cli(settings)
    assert code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [
        (2, MISSING),
        (last, HEAD_MISMATCH),
    ]
    assert "deleted" in text


async def test_verify_catches_reordered_and_inserted_entries(
    services: Services, settings: Settings, make_user: UserFactory, make_client: ClientFactory
) -> None:
    await some_audited_actions(make_user, make_client)
    # Swap entries 2 and 3 (through a free seq: seq is unique).
    await execute(services, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    await execute(services, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    await execute(services, "UPDATE audit_log SET seq = 3 WHERE seq = -1")
    code, report, _ = await verify_cli(settings)
    assert code == 1
    assert report["problems"][0]["seq"] == 2

    await execute(services, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    await execute(services, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    await execute(services, "UPDATE audit_log SET seq = 3 WHERE seq = -1")
    assert (await verify_cli(settings))[0] == 0

    # An entry added by hand after the last one, well linked, but the head not advanced.
    async with services.db.read() as conn:
        last = (
            (await conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")))
            .mappings()
            .one()
        )
    forged = {
        "id": "01JFORGED00000000000000000",
        "at": T0,
        "actor_id": None,
        "tag": "accounts:account:register",
        "target_type": "account",
        "target_id": "nobody",
        "before": None,
        "after": None,
        "note": None,
        "seq": last["seq"] + 1,
        "prev_hash": last["hash"],
    }
    forged["hash"] = entry_hash(forged)
    async with services.db.write() as tx:
        table = sa.table(
            "audit_log",
            *(sa.column(name) for name in forged if name != "at"),
            sa.column("at", UTCDateTime()),
        )
        await tx.conn.execute(sa.insert(table).values(**forged))
    code, report, _ = await verify_cli(settings)
    assert code == 1
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(forged["seq"], HEAD_MISMATCH)]


async def test_concurrent_audited_writes_form_one_chain(
    services: Services, settings: Settings, make_client: ClientFactory
) -> None:
    async def register(n: int) -> None:
        await make_client(ip=f"198.51.100.{n + 1}").register(f"user{n}", "a long passphrase 2026")

    async def audited_write(n: int) -> None:
        async with services.db.write() as tx:
            await insert_audit(
                tx.conn,
                at=T0,
                actor_id=None,
                tag="test:concurrent",
                target_type="t",
                target_id=str(n),
            )
            await asyncio.sleep(0.005)  # hold the head while others queue for it

    async def write_then_fail(n: int) -> None:
        async with services.db.write() as tx:
            await insert_audit(
                tx.conn,
                at=T0,
                actor_id=None,
                tag="test:rollback",
                target_type="t",
                target_id=str(n),
            )
            raise RuntimeError("rolled back: no entry, no gap")

    async def rolled_back(n: int) -> None:
        with pytest.raises(RuntimeError):
            await write_then_fail(n)

    await asyncio.gather(
        *(register(n) for n in range(12)),
        *(audited_write(n) for n in range(30)),
        *(rolled_back(n) for n in range(5)),
    )
    async with services.db.read() as conn:
        rows = (await conn.execute(sa.text("SELECT seq, tag FROM audit_log ORDER BY seq"))).all()
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))  # no gap, no repeat
    tags = [row.tag for row in rows]
    assert tags.count("test:concurrent") == 30
    assert tags.count("accounts:account:register") == 12
    assert "test:rollback" not in tags
    async with services.db.read() as conn:
        result = await verify_audit_log(conn, batch_size=7)  # several pages
    assert result.ok, result.problems
    assert result.checked == len(rows)
    code, _, _ = await verify_cli(settings)
    assert code == 0


# ---- the upgrade chains the entries written before it --------------------------------------

_pre_chain_audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.String(26)),
    sa.column("at", UTCDateTime()),
    sa.column("actor_id", sa.String(26)),
    sa.column("tag", sa.String(80)),
    sa.column("target_type", sa.String(40)),
    sa.column("target_id", sa.String(64)),
    sa.column("before", JSONDocument),
    sa.column("after", JSONDocument),
    sa.column("note", sa.Text()),
)


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Any) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/upgrade.db"
    else:
        async with scratch_postgres(POSTGRES_URL, "courtyard_audit_upgrade") as url:
            yield url


async def test_the_upgrade_chains_existing_entries(empty_database_url: str) -> None:
    def upgrade_to(conn: Connection, revision: str) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    db = Database(empty_database_url)
    try:
        await db.run_in_transaction(lambda conn: upgrade_to(conn, "0004"))
        old = [
            {**e, "id": f"01JOLD{k:020d}", "at": T0 - timedelta(days=1, seconds=k)}
            for k, e in enumerate(_plain(7))
        ]
        old[3]["after"] = {"nested": {"list": [1, 2.5, None, "é"]}, "flag": True}
        async with db.write() as tx:
            await tx.conn.execute(sa.insert(_pre_chain_audit_log), old)
        await ensure_schema(db)

        async with db.read() as conn:
            result = await verify_audit_log(conn)
            ids = (await conn.execute(sa.text("SELECT id FROM audit_log ORDER BY seq"))).scalars()
            assert list(ids) == [e["id"] for e in sorted(old, key=lambda e: (e["at"], e["id"]))]
        assert result.ok, result.problems
        assert result.checked == 7
        assert result.head is not None
        assert result.head.seq == 7

        # New entries carry on from the migrated chain.
        async with db.write() as tx:
            await insert_audit(
                tx.conn, at=T0, actor_id=None, tag="test:after", target_type="t", target_id="x"
            )
        async with db.read() as conn:
            result = await verify_audit_log(conn)
        assert result.ok, result.problems
        assert result.checked == 8
    finally:
        await db.dispose()


@hypothesis_settings(max_examples=25)
@given(st.lists(contents, max_size=5))
def test_chain_entries_continues_from_a_given_head(rows: list[dict[str, Any]]) -> None:
    first = chain_entries(_plain(2))
    rest = chain_entries(rows, start=head_of(first))
    assert verify_chain([*first, *rest], head_of([*first, *rest])) == []


def test_a_lost_head_is_reported_and_no_head_is_fine_for_an_empty_log() -> None:
    chain = chain_entries(_plain(3))
    assert ChainVerifier().finish(None) == []
    verifier = ChainVerifier()
    verifier.feed(chain)
    report = verifier.report(None)
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(3, HEAD_MISMATCH)]
    assert report.as_dict()["head"] is None

"""The send path's queries use indexes: a batch's cost must not grow with the size of the
tables (SQLite plans a row-value IN over a list as a scan of the whole table unless told
where to look)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from courtyard.chats import store
from courtyard.core.db import Database, padded
from courtyard.core.migrate import ensure_schema


async def _plan(db: Database, statement: Any, params: dict[str, Any]) -> list[str]:
    async with db.read() as conn:
        compiled = statement.params(**params).compile(
            dialect=conn.dialect,
            compile_kwargs={"render_postcompile": True, "literal_binds": True},
        )
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        return [str(row[3]) for row in rows]


async def test_send_contexts_search_memberships_by_index(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        await ensure_schema(db)
        plan = await _plan(
            db,
            store._SEND_CONTEXTS,
            {"conversation_ids": ["c1", "c2"], "pairs": [("c1", "a1"), ("c2", "a2")]},
        )
        client_keys = await _plan(db, store._BY_CLIENT_KEYS, {"keys": ["a:1", "b:2"]})
    finally:
        await db.dispose()
    assert not [step for step in plan if step.startswith("SCAN") and "CONSTANT" not in step], plan
    assert any(step.startswith("SEARCH sender USING INDEX") for step in plan), plan
    assert all(not step.startswith("SCAN") for step in client_keys), client_keys


@given(st.lists(st.integers(), min_size=1, max_size=70))
def test_padded_lists_keep_their_values_in_few_lengths(values: list[int]) -> None:
    out = padded(values)
    assert out[: len(values)] == values
    assert set(out) == set(values)
    assert len(out) & (len(out) - 1) == 0  # a power of two
    assert len(out) < 2 * len(values)

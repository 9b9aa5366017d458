"""The audit log's hash chain: canonical encoding, entry hashes and chain verification.

Each audit entry commits to the one before it: ``hash = sha256(canonical(entry))`` where the
canonical encoding covers every hashed column, including the entry's ``seq`` (its gap-free
position in the chain) and ``prev_hash`` (the previous entry's ``hash``; 64 zeros for the
first). Editing an entry changes its hash; deleting, inserting or reordering entries breaks
the sequence or the links; deleting the tail leaves the head row (``audit_head``) pointing
past the last entry. Pure functions only: the store appends, the CLI streams rows in here.

What this does not prove: someone who can write to the database can recompute the whole chain
and the head. Recording the head (seq + hash) somewhere else from time to time, and checking
that a later chain still contains it, closes that gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS_HASH = "0" * 64

# The hashed columns. A new audit_log column is not covered until it is added here, which
# changes every hash: add it with a migration that rechains, or leave it out on purpose.
HASHED_FIELDS = (
    "seq",
    "id",
    "at",
    "actor_id",
    "tag",
    "target_type",
    "target_id",
    "before",
    "after",
    "note",
    "prev_hash",
)

# Problem kinds
EDITED = "edited"  # the entry's content no longer matches its hash
MISSING = "missing"  # a gap in seq: entries were deleted
RELINKED = "relinked"  # prev_hash does not name the previous entry's hash
OUT_OF_ORDER = "out_of_order"  # seq repeats or goes backwards
HEAD_MISMATCH = "head_mismatch"  # the head row disagrees with the last entry

_MAX_EXACT_INT = 2**63


def _normalise(value: Any) -> Any:
    """Make a JSON document encode the same whichever backend stored it.

    PostgreSQL's JSONB keeps numbers as ``numeric`` and prints ``1e+16`` back as
    ``10000000000000000``, so integral floats are encoded as integers (where an integer
    encoding exists)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT_INT:
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        # Never stored (UTCDateTime refuses naive values, which is the error the caller sees).
        return value.isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash is taken over: the hashed fields as sorted-key JSON."""
    document: dict[str, Any] = {}
    for field in HASHED_FIELDS:
        value = entry[field]
        if isinstance(value, datetime):
            value = _timestamp(value)
        elif field in ("before", "after"):
            value = _normalise(value)
        document[field] = value
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: Mapping[str, Any]) -> str:
    """Hex sha256 of the canonical encoding (``entry['hash']`` itself is ignored)."""
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking the whole chain."""

    checked: int
    head: Head | None
    problems: tuple[Problem, ...]
    more_problems: bool = False  # problems beyond those listed

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head": None if self.head is None else {"seq": self.head.seq, "hash": self.head.hash},
            "problems": [problem.as_dict() for problem in self.problems],
            "more_problems": self.more_problems,
        }


class ChainVerifier:
    """Checks a chain fed in seq order, a batch at a time (constant memory).

    ``feed`` the rows (mappings with the hashed fields plus ``hash``), then ``finish`` with the
    head row (``None`` when it is missing). Problems are listed in chain order, at most
    ``max_problems`` of them; ``checked`` counts the rows seen."""

    def __init__(self, *, max_problems: int = 100) -> None:
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self.checked = 0
        self.last: Head | None = None
        self.truncated = False  # more problems than max_problems

    def _report(self, seq: int, kind: str, detail: str) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(seq, kind, detail))
        else:
            self.truncated = True

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self._check(row)

    def _check(self, row: Mapping[str, Any]) -> None:
        self.checked += 1
        seq = int(row["seq"])
        expected_seq = self.last.seq + 1 if self.last else 1
        expected_prev = self.last.hash if self.last else GENESIS_HASH
        if seq < expected_seq:
            self._report(seq, OUT_OF_ORDER, f"entry {seq} follows entry {expected_seq - 1}")
            return  # keep linking from the entry before: a repeat must not hide a break
        if seq > expected_seq:
            missing = (
                f"entry {expected_seq} is missing"
                if seq == expected_seq + 1
                else f"entries {expected_seq}..{seq - 1} are missing"
            )
            self._report(expected_seq, MISSING, missing)
        elif row["prev_hash"] != expected_prev:
            self._report(
                seq, RELINKED, f"prev_hash {row['prev_hash']} is not entry {seq - 1}'s hash"
            )
        actual = entry_hash(row)
        if actual != row["hash"]:
            self._report(
                seq, EDITED, f"content hashes to {actual}, the entry records {row['hash']}"
            )
        # Link onwards from the stored hash so one edit is reported once, not at every entry.
        self.last = Head(seq, str(row["hash"]))

    def report(self, head: Head | None) -> Verification:
        """Check the head against the last entry and sum up."""
        problems = self.finish(head)
        return Verification(self.checked, head, tuple(problems), self.truncated)

    def finish(self, head: Head | None) -> list[Problem]:
        last_seq = self.last.seq if self.last else 0
        if head is None:
            if self.last is not None:
                self._report(last_seq, HEAD_MISMATCH, "the audit_head row is missing")
        elif head.seq > last_seq:
            self._report(
                last_seq + 1,
                HEAD_MISMATCH,
                f"the head is at entry {head.seq} but the last entry is {last_seq}: "
                "entries at the end were deleted",
            )
        elif head.seq < last_seq:
            self._report(
                head.seq + 1,
                HEAD_MISMATCH,
                f"the head is at entry {head.seq} but entries run to {last_seq}: "
                "entries were added without advancing the head",
            )
        elif self.last is not None and head.hash != self.last.hash:
            self._report(
                last_seq, HEAD_MISMATCH, f"the head records hash {head.hash} for entry {last_seq}"
            )
        return self.problems


def verify_chain(rows: Iterable[Mapping[str, Any]], head: Head | None = None) -> list[Problem]:
    """Every problem in a chain given in seq order (empty when intact).

    Without ``head`` the tail is not checked (a deleted last entry goes unnoticed)."""
    verifier = ChainVerifier()
    verifier.feed(rows)
    if head is None:
        return verifier.problems
    return verifier.finish(head)


def chain_entries(
    rows: Iterable[Mapping[str, Any]], *, start: Head | None = None
) -> list[dict[str, Any]]:
    """Assign seq, prev_hash and hash to unchained rows, in the order given (migrations)."""
    last = start or Head(0, GENESIS_HASH)
    chained = []
    for row in rows:
        entry = {**row, "seq": last.seq + 1, "prev_hash": last.hash}
        entry["hash"] = entry_hash(entry)
        chained.append(entry)
        last = Head(entry["seq"], entry["hash"])
    return chained

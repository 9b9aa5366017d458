"""Recall per evasion technique and false-positive rate of the keyword matcher on the corpus.

The corpus (tests/governance/corpus/) is spam, scam and fraud only. Thresholds are explained in
docs/policies.md ("Matching"): a technique the projections are designed to undo must be caught
every time; the phonetic ones tolerate misses; character splitting is reported, not required.
"""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from courtyard.governance.keywords import KeywordList, KeywordMatcher
from courtyard.governance.text import Projection

CORPUS = Path(__file__).parent / "corpus"

# Minimum recall per technique, and the maximum share of benign messages with any hit.
RECALL_THRESHOLDS: dict[str, float] = {
    "zero_width": 1.0,
    "spacing_and_symbols": 1.0,
    "fullwidth": 1.0,
    "homoglyphs": 0.9,
    "traditional": 1.0,
    "pinyin": 0.85,
    "initials": 0.9,
    "mixed": 0.85,
    "split_characters": 0.0,  # 拆字 is not undone by any projection: reported only
}
MAX_FALSE_POSITIVE_RATE = 0.01
MIN_ROWS_PER_TECHNIQUE = 20
MIN_BENIGN = 200


def load_lists() -> list[KeywordList]:
    data = tomllib.loads((CORPUS / "lists.toml").read_text(encoding="utf-8"))
    out = []
    for item in data["lists"]:
        projections = item.get("projections")
        out.append(
            KeywordList(
                name=item["name"],
                entries=tuple(item.get("entries", ())),
                combos=tuple(tuple(c) for c in item.get("combos", ())),
                exceptions=tuple(item.get("exceptions", ())),
                projections=(
                    frozenset(Projection(p) for p in projections)
                    if projections
                    else frozenset(Projection)
                ),
                category=item.get("category", ""),
            )
        )
    return out


def _rows(name: str) -> list[dict[str, str]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def matcher() -> KeywordMatcher:
    return KeywordMatcher(load_lists())


def _report(lines: list[str]) -> None:
    """Shown by `pytest -s` (or in the report of a failing run)."""
    print("\n".join(lines))  # noqa: T201


def test_corpus_is_large_enough() -> None:
    evasion = _rows("evasion.jsonl")
    counts: dict[str, int] = defaultdict(int)
    for row in evasion:
        counts[row["technique"]] += 1
    assert set(counts) == set(RECALL_THRESHOLDS)
    assert all(n >= MIN_ROWS_PER_TECHNIQUE for n in counts.values()), counts
    assert len(_rows("benign.jsonl")) >= MIN_BENIGN
    names = {kl.name for kl in load_lists()}
    assert {row["list"] for row in evasion} <= names


def test_recall_per_technique() -> None:
    m = matcher()
    caught: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    misses: dict[str, list[str]] = defaultdict(list)
    for row in _rows("evasion.jsonl"):
        tech = row["technique"]
        total[tech] += 1
        hits = m.match(row["text"])
        if any(h.list_name == row["list"] and h.entry == row["entry"] for h in hits):
            caught[tech] += 1
        else:
            misses[tech].append(row["text"])
    lines = ["", "keyword recall per evasion technique (threshold):"]
    failures = []
    for tech, threshold in RECALL_THRESHOLDS.items():
        recall = caught[tech] / total[tech]
        lines.append(
            f"  {tech:20s} {recall:6.1%}  ({caught[tech]}/{total[tech]}, min {threshold:.0%})"
        )
        if recall < threshold:
            failures.append(f"{tech}: {recall:.1%} < {threshold:.0%}; missed {misses[tech]}")
    _report(lines)
    assert not failures, "\n".join(failures)


def test_false_positive_rate() -> None:
    m = matcher()
    benign = _rows("benign.jsonl")
    flagged = []
    for row in benign:
        hits = m.match(row["text"])
        if hits:
            flagged.append(
                (row["text"], [(h.list_name, h.entry, h.projection.value) for h in hits])
            )
    rate = len(flagged) / len(benign)
    _report(
        [
            "",
            f"keyword false positives on benign chat: {rate:.2%} "
            f"({len(flagged)}/{len(benign)}, max {MAX_FALSE_POSITIVE_RATE:.0%})",
            *(f"  {text!r}: {hits}" for text, hits in flagged),
        ]
    )
    assert rate <= MAX_FALSE_POSITIVE_RATE, flagged


@pytest.mark.parametrize("technique", sorted(RECALL_THRESHOLDS))
def test_each_technique_has_realistic_rows(technique: str) -> None:
    rows = [r for r in _rows("evasion.jsonl") if r["technique"] == technique]
    # An evasion row must not contain its entry verbatim, else it measures nothing.
    verbatim = [r["text"] for r in rows if r["entry"] in r["text"]]
    assert not verbatim, verbatim

"""``courtyard policy test``: run a pack over recorded or hand-written events, offline.

Each line of the events file is one event::

    {"kind": "message", "text": "加我微信 abc123", "author": {"account_age_days": 2}}

(``fields`` instead of ``text`` for several text fields; ``event``, ``content`` and
``classifiers`` as in a pack example). Shadow rules count like enforced ones here: the
point is to see what every rule would do before it is enforced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courtyard.governance.engine import CompiledPolicy, example_event
from courtyard.governance.model import EventKind, RuleHit
from courtyard.governance.packs import Example, Pack, parse_pack


class EventsFileError(ValueError):
    """A line of the events file that is not an event; carries the line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(slots=True)
class RuleReport:
    rule_id: str
    action: str
    mode: str
    fired: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class TestReport:
    pack_id: str
    events: int = 0
    events_with_hits: int = 0
    rules: dict[str, RuleReport] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack_id,
            "events": self.events,
            "events_with_hits": self.events_with_hits,
            "rules": [
                {
                    "rule_id": report.rule_id,
                    "action": report.action,
                    "mode": report.mode,
                    "fired": report.fired,
                    "examples": report.examples,
                }
                for report in self.rules.values()
            ],
        }


def load_pack_file(path: Path) -> Pack:
    return parse_pack(path.read_text(encoding="utf-8"), source_name=str(path), base_dir=path.parent)


def read_events(lines: Iterable[str]) -> Iterator[tuple[int, EventKind, Example]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise EventsFileError(number, f"not JSON: {error.msg}") from error
        if not isinstance(record, dict):
            raise EventsFileError(number, "each line must be a JSON object")
        try:
            kind = EventKind(record.get("kind", "message"))
        except ValueError as error:
            raise EventsFileError(number, f"unknown kind {record.get('kind')!r}") from error
        text = record.get("text", "")
        if not isinstance(text, str):
            raise EventsFileError(number, "text must be a string")
        context = {
            key: record[key]
            for key in ("author", "event", "content", "fields", "classifiers")
            if key in record
        }
        if not all(isinstance(value, dict) for value in context.values()):
            raise EventsFileError(number, "author, event, content, fields are objects")
        yield number, kind, Example(text, context, number)


def run(pack: Pack, lines: Iterable[str], *, examples_per_rule: int = 3) -> TestReport:
    policy = CompiledPolicy([pack])
    report = TestReport(pack.id)
    for rule in policy.rules:
        report.rules[rule.id] = RuleReport(rule.id, rule.spec.action.value, rule.spec.mode.value)
    for number, kind, example in read_events(lines):
        report.events += 1
        decision = policy.evaluate(example_event(example, kind))
        hits = (*decision.hits, *decision.shadow_hits)
        if hits:
            report.events_with_hits += 1
        for hit in hits:
            entry = report.rules[hit.rule_id]
            entry.fired += 1
            if len(entry.examples) < examples_per_rule:
                entry.examples.append(_example(number, example, hit))
    return report


def _example(number: int, example: Example, hit: RuleHit) -> dict[str, Any]:
    spans = [
        {
            key: signal[key]
            for key in ("signal", "entry", "pattern", "projection", "matched", "start", "end")
            if key in signal
        }
        for signal in hit.evidence.get("signals", [])
    ]
    return {"line": number, "text": example.text, "signals": spans}


def render(report: TestReport) -> str:
    lines = [
        f"pack {report.pack_id}: {report.events} events, {report.events_with_hits} with a hit",
        "",
        f"{'rule':<48} {'action':<13} {'mode':<8} {'fired':>6}",
    ]
    for entry in report.rules.values():
        lines.append(f"{entry.rule_id:<48} {entry.action:<13} {entry.mode:<8} {entry.fired:>6}")
        for example in entry.examples:
            caught = "; ".join(
                f"{signal.get('signal')} {signal.get('entry') or signal.get('pattern') or ''}"
                f" via {signal.get('projection', '-')} at {signal.get('start')}-{signal.get('end')}"
                for signal in example["signals"]
            )
            lines.append(f"    line {example['line']}: {example['text'][:60]!r}  [{caught}]")
    return "\n".join(lines)

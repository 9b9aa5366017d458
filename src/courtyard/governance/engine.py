"""The rules engine: packs compiled into one policy that decides an event in microseconds.

Compiling builds one automaton for every keyword list of every pack, one matcher per other
signal type, CEL programs for every rule, and an index from event kind and signal to the
rules that can fire. Deciding an event then costs: the text projections and one scan, the
few detectors some rule of that kind reads, and CEL only for rules whose gates passed.
Everything here is pure CPU: the governance service fetches the facts (author, counters)
before it calls ``evaluate``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, Protocol, TypeVar

import cel

from courtyard.governance.conditions import (
    COUNTER_FIELDS,
    PII_KINDS,
    SIGNAL_FAMILIES,
    VARIABLES,
    CheckedCondition,
    ConditionError,
    check_condition,
)
from courtyard.governance.detectors import PiiKind, detect_pii
from courtyard.governance.hashes import HashList, HashMatcher, ImageHashes, load_hash_list
from courtyard.governance.keywords import KeywordList, KeywordMatcher
from courtyard.governance.links import DomainList, DomainMatcher, Link, extract_links
from courtyard.governance.model import (
    Decision,
    EventKind,
    Mode,
    PolicyEvent,
    RuleHit,
)
from courtyard.governance.packs import Example, Pack, PackError, Problem, RuleSpec, SignalSpec
from courtyard.governance.regexsets import RegexMatcher, RegexSet
from courtyard.governance.text import Projection

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ClassifierResult:
    score: float  # 0.0 … 1.0
    label: str


class Classifier(Protocol):
    """A model that scores text; rules read it as ``classifiers.<name>.score``.

    The engine is complete without any: none ships (see docs/policies.md for what a shipped
    classifier must document). ``tests/governance/test_classifier.py`` is the conformance
    test an implementation must pass.
    """

    name: str

    def classify(self, text: str) -> ClassifierResult: ...


@dataclass(frozen=True, slots=True)
class FactNeeds:
    """What the service must fetch before ``evaluate`` for one event kind."""

    author_fields: frozenset[str] = frozenset()
    counter_reads: frozenset[str] = frozenset()  # names in COUNTER_FIELDS read by rules
    counter_increments: frozenset[str] = frozenset()  # names this kind increments


_NO_NEEDS = FactNeeds()


@dataclass(frozen=True, slots=True)
class Pending:
    """An event between ``prepare`` and ``finish``."""

    event: PolicyEvent
    found: dict[str, list[Any]]
    candidates: tuple[CompiledRule, ...]
    author_fields: frozenset[str]
    # Set when no signal hit: the candidates are the kind's rules without a signal gate, and
    # ``finish`` picks those whose first numeric gate passes by threshold, not one by one.
    ungated: _UngatedIndex | None = None
    # Set when some signal hit: the candidates are the gated rules only, and ``finish`` adds
    # the ungated rules whose first numeric gate can pass (in rule order).
    also: _UngatedIndex | None = None
    # The author fields that are counters (COUNTER_FIELDS), which the service reads.
    counter_reads: frozenset[str] = frozenset()


def _counter_reads(author_fields: frozenset[str]) -> frozenset[str]:
    return author_fields.intersection(COUNTER_FIELDS)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledRule:
    spec: RuleSpec
    pack_id: str
    pack_version: int
    condition: CheckedCondition
    order: int
    # The CEL variables this rule reads: (root, fields or None for the whole value), so its
    # context holds only those (converting values into CEL is the expensive part).
    plan: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    author_fields: frozenset[str] = frozenset()
    # Worked out once at compile, read for every candidate and every hit: per signal gate,
    # (minimum, qualified signal names); the signals its evidence cites, sorted, as
    # (signal, qualified name); the facts it cites, as (root, field).
    gates: tuple[tuple[int, tuple[str, ...]], ...] = ()
    cited_signals: tuple[tuple[str, str], ...] = ()
    cited_facts: tuple[tuple[str, str, str, Any], ...] = ()  # root, field, key, default

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(slots=True)
class _KindIndex:
    by_signal: dict[str, list[CompiledRule]] = field(default_factory=dict)
    ungated: list[CompiledRule] = field(default_factory=list)
    keyword_lists: set[str] = field(default_factory=set)
    regex_sets: set[str] = field(default_factory=set)
    domain_lists: set[str] = field(default_factory=set)
    hash_lists: set[str] = field(default_factory=set)
    pii: set[PiiKind] = field(default_factory=set)
    links: bool = False
    classifiers: set[str] = field(default_factory=set)
    author_fields: set[str] = field(default_factory=set)
    ungated_author_fields: frozenset[str] = frozenset()
    ungated_counter_reads: frozenset[str] = frozenset()
    ungated_rules: tuple[CompiledRule, ...] = ()
    ungated_index: _UngatedIndex = field(default_factory=lambda: _UngatedIndex((), ()))
    # What the matchers are asked for: None when this kind reads every list of the type
    # (the matcher then skips filtering), else the names.
    keyword_filter: frozenset[str] | None = None
    regex_filter: frozenset[str] | None = None

    def add_signals(self, rule: CompiledRule) -> None:
        """Remember which signals a rule of this kind reads: only those are computed."""
        for signal in rule.condition.signals:
            family, name = signal.split(".", 1)
            qualified = _qualified(rule.pack_id, signal)
            if family == "lists":
                self.keyword_lists.add(qualified)
            elif family == "regex":
                self.regex_sets.add(qualified)
            elif family == "domains":
                self.domain_lists.add(qualified)
                self.links = True
            elif family == "hashes":
                self.hash_lists.add(qualified)
            elif family == "pii":
                self.pii.add(PiiKind(name))
        if any(path[0] == "links" for path in rule.condition.paths):
            self.links = True


def _qualified(pack_id: str, signal: str) -> str:
    return f"{pack_id}/{signal}"


class CompiledPolicy:
    """Every loaded pack, compiled; immutable, so a reload swaps it whole."""

    def __init__(
        self,
        packs: Sequence[Pack],
        *,
        classifiers: Sequence[Classifier] = (),
        check_examples: bool = True,
    ) -> None:
        self.packs = tuple(packs)
        self.classifiers = {classifier.name: classifier for classifier in classifiers}
        self.rules: list[CompiledRule] = []
        self._signal_specs: dict[str, SignalSpec] = {}
        problems: dict[str, list[Problem]] = {}
        ids = [pack.id for pack in self.packs]
        for pack in self.packs:
            if ids.count(pack.id) > 1:
                problems.setdefault(pack.source_name, []).append(
                    Problem(None, f"another loaded pack already has the id {pack.id!r}")
                )
        self._build_matchers(problems)
        for pack in self.packs:
            self._compile_rules(pack, problems)
        if problems:
            raise _first_error(self.packs, problems)
        self._index = self._build_index()
        self._compute_needs()
        if check_examples:
            for pack in self.packs:
                self._check_examples(pack, problems)
            if problems:
                raise _first_error(self.packs, problems)

    # -- compiling ------------------------------------------------------------------------

    def _build_matchers(self, problems: dict[str, list[Problem]]) -> None:
        keyword_lists: list[KeywordList] = []
        regex_sets: list[RegexSet] = []
        domain_lists: list[DomainList] = []
        hash_lists: list[HashList] = []
        owners: dict[str, tuple[Pack, SignalSpec]] = {}
        for pack in self.packs:
            for spec in pack.signals:
                name = _qualified(pack.id, f"{spec.family}.{spec.name}")
                self._signal_specs[name] = spec
                owners[name] = (pack, spec)
                try:
                    if spec.type == "keywords":
                        keyword_lists.append(
                            KeywordList(
                                name=name,
                                entries=spec.entries,
                                combos=spec.combos,
                                exceptions=spec.exceptions,
                                projections=frozenset(Projection(p) for p in spec.projections),
                                category=spec.category,
                                confidential=spec.confidential,
                            )
                        )
                    elif spec.type == "regex":
                        regex_sets.append(
                            RegexSet(
                                name, spec.entries, spec.category, spec.confidential, spec.flags
                            )
                        )
                    elif spec.type == "domains":
                        domain_lists.append(
                            DomainList(name, spec.entries, spec.category, spec.confidential)
                        )
                    else:
                        hash_lists.append(
                            load_hash_list(
                                name,
                                "\n".join(spec.entries),
                                max_distance=spec.max_distance,
                                category=spec.category,
                                confidential=spec.confidential,
                            )
                        )
                except ValueError as error:
                    problems.setdefault(pack.source_name, []).append(
                        Problem(spec.line, f"lists.{spec.name}: {error}")
                    )

        def build(factory: Callable[[], _T], empty: Callable[[], _T]) -> _T:
            try:
                return factory()
            except ValueError as error:
                message = str(error)
                for name, (pack, spec) in owners.items():
                    if name in message:
                        problems.setdefault(pack.source_name, []).append(
                            Problem(
                                spec.line, f"lists.{spec.name}: {message.replace(name, spec.name)}"
                            )
                        )
                        break
                else:
                    first = self.packs[0] if self.packs else None
                    if first is not None:
                        problems.setdefault(first.source_name, []).append(Problem(None, message))
                return empty()

        self.keywords = build(lambda: KeywordMatcher(keyword_lists), lambda: KeywordMatcher([]))
        self.regexes = build(lambda: RegexMatcher(regex_sets), lambda: RegexMatcher([]))
        self.domains = build(lambda: DomainMatcher(domain_lists), lambda: DomainMatcher([]))
        self.hashes = build(lambda: HashMatcher(hash_lists), lambda: HashMatcher([]))

    def _compile_rules(self, pack: Pack, problems: dict[str, list[Problem]]) -> None:
        declared = dict(pack.declared())
        declared["classifiers"] = frozenset(self.classifiers)
        for spec in pack.rules:
            try:
                condition = check_condition(spec.when, declared)
            except ConditionError as error:
                problems.setdefault(pack.source_name, []).append(
                    Problem(spec.when_line or spec.line, f"{spec.id}: when: {error}")
                )
                continue
            self.rules.append(
                CompiledRule(
                    spec,
                    pack.id,
                    pack.version,
                    condition,
                    order=len(self.rules),
                    plan=_plan(condition),
                    author_fields=condition.fields("author"),
                    gates=tuple(
                        (gate.minimum, tuple(_qualified(pack.id, name) for name in gate.signals))
                        for gate in condition.signal_gates
                    ),
                    cited_signals=tuple(
                        (signal, _qualified(pack.id, signal))
                        for signal in sorted(condition.signals)
                    ),
                    cited_facts=tuple(
                        (root, name, f"{root}.{name}", VARIABLES[root].get(name))
                        for root in ("author", "event", "content")
                        for name in sorted(condition.fields(root))
                    ),
                )
            )

    def _build_index(self) -> dict[EventKind, _KindIndex]:
        index: dict[EventKind, _KindIndex] = {}
        for rule in self.rules:
            for kind in rule.spec.events:
                entry = index.setdefault(kind, _KindIndex())
                gates = rule.condition.signal_gates
                if gates:
                    for signal in gates[0].signals:
                        entry.by_signal.setdefault(_qualified(rule.pack_id, signal), []).append(
                            rule
                        )
                else:
                    entry.ungated.append(rule)
                entry.add_signals(rule)
                entry.classifiers |= rule.condition.fields("classifiers")
                entry.author_fields |= rule.condition.fields("author")
        for entry in index.values():
            for name, rules in entry.by_signal.items():
                entry.by_signal[name] = list(dict.fromkeys(rules))  # in order, once each
            entry.ungated_author_fields = frozenset(
                name for rule in entry.ungated for name in rule.author_fields
            )
            entry.ungated_counter_reads = _counter_reads(entry.ungated_author_fields)
            entry.ungated_rules = tuple(entry.ungated)
            entry.ungated_index = _UngatedIndex.build(entry.ungated)
            everything = self.keywords.list_names
            entry.keyword_filter = (
                None if entry.keyword_lists >= everything else frozenset(entry.keyword_lists)
            )
            all_sets = {
                _qualified(p.id, f"regex.{s.name}")
                for p in self.packs
                for s in p.signals
                if s.type == "regex"
            }
            entry.regex_filter = (
                None if entry.regex_sets >= all_sets else frozenset(entry.regex_sets)
            )
        return index

    # -- what the service must fetch --------------------------------------------------------

    def needs(self, kind: EventKind) -> FactNeeds:
        """What the service must fetch for this kind (computed once per compile: it is
        asked for every event)."""
        return self._needs.get(kind) or self._no_needs.get(kind) or _NO_NEEDS

    def _compute_needs(self) -> None:
        counted = frozenset(
            name
            for rule in self.rules
            for name in rule.condition.fields("author")
            if name in COUNTER_FIELDS
        )
        self._needs: dict[EventKind, FactNeeds] = {}
        self._no_needs: dict[EventKind, FactNeeds] = {}
        for kind in EventKind:
            increments = frozenset(
                name for name in counted if kind.value in COUNTER_FIELDS[name].counts
            )
            entry = self._index.get(kind)
            if entry is None:
                if increments:
                    self._no_needs[kind] = FactNeeds(counter_increments=increments)
                continue
            self._needs[kind] = FactNeeds(
                author_fields=frozenset(entry.author_fields - set(COUNTER_FIELDS)),
                counter_reads=frozenset(
                    name for name in entry.author_fields if name in COUNTER_FIELDS
                ),
                counter_increments=increments,
            )

    def reads_images(self, kind: EventKind) -> bool:
        entry = self._index.get(kind)
        return entry is not None and bool(entry.hash_lists)

    # -- deciding ---------------------------------------------------------------------------

    def evaluate(self, event: PolicyEvent) -> Decision:
        """Decide with the facts already on the event (the CLI, examples, the benchmark)."""
        entry = self._index.get(event.kind)
        if entry is None:
            return Decision.allow()
        found = self._signals(event, entry)
        by_signal = entry.by_signal
        gated = [rules for name in found if (rules := by_signal.get(name))]
        if not gated and (not entry.ungated_rules or entry.ungated_index.none_pass(event)):
            return Decision.allow()  # what finish decides with no candidate, without a scope
        return self._run(self._pending(event, entry, found, gated), None)

    def prepare(self, event: PolicyEvent) -> Pending | None:
        """Signals and the rules they make candidates; None when no rule can fire.

        Split from ``finish`` so the service fetches author facts and counters only for an
        event some candidate rule reads them for.
        """
        entry = self._index.get(event.kind)
        if entry is None:
            return None
        found = self._signals(event, entry)
        gated = [rules for name in found if (rules := entry.by_signal.get(name))]
        if not gated and not entry.ungated_rules:
            return None
        return self._pending(event, entry, found, gated)

    def _pending(
        self,
        event: PolicyEvent,
        entry: _KindIndex,
        found: dict[str, list[Any]],
        gated: list[list[CompiledRule]],
    ) -> Pending:
        if not gated:
            return Pending(
                event,
                found,
                entry.ungated_rules,
                entry.ungated_author_fields,
                entry.ungated_index,
                counter_reads=entry.ungated_counter_reads,
            )
        if len(gated) == 1:
            candidates = gated[0]  # each list of by_signal is in rule order, without repeats
        else:
            candidates = sorted({rule for rules in gated for rule in rules}, key=_ORDER)
        author_fields = set(entry.ungated_author_fields)
        for rule in candidates:
            author_fields |= rule.author_fields
        fields = frozenset(author_fields)
        return Pending(
            event,
            found,
            tuple(candidates),
            fields,
            also=entry.ungated_index if entry.ungated_rules else None,
            counter_reads=_counter_reads(fields),
        )

    def finish(self, pending: Pending, author: Mapping[str, Any] | None = None) -> Decision:
        """Run the candidate rules with the author facts the service fetched."""
        event = pending.event
        if pending.ungated is not None and pending.ungated.none_pass(event, author):
            # No signal and no threshold passed: most chat messages, decided without copying
            # the event or building a scope (what ``evaluate`` does for them).
            return Decision.allow()
        return self._run(pending, author)

    def _run(self, pending: Pending, author: Mapping[str, Any] | None) -> Decision:
        event = pending.event
        if author:
            facts = dict(event.facts)
            facts["author"] = {**facts.get("author", {}), **author}
            event = replace(event, facts=facts)
        scope = _Scope(self, event, pending.found)
        hits: list[RuleHit] = []
        shadow: list[RuleHit] = []
        candidates = pending.candidates
        if pending.ungated is not None:
            candidates = pending.ungated.select(scope)
        elif pending.also is not None:
            # Only the ungated rules whose first numeric gate can pass (by threshold; a value
            # that is not a number, or a bool, keeps its group for gates_pass to decide).
            chosen = pending.also.select(scope, bools=True)
            if chosen:
                candidates = tuple(sorted((*candidates, *chosen), key=_ORDER))
        for rule in candidates:
            passed = scope.gates_pass(rule)
            if not passed:
                continue
            decided = passed is _DECIDED and rule.condition.gates_only
            if not decided and scope.execute(rule) is not True:
                continue
            hit = scope.hit(rule)
            (shadow if rule.spec.mode is Mode.SHADOW else hits).append(hit)
        return Decision.from_hits(tuple(hits), tuple(shadow))

    def _signals(self, event: PolicyEvent, entry: _KindIndex) -> dict[str, list[Any]]:
        """Every signal some rule of this kind reads, computed once per event."""
        found: dict[str, list[Any]] = {}
        for field_name, text in event.text.items():
            if text:
                self._text_signals(text, field_name, entry, found)
        if entry.links:
            links = [link for text in event.text.values() if text for link in extract_links(text)]
            found["*/links"] = links
            if entry.domain_lists and links:
                for domain_hit in self.domains.match(links, lists=entry.domain_lists):
                    found.setdefault(domain_hit.list_name, []).append(domain_hit)
        if entry.hash_lists:
            images = [_image_hashes(item) for item in event.context.get("image_hashes") or ()]
            for hash_hit in self.hashes.match(images, lists=entry.hash_lists):
                found.setdefault(hash_hit.list_name, []).append(hash_hit)
        if entry.classifiers:
            joined = "\n".join(event.text.values())
            found["*/classifiers"] = [
                (name, self.classifiers[name].classify(joined)) for name in entry.classifiers
            ]
        # The gate index looks signals up per pack; PII is shared by all packs.
        if entry.pii:
            for name in [key for key in found if key.startswith("*/pii.")]:
                for pack in self.packs:
                    found[_qualified(pack.id, name[2:])] = found[name]
        return found

    def _text_signals(
        self, text: str, field_name: str, entry: _KindIndex, found: dict[str, list[Any]]
    ) -> None:
        if entry.keyword_lists:
            for hit in self.keywords.match(text, lists=entry.keyword_filter, field=field_name):
                found.setdefault(hit.list_name, []).append(hit)
        if entry.regex_sets:
            for regex_hit in self.regexes.match(text, sets=entry.regex_filter):
                found.setdefault(regex_hit.set_name, []).append(regex_hit)
        if entry.pii:
            for pii_hit in detect_pii(text, entry.pii):
                found.setdefault(f"*/pii.{pii_hit.kind.value}", []).append(pii_hit)

    # -- examples ---------------------------------------------------------------------------

    def _check_examples(self, pack: Pack, problems: dict[str, list[Problem]]) -> None:
        for rule in self.rules:
            if rule.pack_id != pack.id:
                continue
            for example, expected in [
                *((example, True) for example in rule.spec.must_match),
                *((example, False) for example in rule.spec.must_not_match),
            ]:
                fired = any(self._fires(rule, example, kind) for kind in rule.spec.events)
                if fired != expected:
                    verb = "must match but does not" if expected else "must not match but does"
                    problems.setdefault(pack.source_name, []).append(
                        Problem(
                            example.line or rule.spec.line,
                            f"{rule.id}: example {verb}: {example.describe()}",
                        )
                    )

    def _fires(self, rule: CompiledRule, example: Example, kind: EventKind) -> bool:
        event = example_event(example, kind)
        decision = self.evaluate(event)
        return any(hit.rule_id == rule.id for hit in (*decision.hits, *decision.shadow_hits))


def example_event(example: Example, kind: EventKind) -> PolicyEvent:
    """The event a pack example stands for (also how ``courtyard policy test`` reads JSONL)."""
    context = dict(example.context)
    fields = context.get("fields") or {"text": example.text}
    return PolicyEvent(
        kind,
        actor_id=str(context.get("author", {}).get("id", "example")),
        subject_type="example",
        subject_id=str(context.get("event", {}).get("subject_id", "example")),
        text={str(k): str(v) for k, v in fields.items()},
        context=dict(context.get("event", {})),
        facts={
            "author": dict(context.get("author", {})),
            "content": dict(context.get("content", {})),
            "classifiers": dict(context.get("classifiers", {})),
        },
    )


_DECIDED = object()
_AUTHOR_DEFAULTS: dict[str, Any] = VARIABLES["author"]
_EVENT_DEFAULTS: dict[str, Any] = VARIABLES["event"]

_ORDER = attrgetter("order")  # rules sort by their place in the packs


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


class _Scope:
    """One event being decided: the values rules read, built lazily and at most once."""

    __slots__ = ("_contexts", "_described", "_event", "_found", "_policy", "_roots")

    def __init__(self, policy: CompiledPolicy, event: PolicyEvent, found: dict[str, list[Any]]):
        self._policy = policy
        self._event = event
        self._found = found
        self._roots: dict[str, dict[str, Any]] = {}
        # Rules that read the same variables share one CEL context, and rules that cite the
        # same signal share its description: a hit on a list many rules read is paid once.
        self._contexts: dict[tuple[str, Any], cel.Context] = {}
        self._described: dict[str, list[dict[str, Any]]] = {}

    def root(self, name: str) -> dict[str, Any]:
        """``event``, ``author`` or ``content`` as plain values (no defaults filled in)."""
        value = self._roots.get(name)
        if value is None:
            event = self._event
            if name == "event":
                value = {
                    "kind": event.kind.value,
                    "subject_type": event.subject_type,
                    "subject_id": event.subject_id or "",
                    **event.context,
                }
            elif name == "author":
                value = dict(event.facts.get("author", {}))
                value.setdefault("id", event.actor_id or "")
            else:
                value = dict(event.facts.get(name, {}))
            self._roots[name] = value
        return value

    def gates_pass(self, rule: CompiledRule) -> bool | object:
        """False when a gate fails; ``_DECIDED`` when every gate could be tested (then a
        gates-only condition is true); True when some gate had to be left to the program."""
        found = self._found
        for minimum, names in rule.gates:
            for name in names:
                if len(found.get(name, ())) >= minimum:
                    break
            else:
                return False
        decided = True
        for numeric in rule.condition.numeric_gates:
            actual = self.number(numeric.root, numeric.field)
            if isinstance(actual, bool) or not isinstance(actual, int | float):
                decided = False  # not a number: the program decides (and may raise)
                continue
            if not numeric.compare(actual, numeric.value):
                return False
        return _DECIDED if decided else True

    def number(self, root: str, name: str) -> Any:
        """A field as the CEL program sees it (its declared default when absent)."""
        actual = self.root(root).get(name)
        return VARIABLES[root].get(name) if actual is None else actual

    def execute(self, rule: CompiledRule) -> Any:
        key = (rule.pack_id, rule.plan)
        context = self._contexts.get(key)
        if context is None:
            context = cel.Context()
            for root, wanted in rule.plan:
                context.add_variable(root, self._value(rule, root, wanted))
            self._contexts[key] = context
        try:
            return rule.condition.program.execute(context)
        except Exception:  # a runtime error in a checked rule: it does not fire
            return False

    def _value(self, rule: CompiledRule, root: str, wanted: tuple[str, ...] | None) -> Any:
        """The CEL value of one variable, with only the fields the rule reads."""
        event = self._event
        if root in SIGNAL_FAMILIES or root == "pii":
            return {
                name: _signal_value(self._found.get(_qualified(rule.pack_id, f"{root}.{name}"), ()))
                for name in wanted or ()
            }
        if root == "text":
            return "\n".join(event.text.values())
        if root == "fields":
            return dict(event.text)
        if root == "links":
            links: list[Link] = self._found.get("*/links", [])
            return {
                "count": len(links),
                "hosts": [link.host for link in links],
                "urls": [link.url for link in links],
            }
        if root == "classifiers":
            scores = dict(event.facts.get("classifiers", {}))
            for name, result in self._found.get("*/classifiers", []):
                scores[name] = {"score": result.score, "label": result.label}
            return scores
        defaults: dict[str, Any] = VARIABLES[root]
        actual = self.root(root)
        names = wanted if wanted is not None else tuple(defaults)
        # A fact given as None is absent (as the gates read it): the declared default.
        return {name: _or_default(actual.get(name), defaults.get(name)) for name in names}

    def hit(self, rule: CompiledRule) -> RuleHit:
        spec = rule.spec
        return RuleHit(
            spec.id,
            spec.policy,
            spec.reason_en,
            self._evidence(rule),
            spec.reason_zh,
            spec.action,
            spec.mode,
            spec.severity,
            spec.label,
            rule.pack_id,
            rule.pack_version,
        )

    def _evidence(self, rule: CompiledRule) -> dict[str, Any]:
        signals: list[dict[str, Any]] = []
        known = self._described
        for signal, qualified in rule.cited_signals:
            described = known.get(qualified)
            if described is None:
                spec = self._policy._signal_specs.get(qualified)
                described = [
                    _describe(signal, spec, item) for item in self._found.get(qualified, ())
                ]
                known[qualified] = described
            signals += described
        facts: dict[str, Any] = {}
        for root, name, key, default in rule.cited_facts:
            facts[key] = _or_default(self.root(root).get(name), default)
        return {"condition": rule.spec.when, "signals": signals, "facts": facts}


@dataclass(frozen=True, slots=True)
class _ThresholdGroup:
    """Ungated rules whose first gate is ``root.field > N`` (or ``>=``), by threshold."""

    root: str
    field: str
    thresholds: tuple[float, ...]
    rules: tuple[CompiledRule, ...]
    strict: tuple[bool, ...]

    def passing(self, value: Any, bools: bool = False) -> list[CompiledRule]:
        if not isinstance(value, int | float) or (bools and isinstance(value, bool)):
            return list(self.rules)  # not a number: let each rule's program decide
        # Every rule with threshold < value passes; == value passes when not strict.
        end = bisect_right(self.thresholds, value)
        chosen = list(self.rules[:end])
        index = end - 1
        while index >= 0 and self.thresholds[index] == value:
            if self.strict[index]:
                chosen.remove(self.rules[index])
            index -= 1
        return chosen


@dataclass(frozen=True, slots=True)
class _UngatedIndex:
    """The rules of a kind that have no signal gate (rate limits and the like), so that
    choosing the ones whose threshold an event passes costs a lookup per field, not a gate
    check per rule."""

    groups: tuple[_ThresholdGroup, ...]
    rest: tuple[CompiledRule, ...]

    @classmethod
    def build(cls, rules: Sequence[CompiledRule]) -> _UngatedIndex:
        grouped: dict[tuple[str, str], list[tuple[float, bool, CompiledRule]]] = {}
        rest: list[CompiledRule] = []
        for rule in rules:
            gates = rule.condition.numeric_gates
            gate = gates[0] if gates else None
            op = getattr(gate, "op", None)
            if gate is None or op not in {">", ">="}:
                rest.append(rule)
                continue
            grouped.setdefault((gate.root, gate.field), []).append((gate.value, op == ">", rule))
        groups = []
        for (root, name), items in grouped.items():
            items.sort(key=lambda item: item[0])
            groups.append(
                _ThresholdGroup(
                    root,
                    name,
                    tuple(item[0] for item in items),
                    tuple(item[2] for item in items),
                    tuple(item[1] for item in items),
                )
            )
        return cls(tuple(groups), tuple(rest))

    def select(self, scope: _Scope, *, bools: bool = False) -> tuple[CompiledRule, ...]:
        """The rules whose first gate can pass (``bools``: a bool value keeps the group, as
        ``gates_pass`` leaves a bool to the program)."""
        chosen: list[CompiledRule] = list(self.rest)
        for group in self.groups:
            chosen.extend(group.passing(scope.number(group.root, group.field), bools))
        if len(chosen) > 1:
            chosen.sort(key=_ORDER)
        return tuple(chosen)

    def none_pass(self, event: PolicyEvent, fetched: Mapping[str, Any] | None = None) -> bool:
        """Whether ``select`` would choose nothing: the common case of a message with no
        signal, decided from the author's facts without building a scope (only for groups
        on ``author`` and the event's context, read as ``_Scope.number`` reads them).
        ``fetched``: author facts the service fetched, which ``finish`` lays over the event's."""
        if self.rest:
            return False
        author = event.facts.get("author", {})
        context = event.context
        if type(author) is not dict or type(context) is not dict:
            return False
        for group in self.groups:
            field_name = group.field
            if group.root == "author" and field_name != "id":
                value = (
                    fetched[field_name]
                    if fetched and field_name in fetched
                    else author.get(field_name)
                )
                if value is None:
                    value = _AUTHOR_DEFAULTS.get(field_name)
            elif group.root == "event":
                # kind, subject_type and subject_id, when the context does not set them, are
                # strings: not numbers, so this returns False below, as select would pick.
                value = context.get(field_name)
                if value is None:
                    value = _EVENT_DEFAULTS.get(field_name)
            else:
                return False
            if not isinstance(value, int | float):
                return False
            if bisect_right(group.thresholds, value) and group.passing(value):
                return False  # (passing is empty when no threshold is below the value)
        return True


def _plan(condition: CheckedCondition) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    plan: dict[str, tuple[str, ...] | None] = {}
    for path in sorted(condition.paths):
        root = path[0]
        whole = len(path) == 1 or root in {"fields", "classifiers", "text", "links"}
        if whole and root not in SIGNAL_FAMILIES and root != "pii":
            plan[root] = None
        elif root not in plan or plan[root] is not None:
            plan[root] = tuple(sorted({*(plan.get(root) or ()), path[1]}))
    return tuple(plan.items())


def _image_hashes(item: Any) -> ImageHashes:
    """Image hashes as a service passes them, or as a pack example or test file writes them
    (``{"sha256": "…", "dhash": "<16 hex>"}``)."""
    if isinstance(item, ImageHashes):
        return item
    if isinstance(item, dict):
        return ImageHashes(str(item.get("sha256", "")), int(str(item.get("dhash", "0")), 16))
    raise ValueError(f"not image hashes: {item!r}")


def _signal_value(items: Iterable[Any]) -> dict[str, Any]:
    items = list(items)
    if not items:
        return {"hit": False, "count": 0, "entries": [], "projections": [], "categories": []}
    entries: list[str] = []
    projections: list[str] = []
    for item in items:
        entry = getattr(item, "entry", None) or getattr(item, "pattern", None) or ""
        if entry and entry not in entries:
            entries.append(entry)
        projection = getattr(item, "projection", None)
        if projection is not None and projection.value not in projections:
            projections.append(projection.value)
    return {
        "hit": True,
        "count": len(items),
        "entries": entries,
        "projections": projections,
        "categories": [],
    }


def _describe(signal: str, spec: SignalSpec | None, item: Any) -> dict[str, Any]:
    """One matched signal as a decision record stores it (and a notice may show it)."""
    described: dict[str, Any] = {"signal": signal}
    if spec is not None:
        described.update(type=spec.type, category=spec.category, confidential=spec.confidential)
    for name in ("entry", "pattern", "field", "start", "end", "matched", "masked", "distance"):
        value = getattr(item, name, None)
        if value is not None:
            described[name] = value
    projection = getattr(item, "projection", None)
    if projection is not None:
        described["projection"] = projection.value
    kind = getattr(item, "kind", None)
    if kind is not None:
        described["kind"] = getattr(kind, "value", kind)
    link = getattr(item, "link", None)
    if link is not None:
        described.update(url=link.url, host=link.host, start=link.start, end=link.end)
    return described


def _first_error(packs: Sequence[Pack], problems: Mapping[str, list[Problem]]) -> PackError:
    """One PackError for the first pack with problems (each pack is refused on its own)."""
    for pack in packs:
        if pack.source_name in problems:
            return PackError(pack.source_name, problems[pack.source_name])
    name, found = next(iter(problems.items()))
    return PackError(name, found)


__all__ = [
    "PII_KINDS",
    "Classifier",
    "ClassifierResult",
    "CompiledPolicy",
    "FactNeeds",
    "ImageHashes",
    "example_event",
]

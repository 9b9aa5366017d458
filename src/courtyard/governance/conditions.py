"""Rule conditions: CEL expressions, checked before a pack is accepted and split into gates.

A condition is compiled once per pack version with ``common-expression-language``. That
library has no type checker, so the check here is ours: every variable path a condition
reads must be declared (``VARIABLES`` below, plus the signals its pack declares), and the
condition is evaluated against typed sample values so a comparison of a number with a
string is refused at load, not discovered on live traffic.

Gates are the top-level ``&&`` terms the engine can test natively (``lists.spam.hit``,
``author.messages_per_minute > 30``). A rule runs its CEL program only when its gates pass,
and rules are indexed by the signal of their first gate, so a message that hits nothing
runs only the few rules that have no signal gate. Gates are conjuncts of the same
expression, so skipping a rule whose gate is false never changes an outcome.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

# The signal families a pack declares by name; a condition reads ``<family>.<name>.<field>``.
SIGNAL_FAMILIES = ("lists", "regex", "domains", "hashes")
PII_KINDS = ("cn_resident_id", "phone", "bank_card", "email", "address")

# Fields of one declared signal, with their sample (zero) values.
SIGNAL_FIELDS: dict[str, Any] = {
    "hit": False,
    "count": 0,
    "entries": [],
    "projections": [],
    "categories": [],
}


@dataclass(frozen=True, slots=True)
class CounterField:
    """An ``author.*`` field backed by a counter: which events count, over which window."""

    counts: frozenset[str]  # event kinds that increment it
    window_seconds: int
    distinct_of: str | None = None  # "subject_id": count distinct subjects (recipients)
    amount_of: str | None = None  # an event context key holding the amount to add


COUNTER_FIELDS: dict[str, CounterField] = {
    "messages_per_minute": CounterField(frozenset({"message"}), 60),
    "messages_per_hour": CounterField(frozenset({"message"}), 3600),
    "recipients_per_hour": CounterField(frozenset({"message"}), 3600, distinct_of="subject_id"),
    "posts_per_day": CounterField(frozenset({"post"}), 86400),
    "comments_per_hour": CounterField(frozenset({"comment"}), 3600),
    "contact_requests_per_day": CounterField(frozenset({"contact.request"}), 86400),
    "groups_created_per_day": CounterField(frozenset({"group"}), 86400),
    "payments_per_hour": CounterField(frozenset({"payment"}), 3600),
    "payment_amount_per_day": CounterField(frozenset({"payment"}), 86400, amount_of="amount"),
}

# Every variable a condition may read, with a sample value of its declared type. Nested maps
# are declared field by field; unknown fields are refused at load.
VARIABLES: dict[str, Any] = {
    "text": "",
    "fields": {},
    "event": {
        "kind": "",
        "subject_type": "",
        "subject_id": "",
        "conversation_kind": "",
        "hops": 0,
        "attachments": 0,
        "images": 0,
        "audience_size": 0,
        "amount": 0,
        "currency": "",
        "recipient_is_friend": True,
        "public": False,
        "field": "",
    },
    "author": {
        "id": "",
        "account_age_days": 0,
        "state": "active",
        "official": False,
        "verified": False,
        **dict.fromkeys(COUNTER_FIELDS, 0),
    },
    "content": {"views": 0, "shares": 0, "hops": 0, "labels": []},
    "links": {"count": 0, "hosts": [], "urls": []},
    "pii": {kind: dict(SIGNAL_FIELDS) for kind in PII_KINDS},
    "classifiers": {},
}

_CHECKED_ROOTS = frozenset({*VARIABLES, *SIGNAL_FAMILIES}) - {"fields", "classifiers"}
_MACROS = ("exists", "all", "exists_one", "map", "filter")

_TOKEN = re.compile(
    r"""
    (?P<string>[rR]?[bB]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||[=!<>]=|[-+*/%!<>?:.,()\[\]{}])
  | (?P<space>\s+)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    pos: int


class ConditionError(ValueError):
    """A condition that cannot be accepted; ``column`` is 0-based within the expression."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        found = _TOKEN.match(source, pos)
        if found is None:
            raise ConditionError(f"unexpected character {source[pos]!r}", pos)
        kind = found.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, found.group(), pos))
        pos = found.end()
    return tokens


def referenced_paths(tokens: list[Token]) -> list[tuple[tuple[str, ...], int]]:
    """Every dotted variable path read by the expression, with its position.

    A name right after ``(`` of a macro (``hosts.exists(h, …)``) is a local and not a variable;
    a name followed by ``(`` is a function, and a path stops at a method call.
    """
    locals_: set[str] = set()
    for index, token in enumerate(tokens[:-2]):
        if (
            token.kind == "ident"
            and token.text in _MACROS
            and tokens[index + 1].text == "("
            and tokens[index + 2].kind == "ident"
        ):
            locals_.add(tokens[index + 2].text)
    paths: list[tuple[tuple[str, ...], int]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        previous = tokens[index - 1].text if index else ""
        if token.kind != "ident" or previous == "." or token.text in locals_:
            index += 1
            continue
        if token.text in {"true", "false", "null", "in"}:
            index += 1
            continue
        if index + 1 < len(tokens) and tokens[index + 1].text == "(":
            index += 1  # a function call
            continue
        path = [token.text]
        cursor = index + 1
        while (
            cursor + 1 < len(tokens)
            and tokens[cursor].text == "."
            and tokens[cursor + 1].kind == "ident"
        ):
            if cursor + 2 < len(tokens) and tokens[cursor + 2].text == "(":
                break  # a method: text.contains(...)
            path.append(tokens[cursor + 1].text)
            cursor += 2
        if cursor < len(tokens) and tokens[cursor].text == "[" and path[0] in _CHECKED_ROOTS:
            raise ConditionError(
                f"write {'.'.join(path)}.<name> instead of indexing with [...], so the "
                "pack can be checked before it runs",
                tokens[cursor].pos,
            )
        paths.append((tuple(path), token.pos))
        index = cursor
    return paths


def split_conjuncts(tokens: list[Token], source: str) -> list[str]:
    """The top-level ``&&`` terms of an expression, as source text."""
    parts: list[str] = []
    depth = 0
    start = 0
    for token in tokens:
        if token.text in "([{" and token.kind == "op":
            depth += 1
        elif token.text in ")]}" and token.kind == "op":
            depth -= 1
        elif token.text == "?" and depth == 0:
            return [source.strip()]  # a ternary at the top: no safe split
        elif token.text == "&&" and depth == 0:
            parts.append(source[start : token.pos].strip())
            start = token.pos + 2
    parts.append(source[start:].strip())
    return parts


# -- gates ---------------------------------------------------------------------------------

_SIGNAL_GATE = re.compile(
    rf"^(?P<family>{'|'.join((*SIGNAL_FAMILIES, 'pii'))})\.(?P<name>\w+)"
    r"(?:\.hit|\.count\s*(?P<op>>=|>)\s*(?P<n>\d+))$"
)
_NUMERIC_GATE = re.compile(
    r"^(?P<root>author|event|content)\.(?P<field>\w+)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<n>-?\d+(?:\.\d+)?)$"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class SignalGate:
    """True when any of ``signals`` (``"lists.spam"``) has more than ``minimum - 1`` hits."""

    signals: tuple[str, ...]
    minimum: int = 1


@dataclass(frozen=True, slots=True)
class NumericGate:
    root: str
    field: str
    compare: Callable[[Any, Any], bool]
    value: float
    op: str

    def passes(self, variables: Mapping[str, Mapping[str, Any]]) -> bool:
        actual = variables[self.root].get(self.field, 0)
        return bool(self.compare(actual, self.value))


def _signal_gate(term: str) -> SignalGate | None:
    term = term.strip()
    alternatives = [term]
    if term.startswith("(") and term.endswith(")"):
        inner = term[1:-1]
        alternatives = [part.strip() for part in inner.split("||")]
    signals: list[str] = []
    minimum = 1
    for alternative in alternatives:
        found = _SIGNAL_GATE.match(alternative)
        if found is None:
            return None
        signals.append(f"{found['family']}.{found['name']}")
        if found["op"]:
            threshold = int(found["n"]) + (1 if found["op"] == ">" else 0)
            if len(alternatives) > 1 and threshold != 1:
                return None
            minimum = threshold
    return SignalGate(tuple(signals), max(1, minimum))


def gates_of(tokens: list[Token], source: str) -> tuple[list[SignalGate], list[NumericGate]]:
    signal_gates: list[SignalGate] = []
    numeric_gates: list[NumericGate] = []
    for term in split_conjuncts(tokens, source):
        gate = _signal_gate(term)
        if gate is not None:
            signal_gates.append(gate)
            continue
        found = _NUMERIC_GATE.match(term)
        if found is not None:
            numeric_gates.append(
                NumericGate(
                    found["root"],
                    found["field"],
                    _COMPARE[found["op"]],
                    float(found["n"]),
                    found["op"],
                )
            )
    return signal_gates, numeric_gates


# -- checking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckedCondition:
    source: str
    program: cel.Program
    paths: frozenset[tuple[str, ...]]
    signal_gates: tuple[SignalGate, ...]
    numeric_gates: tuple[NumericGate, ...]
    # Derived once (the engine reads them per event): signal names, and fields per root.
    signals: frozenset[str] = frozenset()
    by_root: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # True when every top-level term is a gate: gates that pass decide the rule, and its CEL
    # program need not run (it would give the same answer; the property test checks).
    gates_only: bool = False

    def fields(self, root: str) -> frozenset[str]:
        return self.by_root.get(root, frozenset())

    @classmethod
    def build(
        cls,
        source: str,
        program: cel.Program,
        paths: frozenset[tuple[str, ...]],
        signal_gates: tuple[SignalGate, ...],
        numeric_gates: tuple[NumericGate, ...],
        terms: int = 0,
    ) -> CheckedCondition:
        signals = frozenset(
            f"{path[0]}.{path[1]}"
            for path in paths
            if path[0] in (*SIGNAL_FAMILIES, "pii") and len(path) > 1
        )
        roots: dict[str, set[str]] = {}
        for path in paths:
            if len(path) > 1:
                roots.setdefault(path[0], set()).add(path[1])
        by_root = {root: frozenset(names) for root, names in roots.items()}
        gates_only = terms > 0 and terms == len(signal_gates) + len(numeric_gates)
        return cls(
            source, program, paths, signal_gates, numeric_gates, signals, by_root, gates_only
        )


def check_condition(source: str, declared: Mapping[str, frozenset[str]]) -> CheckedCondition:
    """Compile and check one condition against the variables and the pack's signals.

    ``declared`` maps each signal family to the names the pack declares.
    """
    if not source.strip():
        raise ConditionError("the condition is empty")
    tokens = tokenize(source)
    paths = referenced_paths(tokens)
    for path, column in paths:
        _check_path(path, column, declared)
    try:
        program = cel.compile(source)
    except Exception as error:  # the library raises plain ValueError/RuntimeError
        raise ConditionError(f"not a valid CEL expression: {_first_line(error)}") from error
    checked_paths = frozenset(path for path, _ in paths)
    signal_gates, numeric_gates = gates_of(tokens, source)
    checked = CheckedCondition.build(
        source,
        program,
        checked_paths,
        tuple(signal_gates),
        tuple(numeric_gates),
        terms=len(split_conjuncts(tokens, source)),
    )
    _check_types(checked, declared)
    return checked


def _check_path(path: tuple[str, ...], column: int, declared: Mapping[str, frozenset[str]]) -> None:
    root = path[0]
    if root in SIGNAL_FAMILIES:
        if len(path) < 2:
            raise ConditionError(f"{root} needs a name: {root}.<name>.hit", column)
        if path[1] not in declared.get(root, frozenset()):
            known = ", ".join(sorted(declared.get(root, frozenset()))) or "none"
            raise ConditionError(
                f"unknown signal {root}.{path[1]} (this pack declares {root}: {known})", column
            )
        if len(path) > 2 and path[2] not in SIGNAL_FIELDS:
            raise ConditionError(
                f"unknown field {'.'.join(path[:3])}; a signal has {', '.join(SIGNAL_FIELDS)}",
                column,
            )
        return
    if root not in VARIABLES:
        known = ", ".join(sorted((*VARIABLES, *SIGNAL_FAMILIES)))
        raise ConditionError(f"unknown variable {root!r} (known: {known})", column)
    node: Any = VARIABLES[root]
    for depth, name in enumerate(path[1:], start=1):
        if root == "classifiers" and depth == 1:
            if name not in declared.get("classifiers", frozenset()):
                raise ConditionError(f"unknown classifier {name!r}", column)
            node = {"score": 0.0, "label": ""}
            continue
        if not isinstance(node, dict) or (node and name not in node):
            where = ".".join(path[:depth])
            fields = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            raise ConditionError(f"unknown field {where}.{name} (known: {fields})", column)
        node = node.get(name)


def sample_variables(declared: Mapping[str, frozenset[str]], *, hit: bool) -> dict[str, Any]:
    """Typed sample values for every variable: what ``_check_types`` evaluates against."""
    variables: dict[str, Any] = {
        root: (dict(value) if isinstance(value, dict) else value)
        for root, value in VARIABLES.items()
    }
    signal = dict(SIGNAL_FIELDS)
    if hit:
        signal.update(hit=True, count=1, entries=["x"], projections=["raw"], categories=["x"])
        variables["text"] = "sample text"
    for family in SIGNAL_FAMILIES:
        variables[family] = {name: dict(signal) for name in declared.get(family, ())}
    variables["pii"] = {kind: dict(signal) for kind in PII_KINDS}
    variables["classifiers"] = {
        name: {"score": 0.9 if hit else 0.1, "label": "x"}
        for name in declared.get("classifiers", ())
    }
    return variables


def _check_types(checked: CheckedCondition, declared: Mapping[str, frozenset[str]]) -> None:
    for hit in (False, True):
        try:
            result = checked.program.execute(sample_variables(declared, hit=hit))
        except Exception as error:
            raise ConditionError(f"type error: {_first_line(error)}") from error
        if not isinstance(result, bool):
            raise ConditionError(
                f"the condition must be true or false, but gives {type(result).__name__}"
            )


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

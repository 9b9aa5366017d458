"""Operator regex sets: compiled once, searched with one combined alternation per set.

Patterns come from operators, not from code review, so compiling refuses what would hurt every
event on the instance:

- a pattern that does not compile: the error names the set, the pattern index and the position
  ``re`` reports;
- a pattern that can match the empty string (minimum width 0, e.g. ``a*``, ``\\b``, ``(?=x)``):
  it would "hit" everywhere;
- an obviously catastrophic pattern. Heuristic: an unbounded repeat (``*``, ``+``, ``{n,}``)
  whose body can be matched by another unbounded repeat alone — every other item in the body
  has minimum width 0 — like ``(a+)+``, ``(a*)*``, ``(\\w+\\s?)+`` or ``(?:x|y+)*``. Possessive
  and atomic forms are fine. Not caught: overlapping alternations like ``(a|aa)+`` and
  polynomial cases like ``\\w+\\w+x``.

``match`` searches each set's combined ``(?:p1)|(?:p2)|...`` once; only when that finds
something does it run each pattern's ``finditer`` to collect every hit. Patterns with
backreferences or named groups are kept out of the combined pattern (group numbers would shift)
and always run on their own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# The parser behind `re` (private, stable since 3.11): it knows each pattern's minimum width and
# tree, which is what the empty-match and nested-repeat checks need.
from re import _constants as _sre_c  # type: ignore[attr-defined]
from re import _parser as _sre_p  # type: ignore[attr-defined]
from typing import Any

_FLAG_LETTERS = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE}


@dataclass(frozen=True, slots=True)
class RegexSet:
    """``flags``: letters ``i`` (ignore case), ``s`` (dot matches newline), ``m`` (multiline)."""

    name: str
    patterns: tuple[str, ...]
    category: str = ""
    confidential: bool = False
    flags: str = "i"


@dataclass(frozen=True, slots=True)
class RegexHit:
    set_name: str
    pattern: str
    start: int
    end: int
    matched: str


def _flags(set_name: str, letters: str) -> int:
    value = 0
    for c in letters:
        if c not in _FLAG_LETTERS:
            raise ValueError(f"regex set {set_name!r}: unknown flag {c!r} (allowed: i, s, m)")
        value |= _FLAG_LETTERS[c]
    return value


def _width_min(items: Any) -> int:
    return int(items.getwidth()[0])


def _is_unbounded_repeat(op: Any, av: Any) -> bool:
    return op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT) and av[1] == _sre_c.MAXREPEAT


def _star_core(items: Sequence[tuple[Any, Any]]) -> bool:
    """Whether this sequence can be matched by one unbounded repeat alone (others width 0)."""
    for i, (op, av) in enumerate(items):
        others = [items[j] for j in range(len(items)) if j != i]
        if others and _width_min(_sre_p.SubPattern(_sre_p.State(), others)) > 0:
            continue
        if _is_unbounded_repeat(op, av):
            return True
        if op == _sre_c.SUBPATTERN and _star_core(list(av[3])):
            return True
        if op == _sre_c.BRANCH and any(_star_core(list(b)) for b in av[1]):
            return True
    return False


def _walk_catastrophic(items: Sequence[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if _is_unbounded_repeat(op, av) and _star_core(list(av[2])):
            return True
        children: list[Any] = []
        if op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, _sre_c.POSSESSIVE_REPEAT):
            children = [av[2]]
        elif op == _sre_c.SUBPATTERN:
            children = [av[3]]
        elif op == _sre_c.BRANCH:
            children = list(av[1])
        elif op in (_sre_c.ASSERT, _sre_c.ASSERT_NOT):
            children = [av[1]]
        elif op == _sre_c.GROUPREF_EXISTS:
            children = [b for b in av[1:] if b is not None]
        # Atomic groups cannot backtrack into their body: no need to look inside.
        for child in children:
            if _walk_catastrophic(list(child)):
                return True
    return False


def _uses_backrefs(items: Sequence[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in (_sre_c.GROUPREF, _sre_c.GROUPREF_EXISTS, _sre_c.GROUPREF_IGNORE):
            return True
        if op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, _sre_c.POSSESSIVE_REPEAT):
            subs = [av[2]]
        elif op == _sre_c.SUBPATTERN:
            subs = [av[3]]
        elif op == _sre_c.ATOMIC_GROUP:
            subs = [av]
        elif op == _sre_c.BRANCH:
            subs = list(av[1])
        elif op in (_sre_c.ASSERT, _sre_c.ASSERT_NOT):
            subs = [av[1]]
        else:
            subs = []
        if any(_uses_backrefs(list(s)) for s in subs):
            return True
    return False


def check_pattern(set_name: str, index: int, pattern: str, flags: int) -> re.Pattern[str]:
    """Compile one operator pattern or raise ValueError saying which one and why."""
    where = f"regex set {set_name!r}, pattern {index}"
    try:
        compiled = re.compile(pattern, flags)
    except re.error as e:
        raise ValueError(f"{where} ({pattern!r}): {e.msg} at position {e.pos}") from None
    parsed = _sre_p.parse(pattern, flags)
    if _width_min(parsed) == 0:
        raise ValueError(f"{where} ({pattern!r}) can match the empty string")
    if _walk_catastrophic(list(parsed)):
        raise ValueError(
            f"{where} ({pattern!r}) nests an unbounded repeat directly inside another "
            "(like (a+)+): it can take exponential time; use a single repeat or an atomic "
            "group (?>...)"
        )
    return compiled


# -- the gate: characters some match must contain ----------------------------------------------
#
# From each pattern's tree: one element every match must consume (a literal, a class, a
# repeat of at least one, a group or an alternation of such), chosen as the one least likely
# in chat text; the gate is one character class of them all. A text without any of those
# characters cannot match any pattern (most chat: no digit, "@", "/" or rare letter), and
# costs one class search instead of the combined alternation (a third of the engine's
# regex time went into trying every alternative at every position).

# Rough share of each character in chat text (Chinese and English): only used to choose
# which required element to test, never to decide a match.
_LETTER_SHARE = dict(zip("etaoinshrdlcumwfgypbvkjxqz", (
    0.060, 0.045, 0.040, 0.037, 0.035, 0.034, 0.032, 0.030, 0.030, 0.021, 0.020, 0.014,
    0.014, 0.012, 0.012, 0.011, 0.010, 0.010, 0.010, 0.008, 0.005, 0.004, 0.001, 0.001,
    0.0005, 0.0004,
), strict=True))  # fmt: skip
_CATEGORY_SHARE = {
    _sre_c.CATEGORY_DIGIT: 0.03,
    _sre_c.CATEGORY_SPACE: 0.15,
    _sre_c.CATEGORY_WORD: 1.0,
}
_CATEGORY_CLASS = {
    _sre_c.CATEGORY_DIGIT: "\\d",
    _sre_c.CATEGORY_SPACE: "\\s",
    _sre_c.CATEGORY_WORD: "\\w",
}
_COMMON_PUNCTUATION = frozenset(".,!?'\"-:;()")
_MAX_RANGE = 0x3000  # wider ranges are counted as "everything"


def _share(cp: int) -> float:
    ch = chr(cp)
    if ch.isascii():
        if ch.islower():
            return _LETTER_SHARE[ch]
        if ch.isupper():
            return _LETTER_SHARE[ch.lower()] / 10
        if ch.isdigit():
            return 0.003
        return 0.15 if ch == " " else 0.01 if ch in _COMMON_PUNCTUATION else 0.001
    return 0.0005


# A requirement: (class items, each (text in a class, case-insensitive), estimated share).
_Need = tuple[frozenset[tuple[str, bool]], float]


def _class_char(cp: int) -> str:
    return f"\\U{cp:08x}"


def _needed_items(op: Any, av: Any, ignore: bool) -> _Need | None:
    """The class items of one IN or LITERAL node, or None when too broad to help."""
    items: set[tuple[str, bool]] = set()
    share = 0.0
    members = [(op, av)] if op == _sre_c.LITERAL else list(av)
    for kind, value in members:
        if kind == _sre_c.LITERAL:
            ch = chr(value)
            ci = ignore and (ch.lower() != ch or ch.upper() != ch)  # uncased: exact
            items.add((_class_char(value), ci))
            share += _share(value) * (2 if ci else 1)
        elif kind == _sre_c.RANGE:
            lo, hi = value
            if hi - lo > _MAX_RANGE:
                return None
            items.add((f"{_class_char(lo)}-{_class_char(hi)}", ignore))
            share += sum(_share(cp) for cp in range(lo, hi + 1)) * (2 if ignore else 1)
        elif kind == _sre_c.CATEGORY and value in _CATEGORY_CLASS:
            # Digits and spaces have no case: the same class with or without IGNORECASE.
            ci = ignore and value == _sre_c.CATEGORY_WORD
            items.add((_CATEGORY_CLASS[value], ci))
            share += _CATEGORY_SHARE[value]
        else:  # a negated class, a NOT category: almost anything
            return None
    return (frozenset(items), share) if items else None


def _needed(items: Sequence[tuple[Any, Any]], flags: int) -> _Need | None:
    """The least likely element of a sequence that every match must consume."""
    best: _Need | None = None
    ignore = bool(flags & re.IGNORECASE)
    for op, av in items:
        need: _Need | None = None
        if op in (_sre_c.LITERAL, _sre_c.IN):
            need = _needed_items(op, av, ignore)
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, _sre_c.POSSESSIVE_REPEAT):
            if av[0] >= 1:
                need = _needed(list(av[2]), flags)
        elif op == _sre_c.SUBPATTERN:
            _, add, remove, body = av
            need = _needed(list(body), (flags | add) & ~remove)
        elif op == _sre_c.ATOMIC_GROUP:
            need = _needed(list(av), flags)
        elif op == _sre_c.BRANCH:
            union: set[tuple[str, bool]] = set()
            total = 0.0
            for alternative in av[1]:
                part = _needed(list(alternative), flags)
                if part is None:
                    union.clear()
                    break
                union |= part[0]
                total += part[1]
            need = (frozenset(union), total) if union else None
        # Anything else (assertions, ANY, NOT_LITERAL, group references) consumes nothing
        # we can name: it is not a requirement.
        if need is not None and (best is None or need[1] < best[1]):
            best = need
    return best


def _gate_items(patterns: Sequence[str], flags: int) -> frozenset[tuple[str, bool]] | None:
    """Class items such that every match of every pattern contains a character of one, or
    None when some pattern names no such character."""
    wanted: set[tuple[str, bool]] = set()
    for pattern in patterns:
        parsed = _sre_p.parse(pattern, flags)
        if parsed.state.flags & (re.ASCII | re.LOCALE):
            return None
        need = _needed(list(parsed), parsed.state.flags)
        if need is None or need[1] >= 1.0:
            return None
        wanted |= need[0]
    return frozenset(wanted)


def _gate(items: Collection[tuple[str, bool]]) -> re.Pattern[str] | None:
    """One search for any of the items: a class, and a case-insensitive class if needed."""
    plain = "".join(sorted(item for item, ci in items if not ci))
    folded = "".join(sorted(item for item, ci in items if ci))
    parts = ([f"[{plain}]"] if plain else []) + ([f"(?i:[{folded}])"] if folded else [])
    return re.compile("|".join(parts)) if parts else None


class _CompiledSet:
    __slots__ = ("combined", "gate", "letters", "name", "patterns", "solo")

    def __init__(self, rs: RegexSet) -> None:
        if not rs.patterns:
            raise ValueError(f"regex set {rs.name!r} has no patterns")
        flags = _flags(rs.name, rs.flags)
        self.name = rs.name
        self.letters = "".join(sorted(set(rs.flags)))
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        self.solo: list[tuple[str, re.Pattern[str]]] = []
        joinable: list[str] = []
        for i, p in enumerate(rs.patterns):
            compiled = check_pattern(rs.name, i, p, flags)
            parsed = _sre_p.parse(p, flags)
            separate = bool(compiled.groupindex) or _uses_backrefs(list(parsed))
            if p.lstrip().startswith("(?") and re.match(r"\(\?[aiLmsux]+\)", p.lstrip()):
                separate = True  # global inline flags must stay at the start of a pattern
            if separate:
                self.solo.append((p, compiled))
            else:
                joinable.append(p)
            self.patterns.append((p, compiled))
        self.gate = _gate_items(rs.patterns, flags)
        self.combined: re.Pattern[str] | None = None
        if joinable:
            self.combined = re.compile("|".join(f"(?:{p})" for p in joinable), flags)

    def hits(self, text: str) -> list[RegexHit]:
        if (self.combined is None or self.combined.search(text) is None) and not any(
            c.search(text) for _, c in self.solo
        ):
            return []
        return [
            RegexHit(self.name, p, m.start(), m.end(), m.group())
            for p, c in self.patterns
            for m in c.finditer(text)
        ]


class RegexMatcher:
    """Operator regex sets compiled once; `match` runs the sets asked for over a text."""

    def __init__(self, sets: Sequence[RegexSet]) -> None:
        names = [s.name for s in sets]
        if len(set(names)) != len(names):
            raise ValueError("regex sets: duplicate set names")
        self._sets = [_CompiledSet(s) for s in sets]
        self._chosen: dict[frozenset[str] | None, _Choice] = {}

    def _choice(self, sets: Collection[str] | None) -> _Choice:
        """The sets asked for, and one search over all of them that says whether any can hit
        (so a text that hits nothing costs one regex search, not one per set)."""
        key = frozenset(sets) if sets is not None else None
        choice = self._chosen.get(key)
        if choice is None:
            chosen = self._sets
            if key is not None:
                unknown = key - {s.name for s in self._sets}
                if unknown:
                    raise ValueError(f"unknown regex sets: {sorted(unknown)}")
                chosen = [s for s in self._sets if s.name in key]
            parts = [
                f"(?{cs.letters}:{cs.combined.pattern})" if cs.letters else cs.combined.pattern
                for cs in chosen
                if cs.combined is not None
            ]
            prefilter = re.compile("|".join(parts)) if parts else None
            solo = [compiled for cs in chosen for _, compiled in cs.solo]
            gate = None
            if chosen and all(cs.gate is not None for cs in chosen):
                gate = _gate({item for cs in chosen for item in cs.gate or ()})
            choice = _Choice(chosen, prefilter, solo, gate)
            if len(self._chosen) < 1024:
                self._chosen[key] = choice
        return choice

    def match(self, text: str, *, sets: Collection[str] | None = None) -> list[RegexHit]:
        """Every hit of every pattern in the sets named (all sets when ``sets`` is None)."""
        choice = self._choice(sets)
        if choice.gate is not None and choice.gate.search(text) is None:
            return []  # no character that some pattern needs
        if (choice.prefilter is None or choice.prefilter.search(text) is None) and not any(
            compiled.search(text) for compiled in choice.solo
        ):
            return []
        hits: list[RegexHit] = []
        for cs in choice.sets:
            hits.extend(cs.hits(text))
        hits.sort(key=lambda h: h.start)
        return hits


@dataclass(frozen=True, slots=True)
class _Choice:
    sets: list[_CompiledSet]
    prefilter: re.Pattern[str] | None
    solo: list[re.Pattern[str]]
    gate: re.Pattern[str] | None = None

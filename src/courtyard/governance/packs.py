"""Rule packs: TOML files an operator writes, read into checked, immutable values.

A pack declares named signals (keyword lists, regex sets, domain lists, image hash lists)
and rules over them. Everything wrong with a pack is reported at once, each problem with
the line it is on, and a pack with any problem is refused whole: a half-loaded pack would
enforce rules nobody reviewed.

Format (full reference in docs/policies.md)::

    [pack]
    id = "spam"
    title = "Spam and scams"

    [lists.offplatform]
    category = "spam"
    entries = ["加微信", "add me on telegram"]

    [[rules]]
    id = "spam.offplatform"
    events = ["message", "comment"]
    when = "lists.offplatform.hit && author.account_age_days < 30"
    action = "hold"
    policy = "community-guidelines#spam"
    reason = { en = "…", zh = "…" }
    examples = { match = ["加微信 abc"], no_match = ["hello"] }
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from courtyard.governance.model import EventKind, Mode, Severity, Verdict

_E = TypeVar("_E", Verdict, Severity, Mode)

SIGNAL_TYPES = ("keywords", "regex", "domains", "hashes")
# The CEL family each signal type is read through: ``lists.<name>``, ``regex.<name>``, …
FAMILY_OF_TYPE = {"keywords": "lists", "regex": "regex", "domains": "domains", "hashes": "hashes"}
PROJECTION_NAMES = ("raw", "folded", "compact", "skeleton", "simplified", "pinyin", "initials")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,119}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_PACK_FIELDS = {"id", "title", "description", "version"}
_LIST_FIELDS = {
    "type",
    "description",
    "category",
    "confidential",
    "entries",
    "file",
    "combos",
    "exceptions",
    "projections",
    "flags",
    "max_distance",
}
_RULE_FIELDS = {
    "id",
    "description",
    "events",
    "when",
    "action",
    "label",
    "severity",
    "policy",
    "reason",
    "mode",
    "examples",
}
_TOP_FIELDS = {"pack", "lists", "rules"}
_EXAMPLE_FIELDS = frozenset({"author", "event", "content", "fields", "classifiers"})


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    message: str


class PackError(ValueError):
    """A refused pack; ``problems`` lists every reason, each with its line."""

    def __init__(self, source_name: str, problems: Sequence[Problem]) -> None:
        self.source_name = source_name
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source_name}: refused ({len(self.problems)} problem(s))"]
        for problem in self.problems:
            where = f"{self.source_name}:{problem.line}" if problem.line else self.source_name
            lines.append(f"  {where}: {problem.message}")
        return "\n".join(lines)

    def as_details(self) -> list[dict[str, Any]]:
        return [{"line": problem.line, "message": problem.message} for problem in self.problems]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    name: str
    type: str
    line: int | None
    category: str = ""
    description: str = ""
    confidential: bool = False
    entries: tuple[str, ...] = ()
    combos: tuple[tuple[str, ...], ...] = ()
    exceptions: tuple[str, ...] = ()
    projections: tuple[str, ...] = PROJECTION_NAMES
    flags: str = "i"
    max_distance: int = 6

    @property
    def family(self) -> str:
        return FAMILY_OF_TYPE[self.type]


@dataclass(frozen=True, slots=True)
class Example:
    """A sample event a rule must (or must not) fire on, checked whenever the pack loads."""

    text: str
    context: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None

    def describe(self) -> str:
        extra = f" with {dict(self.context)}" if self.context else ""
        return f"{self.text!r}{extra}"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    description: str
    events: tuple[EventKind, ...]
    when: str
    action: Verdict
    severity: Severity
    policy: str
    reason_en: str
    reason_zh: str
    mode: Mode
    label: str | None
    must_match: tuple[Example, ...]
    must_not_match: tuple[Example, ...]
    line: int | None
    when_line: int | None


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    title: str
    description: str
    signals: tuple[SignalSpec, ...]
    rules: tuple[RuleSpec, ...]
    source: str
    source_name: str
    version: int = 0
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return source_digest(self.source, self.files)

    def declared(self) -> dict[str, frozenset[str]]:
        """Signal names by CEL family, for checking conditions."""
        names: dict[str, set[str]] = {}
        for signal in self.signals:
            names.setdefault(signal.family, set()).add(signal.name)
        return {family: frozenset(found) for family, found in names.items()}


def source_digest(source: str, files: Mapping[str, str] | None = None) -> str:
    """The identity of a pack version: its text and the list files it read."""
    digest = hashlib.sha256(source.encode("utf-8"))
    for name in sorted(files or {}):
        digest.update(b"\0" + name.encode("utf-8") + b"\0" + (files or {})[name].encode("utf-8"))
    return digest.hexdigest()


class _Lines:
    """Where each table and key of a TOML document is, for error messages.

    tomllib reports positions only for syntax errors, so this scans the text: table headers
    (``[lists.x]``, ``[[rules]]``) and ``key =`` lines under them. Good enough for the way
    packs are written; an unlocatable problem falls back to its table's header line.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, source: str) -> None:
        self.tables: dict[tuple[Any, ...], int] = {}
        self.keys: dict[tuple[Any, ...], int] = {}
        arrays: dict[str, int] = {}
        current: tuple[Any, ...] = ()
        for number, line in enumerate(source.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                name = header.group(2).strip()
                parts: list[Any] = [part.strip().strip("\"'") for part in name.split(".")]
                if header.group(1) == "[[":
                    index = arrays.get(name, -1) + 1
                    arrays[name] = index
                    current = (*parts, index)
                else:
                    # [rules.examples] belongs to the last [[rules]] entry.
                    if parts[0] in arrays and len(parts) > 1:
                        parts = [parts[0], arrays[parts[0]], *parts[1:]]
                    current = tuple(parts)
                self.tables.setdefault(current, number)
                continue
            key = self._KEY.match(line)
            if key:
                dotted = [part.strip("\"'") for part in key.group(1).split(".")]
                self.keys.setdefault((*current, *dotted), number)

    def of(self, *path: Any) -> int | None:
        """The line of a key, else of the nearest enclosing table."""
        for end in range(len(path), 0, -1):
            found = self.keys.get(path[:end]) or self.tables.get(path[:end])
            if found:
                return found
        return None


def parse_pack(
    source: str,
    *,
    source_name: str = "<pack>",
    base_dir: Path | None = None,
    files: Mapping[str, str] | None = None,
    version: int = 0,
) -> Pack:
    """Read and check a pack's structure; CEL conditions and examples are checked when the
    pack is compiled (``engine.CompiledPolicy``), which needs the signals built."""
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match.group(1)) if match else None
        raise PackError(source_name, [Problem(line, f"not valid TOML: {error}")]) from error
    lines = _Lines(source)
    problems: list[Problem] = []
    for key in sorted(set(document) - _TOP_FIELDS):
        problems.append(Problem(lines.of(key), f"unknown section {key!r}"))
    header = document.get("pack")
    pack_id = ""
    title = ""
    description = ""
    if not isinstance(header, dict):
        problems.append(Problem(None, "missing [pack] section with an id"))
    else:
        for key in sorted(set(header) - _PACK_FIELDS):
            problems.append(Problem(lines.of("pack", key), f"unknown field pack.{key}"))
        pack_id = str(header.get("id", ""))
        if not _ID.match(pack_id):
            problems.append(
                Problem(
                    lines.of("pack", "id"),
                    "pack.id must be lowercase letters, digits, '.', '_' or '-'",
                )
            )
        title = str(header.get("title", pack_id))
        description = str(header.get("description", ""))
        declared_version = header.get("version", 0)
        if not isinstance(declared_version, int) or isinstance(declared_version, bool):
            problems.append(Problem(lines.of("pack", "version"), "pack.version is an integer"))
            declared_version = 0
        version = version or declared_version
    resolver = _ListFiles(base_dir, files)
    signals = _parse_signals(document.get("lists", {}), lines, resolver, problems)
    rules = _parse_rules(document.get("rules", []), lines, problems)
    for rule in rules:
        if rule.id and pack_id and not rule.id.startswith(pack_id + "."):
            problems.append(
                Problem(rule.line, f"rule id {rule.id!r} must start with the pack id {pack_id}.")
            )
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            problems.append(Problem(rule.line, f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
    if problems:
        raise PackError(source_name, problems)
    return Pack(
        id=pack_id,
        title=title,
        description=description,
        signals=tuple(signals),
        rules=tuple(rules),
        source=source,
        source_name=source_name,
        version=version,
        files=dict(resolver.read),
    )


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _parse_signals(
    section: Any, lines: _Lines, resolver: _ListFiles, problems: list[Problem]
) -> list[SignalSpec]:
    if not isinstance(section, dict):
        problems.append(Problem(lines.of("lists"), "[lists] must be a table of named lists"))
        return []
    signals: list[SignalSpec] = []
    for name, body in section.items():
        line = lines.of("lists", name)
        if not _NAME.match(name):
            problems.append(
                Problem(line, f"list name {name!r}: lowercase letters, digits and '_' only")
            )
        elif not isinstance(body, dict):
            problems.append(Problem(line, f"lists.{name} must be a table"))
        else:
            signal = _parse_signal(name, body, _Where(lines, ("lists", name), problems), resolver)
            if signal is not None:
                signals.append(signal)
    return signals


@dataclass(frozen=True, slots=True)
class _Where:
    """Where in the pack a table is, to report problems at the line of the field."""

    lines: _Lines
    path: tuple[Any, ...]
    problems: list[Problem]

    def add(self, key: str | None, message: str) -> None:
        line = self.lines.of(*self.path, key) if key else self.lines.of(*self.path)
        self.problems.append(Problem(line, message))


def _parse_signal(
    name: str, body: dict[str, Any], where: _Where, resolver: _ListFiles
) -> SignalSpec | None:
    before = len(where.problems)
    for key in sorted(set(body) - _LIST_FIELDS):
        where.add(key, f"unknown field lists.{name}.{key}")
    kind = body.get("type", "keywords")
    if kind not in SIGNAL_TYPES:
        where.add("type", f"lists.{name}.type must be one of {', '.join(SIGNAL_TYPES)}")
        return None
    entries = _strings(body.get("entries", []))
    if entries is None:
        where.add("entries", f"lists.{name}.entries: strings")
        entries = ()
    if "file" in body:
        entries = entries + _read_list_file(name, body["file"], resolver, where)
    combos = _parse_combos(name, body.get("combos", []), where)
    exceptions = _strings(body.get("exceptions", []))
    if exceptions is None:
        where.add("exceptions", f"lists.{name}.exceptions: strings")
        exceptions = ()
    projections = _strings(body.get("projections", list(PROJECTION_NAMES)))
    if projections is None or not set(projections) <= set(PROJECTION_NAMES):
        where.add("projections", f"lists.{name}.projections: any of {', '.join(PROJECTION_NAMES)}")
        projections = PROJECTION_NAMES
    flags = body.get("flags", "i")
    if not isinstance(flags, str) or not set(flags) <= set("ism"):
        where.add("flags", f"lists.{name}.flags: letters i, s, m")
    max_distance = body.get("max_distance", 6)
    if not isinstance(max_distance, int) or not 0 <= max_distance <= 32:
        where.add("max_distance", f"lists.{name}.max_distance: an integer from 0 to 32")
    if not entries and not combos and kind != "hashes":
        where.add(None, f"lists.{name} has no entries")
    _check_descriptive(name, body, where)
    if len(where.problems) > before:
        return None
    return SignalSpec(
        name=name,
        type=kind,
        line=where.lines.of(*where.path),
        category=str(body.get("category", "")),
        description=str(body.get("description", "")),
        confidential=bool(body.get("confidential", kind == "hashes")),
        entries=entries,
        combos=combos,
        exceptions=exceptions,
        projections=tuple(projections),
        flags=flags,
        max_distance=max_distance,
    )


def _check_descriptive(name: str, body: dict[str, Any], where: _Where) -> None:
    for key in ("category", "description"):
        if not isinstance(body.get(key, ""), str):
            where.add(key, f"lists.{name}.{key}: a string")
    if not isinstance(body.get("confidential", False), bool):
        where.add("confidential", f"lists.{name}.confidential: true or false")


def _parse_combos(name: str, value: Any, where: _Where) -> tuple[tuple[str, ...], ...]:
    combos: list[tuple[str, ...]] = []
    for combo in value if isinstance(value, list) else [None]:
        parts = _strings(combo)
        if parts is None or len(parts) < 2:
            where.add("combos", f"lists.{name}.combos: each combo is a list of two strings or more")
            continue
        combos.append(parts)
    return tuple(combos)


class _ListFiles:
    """Where ``file = "…"`` lists come from: the directory beside the pack when it is loaded
    from disk, or the copies stored with a pack version (so every version is complete and
    reproducible even after the files change). Records what it read."""

    def __init__(self, base_dir: Path | None, stored: Mapping[str, str] | None) -> None:
        self.base_dir = base_dir
        self.stored = stored
        self.read: dict[str, str] = {}

    def load(self, relative: str) -> str:
        """The directory's copy when there is one, else the stored copy."""
        text: str | None = None
        if self.base_dir is not None:
            path = (self.base_dir / relative).resolve()
            if self.base_dir.resolve() not in path.parents:
                raise PermissionError("must stay inside the policy directory")
            if path.is_file() or self.stored is None or relative not in self.stored:
                text = path.read_text(encoding="utf-8")
        if text is None:
            if self.stored is None:
                raise LookupError("needs a path next to a pack loaded from a file")
            if relative not in self.stored:
                raise FileNotFoundError(f"{relative} was not stored with this pack version")
            text = self.stored[relative]
        self.read[relative] = text
        return text


def _read_list_file(
    name: str, relative: Any, resolver: _ListFiles, where: _Where
) -> tuple[str, ...]:
    """Big lists live beside the pack, one entry per line (``#`` starts a comment)."""
    if not isinstance(relative, str):
        where.add("file", f"lists.{name}.file: a path relative to the pack")
        return ()
    try:
        text = resolver.load(relative)
    except (LookupError, PermissionError) as error:
        where.add("file", f"lists.{name}.file {error}")
        return ()
    except OSError as error:
        where.add("file", f"lists.{name}.file: cannot read {relative}: {error.strerror or error}")
        return ()
    entries = []
    for raw in text.splitlines():
        entry = raw.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return tuple(entries)


def _parse_examples(value: Any, where: _Where) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    if value is None:
        return (), ()
    line = where.lines.of(*where.path, "examples")
    if not isinstance(value, dict) or not set(value) <= {"match", "no_match"}:
        where.add("examples", "examples = { match = [...], no_match = [...] }")
        return (), ()
    parsed: dict[str, list[Example]] = {"match": [], "no_match": []}
    for key in ("match", "no_match"):
        items = value.get(key, [])
        if not isinstance(items, list):
            where.add("examples", f"examples.{key} must be a list")
            continue
        for item in items:
            if isinstance(item, str):
                parsed[key].append(Example(item, {}, line))
            elif isinstance(item, dict) and isinstance(item.get("text", ""), str):
                context = {k: v for k, v in item.items() if k != "text"}
                unknown = set(context) - _EXAMPLE_FIELDS
                if unknown or not all(isinstance(v, dict) for v in context.values()):
                    where.add(
                        "examples",
                        f"example fields are tables among {', '.join(sorted(_EXAMPLE_FIELDS))}",
                    )
                    continue
                parsed[key].append(Example(str(item.get("text", "")), context, line))
            else:
                where.add("examples", f"examples.{key}: a string or a table with text")
    return tuple(parsed["match"]), tuple(parsed["no_match"])


def _parse_rules(section: Any, lines: _Lines, problems: list[Problem]) -> list[RuleSpec]:
    if not isinstance(section, list):
        problems.append(Problem(lines.of("rules"), "rules must be an array: [[rules]]"))
        return []
    rules: list[RuleSpec] = []
    for index, body in enumerate(section):
        where = _Where(lines, ("rules", index), problems)
        if not isinstance(body, dict):
            where.add(None, "each [[rules]] entry must be a table")
            continue
        rule = _parse_rule(index, body, where)
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_rule(index: int, body: dict[str, Any], where: _Where) -> RuleSpec | None:
    before = len(where.problems)
    for key in sorted(set(body) - _RULE_FIELDS):
        where.add(key, f"unknown rule field {key!r}")
    rule_id = body.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        where.add("id", "rule id missing or invalid (lowercase letters, digits, '.', '_', '-')")
        rule_id = ""
    events = _parse_events(rule_id, body.get("events"), where)
    when = body.get("when")
    if not isinstance(when, str) or not when.strip():
        where.add("when", f"{rule_id}: when is required")
        when = ""
    action = _enum(Verdict, body.get("action"), "action", rule_id, where)
    if action is Verdict.ALLOW:
        where.add("action", f"{rule_id}: a rule whose action is allow does nothing")
    severity = _enum(Severity, body.get("severity", "medium"), "severity", rule_id, where)
    mode = _enum(Mode, body.get("mode", "enforce"), "mode", rule_id, where)
    policy = body.get("policy")
    if not isinstance(policy, str) or not policy.strip():
        where.add("policy", f"{rule_id}: policy (the public policy clause) is required")
        policy = ""
    reason_en, reason_zh = _parse_reason(rule_id, body.get("reason"), where)
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or not _NAME.match(label)):
        where.add("label", f"{rule_id}: label is a short code (lowercase letters, digits, _)")
        label = None
    if action is Verdict.LABEL and not label:
        where.add(None, f'{rule_id}: a label rule needs label = "<code>"')
    must_match, must_not_match = _parse_examples(body.get("examples"), where)
    if not must_match:
        where.add("examples", f"{rule_id}: give at least one example that must match")
    if len(where.problems) > before or action is None or severity is None or mode is None:
        return None
    return RuleSpec(
        id=rule_id,
        description=str(body.get("description", "")),
        events=events,
        when=when,
        action=action,
        severity=severity,
        policy=policy,
        reason_en=reason_en,
        reason_zh=reason_zh,
        mode=mode,
        label=label,
        must_match=must_match,
        must_not_match=must_not_match,
        line=where.lines.of(*where.path),
        when_line=where.lines.of(*where.path, "when"),
    )


def _parse_events(rule_id: str, value: Any, where: _Where) -> tuple[EventKind, ...]:
    names = _strings(value)
    if not names:
        where.add("events", f"{rule_id}: events is required (a list of event kinds)")
        return ()
    events: list[EventKind] = []
    for name in names:
        try:
            events.append(EventKind(name))
        except ValueError:
            known = ", ".join(kind.value for kind in EventKind)
            where.add("events", f"{rule_id}: unknown event kind {name!r} (known: {known})")
    return tuple(events)


def _parse_reason(rule_id: str, reason: Any, where: _Where) -> tuple[str, str]:
    """The user-facing reason, in English and Chinese: both are required."""
    if (
        isinstance(reason, dict)
        and not set(reason) - {"en", "zh"}
        and all(isinstance(reason.get(lang), str) and reason[lang].strip() for lang in ("en", "zh"))
    ):
        return reason["en"].strip(), reason["zh"].strip()
    where.add("reason", f'{rule_id}: reason = {{ en = "...", zh = "..." }} (both required)')
    return "", ""


def _enum(enum: type[_E], value: Any, name: str, rule_id: str, where: _Where) -> _E | None:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(item.value for item in enum)
        where.add(name, f"{rule_id}: {name} must be one of {choices}")
        return None

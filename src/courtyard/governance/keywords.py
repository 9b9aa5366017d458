"""Keyword lists and one Aho-Corasick automaton that matches all of them on every projection.

Per message we compute the distinct projections (see governance.text), join them with "\\x00"
(which no keyword form contains) and scan that one string once: at 100,000 keywords the call
overhead of the automaton dominates, so one call beats one per projection. Each pattern knows
which keyword(s) and projection(s) it stands for; a match only counts in a segment of the right
projection, enabled for the keyword's list, and at a word boundary for Latin keywords. Offsets
are mapped back to the raw text only when there is a candidate (5 % of chat traffic).

INITIALS ("ZF" for 政府) is not in the automaton: two-letter initials would match inside most
English words and make every message slow. Standalone capitalised Latin tokens are looked up
in a dict instead.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

import ahocorasick_rs

from courtyard.governance.text import (
    ALL_PROJECTIONS,
    INITIALS_PLACEHOLDER,
    PROJECTION_INDEX,
    SYLLABLE_REST,
    SYLLABLE_START,
    Projected,
    Projection,
    compute_forms,
    is_unsegmented,
    is_word_char,
    phrase_syllables,
    pinyin_kinds,
    pinyin_segmentable,
    tables,
    term_forms,
    term_pinyin,
)

_SEPARATOR: Final = "\x00"
_RAW, _FOLDED, _COMPACT, _SKELETON, _SIMPLIFIED, _PINYIN, _INITIALS = (
    1 << PROJECTION_INDEX[p] for p in ALL_PROJECTIONS
)
# The projections scanned by the automaton, in order. RAW is checked on FOLDED hits.
# FOLDED is not scanned: every FOLDED hit is a COMPACT hit, and RAW/FOLDED are attributed by
# checking the raw slice of a COMPACT hit (saves a segment and NFKC of the whole text).
_SCANNED: Final = (Projection.COMPACT, Projection.SKELETON, Projection.SIMPLIFIED,
                   Projection.PINYIN)  # fmt: skip
_SCANNED_INDEXES: Final = tuple(PROJECTION_INDEX[p] for p in _SCANNED)
_I_FOLDED, _I_COMPACT, _I_SKELETON, _I_SIMPLIFIED, _I_PINYIN, _I_INITIALS = (
    PROJECTION_INDEX[p]
    for p in (
        Projection.FOLDED,
        Projection.COMPACT,
        Projection.SKELETON,
        Projection.SIMPLIFIED,
        Projection.PINYIN,
        Projection.INITIALS,
    )
)
# Exceptions are matched as written (modulo folding), never phonetically: a benign word's
# pinyin would otherwise cancel a real hit typed in pinyin (简直 "jianzhi" vs 兼职).
_EXCEPTION_PROJECTIONS: Final = _RAW | _FOLDED | _COMPACT | _SKELETON | _SIMPLIFIED
_LITERAL: Final = _RAW | _FOLDED | _COMPACT
# Initials must be written in capitals ("ZF", fullwidth "ＺＦ" too), as a token of their own.
_INITIALS_TOKEN: Final = re.compile(r"(?<!\w)[A-ZＡ-Ｚ]{2,6}(?!\w)")
_MIN_PHONETIC_CJK: Final = 2
_CJK_KINDS: Final = SYLLABLE_START + SYLLABLE_REST
_ASCII_NOT_ALNUM: Final = bytes(i for i in range(128) if not chr(i).isalnum())
# ASCII separators (whitespace, punctuation, symbols); other ASCII controls are invisible noise.
_ASCII_WORDS: Final = re.compile(r"[A-Za-z0-9]+")
_ASCII_CONTROLS: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_ASCII_SEPARATORS: Final = re.compile(r"[\t\n\v\f\r\x1c-\x1f !-/:-@\[-`{-~]+")


@dataclass(frozen=True, slots=True)
class KeywordList:
    name: str
    entries: tuple[str, ...] = ()
    combos: tuple[tuple[str, ...], ...] = ()
    exceptions: tuple[str, ...] = ()
    projections: frozenset[Projection] = frozenset(ALL_PROJECTIONS)
    category: str = ""
    confidential: bool = False


@dataclass(frozen=True, slots=True)
class KeywordHit:
    list_name: str
    entry: str
    projection: Projection
    start: int
    end: int
    matched: str
    field: str = "text"


@dataclass(slots=True)
class _Term:
    """One string of one list: an entry, a combo part or an exception."""

    list_index: int
    text: str
    exception: bool
    folded: str = ""
    mask: int = 0  # projections this term may match in (list's, restricted by kind)
    entry: bool = False
    combos: list[int] = field(default_factory=list)  # indexes into the list's combos
    # PINYIN forms -> offsets where a syllable starts (a text's syllables must line up)
    syllables: dict[str, frozenset[int]] = field(default_factory=dict)


def _validate_term(list_name: str, what: str, term: object) -> list[str]:
    if not isinstance(term, str) or not term.strip():
        raise ValueError(f"keyword list {list_name!r}: empty {what}")
    if _SEPARATOR in term or INITIALS_PLACEHOLDER in term:
        raise ValueError(f"keyword list {list_name!r}: {what} {term!r} contains a control char")
    forms = term_forms(term)
    compact = forms[_I_COMPACT]
    if not compact or not forms[_I_SKELETON]:
        raise ValueError(
            f"keyword list {list_name!r}: {what} {term!r} is only punctuation, symbols or "
            "invisible characters, so it would match everywhere or nowhere"
        )
    if len(compact) == 1 and not is_unsegmented(compact) and len(forms[_I_FOLDED]) > 1:
        raise ValueError(
            f"keyword list {list_name!r}: {what} {term!r} is a single letter or digit once "
            "punctuation is removed, so it would match every such standalone character"
        )
    return forms


class KeywordMatcher:
    """All keyword lists of a pack, compiled into one automaton."""

    def __init__(self, lists: Sequence[KeywordList]) -> None:
        # Compiling allocates ~10 objects per keyword; the cyclic GC would rescan them over and
        # over (a third of the time at 100,000 keywords). None of them form cycles.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._compile(lists)
        finally:
            if enabled:
                gc.enable()

    def _compile(self, lists: Sequence[KeywordList]) -> None:  # noqa: PLR0915 - one pass
        self._lists: tuple[KeywordList, ...] = tuple(lists)
        self._list_index: dict[str, int] = {}
        self._terms: list[_Term] = []
        self._combo_terms: list[list[tuple[int, ...]]] = []  # per list: term ids per combo
        self._initials: dict[str, list[int]] = {}
        patterns: dict[str, int] = {}
        meanings: list[list[int]] = []  # per pattern: term id, projection bits, term id, ...
        pattern_mask: list[int] = []  # per pattern: all its projection bits
        want = 0
        term_ids: dict[tuple[int, str, bool], int] = {}
        list_masks = [sum(1 << PROJECTION_INDEX[p] for p in kl.projections) for kl in self._lists]

        def add(li: int, text: str, *, exception: bool, what: str) -> int:  # noqa: PLR0912
            key = (li, text, exception)
            if key in term_ids:
                return term_ids[key]
            forms = _validate_term(self._lists[li].name, what, text)
            tid = len(self._terms)
            term = _Term(li, text, exception, forms[_I_FOLDED])
            self._terms.append(term)
            term_ids[key] = tid
            mask = _EXCEPTION_PROJECTIONS if exception else list_masks[li]
            simplified = forms[_I_SIMPLIFIED]
            if simplified.isascii() or (
                sum(1 for ch in simplified if is_unsegmented(ch)) < _MIN_PHONETIC_CJK
            ):
                mask &= ~(_PINYIN | _INITIALS)
            term.mask = mask
            for i in _SCANNED_INDEXES:
                bit = 1 << i
                if not mask & (_LITERAL if i == _I_COMPACT else bit):
                    continue
                variants = [forms[i]]
                if i == _I_PINYIN:
                    table_reading = term_pinyin(simplified)
                    phrase_reading = phrase_syllables(simplified)
                    readings = [table_reading]
                    if phrase_reading != table_reading:
                        readings.append(phrase_reading)
                    for syllables in readings:
                        form = "".join(syllables)
                        term.syllables[form] = frozenset(accumulate(map(len, syllables[:-1])))
                    variants = list(term.syllables)
                for form in variants:
                    pid = patterns.setdefault(form, len(patterns))
                    if pid == len(meanings):
                        meanings.append([tid, bit])
                        pattern_mask.append(bit)
                    else:
                        pattern_mask[pid] |= bit
                        entry = meanings[pid]
                        if entry[-2] == tid:  # same term, another projection: merge
                            entry[-1] |= bit
                        else:
                            entry += (tid, bit)
            if mask & _INITIALS and forms[_I_INITIALS]:
                self._initials.setdefault(forms[_I_INITIALS], []).append(tid)
            return tid

        for li, kl in enumerate(self._lists):
            if not kl.name:
                raise ValueError("keyword list without a name")
            if kl.name in self._list_index:
                raise ValueError(f"keyword list {kl.name!r} is defined twice")
            if not kl.projections:
                raise ValueError(f"keyword list {kl.name!r}: no projections enabled")
            self._list_index[kl.name] = li
            for p in kl.projections:
                if p not in (Projection.RAW, Projection.FOLDED, Projection.INITIALS):
                    want |= 1 << PROJECTION_INDEX[p]
            for e in kl.entries:
                self._terms[add(li, e, exception=False, what="entry")].entry = True
            combos: list[tuple[int, ...]] = []
            for ci, combo in enumerate(kl.combos):
                if len(combo) < 2:
                    raise ValueError(f"keyword list {kl.name!r}: a combo needs two or more parts")
                parts = tuple(add(li, p, exception=False, what="combo part") for p in combo)
                for tid in set(parts):
                    self._terms[tid].combos.append(ci)
                combos.append(parts)
            self._combo_terms.append(combos)
            for exc in kl.exceptions:
                add(li, exc, exception=True, what="exception")

        if any(kl.exceptions for kl in self._lists):
            want |= _COMPACT | _SKELETON | _SIMPLIFIED  # exceptions are matched in these
        self._want = want | _COMPACT  # every literal hit is found in COMPACT
        self._meanings = meanings  # flat pairs: (term id, bits), (term id, bits) ...
        self._pattern_mask = pattern_mask
        self._initials_keys = frozenset(self._initials)
        self.pattern_count: int = len(patterns) + len(self._initials)
        self._pattern_strings = list(patterns)
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                self._pattern_strings, matchkind=ahocorasick_rs.MatchKind.Standard
            )
            if patterns
            else None
        )

    @property
    def list_names(self) -> frozenset[str]:
        return frozenset(self._list_index)

    def match(
        self, text: str, *, lists: Collection[str] | None = None, field: str = "text"
    ) -> list[KeywordHit]:
        """Every hit of the (selected) lists in `text`, with raw offsets, in text order."""
        if lists is None:
            allowed = None
        else:
            try:
                allowed = frozenset(self._list_index[name] for name in lists)
            except KeyError as exc:
                raise ValueError(f"unknown keyword list {exc.args[0]!r}") from None
            if not allowed:
                return []
        forms = compute_forms(text, self._want)
        segments: dict[str, int] = {}
        for p in _SCANNED:
            form = forms[PROJECTION_INDEX[p]]
            if form is not None:
                bit = 1 << PROJECTION_INDEX[p]
                segments[form] = segments.get(form, 0) | bit
        found: list[tuple[int, int, int]] = []
        if self._automaton is not None:
            joined = _SEPARATOR.join(segments)
            found = self._automaton.find_matches_as_indexes(joined, overlapping=True)
            if found:
                found = _prefilter(found, self._pattern_mask, forms, segments)
        initials: list[tuple[str, int, int]] = []
        if self._initials_keys:
            for tok in _INITIALS_TOKEN.finditer(text):
                key = _fold(tok.group())
                if key in self._initials_keys:
                    initials.append((key, tok.start(), tok.end()))
        if not found and not initials:
            return []
        return _Resolver(self, text, forms, segments, allowed, field).run(found, initials)


def _prefilter(
    found: list[tuple[int, int, int]],
    pattern_mask: list[int],
    forms: list[str | None],
    segments: dict[str, int],
) -> list[tuple[int, int, int]]:
    """Drop, before any offset map is built, the candidates that cannot be hits: a pattern
    found in a segment of projections it does not stand for ("mamar", a Latin keyword, inside
    the pinyin of 妈妈让), and pinyin patterns that start or end inside a syllable ("dianyi" in
    电影 "dianying"; one str.translate tells). Most candidates in clean chat are one of these."""
    bounds: list[tuple[int, int, int]] = []
    pos = 0
    for form, mask in segments.items():
        bounds.append((pos, pos + len(form), mask))
        pos += len(form) + 1
    pinyin = forms[PROJECTION_INDEX[Projection.PINYIN]]
    simplified = forms[PROJECTION_INDEX[Projection.SIMPLIFIED]] or ""
    cjk_pinyin = pinyin is not None and pinyin != simplified
    kinds: str | None = None
    kept: list[tuple[int, int, int]] = []
    for item in found:
        pid, a, b = item
        seg = 0
        while bounds[seg][1] <= a:
            seg += 1
        start, end, mask = bounds[seg]
        usable = pattern_mask[pid] & mask
        if not usable:
            continue
        if usable == _PINYIN and cjk_pinyin:
            if kinds is None:
                kinds = pinyin_kinds(simplified)
            if kinds[a - start] == SYLLABLE_REST or (b < end and kinds[b - start] == SYLLABLE_REST):
                continue
        kept.append(item)
    return kept


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", s).casefold()


def _is_sep(ch: str) -> bool:
    return tables().separator_search(ch) is not None


class _Resolver:
    """Turns raw automaton matches into hits (only runs when there is a candidate)."""

    def __init__(
        self,
        matcher: KeywordMatcher,
        text: str,
        forms: list[str | None],
        segments: dict[str, int],
        allowed: frozenset[int] | None,
        field: str,
    ) -> None:
        self.m = matcher
        self.text = text
        self.projected = Projected(text, {})
        self.allowed = allowed
        self.field = field
        self.seg_starts: list[int] = []
        self.seg_masks: list[int] = []
        self.seg_forms: list[str] = []
        pos = 0
        for form, mask in segments.items():
            self.seg_starts.append(pos)
            self.seg_masks.append(mask)
            self.seg_forms.append(form)
            pos += len(form) + 1
        self._simplified = forms[PROJECTION_INDEX[Projection.SIMPLIFIED]] or ""
        self._kinds: str | None = None
        self._ascii = text.isascii()
        self._bounds: dict[bool, frozenset[int]] = {}
        del forms

    def run(
        self, found: list[tuple[int, int, int]], initials: list[tuple[str, int, int]]
    ) -> list[KeywordHit]:
        m = self.m
        # (term id) -> list of (projection index, raw start, raw end)
        occurrences: dict[int, list[tuple[int, int, int]]] = {}
        for pid, start, end in found:
            seg = bisect_right(self.seg_starts, start) - 1
            seg_mask = self.seg_masks[seg]
            if not m._pattern_mask[pid] & seg_mask:
                continue
            s = start - self.seg_starts[seg]
            e = end - self.seg_starts[seg]
            form = self.seg_forms[seg]
            flat = iter(m._meanings[pid])
            for tid, bits in zip(flat, flat, strict=True):
                term = m._terms[tid]
                if self.allowed is not None and term.list_index not in self.allowed:
                    continue
                usable = bits & seg_mask
                if not usable:
                    continue
                hit = self._verify(term, usable, form, s, e, pid)
                if hit is not None:
                    occurrences.setdefault(tid, []).append(hit)
        for token, a, b in initials:
            for tid in m._initials.get(token, ()):
                term = m._terms[tid]
                if self.allowed is None or term.list_index in self.allowed:
                    occurrences.setdefault(tid, []).append(
                        (PROJECTION_INDEX[Projection.INITIALS], a, b)
                    )
        if not occurrences:
            return []
        return self._hits(occurrences)

    def _verify(
        self, term: _Term, usable: int, form: str, s: int, e: int, pid: int
    ) -> tuple[int, int, int] | None:
        """The least transformed projection in `usable` where [s, e) is a real hit. All
        projections of one segment are the same string, so a boundary check done for one of
        them holds for the others (only PINYIN has its own rule)."""
        bounded: bool | None = None
        for i, p in enumerate(ALL_PROJECTIONS):
            bit = 1 << i
            if not usable & bit:
                continue
            if p is Projection.PINYIN:
                bounds = term.syllables.get(self.m._pattern_strings[pid], frozenset())
                if not self._pinyin_aligned(form, s, e, bounds):
                    continue
            else:
                if bounded is None:
                    bounded = self._bounded(p, form, s, e)
                if not bounded:
                    continue
            rs, re_ = self.projected.raw_span(p, s, e)
            if p is Projection.COMPACT and not term.exception:
                written = self.text[rs:re_]
                if term.mask & _RAW and written == term.text:
                    return PROJECTION_INDEX[Projection.RAW], rs, re_
                if term.mask & _FOLDED and _fold(written) == term.folded:
                    return PROJECTION_INDEX[Projection.FOLDED], rs, re_
            if term.exception or term.mask & bit:
                return i, rs, re_
        return None

    def _bounded(self, p: Projection, form: str, s: int, e: int) -> bool:
        """Word boundaries for Latin (and other spaced-script) keyword ends. In COMPACT and
        later, a removed separator counts as a boundary; a removed invisible char does not."""
        if is_word_char(form[s]) and s > 0 and not self._gap(p, s):
            return False
        return not (is_word_char(form[e - 1]) and e < len(form) and not self._gap(p, e))

    def _gap(self, p: Projection, i: int) -> bool:
        """Whether there is a word boundary between projected chars i-1 and i."""
        if self._ascii:  # cheap: no offset maps, just the lengths of the words
            return i in self._ascii_bounds(p is Projection.SKELETON)
        form, starts, ends = self.projected.offsets(p)
        removable = tables().removable
        # Invisible chars still in the projection never separate words: skip them.
        left, right = i - 1, i
        while left >= 0 and form[left] in removable and not _is_sep(form[left]):
            left -= 1
        while right < len(form) and form[right] in removable and not _is_sep(form[right]):
            right += 1
        if left < 0 or right >= len(form):
            return True
        if not is_word_char(form[left]) or not is_word_char(form[right]):
            return True
        lo, hi = ends[left], starts[right]
        return hi > lo and tables().separator_search(self.text, lo, hi) is not None

    def _ascii_bounds(self, skeleton: bool) -> frozenset[int]:
        """Word boundaries of an ASCII text, as offsets in its COMPACT (or SKELETON) form."""
        cached = self._bounds.get(skeleton)
        if cached is None:
            if _ASCII_CONTROLS.search(self.text) is None:
                words = _ASCII_WORDS.findall(self.text)
                lengths = (
                    [len(w) + w.count("m") + w.count("M") for w in words]
                    if skeleton
                    else [len(w) for w in words]
                )
            else:  # invisible ASCII controls inside words: they are removed, not boundaries
                lengths = []
                for word in _ASCII_SEPARATORS.split(self.text):
                    kept = word.encode("ascii").translate(None, _ASCII_NOT_ALNUM)
                    lengths.append(len(kept) + (kept.count(b"m") + kept.count(b"M")) * skeleton)
            cached = self._bounds[skeleton] = frozenset(accumulate(lengths, initial=0))
        return cached

    def _pinyin_aligned(  # noqa: PLR0912 - start, end and inside, each with its cases
        self, form: str, s: int, e: int, bounds: frozenset[int]
    ) -> bool:
        """A pinyin hit must start and end on syllable boundaries of CJK text, or on word
        boundaries of Latin text (a Latin run may also be a run of pinyin syllables); inside,
        the text's syllables must line up with the keyword's (先 "xian" is not 西安 "xi an")."""
        if self._kinds is None:
            self._kinds = pinyin_kinds(self._simplified)
        kinds = self._kinds
        p = Projection.PINYIN
        n = len(form)
        if s > 0:
            k = kinds[s]
            if k == SYLLABLE_REST:
                return False
            if k != SYLLABLE_START and kinds[s - 1] not in _CJK_KINDS and not self._gap(p, s):
                run_start = s - 1
                while (
                    run_start > 0
                    and kinds[run_start - 1] not in _CJK_KINDS
                    and not self._gap(p, run_start)
                ):
                    run_start -= 1
                if not pinyin_segmentable(form[run_start:s]):
                    return False
        if e < n:
            k = kinds[e]
            if k == SYLLABLE_REST:
                return False
            if k != SYLLABLE_START and kinds[e - 1] not in _CJK_KINDS and not self._gap(p, e):
                run_end = e + 1
                while (
                    run_end < n and kinds[run_end] not in _CJK_KINDS and not self._gap(p, run_end)
                ):
                    run_end += 1
                if not pinyin_segmentable(form[e:run_end]):
                    return False
        for i in range(s + 1, e):
            k = kinds[i]
            if (k == SYLLABLE_START and i - s not in bounds) or (
                k == SYLLABLE_REST and i - s in bounds
            ):
                return False
        return True

    def _hits(self, occurrences: dict[int, list[tuple[int, int, int]]]) -> list[KeywordHit]:
        m = self.m
        # Exception occurrences per list, as raw spans.
        shields: dict[int, list[tuple[int, int]]] = {}
        for tid, occs in occurrences.items():
            term = m._terms[tid]
            if term.exception:
                shields.setdefault(term.list_index, []).extend((a, b) for _, a, b in occs)
        kept: dict[int, list[tuple[int, int, int]]] = {}
        for tid, occs in occurrences.items():
            term = m._terms[tid]
            if term.exception:
                continue
            guard = shields.get(term.list_index, ())
            live = [o for o in occs if not any(a <= o[1] and o[2] <= b for a, b in guard)]
            if live:
                kept[tid] = _least_transformed(live)
        hits: list[KeywordHit] = []
        combos: set[tuple[int, int]] = set()
        for tid, occs in kept.items():
            term = m._terms[tid]
            name = m._lists[term.list_index].name
            if term.entry:
                hits.extend(self._hit(name, term.text, proj, a, b) for proj, a, b in occs)
            combos.update((term.list_index, ci) for ci in term.combos)
        for li, ci in sorted(combos):
            parts = m._combo_terms[li][ci]
            if all(tid in kept for tid in parts):
                first = min(kept[parts[0]], key=lambda o: o[1])
                proj = max(min(o[0] for o in kept[tid]) for tid in parts)
                entry = " + ".join(m._lists[li].combos[ci])
                hits.append(self._hit(m._lists[li].name, entry, proj, first[1], first[2]))
        hits.sort(key=lambda h: (h.start, h.end, h.list_name, h.entry))
        return hits

    def _hit(self, list_name: str, entry: str, proj: int, a: int, b: int) -> KeywordHit:
        return KeywordHit(list_name, entry, ALL_PROJECTIONS[proj], a, b, self.text[a:b], self.field)


def _least_transformed(occs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """One occurrence per place: overlapping occurrences of one term keep the one found by the
    least transformed projection (then the earliest, then the shortest)."""
    chosen: list[tuple[int, int, int]] = []
    for occ in sorted(set(occs), key=lambda o: (o[0], o[1], o[2] - o[1])):
        if not any(occ[1] < b and a < occ[2] for _, a, b in chosen):
            chosen.append(occ)
    chosen.sort(key=lambda o: o[1])
    return chosen

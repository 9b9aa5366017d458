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
from dataclasses import dataclass
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
    count_unsegmented,
    is_unsegmented,
    is_word_char,
    phrase_syllables,
    pinyin_kinds,
    pinyin_segmentable,
    tables,
    term_forms_many,
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
_SCANNED_BITS: Final = tuple((PROJECTION_INDEX[p], 1 << PROJECTION_INDEX[p]) for p in _SCANNED)
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
# The same as (?<!\w)[A-ZＡ-Ｚ]{2,6}(?!\w), written to start with the class so that `re` skips
# ahead to a capital instead of testing the lookbehind at every position (twice as fast).
_INITIALS_TOKEN: Final = re.compile(r"[A-ZＡ-Ｚ](?<!\w.)[A-ZＡ-Ｚ]{1,5}(?!\w)")
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


# Per term, in KeywordMatcher._t_kind.
_EXCEPTION: Final = 1
_ENTRY: Final = 2
# A pattern's meaning: term id << _TID_SHIFT | projection bits (one int, or a tuple of them
# when several terms share the pattern).
_TID_SHIFT: Final = 8
_BITS: Final = (1 << _TID_SHIFT) - 1
_PID_SHIFT: Final = 32


def _check_term(list_name: str, what: str, term: object) -> None:
    if not isinstance(term, str) or not term.strip():
        raise ValueError(f"keyword list {list_name!r}: empty {what}")
    if _SEPARATOR in term or INITIALS_PLACEHOLDER in term:
        raise ValueError(f"keyword list {list_name!r}: {what} {term!r} contains a control char")


def _check_forms(
    list_name: str, what: str, term: str, compact: str, skeleton: str, folded: str
) -> None:
    if not compact or not skeleton:
        raise ValueError(
            f"keyword list {list_name!r}: {what} {term!r} is only punctuation, symbols or "
            "invisible characters, so it would match everywhere or nowhere"
        )
    if len(compact) == 1 and not is_unsegmented(compact) and len(folded) > 1:
        raise ValueError(
            f"keyword list {list_name!r}: {what} {term!r} is a single letter or digit once "
            "punctuation is removed, so it would match every such standalone character"
        )


class KeywordMatcher:
    """All keyword lists of a pack, compiled into one automaton."""

    def __init__(self, lists: Sequence[KeywordList]) -> None:
        # Compiling allocates several objects per keyword; the cyclic GC would rescan them
        # over and over. None of them form cycles, and what is kept is a few big lists.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._compile(lists)
        finally:
            if enabled:
                gc.enable()

    def _compile(self, lists: Sequence[KeywordList]) -> None:  # noqa: PLR0912, PLR0915
        self._lists: tuple[KeywordList, ...] = tuple(lists)
        self._allowed: dict[frozenset[str], frozenset[int]] = {}
        self._list_index: dict[str, int] = {}
        # Terms (entries, combo parts, exceptions), column by column: a few big lists of
        # strings and ints rather than objects per term, which the cyclic GC would scan after
        # every compile (a third of a second at 100,000 keywords).
        self._t_list: list[int] = []
        self._t_text: list[str] = []
        self._t_folded: list[str] = []
        self._t_mask: list[int] = []
        self._t_kind = bytearray()  # _EXCEPTION | _ENTRY
        self._t_combos: dict[int, list[int]] = {}  # term id -> indexes into its list's combos
        # (pattern id << _PID_SHIFT | term id) -> the term's syllable kinds for that PINYIN
        # form (see pinyin_kinds): a text's syllables must line up with the keyword's.
        self._syllables: dict[int, str] = {}
        self._combo_terms: list[list[tuple[int, ...]]] = []  # per list: term ids per combo
        initials: dict[str, list[int]] = {}
        patterns: dict[str, int] = {}
        meanings: list[int | list[int]] = []
        pattern_mask: list[int] = []  # per pattern: all its projection bits
        want = 0
        t_list, t_text, t_folded, t_mask = self._t_list, self._t_text, self._t_folded, self._t_mask
        t_kind, syllables_of = self._t_kind, self._syllables
        pinyin_table = tables().pinyin
        polyphonic = tables().polyphonic

        def register(form: str, bit: int, tid: int) -> int:
            pid = patterns.setdefault(form, len(patterns))
            packed = tid << _TID_SHIFT | bit
            if pid == len(meanings):
                meanings.append(packed)
                pattern_mask.append(bit)
                return pid
            pattern_mask[pid] |= bit
            entry = meanings[pid]
            if isinstance(entry, int):
                if entry >> _TID_SHIFT == tid:  # same term, another projection: merge
                    meanings[pid] = entry | bit
                else:
                    meanings[pid] = [entry, packed]
            elif entry[-1] >> _TID_SHIFT == tid:
                entry[-1] |= bit
            else:
                entry.append(packed)
            return pid

        for li, kl in enumerate(self._lists):
            if not kl.name:
                raise ValueError("keyword list without a name")
            if kl.name in self._list_index:
                raise ValueError(f"keyword list {kl.name!r} is defined twice")
            if not kl.projections:
                raise ValueError(f"keyword list {kl.name!r}: no projections enabled")
            self._list_index[kl.name] = li
            list_mask = sum(1 << PROJECTION_INDEX[p] for p in kl.projections)
            for p in kl.projections:
                if p not in (Projection.RAW, Projection.FOLDED, Projection.INITIALS):
                    want |= 1 << PROJECTION_INDEX[p]
            # Every string of the list in order, checked; the first problem (in that order)
            # is the one reported.
            pending: dict[tuple[str, bool], str] = {}
            failure: ValueError | None = None
            try:
                for e in kl.entries:
                    _check_term(kl.name, "entry", e)
                    pending.setdefault((e, False), "entry")
                for combo in kl.combos:
                    if len(combo) < 2:
                        raise ValueError(
                            f"keyword list {kl.name!r}: a combo needs two or more parts"
                        )
                    for part in combo:
                        _check_term(kl.name, "combo part", part)
                        pending.setdefault((part, False), "combo part")
                for exc in kl.exceptions:
                    _check_term(kl.name, "exception", exc)
                    pending.setdefault((exc, True), "exception")
            except ValueError as error:
                failure = error
            keys = list(pending)
            columns = term_forms_many([text for text, _ in keys])
            c_folded, c_compact, c_skeleton = (
                columns[_I_FOLDED], columns[_I_COMPACT], columns[_I_SKELETON]
            )  # fmt: skip
            c_simplified, c_pinyin, c_initials = (
                columns[_I_SIMPLIFIED], columns[_I_PINYIN], columns[_I_INITIALS]
            )  # fmt: skip
            ids: dict[tuple[str, bool], int] = {}
            for k, key in enumerate(keys):
                text, exception = key
                compact, skeleton, folded = c_compact[k], c_skeleton[k], c_folded[k]
                if not compact or not skeleton or len(compact) == 1:
                    _check_forms(kl.name, pending[key], text, compact, skeleton, folded)
                tid = len(t_text)
                ids[key] = tid
                t_list.append(li)
                t_text.append(text)
                t_folded.append(folded)
                t_kind.append(_EXCEPTION if exception else 0)
                mask = _EXCEPTION_PROJECTIONS if exception else list_mask
                simplified = c_simplified[k]
                if mask & (_PINYIN | _INITIALS) and (
                    simplified.isascii() or count_unsegmented(simplified) < _MIN_PHONETIC_CJK
                ):
                    mask &= ~(_PINYIN | _INITIALS)
                t_mask.append(mask)
                if mask & _LITERAL:
                    register(compact, _COMPACT, tid)
                if mask & _SKELETON:
                    register(skeleton, _SKELETON, tid)
                if mask & _SIMPLIFIED:
                    register(simplified, _SIMPLIFIED, tid)
                if mask & _PINYIN:
                    # The table reading (the PINYIN form) and, for a keyword with a polyphonic
                    # character, the phrase reading (银行 "yinhang" as well as "yinxing").
                    readings = {c_pinyin[k]: pinyin_kinds(simplified)}
                    if not polyphonic.isdisjoint(simplified):
                        phrase = phrase_syllables(simplified)
                        if phrase != [pinyin_table.get(ord(ch), ch) for ch in simplified]:
                            readings["".join(phrase)] = "".join(
                                SYLLABLE_START + SYLLABLE_REST * (len(syl) - 1) for syl in phrase
                            )
                    for form, kinds in readings.items():
                        pid = register(form, _PINYIN, tid)
                        syllables_of[pid << _PID_SHIFT | tid] = kinds
                if mask & _INITIALS and c_initials[k]:
                    initials.setdefault(c_initials[k], []).append(tid)
            if failure is not None:
                raise failure
            for e in kl.entries:
                t_kind[ids[e, False]] |= _ENTRY
            combos: list[tuple[int, ...]] = []
            for ci, combo in enumerate(kl.combos):
                parts = tuple(ids[part, False] for part in combo)
                for tid in set(parts):
                    self._t_combos.setdefault(tid, []).append(ci)
                combos.append(parts)
            self._combo_terms.append(combos)

        if any(kl.exceptions for kl in self._lists):
            want |= _COMPACT | _SKELETON | _SIMPLIFIED  # exceptions are matched in these
        self._want = want | _COMPACT  # every literal hit is found in COMPACT
        self._meanings: list[int | tuple[int, ...]] = [
            m if isinstance(m, int) else tuple(m) for m in meanings
        ]
        self._pattern_mask = pattern_mask
        self._initials: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in initials.items()}
        self._initials_keys = frozenset(self._initials)
        self.pattern_count: int = len(patterns) + len(self._initials)
        self._pattern_strings = list(patterns)
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                self._pattern_strings,
                matchkind=ahocorasick_rs.MatchKind.Standard,
                implementation=ahocorasick_rs.Implementation.ContiguousNFA,
            )
            if self._pattern_strings
            else None
        )

    def _allowed_lists(self, lists: Collection[str]) -> frozenset[int]:
        """List indexes for names; the engine passes the same frozenset for every event of
        a kind, so those are looked up once."""
        cached = self._allowed.get(lists) if isinstance(lists, frozenset) else None
        if cached is not None:
            return cached
        try:
            allowed = frozenset(self._list_index[name] for name in lists)
        except KeyError as exc:
            raise ValueError(f"unknown keyword list {exc.args[0]!r}") from None
        if isinstance(lists, frozenset) and len(self._allowed) < 256:
            self._allowed[lists] = allowed
        return allowed

    @property
    def list_names(self) -> frozenset[str]:
        return frozenset(self._list_index)

    def match(
        self, text: str, *, lists: Collection[str] | None = None, field: str = "text"
    ) -> list[KeywordHit]:
        """Every hit of the (selected) lists in `text`, with raw offsets, in text order."""
        allowed = None if lists is None else self._allowed_lists(lists)
        if allowed is not None and not allowed:
            return []
        forms = compute_forms(text, self._want)
        segments: dict[str, int] = {}
        for index, bit in _SCANNED_BITS:
            form = forms[index]
            if form is not None:
                segments[form] = segments.get(form, 0) | bit
        found: list[tuple[int, int, int]] = []
        shared: dict[str, str] = {}
        if self._automaton is not None:
            joined = _SEPARATOR.join(segments)
            found = self._automaton.find_matches_as_indexes(joined, overlapping=True)
            if found:
                found = _prefilter(found, self._pattern_mask, forms, segments, text, shared)
        initials: list[tuple[str, int, int]] = []
        if self._initials_keys and _INITIALS_TOKEN.search(text) is not None:
            for tok in _INITIALS_TOKEN.finditer(text):
                key = _fold(tok.group())
                if key in self._initials_keys:
                    initials.append((key, tok.start(), tok.end()))
        if not found and not initials:
            return []
        resolver = _Resolver(self, text, forms, segments, allowed, field, shared.get("kinds"))
        return resolver.run(found, initials)


def _prefilter(
    found: list[tuple[int, int, int]],
    pattern_mask: list[int],
    forms: list[str | None],
    segments: dict[str, int],
    text: str,
    shared: dict[str, str] | None = None,
) -> list[tuple[int, int, int]]:
    """Drop, before any offset map is built, the candidates that cannot be hits: a pattern
    found in a segment of projections it does not stand for ("mamar", a Latin keyword, inside
    the pinyin of 妈妈让), pinyin patterns that start or end inside a syllable ("dianyi" in
    电影 "dianying"; one str.translate tells), and in ASCII text, Latin keywords inside a word
    ("tomor" in "tomorrow"; the word lengths tell). Most candidates in clean chat are one of
    these."""
    bounds: list[tuple[int, int, int]] = []
    pos = 0
    for form, mask in segments.items():
        bounds.append((pos, pos + len(form), mask))
        pos += len(form) + 1
    pinyin = forms[_I_PINYIN]
    simplified = forms[_I_SIMPLIFIED] or ""
    cjk_pinyin = pinyin is not None and pinyin != simplified
    kinds: str | None = None
    ascii_text = text.isascii()
    words: dict[bool, frozenset[int]] = {}
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
        if ascii_text and not usable & _PINYIN:
            # What _Resolver._bounded decides, with the projection _verify would use first.
            skeleton = not usable & _COMPACT and bool(usable & _SKELETON)
            word_bounds = words.get(skeleton)
            if word_bounds is None:
                word_bounds = words[skeleton] = _ascii_word_bounds(text, skeleton=skeleton)
            if (a > start and a - start not in word_bounds) or (
                b < end and b - start not in word_bounds
            ):
                continue
        if usable == _PINYIN and cjk_pinyin:
            if kinds is None:
                kinds = pinyin_kinds(simplified)
                if shared is not None:
                    shared["kinds"] = kinds  # the resolver's syllable kinds, the same string
            if kinds[a - start] == SYLLABLE_REST or (b < end and kinds[b - start] == SYLLABLE_REST):
                continue
        kept.append(item)
    return kept


def _ascii_word_bounds(text: str, *, skeleton: bool) -> frozenset[int]:
    """Word boundaries of an ASCII text, as offsets in its COMPACT (or SKELETON) form."""
    if _ASCII_CONTROLS.search(text) is None:
        words = _ASCII_WORDS.findall(text)
        lengths = (
            [len(w) + w.count("m") + w.count("M") for w in words]
            if skeleton
            else [len(w) for w in words]
        )
    else:  # invisible ASCII controls inside words: they are removed, not boundaries
        lengths = []
        for word in _ASCII_SEPARATORS.split(text):
            kept = word.encode("ascii").translate(None, _ASCII_NOT_ALNUM)
            lengths.append(len(kept) + (kept.count(b"m") + kept.count(b"M")) * skeleton)
    return frozenset(accumulate(lengths, initial=0))


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
        kinds: str | None = None,
    ) -> None:
        self.m = matcher
        self.text = text
        simplified = forms[PROJECTION_INDEX[Projection.SIMPLIFIED]]
        pinyin = forms[PROJECTION_INDEX[Projection.PINYIN]]
        self.projected = Projected(
            text,
            {}
            if simplified is None or pinyin is None
            else {Projection.SIMPLIFIED: simplified, Projection.PINYIN: pinyin},
        )
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
        if kinds is not None:
            self._set_kinds(kinds)
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
            meaning = m._meanings[pid]
            for packed in (meaning,) if isinstance(meaning, int) else meaning:
                tid = packed >> _TID_SHIFT
                if self.allowed is not None and m._t_list[tid] not in self.allowed:
                    continue
                usable = packed & _BITS & seg_mask
                if not usable:
                    continue
                hit = self._verify(tid, usable, form, s, e, pid)
                if hit is not None:
                    occurrences.setdefault(tid, []).append(hit)
        for token, a, b in initials:
            for tid in m._initials.get(token, ()):
                if self.allowed is None or m._t_list[tid] in self.allowed:
                    occurrences.setdefault(tid, []).append(
                        (PROJECTION_INDEX[Projection.INITIALS], a, b)
                    )
        if not occurrences:
            return []
        return self._hits(occurrences)

    def _verify(
        self, tid: int, usable: int, form: str, s: int, e: int, pid: int
    ) -> tuple[int, int, int] | None:
        """The least transformed projection in `usable` where [s, e) is a real hit. All
        projections of one segment are the same string, so a boundary check done for one of
        them holds for the others (only PINYIN has its own rule)."""
        m = self.m
        exception = m._t_kind[tid] & _EXCEPTION
        mask = m._t_mask[tid]
        bounded: bool | None = None
        for i, p in enumerate(ALL_PROJECTIONS):
            bit = 1 << i
            if not usable & bit:
                continue
            if p is Projection.PINYIN:
                term_kinds = m._syllables.get(pid << _PID_SHIFT | tid, "")
                if not self._pinyin_aligned(form, s, e, term_kinds):
                    continue
            else:
                if bounded is None:
                    bounded = self._bounded(p, form, s, e)
                if not bounded:
                    continue
            rs, re_ = self.projected.raw_span(p, s, e)
            if p is Projection.COMPACT and not exception:
                written = self.text[rs:re_]
                if mask & _RAW and written == m._t_text[tid]:
                    return PROJECTION_INDEX[Projection.RAW], rs, re_
                if mask & _FOLDED and _fold(written) == m._t_folded[tid]:
                    return PROJECTION_INDEX[Projection.FOLDED], rs, re_
            if exception or mask & bit:
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
        projected = self.projected
        form = projected.form(p)
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
        lo, hi = projected.char_span(p, left)[1], projected.char_span(p, right)[0]
        return hi > lo and tables().separator_search(self.text, lo, hi) is not None

    def _ascii_bounds(self, skeleton: bool) -> frozenset[int]:
        """Word boundaries of an ASCII text, as offsets in its COMPACT (or SKELETON) form."""
        cached = self._bounds.get(skeleton)
        if cached is None:
            cached = self._bounds[skeleton] = _ascii_word_bounds(self.text, skeleton=skeleton)
        return cached

    def _set_kinds(self, kinds: str) -> str:
        """The syllable kinds of SIMPLIFIED, shared with the offset mapping of PINYIN."""
        self._kinds = kinds
        self.projected.kinds[self._simplified] = kinds
        return kinds

    def _pinyin_aligned(  # noqa: PLR0912 - start, end and inside, each with its cases
        self, form: str, s: int, e: int, term_kinds: str
    ) -> bool:
        """A pinyin hit must start and end on syllable boundaries of CJK text, or on word
        boundaries of Latin text (a Latin run may also be a run of pinyin syllables); inside,
        the text's syllables must line up with the keyword's (先 "xian" is not 西安 "xi an")."""
        kinds = self._kinds
        if kinds is None:
            kinds = self._set_kinds(pinyin_kinds(self._simplified))
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
        if len(term_kinds) != e - s:  # pragma: no cover - every PINYIN form has its kinds
            term_kinds = SYLLABLE_REST * (e - s)
        # Inside the hit, a syllable of the text starts exactly where one of the keyword does
        # (a keyword's character kept as written counts as a syllable of its own).
        for i in range(s + 1, e):
            k = kinds[i]
            if (k == SYLLABLE_START and term_kinds[i - s] == SYLLABLE_REST) or (
                k == SYLLABLE_REST and term_kinds[i - s] != SYLLABLE_REST
            ):
                return False
        return True

    def _hits(self, occurrences: dict[int, list[tuple[int, int, int]]]) -> list[KeywordHit]:
        m = self.m
        # Exception occurrences per list, as raw spans.
        shields: dict[int, list[tuple[int, int]]] = {}
        for tid, occs in occurrences.items():
            if m._t_kind[tid] & _EXCEPTION:
                shields.setdefault(m._t_list[tid], []).extend((a, b) for _, a, b in occs)
        kept: dict[int, list[tuple[int, int, int]]] = {}
        for tid, occs in occurrences.items():
            if m._t_kind[tid] & _EXCEPTION:
                continue
            guard = shields.get(m._t_list[tid], ())
            live = [o for o in occs if not any(a <= o[1] and o[2] <= b for a, b in guard)]
            if live:
                kept[tid] = _least_transformed(live)
        hits: list[KeywordHit] = []
        combos: set[tuple[int, int]] = set()
        for tid, occs in kept.items():
            li = m._t_list[tid]
            name = m._lists[li].name
            if m._t_kind[tid] & _ENTRY:
                text = m._t_text[tid]
                hits.extend(self._hit(name, text, proj, a, b) for proj, a, b in occs)
            combos.update((li, ci) for ci in m._t_combos.get(tid, ()))
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

"""Rules for text people type, shared by every pillar's input schemas.

Text is stored and shown to other people, so it may not carry characters that no keyboard
produces and that either break storage (NUL cannot be stored in PostgreSQL) or fool readers
(terminal escapes, lone surrogates). Letters, emoji, joiners and direction marks of every
script are ordinary text and pass.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def _forbidden_class() -> str:
    """The characters ``text_problem`` refuses, as a regex class body: controls (Cc is
    exactly U+0000-001F and U+007F-009F), surrogates (Cs) and the noncharacters U+nFFFE and
    U+nFFFF (always unassigned, Cn). Line breaks and tabs are left out: the caller decides."""
    ranges = ["\\x00-\\x08", "\\x0b-\\x1f", "\\x7f-\\x9f", "\\ud800-\\udfff"]
    ranges += [
        f"\\U{(plane << 16) | 0xFFFE:08x}\\U{(plane << 16) | 0xFFFF:08x}" for plane in range(17)
    ]
    return "".join(ranges)


# One C-level search instead of a Python loop over every character (a chat send's text is
# checked on the event loop, before it joins a batch).
_FORBIDDEN_MULTILINE = re.compile(f"[{_forbidden_class()}]")
_FORBIDDEN_SINGLE_LINE = re.compile(f"[{_forbidden_class()}\\t\\n]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be accepted as text, or None (the first offending character
    decides which reason)."""
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_SINGLE_LINE).search(value)
    if found is None:
        return None
    category = unicodedata.category(found.group())
    if category == "Cc":
        return "Text may not contain control characters."
    if category == "Cs":
        return "Text may not contain unpaired surrogates."
    return "Text may not contain non-characters."


def text_problem_reference(value: str, *, multiline: bool = False) -> str | None:
    """``text_problem`` written character by character: what the fast one must equal."""
    for char in value:
        if char in "\n\t" and multiline:
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            return "Text may not contain control characters."
        if category == "Cs":
            return "Text may not contain unpaired surrogates."
        if category == "Cn" and (ord(char) & 0xFFFE) == 0xFFFE:
            return "Text may not contain non-characters."
    return None


def _single_line(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _multi_line(value: str) -> str:
    value = value.replace("\r\n", "\n")
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


# For pydantic fields: ``name: SingleLineText = Field(max_length=64)``.
SingleLineText = Annotated[str, AfterValidator(_single_line)]
MultiLineText = Annotated[str, AfterValidator(_multi_line)]

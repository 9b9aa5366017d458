"""Rules for text people type, shared by every pillar's input schemas.

Text is stored and shown to other people, so it may not carry characters that no keyboard
produces and that either break storage (NUL cannot be stored in PostgreSQL) or fool readers
(terminal escapes, lone surrogates). Letters, emoji, joiners and direction marks of every
script are ordinary text and pass.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be accepted as text, or None."""
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

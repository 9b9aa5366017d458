"""Benchmark plumbing: every benchmark prints its figures the same way, as aligned columns
or (``markdown``) as a Markdown table for docs/performance.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    markdown: bool = False,
    file: Any = None,
) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |", file=file)
        print("|" + "---|" * len(header), file=file)
        for row in rows:
            print("| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |", file=file)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)), file=file)

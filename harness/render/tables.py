"""Plain-text and Markdown building blocks: tables, headings, prose, number formats.

Strings in, strings out; every rendered command output (report, recommend, compare)
is assembled from these, so a figure is formatted the same way everywhere.
"""

from __future__ import annotations

import textwrap
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["format_table", "heading", "num", "numeric_cell", "pct", "prose", "seconds", "wrap"]


def format_table(rows: list[dict[str, str]] | pd.DataFrame, fmt: Literal["text", "md"] = "text") -> str:
    """Strings in, a table out: aligned columns (text) or a Markdown pipe table.

    Columns whose cells all look numeric are right-aligned.
    """
    if isinstance(rows, pd.DataFrame):
        rows = rows.astype(str).to_dict("records")
    if not rows:
        return "(none)"
    headers = list(rows[0])
    cells = [[str(r.get(h, "")) for h in headers] for r in rows]
    right = [all(numeric_cell(row[i]) for row in cells) for i in range(len(headers))]
    if fmt == "md":
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
        lines.append("|" + "|".join("---:" if r else ":---" for r in right) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def numeric_cell(text: str) -> bool:
    """Whether a formatted cell reads as a number (or is empty / "-"): such columns are right-aligned."""
    text = text.strip().rstrip("x%!*").strip()
    if text in ("", "-", "n/a"):
        return True
    try:
        float(text.split(" ")[0].split("..")[0])
        return True
    except ValueError:
        return False


def num(value: Any, digits: int = 3, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}{suffix}"


def seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.0%}"


def heading(text: str, level: int, fmt: str) -> list[str]:
    if fmt == "md":
        return ["#" * level + " " + text, ""]
    return [text, ("#" if level == 1 else "=") * len(text), ""]


def prose(lines: list[str], fmt: str) -> list[str]:
    """Sentences one per line (text) or as a Markdown list (so they do not run together)."""
    return [f"- {line}" for line in lines] if fmt == "md" else lines



def wrap(text: str, width: int = 100) -> str:
    """Wrap the prose lines of a text report (tables and rules stay as they are)."""
    lines = []
    for line in text.splitlines():
        prose = len(line) > width and "  " not in line.strip()
        lines += textwrap.wrap(line, width, subsequent_indent="  ") if prose else [line]
    return "\n".join(lines) + "\n"

"""Result rows as CSV: one writer for histories, per-item scores and table values."""

from __future__ import annotations

import csv
import io

from harness.core.atomic import write_text


def write_rows_csv(path: str, rows: list[dict], columns: list[str] | None = None) -> None:
    """A CSV of result rows (dicts), atomically; columns in first-seen order unless given, and a
    row without a column leaves its cell empty."""
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())

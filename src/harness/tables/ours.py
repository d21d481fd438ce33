"""Our values for the tables registry: a CSV of (row, column, ours) that a family writes."""

from __future__ import annotations

import csv
import io

from harness.core.atomic import write_text


def write_ours_csv(path: str, rows: list[tuple[str, str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["row", "column", "ours"])
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def write_rows_csv(path: str, rows: list[dict], columns: list[str] | None = None) -> None:
    """A CSV of result rows (dicts), columns in the first row's order unless given."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or (list(rows[0]) if rows else []), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())

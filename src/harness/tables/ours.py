"""Our values for the tables registry: a CSV of (row, column, ours[, only_ours]) a family writes.

A row the thesis table does not have (a substitute model, the mixtures we scored) is marked
``only_ours`` by the code that adds it, on purpose: ``tables build`` refuses any other row or
column it does not know, so a misspelled name stops the build instead of adding a row.
"""

from __future__ import annotations

import csv
import io

from harness.core.atomic import write_text

OURS_COLUMNS = ("row", "column", "ours", "only_ours")


def write_ours_csv(path: str, rows: list[tuple[str, str, str]], only_ours=(), note: str = "") -> None:
    """``rows`` of (row, column, value); ``only_ours``: the row names the thesis does not have;
    ``note``: a line the built table prints above its cells (kept in a ``note`` column)."""
    only_ours = set(only_ours)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(OURS_COLUMNS + (("note",) if note else ()))
    for i, (r, c, v) in enumerate(rows):
        writer.writerow(
            (r, c, v, "1" if r in only_ours else "") + ((note if i == 0 else "",) if note else ())
        )
    write_text(path, buf.getvalue())

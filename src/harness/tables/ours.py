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


def write_ours_csv(path: str, rows: list[tuple[str, str, str]], only_ours=()) -> None:
    """``rows`` of (row, column, value); ``only_ours``: the row names the thesis does not have."""
    only_ours = set(only_ours)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(OURS_COLUMNS)
    writer.writerows((r, c, v, "1" if r in only_ours else "") for r, c, v in rows)
    write_text(path, buf.getvalue())

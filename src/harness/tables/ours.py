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

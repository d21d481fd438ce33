"""``harness results check``: does a run give the committed tables, within each table's tolerance?

Bit-equality across CPUs is no fair promise for float training, so each registry table states
``tolerance``: how far (in the cell's own units: percentage points, dB, a fraction) every number
of our cells may move, or ``timing`` for tables of wall-clock seconds, whose numbers are not
compared. A cell's text around its numbers must match exactly (``16.28 ± 4.56`` and
``16.3 ± 4.6`` match within 0.1; ``Top-k (k = 32)`` and ``Greedy`` never do). The check prints
every cell that moved, and fails on a cell beyond its tolerance, a missing or extra cell, or a
table the run did not write.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.tables.build import read_ours
from harness.tables.registry import load_registry

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Moved:
    table: str
    row: str
    column: str
    committed: str
    ours: str
    within: bool

    def __str__(self) -> str:
        mark = "ok  " if self.within else "FAIL"
        return f"{mark} {self.table}: {self.row} / {self.column}: {self.committed or '(empty)'} -> {self.ours or '(empty)'}"


def cells_match(committed: str, ours: str, tolerance: float | None) -> bool:
    """The same text around the numbers, and each number within ``tolerance`` (None: numbers are
    not compared, only the text)."""
    if NUMBER.sub("#", committed) != NUMBER.sub("#", ours):
        return False
    if tolerance is None:
        return True
    pairs = zip(NUMBER.findall(committed), NUMBER.findall(ours))
    return all(math.isclose(float(a), float(b), rel_tol=0, abs_tol=tolerance + 1e-12) for a, b in pairs)


def compare_table(table: str, committed: Path, ours: Path, tolerance: float | None) -> list[Moved]:
    """Every cell of ``table`` whose value differs between the two CSVs (within tolerance or not)."""
    old, new = read_ours(str(committed)), read_ours(str(ours))
    moved = []
    for cell in list(dict.fromkeys([*old, *new])):
        a, b = old.get(cell), new.get(cell)
        if a == b:
            continue
        within = a is not None and b is not None and cells_match(a, b, tolerance)
        moved.append(Moved(table, cell[0], cell[1], a or "", b or "", within))
    return moved


def check_results(
    committed_dir: str | Path, run_dir: str | Path, family: str | None = None
) -> tuple[list[Moved], int]:
    """Compare every registry table the committed results hold (of one ``family``, or all) with
    the run's: (the cells that moved, how many tables were compared). Raises on a table the run
    lacks."""
    committed_dir, run_dir = Path(committed_dir), Path(run_dir)
    moved, compared = [], 0
    for entry in load_registry().values():
        if entry.kind != "table" or family not in (None, entry.family):
            continue
        committed = committed_dir / "tables" / f"{entry.id}.csv"
        if not committed.exists():
            continue
        ours = run_dir / "tables" / f"{entry.id}.csv"
        if not ours.exists():
            raise HarnessError(f"{ours}: the run wrote no {entry.id} (committed: {committed})")
        moved += compare_table(entry.id, committed, ours, entry.tolerance)
        compared += 1
    if not compared:
        what = f" of family {family}" if family else ""
        raise HarnessError(f"{committed_dir}/tables holds no registry table{what} to compare with")
    return moved, compared

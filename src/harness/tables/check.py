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

import io
import math
import re
import subprocess
import tarfile
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


def _git(repo: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if proc.returncode:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise HarnessError(f"git {' '.join(args)} in {repo}: {err[-1] if err else 'failed'}")
    return proc.stdout


def extract_committed_tables(run_dir: str | Path, rev: str, into: str | Path) -> Path:
    """Write the ``tables/`` of ``run_dir`` as git revision ``rev`` holds them into ``into``
    (its ``tables/`` sub-folder) and return ``into``: what a run is compared with when it has
    overwritten the committed files in place (``make run``)."""
    run_dir = Path(run_dir).resolve()
    top = Path(_git(run_dir, "rev-parse", "--show-toplevel").decode().strip())
    tables = (run_dir / "tables").relative_to(top).as_posix()
    archive = _git(top, "archive", "--format=tar", f"{rev}:{tables}")
    into = Path(into)
    (into / "tables").mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and "/" not in member.name and member.name.endswith(".csv"):
                (into / "tables" / member.name).write_bytes(tar.extractfile(member).read())
    return into

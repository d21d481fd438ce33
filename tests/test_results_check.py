"""`harness results check`: a run's tables against the committed ones, within each table's
tolerance from the registry."""

import csv
import shutil

import pytest

from conftest import REPO, run
from harness.core.errors import HarnessError
from harness.tables.check import cells_match, check_results
from harness.tables.registry import load_registry


def test_cells_match_within_tolerance_and_same_text():
    assert cells_match("2.7%", "3.3%", 5.0) and not cells_match("2.7%", "9.0%", 5.0)
    assert cells_match("16.28 ± 4.56", "16.10 ± 4.74", 1.0)
    assert not cells_match("16.28 ± 4.56", "16.28 ± 6.00", 1.0)  # every number counts, the std too
    assert not cells_match("2.7%", "2.7 dB", 5.0)  # the text around the numbers must be the same
    assert not cells_match("Top-k (k = 32)", "Greedy", 100.0)
    assert cells_match("1.35 s ± 0.04 s", "2.90 s ± 0.31 s", None)  # timing: numbers not compared
    assert cells_match("19.5", "19.5", 0.0) and not cells_match("19.5", "19.6", 0.0)


def test_registry_tolerances_are_set_for_every_filled_table():
    registry = load_registry()
    assert registry["table_5_4"].tolerance is None  # seconds of this machine
    assert registry["table_5_2"].tolerance == 1.0 and registry["table_3_1"].tolerance == 5.0
    for table in REPO.glob("results/tables/*.csv"):
        entry = registry[table.stem]
        assert entry.tolerance is None or entry.tolerance >= 0


@pytest.fixture
def committed(tmp_path):
    """A copy of the committed embedded tables, and a run folder holding the same tables."""
    old, new = tmp_path / "committed", tmp_path / "run"
    for root in (old, new):
        shutil.copytree(REPO / "results" / "tables", root / "tables")
    return old, new


def _set_ours(path, row, column, value) -> str:
    """Put ``value`` in our cell (row, column) of a built table's CSV; returns the old value."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    [cell] = [r for r in rows if (r["row"], r["column"]) == (row, column)]
    old, cell["ours"] = cell["ours"], value
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return old


def test_identical_run_matches_and_moved_cells_are_listed(committed):
    old, new = committed
    moved, compared = check_results(old, new)
    assert moved == [] and compared == len(list(old.glob("tables/*.csv")))
    lass = _set_ours(new / "tables/table_5_2.csv", "LASS (Ours)", "MNIST (PSNR)", "0")
    _set_ours(new / "tables/table_5_2.csv", "LASS (Ours)", "MNIST (PSNR)", f"{float(lass) - 0.2:.1f}")
    _set_ours(new / "tables/table_5_4.csv", "MNIST / LASS (Ours)", "Time", "93.10 s ± 0.20 s")
    moved, _ = check_results(old, new)
    assert [(m.table, m.row, m.within) for m in moved] == [
        ("table_5_2", "LASS (Ours)", True),  # 0.2 dB: within the table's 1 dB
        ("table_5_4", "MNIST / LASS (Ours)", True),  # seconds are not compared
    ]
    assert f"{lass} -> {float(lass) - 0.2:.1f}" in str(moved[0])


def test_cli_fails_on_a_cell_beyond_tolerance_or_a_missing_table(committed):
    old, new = committed
    ok = run(["harness", "results", "check", "--committed", str(old), "--run", str(new)])
    assert "match" in ok.stdout and "within tolerance" in ok.stdout
    nrs = _set_ours(new / "tables/table_3_1.csv", "CRN", "NRS", "0")
    moved = f"{float(nrs.rstrip('%')) + 10:.1f}%"  # 10 points: beyond the table's 5
    _set_ours(new / "tables/table_3_1.csv", "CRN", "NRS", moved)
    proc = run(["harness", "results", "check", "--committed", str(old), "--run", str(new)], check=False)
    assert proc.returncode == 2 and f"FAIL table_3_1: CRN / NRS: {nrs} -> {moved}" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("harness: error: 1 cell(s)")
    (new / "tables/table_4_3.csv").unlink()
    with pytest.raises(HarnessError, match="wrote no table_4_3"):
        check_results(old, new)


def test_rev_compares_with_the_tables_git_holds(committed):
    """`make run` writes over the committed tables in place: `--rev HEAD` reads them from git."""
    _, new = committed
    repo = new.parent
    for cmd in (["git", "init", "-q"], ["git", "add", "run"]):
        run(cmd, cwd=repo)
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", *ident, "commit", "-q", "-m", "committed tables"], cwd=repo)
    check = ["harness", "results", "check", "--run", str(new), "--rev", "HEAD"]
    assert "match git HEAD within tolerance (0 cells moved)" in run(check).stdout
    nrs = _set_ours(new / "tables/table_3_1.csv", "CRN", "NRS", "0")
    _set_ours(new / "tables/table_3_1.csv", "CRN", "NRS", f"{float(nrs.rstrip('%')) + 10:.1f}%")
    proc = run(check, check=False)
    assert proc.returncode == 2 and "FAIL table_3_1: CRN / NRS" in proc.stdout
    proc = run([*check[:-1], "no-such-rev"], check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no-such-rev" in proc.stderr
    untracked = run(["harness", "results", "check", "--run", str(committed[0]), "--rev", "HEAD"], check=False)
    assert untracked.returncode == 2 and "committed/tables" in untracked.stderr.splitlines()[-1]

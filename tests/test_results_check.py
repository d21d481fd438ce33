"""`harness results check`: a run's tables against the committed ones, within each table's
tolerance from the registry."""

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


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_identical_run_matches_and_moved_cells_are_listed(committed):
    old, new = committed
    moved, compared = check_results(old, new)
    assert moved == [] and compared == len(list(old.glob("tables/*.csv")))
    _edit(
        new / "tables/table_5_2.csv",
        "LASS (Ours),MNIST (PSNR),24.2,19.5",
        "LASS (Ours),MNIST (PSNR),24.2,19.3",
    )
    _edit(new / "tables/table_5_4.csv", "1.35 s ± 0.04 s", "3.10 s ± 0.20 s")
    moved, _ = check_results(old, new)
    assert [(m.table, m.row, m.within) for m in moved] == [
        ("table_5_2", "LASS (Ours)", True),
        ("table_5_4", "MNIST / LASS (Ours)", True),
    ]
    assert "19.5 -> 19.3" in str(moved[0])


def test_cli_fails_on_a_cell_beyond_tolerance_or_a_missing_table(committed):
    old, new = committed
    ok = run(["harness", "results", "check", "--committed", str(old), "--run", str(new)])
    assert "match" in ok.stdout and "within tolerance" in ok.stdout
    _edit(new / "tables/table_3_1.csv", "CRN,NRS,77.7%,2.7%", "CRN,NRS,77.7%,12.7%")
    proc = run(["harness", "results", "check", "--committed", str(old), "--run", str(new)], check=False)
    assert proc.returncode == 2 and "FAIL table_3_1: CRN / NRS: 2.7% -> 12.7%" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("harness: error: 1 cell(s)")
    (new / "tables/table_4_3.csv").unlink()
    with pytest.raises(HarnessError, match="wrote no table_4_3"):
        check_results(old, new)

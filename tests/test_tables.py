"""Tables registry and builder: thesis values beside ours, in CSV, Markdown and LaTeX."""

import csv
import re

import pytest

from harness.core.errors import HarnessError
from harness.tables.build import build_table, tex_escape, write_index
from harness.tables.registry import get_entry, load_registry

ISSUE_TABLES = [
    "3_1",
    "3_2",
    "4_3",
    "5_1",
    "5_2",
    "5_3",
    "5_4",
    "5_5",
    "6_1",
    "6_2",
    "6_3",
    "6_6",  # CompoNet (section 6.5): compositional tasks
    "6_7",  # CompoNet: methodology, input, output, coherence
    "6_4",
    "6_5",
    "6_8",
    "7_1",
]
ISSUE_FIGURES = ["3_6", "3_exactly_two", "4_2", "5_3", "6_4", "6_5", "7_3"]
# results the thesis states in its text (section 3.5), kept as tables beside ours
TEXT_RESULTS = ["text_3_exactly_two", "text_3_strict_crn"]


def test_registry_holds_every_thesis_table_and_figure():
    reg = load_registry()
    assert sorted(e for e in reg if e.startswith("table_")) == sorted(f"table_{t}" for t in ISSUE_TABLES)
    assert sorted(e for e in reg if e.startswith("figure_")) == sorted(f"figure_{f}" for f in ISSUE_FIGURES)
    assert sorted(e for e in reg if e.startswith("text_")) == TEXT_RESULTS
    assert reg["text_3_strict_crn"].title == "Section 3.5: strict CRN"
    for entry in reg.values():
        assert entry.caption and entry.values
        assert entry.chapter == int(entry.id.split("_")[1])


def test_registry_transcriptions_spot_checks():
    cell = {(r, c): v for r, c, v in get_entry("table_3_1").values}
    assert cell[("CRN", "NRS")] == "77.7%" and cell[("Emp-R", "R-Accuracy")] == "-"
    t32 = get_entry("table_3_2")
    assert len(t32.rows()) == 6 and len(t32.columns()) == 3
    assert get_entry("table_6_2").rows()[:2] == ["Demucs", "Demucs + Gibbs (512 steps)"]
    assert len(get_entry("table_6_3").values) == 14
    assert len(get_entry("table_7_1").values) == 16
    assert {(r, c): v for r, c, v in get_entry("table_5_1").values}[
        ("MNIST", "Likelihood density")
    ] == "1.49 %"


def test_build_pending_table(tmp_path):
    rows = build_table("table_3_1", tmp_path, scale="embedded")
    assert all(r["ours"] == "" for r in rows) and len(rows) == 9
    with open(tmp_path / "table_3_1.csv", newline="") as fh:
        data = list(csv.DictReader(fh))
    assert list(data[0]) == ["row", "column", "thesis", "ours", "scale"]
    assert data[0] == {"row": "CRN", "column": "NRS", "thesis": "77.7%", "ours": "", "scale": "embedded"}
    md = (tmp_path / "table_3_1.md").read_text()
    assert "Status: **pending**" in md and "**embedded**" in md
    assert "| CRN | 77.7% |  | 98.0% |  | 73.7% |  |" in md


def test_build_with_ours_and_extra_rows(tmp_path):
    ours = tmp_path / "ours.csv"
    ours.write_text("row,column,ours,only_ours\nCRN,NRS,12.5%,\nSmall CRN (ours only),NRS,3.0%,1\n")
    rows = build_table("table_3_1", tmp_path, scale="thesis", ours=str(ours))
    by_cell = {(r["row"], r["column"]): r for r in rows}
    assert by_cell[("CRN", "NRS")]["ours"] == "12.5%" and by_cell[("CRN", "NRS")]["thesis"] == "77.7%"
    assert by_cell[("Small CRN (ours only)", "NRS")]["thesis"] == ""
    md = (tmp_path / "table_3_1.md").read_text()
    assert "Status: **regenerated**" in md and "| CRN | 77.7% | 12.5% |" in md
    tex = (tmp_path / "table_3_1.tex").read_text()
    assert r"77.7\% & 12.5\%" in tex and r"\begin{tabular}{lrrrrrr}" in tex
    assert "thesis scale" in tex


@pytest.mark.parametrize(
    "line, cause",
    [
        ("CRM,NRS,12.5%,", "'CRM' is not a row of the table"),  # a misspelled row
        ("CRN,NSR,12.5%,", "'NSR' is not a column of the table"),  # a misspelled column
        ("CRN,NSR,12.5%,1", "'NSR' is not a column of the table"),  # marking a row allows no column
        ("CRN,NRS,12.5%,\nCRN,NRS,13%,", "cell ('CRN', 'NRS') given twice"),
    ],
)
def test_build_refuses_a_cell_the_table_does_not_have(tmp_path, line, cause):
    ours = tmp_path / "ours.csv"
    ours.write_text(f"row,column,ours,only_ours\n{line}\n")
    out = tmp_path / "out"
    with pytest.raises(HarnessError, match=re.escape(cause)):
        build_table("table_3_1", out, scale="embedded", ours=str(ours))
    assert not out.exists()


def test_table_3_2_takes_the_configs_regimes_as_rows(tmp_path):
    """Table 3.2's rows are the config's data regimes: the tiny config's own regimes are kept as
    rows only we report, while a table with fixed rows still refuses an unknown one."""
    assert get_entry("table_3_2").config_rows and not get_entry("table_3_1").config_rows
    ours = tmp_path / "ours.csv"
    ours.write_text("row,column,ours,only_ours\n100 struct. / 60 rules,NRS fully-learned CRN,0.100,\n")
    build_table("table_3_2", tmp_path / "out", scale="embedded", ours=str(ours))
    rows = list(csv.DictReader(open(tmp_path / "out" / "table_3_2.csv")))
    assert {"row": "100 struct. / 60 rules", "ours": "0.100"}.items() <= rows[-1].items()
    assert rows[-1]["thesis"] == ""


def test_markdown_escapes_pipes_in_cells(tmp_path):
    build_table("table_6_3", tmp_path, scale="embedded")
    md = (tmp_path / "table_6_3.md").read_text()
    assert "| Bass \\| given Drums, Guitar, Piano | 0.45 |  |" in md
    for line in md.splitlines()[6:]:  # every row has the header's 3 columns
        assert len(line.replace("\\|", "").strip("|").split("|")) == 3, line


def test_bad_inputs(tmp_path):
    with pytest.raises(HarnessError, match="unknown table/figure id 'table_9_9'"):
        build_table("table_9_9", tmp_path, scale="embedded")
    bad = tmp_path / "bad.csv"
    bad.write_text("row,value\nCRN,1\n")
    with pytest.raises(HarnessError, match="missing column"):
        build_table("table_3_1", tmp_path / "out", scale="embedded", ours=str(bad))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_tex_escape():
    assert tex_escape("6.44 ± 2.12") == r"6.44 $\pm$ 2.12"
    assert tex_escape("a_b & 50%") == r"a\_b \& 50\%"


def test_index_reports_status(tmp_path):
    tables, figures = tmp_path / "tables", tmp_path / "figures"
    ours = tmp_path / "ours.csv"
    ours.write_text("row,column,ours\nCRN,NRS,1%\n")
    build_table("table_3_1", tables, scale="embedded", ours=str(ours))
    build_table("table_4_3", tables, scale="embedded")
    figures.mkdir()
    (figures / "figure_3_6.png").write_bytes(b"\x89PNG")
    text = write_index(str(tmp_path / "README.md"), str(tables), str(figures))
    assert "| [Table 3.1](tables/table_3_1.md) | regenerated | embedded | rule `table`" in text
    assert "| [Table 4.3](tables/table_4_3.md) | pending | embedded |" in text
    assert "| Table 5.1 | not built |" in text
    assert "| [Figure 3.6](figures/figure_3_6.png) | regenerated |" in text
    assert "| Figure 4.2 | pending |" in text

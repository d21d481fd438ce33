"""The harness CLI: steps write atomically, and bad input gives one line and no output."""

import json

import numpy as np

from conftest import run
from harness.cli import main


def test_help_lists_steps():
    out = run(["harness", "--help"]).stdout
    assert "odeen" in out and "tables" in out and "workflow" in out
    out = run(["harness", "odeen", "--help"]).stdout
    for step in ("universe", "tags", "rules", "summary", "label"):
        assert step in out


def test_label_command():
    out = run(["harness", "odeen", "label", "exactly 1 block touching red", "bA.b..", "b.A.b."]).stdout
    assert out.splitlines() == ["bA.b..\t1", "b.A.b.\t0"]


def test_bad_rule_is_one_line():
    proc = run(["harness", "odeen", "label", "exactly 1 green block", "bA.b.."], check=False)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("harness: error: bad token 'green' at position 3")
    assert "Traceback" not in proc.stderr


def test_universe_rules_summary_steps(tmp_path, capsys):
    uni, tags, rules = tmp_path / "u.txt", tmp_path / "t.npz", tmp_path / "r.tsv"
    assert main(["odeen", "universe", "--out", str(uni)]) == 0
    lines = uni.read_text().splitlines()
    assert len(lines) == 117649 and lines[0] == "......" and lines[-1] == "VVVVVV"
    assert (
        main(["odeen", "tags", "--universe", str(uni), "--out", str(tags), "--log", str(tmp_path / "l.log")])
        == 0
    )
    assert "tag matrix: 24794 rules x 117649 structures" in (tmp_path / "l.log").read_text()
    with np.load(tags) as z:
        assert z["packed"].shape == (24794, 14707) and int(z["n_structures"]) == 117649
    assert main(["odeen", "rules", "--tags", str(tags), "--out", str(rules)]) == 0
    rows = rules.read_text().splitlines()
    assert rows[0] == "rule\tkind\tn_tokens\tn_positive\tlabel_class"
    assert len(rows) == 24795
    assert rows[1] == "at_least 1 block\tsimple\t3\t102024\t0"  # 7**6 - 5**6 structures hold a block
    metrics, plot = tmp_path / "m.json", tmp_path / "p.csv"
    assert (
        main(
            [
                "odeen",
                "summary",
                "--rules",
                str(rules),
                "--bins",
                "20",
                "--metrics",
                str(metrics),
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    m = json.loads(metrics.read_text())
    assert m["n_rules"] == 24794 and m["rules_per_kind"]["relational"] == 5488
    assert m["n_rules_exactly_2"] == 5894 and m["max_tokens"] == 11
    assert sum(int(line.split(",")[2]) for line in plot.read_text().splitlines()[1:]) == 24794
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "l.log",
        "m.json",
        "p.csv",
        "r.tsv",
        "t.npz",
        "u.txt",
    ]


def test_bad_inputs_leave_no_partial_output(tmp_path):
    corrupt = tmp_path / "universe.txt"
    corrupt.write_text("......\nbbbbbX\n")
    out = tmp_path / "out" / "tags.npz"
    proc = run(["harness", "odeen", "tags", "--universe", str(corrupt), "--out", str(out)], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"harness: error: {corrupt} line 2: bad structure 'bbbbbX': need 6 symbols from '.bBaAvV'"
    )
    assert not out.parent.exists() or list(out.parent.iterdir()) == []

    missing = run(
        ["harness", "odeen", "tags", "--universe", str(tmp_path / "nope.txt"), "--out", str(out)], check=False
    )
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        f"harness: error: --universe {tmp_path / 'nope.txt'}: no such file"
    ]

    fake = tmp_path / "tags.npz"
    fake.write_bytes(b"not a zip file")
    rules = tmp_path / "rules.tsv"
    proc = run(["harness", "odeen", "rules", "--tags", str(fake), "--out", str(rules)], check=False)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"harness: error: --tags {fake}: not an .npz archive"
    ]
    assert not rules.exists() and not list(tmp_path.glob(".rules.tsv.*"))


def test_atomic_write_removes_temporary_on_failure(tmp_path):
    from harness.core.atomic import atomic_path

    target = tmp_path / "x.bin"
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"

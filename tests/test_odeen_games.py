"""The Odeen data protocol on the real tag matrix: rule split, training data, unique games."""

import re

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.odeen import games
from harness.odeen.interpreter import unpack_row
from harness.odeen.language import UNIVERSE_SIZE, parse_rule, universe


@pytest.fixture(scope="module")
def lang(tags, rules_table):
    rules, packed = tags
    classes = np.array([r["label_class"] for r in rules_table])
    n_pos = np.array([r["n_positive"] for r in rules_table])
    return rules, packed, classes, n_pos


@pytest.fixture(scope="module")
def split(lang):
    rules, _, classes, n_pos = lang
    return games.make_split(rules, classes, n_pos, [1438, 500], 100, 150, 10, seed=7)


@pytest.mark.parametrize(
    "sizes, valid, test, ex2, cause",
    [
        ([1438, 500], 100, 10, 50, "50 test rules with 'exactly 2' cannot be part of 10 test rules"),
        ([1438, 1438], 100, 10, 1, "must be distinct and positive"),
        ([0], 100, 10, 1, "must be distinct and positive"),
        ([30_000], 100, 10, 1, "exceed the"),
    ],
)
def test_split_refuses_counts_that_do_not_fit_before_any_work(lang, sizes, valid, test, ex2, cause):
    rules, _, classes, n_pos = lang
    with pytest.raises(HarnessError, match=re.escape(cause)):
        games.make_split(rules, classes, n_pos, sizes, valid, test, ex2, seed=7)


def test_a_universe_that_is_not_u_is_refused(tmp_path):
    from harness.odeen.data import read_universe
    from harness.odeen.language import structure_to_str

    short = tmp_path / "u.txt"
    short.write_text("".join(structure_to_str(s) + "\n" for s in universe()[:3]))
    with pytest.raises(HarnessError, match="holds 3 structures, not the 117649 of U"):
        read_universe(str(short))


def test_column_labels_match_unpacked_rows(lang):
    rules, packed, _, _ = lang
    idx = np.array([0, 1, 7, 8, 9, 12345, UNIVERSE_SIZE - 1])
    cols = games.column_labels(packed[:50], idx)
    full = np.stack([unpack_row(packed[r], UNIVERSE_SIZE) for r in range(50)])
    assert (cols == full[:, idx]).all()


def test_structures_array_and_boundary_pairs(lang):
    rules, packed, _, _ = lang
    u = universe()
    assert (games.structures_array(np.arange(UNIVERSE_SIZE)) == u).all()
    rng = np.random.default_rng(0)
    for r in (rules.index("exactly 1 red block surrounded_by blue"), rules.index("zero pyramid")):
        labels = unpack_row(packed[r], UNIVERSE_SIZE)
        pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
        for start_positive in (True, False):
            a, b = games.boundary_pair(labels, pos, neg, rng, start_positive)
            assert (u[a] != u[b]).sum() == 1 and labels[a] != labels[b] and labels[a] == start_positive


def test_split_follows_the_protocol(lang, split):
    rules, _, classes, _ = lang
    cls = dict(zip(rules, classes))
    small, large = split["train"]["500"], split["train"]["1438"]
    assert len(small) == 500 and len(large) == 1438 and set(small) <= set(large)
    held = games.held_out_classes(rules, classes)
    assert not any("exactly 2" in r or cls[r] in held for r in large)
    # every token and rule kind appears in the smallest set
    all_tokens = {t for r in rules for t in r.split()}
    assert {t for r in small for t in r.split()} == all_tokens
    assert {parse_rule(r).kind for r in small} == {"simple", "relational", "and", "or"}
    train_classes = {cls[r] for r in large}
    evaluated = split["valid"] + split["test"]
    assert len(split["test"]) == 150 and len(split["valid"]) == 100
    assert not any(cls[r] in train_classes for r in evaluated)
    assert len({cls[r] for r in evaluated}) == len(evaluated)  # one rule per class, sets disjoint
    assert not any("at_the_left_of" in r for r in evaluated)
    assert sum("exactly 2" in r for r in split["test"]) == 10
    again = games.make_split(rules, classes, lang[3], [1438, 500], 100, 150, 10, seed=7)
    assert again == split  # seeded


def test_training_data_is_uniform_over_u_and_correctly_labelled(lang, split):
    """As the original: each rule's m structures are distinct uniform draws from U, so its labels
    keep the rule's prior (no 50/50 balancing)."""
    rules, packed, _, _ = lang
    index = {r: i for i, r in enumerate(rules)}
    ids = [index[r] for r in split["train"]["500"][:40]]
    data = games.training_data(ids, packed, 1000, seed=3)
    assert data["structures"].shape == (40, 1000)
    n_pos = np.empty(len(ids))
    for k, r in enumerate(ids):
        truth = unpack_row(packed[r], UNIVERSE_SIZE)
        assert (data["labels"][k] == truth[data["structures"][k]]).all()
        assert len(np.unique(data["structures"][k])) == 1000
        n_pos[k] = truth.sum()
    # the positive rate of the drawn structures follows the rule's rate over U (binomial, m = 1000)
    rate, prior = data["labels"].mean(axis=1), n_pos / UNIVERSE_SIZE
    assert np.all(np.abs(rate - prior) < 5 * np.sqrt(prior * (1 - prior) / 1000) + 1e-9)
    assert np.abs(rate - 0.5).max() > 0.3  # some rules are far from balanced, as over U
    # the draws cover U uniformly: the mean index is the middle of U
    assert abs(data["structures"].mean() / UNIVERSE_SIZE - 0.5) < 0.01


def test_every_test_game_is_unique(lang, split):
    """No rule outside the true rule's label class labels a game's 32 structures the same way."""
    rules, packed, classes, _ = lang
    ids, tables, labels = games.make_games(rules, split["test"], packed, classes, 32, 5, seed=11)
    assert tables.shape == (150, 32) and len(set(ids.tolist())) == 150
    u = universe()
    for r, table, lab in zip(ids, tables, labels):
        assert len(set(table.tolist())) == 32
        same = np.all(games.column_labels(packed, table) == lab, axis=1)
        assert set(classes[same].tolist()) == {classes[r]}
        # the table opens with near-identical pairs (one slot apart) labelled differently
        pairs = table[:10].reshape(5, 2)
        assert ((u[pairs[:, 0]] != u[pairs[:, 1]]).sum(axis=1) == 1).all()
        assert (lab[:10].reshape(5, 2)[:, 0] != lab[:10].reshape(5, 2)[:, 1]).all()
        assert (lab == unpack_row(packed[r], UNIVERSE_SIZE)[table]).all()
    ev = games.eval_structures(tables, 1176, seed=5)
    assert len(ev) == 1176 and not np.isin(ev, tables).any()


def test_a_training_set_too_large_to_hold_is_refused_before_allocating(tags, rules_table, tmp_path, capsys):
    import json

    from harness.cli import main
    from harness.odeen.data import write_rules_tsv

    rules, packed = tags
    with open(tmp_path / "tags.npz", "wb") as fh:
        np.savez(fh, packed=packed, rules=np.array(rules), n_structures=UNIVERSE_SIZE)
    write_rules_tsv(str(tmp_path / "rules.tsv"), rules_table)
    split = {"train": {"2000": rules[:2000]}, "valid": rules[2000:2001], "test": rules[2001:2002]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    argv = ["odeen", "train-data", "--tags", str(tmp_path / "tags.npz"), "--rules", str(tmp_path / "rules.tsv"),
            "--split", str(tmp_path / "split.json"), "--n-rules", "2000", "--structures", "117649",
            "--seed", "1", "--out", str(tmp_path / "train.npz")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(
        "harness: error: 2000 rules x 117649 structures = 235,298,000 labelled structures"
    )
    assert not (tmp_path / "train.npz").exists()


def test_table_draws_are_distinct_and_uniform():
    """Floyd's draw of t distinct indices per row: no repeats, every index equally likely, and
    every position (the query is the last) uniform over the indices too."""
    from harness.odeen.train import distinct_draws

    rng = np.random.default_rng(0)
    rows, m, t = 20000, 40, 33
    draws = distinct_draws(rng, rows, m, t)
    assert draws.shape == (rows, t) and draws.min() >= 0 and draws.max() < m
    assert all(len(set(row)) == t for row in draws[:2000])
    expected = rows * t / m  # each index is in a row with probability t / m
    counts = np.bincount(draws.ravel(), minlength=m)
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)
    last = np.bincount(draws[:, -1], minlength=m)  # the query's index
    assert np.abs(last - rows / m).max() < 5 * np.sqrt(rows / m)
    assert distinct_draws(np.random.default_rng(3), 4, 10**6, 33).shape == (4, 33)  # any m

"""Odeen semantics on hand-checked structures, the vectorised tag matrix against the per-rule
interpreter, and invariants of the full labelling of U."""

import numpy as np
import pytest

from harness.odeen.interpreter import label, label_classes, popcount_rows, tag_matrix, unpack_row
from harness.odeen.language import structure_from_str, universe

# Symbols: . empty, b/B blue/red block, a/A blue/red pyramid up, v/V blue/red pyramid down.
CASES = [
    # quantities and objects
    ("bA.b..", "exactly 2 blue block", True),
    ("bA.b..", "exactly 2 blue", True),
    ("bA.b..", "exactly 2 block", True),
    ("bA.b..", "at_most 1 block", False),
    ("bA.b..", "at_least 2 block", True),
    ("bA.b..", "at_least 1 red pyramid", True),
    ("bA.b..", "exactly 1 red pyramid pointing_up", True),
    ("bA.b..", "zero pyramid pointing_down", True),
    ("bA.b..", "zero red block", True),
    ("bA.b..", "exactly 1 pyramid", True),
    ("aAvV..", "exactly 2 pyramid", False),  # four pyramids
    ("aAvV..", "at_least 2 pyramid", True),
    ("aAvV..", "exactly 2 pyramid pointing_up", True),
    ("aAvV..", "exactly 1 blue pyramid pointing_down", True),
    ("......", "zero block", True),
    ("......", "at_most 2 blue", True),
    ("......", "at_least 1 red", False),
    # touching: a Y slot immediately left or right
    ("bA.b..", "exactly 1 block touching red", True),
    ("bA.b..", "exactly 1 red touching block", True),
    ("b.A.b.", "zero block touching pyramid", True),
    ("bb....", "exactly 2 block touching block", True),  # a slot may count while also Y
    ("b.b...", "zero block touching block", True),
    # surrounded_by: Y immediately left and right
    ("bAb...", "exactly 1 pyramid surrounded_by block", True),
    ("bA.b..", "zero pyramid surrounded_by block", True),
    ("Ab....", "zero red surrounded_by blue", True),  # slot 0 has no left neighbour
    ("bAbAb.", "exactly 2 red surrounded_by blue block", True),
    ("bAbAb.", "exactly 1 blue surrounded_by red", True),
    # at_the_right_of: some Y anywhere to the left
    ("bA.b..", "exactly 1 block at_the_right_of red", True),
    ("bA.b..", "exactly 2 block at_the_right_of red", False),
    ("..b..V", "zero red at_the_right_of red", True),
    ("V....b", "exactly 1 blue at_the_right_of red pyramid pointing_down", True),
    # at_the_left_of: some Y anywhere to the right
    ("bA.b..", "exactly 1 block at_the_left_of pyramid", True),
    ("bA.b..", "exactly 2 blue at_the_left_of blue", False),
    ("bA.b..", "exactly 1 blue at_the_left_of blue", True),
    ("V....b", "zero blue at_the_left_of red", True),
    # connectives
    ("b.....", "zero red and at_least 1 blue", True),
    ("bA....", "zero red and at_least 1 blue", False),
    ("bA....", "zero red or at_least 1 blue", True),
    ("......", "at_least 1 red or at_least 1 blue", False),
]


@pytest.mark.parametrize("structure, rule, expected", CASES)
def test_hand_checked(structure, rule, expected):
    assert bool(label(rule, structure_from_str(structure)[None])[0]) is expected


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(0)
    u = universe()
    return u[rng.choice(len(u), size=300, replace=False)]


def test_tag_matrix_equals_per_rule_interpreter_on_every_rule(sample):
    rules, packed = tag_matrix(sample)
    assert packed.shape == (24794, (len(sample) + 7) // 8)
    for i, rule in enumerate(rules):
        assert (unpack_row(packed[i], len(sample)) == label(rule, sample)).all(), rule


def test_full_tag_matrix_rows_match_interpreter(tags):
    rules, packed = tags
    u = universe()
    assert packed.shape == (24794, 14707)
    rng = np.random.default_rng(1)
    for i in rng.choice(len(rules), size=60, replace=False):
        assert (unpack_row(packed[i], len(u)) == label(rules[i], u)).all(), rules[i]


def test_inclusion_exclusion(rules_table):
    by_rule = {r["rule"]: r["n_positive"] for r in rules_table}
    rng = np.random.default_rng(2)
    simple = [r["rule"] for r in rules_table if r["kind"] == "simple"]
    for a, b in rng.choice(simple, size=(300, 2)):
        both, either = by_rule[f"{a} and {b}"], by_rule[f"{a} or {b}"]
        assert either == by_rule[a] + by_rule[b] - both
        assert by_rule[f"{a} and {b}"] == by_rule[f"{b} and {a}"]


def test_quantities_partition_the_universe(rules_table):
    by_rule = {r["rule"]: r["n_positive"] for r in rules_table}
    n = 117649
    for obj in ["red", "block", "blue pyramid pointing_up", "pyramid touching red"]:
        zero, e1, e2 = by_rule[f"zero {obj}"], by_rule[f"exactly 1 {obj}"], by_rule[f"exactly 2 {obj}"]
        assert by_rule[f"at_most 1 {obj}"] == zero + e1
        assert by_rule[f"at_least 1 {obj}"] == n - zero
        assert by_rule[f"at_least 2 {obj}"] == n - zero - e1
        assert by_rule[f"at_most 2 {obj}"] == zero + e1 + e2
    # closed forms: slots are i.i.d. uniform over 7 symbols
    assert by_rule["zero red"] == 4**6  # each slot one of . b a v
    assert by_rule["zero block"] == 5**6
    assert by_rule["exactly 1 blue block"] == 6 * 6**5


def test_label_classes(rules_table, tags):
    _, packed = tags
    classes = label_classes(packed)
    assert classes[0] == 0 and classes.max() + 1 == len(set(classes))
    by_rule = {r["rule"]: r["label_class"] for r in rules_table}
    # equivalent by construction
    assert by_rule["at_least 1 red and at_least 1 red"] == by_rule["at_least 1 red"]
    assert by_rule["at_least 1 block or zero block"] == by_rule["at_most 2 red or at_least 1 red"]
    assert by_rule["zero red"] != by_rule["zero blue"]
    assert popcount_rows(packed[:5]).tolist() == [r["n_positive"] for r in rules_table[:5]]

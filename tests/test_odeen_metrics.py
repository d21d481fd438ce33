"""NRS, T-Acc, R-Acc and the Figure 3.6 curves on crafted predictors with known scores."""

import numpy as np
import pytest

from harness.odeen import metrics
from harness.odeen.games import column_labels, eval_structures


def test_nrs_on_a_hand_made_language():
    # four rules on five structures; rules 0 and 1 are the same class (identical labellings)
    tags = np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 1, 1],
        ],
        dtype=bool,
    )
    classes = np.array([0, 0, 1, 2])
    pred = np.array(
        [
            [1, 1, 0, 0, 0],  # exact: hit for class 0
            [1, 1, 0, 0, 1],  # distance 1 to class 0, 2 to class 1: hit
            [1, 1, 1, 0, 0],  # exactly rule 2: miss for class 0
            [1, 0, 1, 0, 0],  # distance 2 to classes 0 and 1 (tie with another class): miss
            [0, 0, 0, 1, 1],  # rule 3 itself, scored as class 2: hit
        ],
        dtype=bool,
    )
    truth = np.array([0, 0, 0, 0, 2])
    expected = [True, True, False, False, True]
    assert metrics.nearest_rule_hits(pred, tags, classes, truth).tolist() == expected
    assert metrics.nearest_rule_hits_loop(pred, tags, classes, truth).tolist() == expected
    assert metrics.hamming_distances(pred[:1], tags).tolist() == [[0, 0, 1, 4]]
    assert metrics.tag_accuracy(pred[:2], tags[[0, 0]]).tolist() == [1.0, 0.8]


@pytest.fixture(scope="module")
def eval_setting(tags, rules_table):
    rules, packed = tags
    classes = np.array([r["label_class"] for r in rules_table])
    ev = eval_structures(np.zeros((1, 1), dtype=np.int32), 1176, seed=1)
    return rules, classes, column_labels(packed, ev).astype(bool)


def test_crafted_predictors_on_the_real_language(eval_setting):
    rules, classes, ev_tags = eval_setting
    rng = np.random.default_rng(0)
    # true rules with a positive rate far from 0 and 1, so nearby rules are few
    rate = ev_tags.mean(axis=1)
    true = rng.choice(np.flatnonzero((rate > 0.3) & (rate < 0.7)), size=40, replace=False)
    truth = ev_tags[true]
    oracle = metrics.nearest_rule_hits(truth, ev_tags, classes, classes[true])
    # the true tags are a hit unless another class labels these 1,176 structures the same way
    same_elsewhere = [
        bool(((ev_tags == ev_tags[t]).all(axis=1) & (classes != classes[t])).any()) for t in true
    ]
    assert oracle.tolist() == [not s for s in same_elsewhere]
    assert oracle.mean() > 0.9
    assert metrics.tag_accuracy(truth, truth).mean() == 1.0
    # answering another class's tags is never a hit; the all-flipped answer never either
    other = rng.choice(np.flatnonzero(~np.isin(classes, classes[true])), size=40)
    assert not metrics.nearest_rule_hits(ev_tags[other], ev_tags, classes, classes[true]).any()
    assert not metrics.nearest_rule_hits(~truth, ev_tags, classes, classes[true]).any()
    assert metrics.tag_accuracy(~truth, truth).mean() == 0.0
    # a few flipped tags keep the true rule nearest; fast and loop agree on noisy predictions
    noisy = truth.copy()
    noisy[:, :3] ^= True
    assert metrics.nearest_rule_hits(noisy, ev_tags, classes, classes[true]).mean() > 0.5
    very_noisy = truth ^ (rng.random(truth.shape) < 0.2)
    for pred in (noisy[:5], very_noisy[:5]):
        fast = metrics.nearest_rule_hits(pred, ev_tags, classes, classes[true[:5]])
        slow = metrics.nearest_rule_hits_loop(pred, ev_tags, classes, classes[true[:5]])
        assert fast.tolist() == slow.tolist()


def test_rule_accuracy_uses_equivalence_over_u(tags, rules_table):
    rules, _ = tags
    class_of = {r["rule"]: r["label_class"] for r in rules_table}
    true_class = np.array([class_of["at_least 1 red"]] * 4)
    predicted = [
        "at_least 1 red",
        "at_least 1 red and at_least 1 red",  # same labelling of all of U
        "at_least 1 red pointing_up",  # ill-formed: no rule of the language
        None,  # no answer
    ]
    assert metrics.rule_hits(predicted, true_class, class_of).tolist() == [True, True, False, False]


def test_thinking_time_curves():
    ranks = np.array([1, 3, 3, np.inf])
    assert metrics.found_within(ranks, np.array([1, 2, 3, 100])).tolist() == [0.25, 0.25, 0.75, 0.75]
    # one rule per class among N = 10: after t random draws, P(found) = t / N
    bf = metrics.brute_force_within(np.array([1, 1]), np.array([1, 5, 10]), 10)
    assert np.allclose(bf, [0.1, 0.5, 1.0])
    # two rules in the class: P(miss after 1) = 8/10, after 2 = (8/10)(7/9)
    assert np.allclose(
        metrics.brute_force_within(np.array([2]), np.array([1, 2, 9]), 10), [0.2, 1 - 56 / 90, 1.0]
    )


def test_table_3_1_prints_the_baselines_and_the_crn_margin_in_standard_errors():
    from harness.odeen import report

    diff, se = report.nrs_margin({"nrs": 0.2}, {"nrs": 0.1}, 100)
    assert diff == pytest.approx(0.1) and se == pytest.approx(np.sqrt((0.16 + 0.09) / 100))
    crn = {
        "test_games": 100,
        "crn": {"nrs": 0.2, "t_acc": 0.9, "r_acc": 0.15},
        "interpreter_true_rule": {"t_acc": 0.935},
        "baselines": {"majority_label": {"nrs": 0.0, "t_acc": 0.79}, "random": {"nrs": 0.0, "t_acc": 0.5}},
    }
    rows, note = report.table_3_1(crn, {"nrs": 0.1, "t_acc": 0.85, "r_acc": 0.01}, {"nrs": 0.2, "t_acc": 0.8})
    cells = {(r, c): v for r, c, v in rows}
    assert cells[("Majority label (baseline)", "T-Accuracy")] == "79.0%"
    assert cells[("Random labels (baseline)", "NRS")] == "0.0%" and cells[("Emp-R", "R-Accuracy")] == "-"
    assert note.startswith("100 test games")
    assert "CRN - Emp-C = +10.0 ± 5.0 pp (+2.0 SE)" in note and "CRN - Emp-R = +0.0" in note
    assert "empiricists') is not shown beyond 2 SE" in note and "true rule: T-Acc 93.5%" in note
    _, note = report.table_3_1(crn, {"nrs": 0.0, "t_acc": 0.8}, {"nrs": 0.01, "t_acc": 0.8})
    assert "empiricists') holds beyond 2 SE" in note  # +5.0 and +4.6 SE

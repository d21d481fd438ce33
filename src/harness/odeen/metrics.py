"""The Odeen scores of thesis 3.3 (shared/reference/odeen.md, "NRS").

- **Nearest Rule Score (NRS)**: a game's predicted tags v on the ell evaluation structures are a
  hit when the Hamming distance d_H(v, w_r) over all 24,794 rules r is smallest for the true
  rule, and every rule at that smallest distance is semantically identical to it (same labelling
  of all of U, i.e. the same label class).
- **T-Acc**: fraction of the ell structures tagged correctly, averaged over games.
- **R-Acc**: the predicted rule string labels all of U exactly as the true rule does.

``nearest_rule_hits`` computes all distances of all games at once as one matrix product
(d_H(v, w) = |v| + |w| - 2 v.w); ``nearest_rule_hits_loop`` is the plain per-game, per-rule
loop the benchmark compares it with.
"""

from __future__ import annotations

import numpy as np


def hamming_distances(pred: np.ndarray, rule_tags: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(G, R) Hamming distances between predicted tag vectors (G, ell) and rule tags (R, ell)."""
    w = rule_tags.astype(np.float32)
    w_norm = w.sum(axis=1)
    out = np.empty((pred.shape[0], rule_tags.shape[0]), dtype=np.int32)
    for i in range(0, pred.shape[0], chunk):
        v = pred[i : i + chunk].astype(np.float32)
        d = v.sum(axis=1, keepdims=True) + w_norm[None] - 2.0 * (v @ w.T)
        out[i : i + chunk] = np.rint(d).astype(np.int32)
    return out


def hits_from_distances(dist: np.ndarray, classes: np.ndarray, true_class: np.ndarray) -> np.ndarray:
    nearest = dist == dist.min(axis=1, keepdims=True)
    wrong_nearest = nearest & (classes[None] != true_class[:, None])
    right_nearest = nearest & (classes[None] == true_class[:, None])
    return right_nearest.any(axis=1) & ~wrong_nearest.any(axis=1)


def nearest_rule_hits(
    pred: np.ndarray, rule_tags: np.ndarray, classes: np.ndarray, true_class: np.ndarray
) -> np.ndarray:
    """NRS hit per game (bool, G)."""
    return hits_from_distances(hamming_distances(pred, rule_tags), classes, np.asarray(true_class))


def nearest_rule_hits_loop(
    pred: np.ndarray, rule_tags: np.ndarray, classes: np.ndarray, true_class: np.ndarray
) -> np.ndarray:
    """The same as :func:`nearest_rule_hits`, one game and one rule at a time."""
    out = np.zeros(len(pred), dtype=bool)
    for g, v in enumerate(pred.astype(bool)):
        best, best_classes = None, set()
        for r, w in enumerate(rule_tags.astype(bool)):
            d = int(np.count_nonzero(v != w))
            if best is None or d < best:
                best, best_classes = d, {int(classes[r])}
            elif d == best:
                best_classes.add(int(classes[r]))
        out[g] = best_classes == {int(true_class[g])}
    return out


def tag_accuracy(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-game fraction of correct tags (G,)."""
    return (np.asarray(pred, dtype=bool) == np.asarray(truth, dtype=bool)).mean(axis=1)


def rule_hits(predicted: list[str | None], true_class: np.ndarray, class_of: dict[str, int]) -> np.ndarray:
    """R-Acc per game: the predicted rule is in the language and in the true rule's class."""
    return np.array([p is not None and class_of.get(p, -1) == int(c) for p, c in zip(predicted, true_class)])


def found_within(ranks: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Fraction of games whose true rule is among the first t conjectures, for each t."""
    ranks = np.asarray(ranks, dtype=float)
    return np.array([(ranks <= t).mean() for t in ts])


def brute_force_within(class_sizes: np.ndarray, ts: np.ndarray, n_rules: int) -> np.ndarray:
    """Expected fraction of games solved by checking t of the ``n_rules`` rules in random order
    with the ground-truth interpreter: a game is solved once any rule of its class is drawn,
    probability 1 - C(N - c, t) / C(N, t) for a class of c rules."""
    from scipy.special import gammaln

    c = np.asarray(class_sizes, dtype=float)[:, None]
    t = np.asarray(ts, dtype=float)[None]
    n = float(n_rules)
    # log C(N - c, t) - log C(N, t), zero probability of a miss once t > N - c
    with np.errstate(invalid="ignore"):
        log_miss = gammaln(n - c + 1) - gammaln(n - c - t + 1) - gammaln(n + 1) + gammaln(n - t + 1)
    miss = np.where(t <= n - c, np.exp(log_miss), 0.0)
    return (1.0 - miss).mean(axis=0)

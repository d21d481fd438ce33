"""The Odeen data protocol (thesis 3.3.1; shared/reference/odeen.md): the rule split, the
labelled structures of the training rules, and the validation / test games.

- **Split.** Every rule whose labelling of U equals that of a rule containing ``exactly 2`` is
  held out of training (``at_least 2 X and at_most 2 X`` and friends go with it). The training
  rule sets are nested (the 500-rule set is inside the 1,438-rule one); the smallest is built
  first so that every token and every rule kind appears at least once, then filled uniformly.
  Validation and test rules come from label classes that no training rule has, never contain
  ``at_the_left_of`` (the original filter), are not constant on U, and use one rule per class;
  a set number of them contain ``exactly 2`` (thesis: 72 of the 1,132 test rules).
- **Training data.** ``m`` structures per training rule, half labelled positive and half negative
  where the rule allows it (a uniform draw would give rare-positive rules almost no positives).
- **Games.** 32 labelled structures: five near-identical pairs (one slot changed) with different
  labels, then structures chosen greedily to rule out every other label class of the language,
  then random structures up to 32. A game is *unique*: no rule outside the true rule's class
  labels its 32 structures the same way (checked on every generated game).
- **Evaluation structures.** One set of ``ell`` structures (1% of U: 1,176) per game set, none
  of them in any table of that set, on which NRS and T-Acc are computed for every game.
"""

from __future__ import annotations

import json

import numpy as np

from harness.core.atomic import write_bytes_with, write_text
from harness.core.errors import HarnessError
from harness.core.inputs import STRINGS, read_json
from harness.core.logs import LOG, progress
from harness.odeen.language import N_SLOTS, SYMBOLS, UNIVERSE_SIZE, parse_rule


def column_labels(packed: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Labels (rows x len(idx), uint8 0/1) of the packed tag matrix on structures ``idx``."""
    idx = np.asarray(idx, dtype=np.int64)
    return (packed[:, idx >> 3] >> (7 - (idx & 7)).astype(np.uint8)) & 1


def row_labels(packed_row: np.ndarray) -> np.ndarray:
    return np.unpackbits(packed_row, count=UNIVERSE_SIZE).astype(np.uint8)


def held_out_classes(rules: list[str], classes: np.ndarray) -> set[int]:
    """Label classes of every rule with the bigram ``exactly 2`` (held out of training)."""
    return {int(c) for r, c in zip(rules, classes) if "exactly 2" in r}


def _tokens_and_kind(rule: str) -> set[str]:
    tree = parse_rule(rule)
    return set(tree.tokens) | {f"kind:{tree.kind}"}


def make_split(
    rules: list[str],
    classes: np.ndarray,
    n_positive: np.ndarray,
    train_sizes: list[int],
    n_valid: int,
    n_test: int,
    n_test_exactly_two: int,
    seed: int,
) -> dict:
    """Training rule sets (nested, smallest first), validation and test rules, as rule strings."""
    if not train_sizes or min(train_sizes) < 1 or len(set(train_sizes)) != len(train_sizes):
        raise HarnessError(f"odeen split: training set sizes {train_sizes} must be distinct and positive")
    if not 0 <= n_test_exactly_two <= n_test:
        raise HarnessError(
            f"odeen split: {n_test_exactly_two} test rules with 'exactly 2' cannot be part of {n_test} test rules"
        )
    if max(train_sizes) + n_valid + n_test > len(rules):
        raise HarnessError(
            f"odeen split: {max(train_sizes)} training + {n_valid} validation + {n_test} test rules "
            f"exceed the {len(rules)} rules"
        )
    rng = np.random.default_rng(seed)
    held = held_out_classes(rules, classes)
    candidates = [i for i, c in enumerate(classes) if int(c) not in held]
    order = [candidates[i] for i in rng.permutation(len(candidates))]
    features = {i: _tokens_and_kind(rules[i]) for i in order}
    wanted = set().union(*features.values())
    chosen: list[int] = []
    for feature in sorted(wanted):  # coverage first: the first rule (in random order) having it
        if not any(feature in features[i] for i in chosen):
            chosen.append(next(i for i in order if feature in features[i]))
    sizes = sorted(train_sizes)
    if len(chosen) > sizes[0]:
        raise HarnessError(
            f"odeen split: {len(chosen)} rules needed to cover the language, set of {sizes[0]}"
        )
    rest = iter(i for i in order if i not in set(chosen))
    train_sets = {}
    for size in sizes:
        while len(chosen) < size:
            chosen.append(next(rest, None))
            if chosen[-1] is None:
                raise HarnessError(f"odeen split: fewer than {size} rules outside the held-out classes")
        train_sets[str(size)] = sorted(rules[i] for i in chosen)
    train_classes = {int(classes[i]) for i in chosen}

    eligible = [
        int(i)
        for i in rng.permutation(len(rules))
        if int(classes[i]) not in train_classes
        and "at_the_left_of" not in rules[i]
        and 0 < n_positive[i] < UNIVERSE_SIZE
    ]
    # the thesis test set holds 72 of 1,132 rules with `exactly 2`; validation gets the same share
    n_ex2 = {"valid": round(n_valid * n_test_exactly_two / max(n_test, 1)), "test": n_test_exactly_two}
    seen: set[int] = set()
    picked: dict[str, list[int]] = {}
    for name, total in (("valid", n_valid), ("test", n_test)):
        picked[name] = []
        for want_ex2, count in ((True, n_ex2[name]), (False, total - n_ex2[name])):
            pool = (i for i in eligible if ("exactly 2" in rules[i]) == want_ex2)
            got = 0
            for i in pool:
                if got == count:
                    break
                if int(classes[i]) not in seen:
                    seen.add(int(classes[i]))
                    picked[name].append(i)
                    got += 1
            if got < count:
                raise HarnessError(f"odeen split: only {got} eligible {name} rules (exactly 2: {want_ex2})")
    return {
        "seed": seed,
        "train": train_sets,
        "valid": [rules[i] for i in picked["valid"]],
        "test": [rules[i] for i in picked["test"]],
        "held_out_classes": len(held),
    }


def write_split(path: str, split: dict) -> None:
    write_text(path, json.dumps(split, indent=1) + "\n")
    LOG.info(
        "split: train %s, %d valid, %d test rules",
        {k: len(v) for k, v in split["train"].items()},
        len(split["valid"]),
        len(split["test"]),
    )


SPLIT_SCHEMA = {
    "type": "object",
    "required": ["train", "valid", "test"],
    "properties": {
        "train": {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {"^[1-9][0-9]*$": {**STRINGS, "minItems": 1}},
            "additionalProperties": False,
        },
        "valid": {**STRINGS, "minItems": 1},
        "test": {**STRINGS, "minItems": 1},
    },
}


def read_split(path: str) -> dict:
    """A split written by ``harness odeen split`` (train sets by size, valid and test rules)."""
    return read_json(path, SPLIT_SCHEMA, "split file")


# ----------------------------------------------------------------------------- training data
def sample_labelled(m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` distinct structure indices drawn uniformly from U, as the original code does: each
    rule's labels keep their prior, which the majority-label baseline of Table 3.1 answers."""
    return rng.choice(UNIVERSE_SIZE, size=m, replace=False)


def training_data(rule_ids: list[int], packed: np.ndarray, m: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    structures = np.empty((len(rule_ids), m), dtype=np.int32)
    labels = np.empty((len(rule_ids), m), dtype=np.uint8)
    for k, r in enumerate(progress(rule_ids, desc=f"labelled structures (m={m})")):
        row = row_labels(packed[r])
        structures[k] = sample_labelled(m, rng)
        labels[k] = row[structures[k]]
    return {"rule_ids": np.asarray(rule_ids, dtype=np.int32), "structures": structures, "labels": labels}


TRAIN_KEYS = ("rules", "rule_ids", "structures", "labels")
GAME_KEYS = ("rules", "rule_ids", "tables", "labels", "eval_structures")


# ----------------------------------------------------------------------------- games
def boundary_pair(
    labels: np.ndarray, pos: np.ndarray, neg: np.ndarray, rng: np.random.Generator, start_positive: bool
) -> list[int]:
    """Two structures one slot apart with different labels: walk from a random structure to a
    random one of the other label, one slot at a time; the label flips somewhere on the way."""
    start, goal = (pos, neg) if start_positive else (neg, pos)
    here = int(rng.choice(start))
    digits, target = structures_array(here), structures_array(int(rng.choice(goal)))
    weights = len(SYMBOLS) ** np.arange(N_SLOTS - 1, -1, -1)
    for slot in rng.permutation(N_SLOTS):
        if digits[slot] == target[slot]:
            continue
        digits[slot] = target[slot]
        nxt = int(digits.astype(np.int64) @ weights)
        if labels[nxt] != labels[here]:
            return [here, nxt]
        here = nxt
    raise AssertionError("unreachable: the walk ends on the other label")


def make_game(
    rule_id: int,
    packed: np.ndarray,
    reps: np.ndarray,
    rep_classes: np.ndarray,
    true_class: int,
    rng: np.random.Generator,
    table_size: int = 32,
    n_pairs: int = 5,
    pool: int = 256,
    max_draws: int = 64,
) -> np.ndarray | None:
    """Structure indices of one unique game for ``rule_id``, or None when 32 cannot pin it down.

    ``reps`` are the packed labellings of one rule per label class (``rep_classes`` their ids).
    """
    labels = row_labels(packed[rule_id])
    pos, neg = np.flatnonzero(labels), np.flatnonzero(labels == 0)
    chosen: list[int] = []
    for k in range(n_pairs):  # near-identical pairs with different labels
        for _ in range(max_draws):
            pair = boundary_pair(labels, pos, neg, rng, start_positive=k % 2 == 0)
            if not set(pair) & set(chosen):
                chosen += pair
                break
    target = labels[chosen]
    rivals = np.flatnonzero(
        (rep_classes != true_class) & np.all(column_labels(reps, np.array(chosen)) == target, axis=1)
    )
    while len(rivals) and len(chosen) < table_size:
        # candidates: random structures, plus structures where one remaining rival disagrees
        # (rivals that differ from the rule only on rare structures are never left standing)
        rival = reps[rng.choice(rivals)]
        differ = np.flatnonzero(np.unpackbits(rival ^ packed[rule_id], count=UNIVERSE_SIZE))
        cand = np.concatenate([rng.choice(UNIVERSE_SIZE, size=pool), rng.choice(differ, size=pool // 4)])
        split = (column_labels(reps[rivals], cand) != labels[cand]).sum(axis=0)
        split[np.isin(cand, chosen)] = -1
        best = int(np.argmax(split))
        chosen.append(int(cand[best]))
        rivals = rivals[column_labels(reps[rivals], cand[best : best + 1])[:, 0] == labels[cand[best]]]
    if len(rivals):
        return None
    while len(chosen) < table_size:
        s = int(rng.integers(UNIVERSE_SIZE))
        if s not in chosen:
            chosen.append(s)
    return np.array(chosen, dtype=np.int32)


def class_representatives(classes: np.ndarray) -> np.ndarray:
    """Index of the first rule of each label class, in class-id order."""
    _, first = np.unique(classes, return_index=True)
    return first


def make_games(
    rules: list[str],
    rule_names: list[str],
    packed: np.ndarray,
    classes: np.ndarray,
    table_size: int,
    n_pairs: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rule ids, tables (G, table_size) structure indices, labels) for the named rules."""
    index = {r: i for i, r in enumerate(rules)}
    missing = [r for r in rule_names if r not in index]
    if missing:
        raise HarnessError(f"odeen games: rule {missing[0]!r} is not in the tag matrix")
    rng = np.random.default_rng(seed)
    rep_idx = class_representatives(classes)
    reps, rep_classes = packed[rep_idx], classes[rep_idx]
    ids, tables = [], []
    for name in progress(rule_names, desc="games"):
        r = index[name]
        table = make_game(r, packed, reps, rep_classes, int(classes[r]), rng, table_size, n_pairs)
        if table is None:
            raise HarnessError(f"odeen games: no unique {table_size}-structure table found for {name!r}")
        ids.append(r)
        tables.append(table)
    ids_arr, tables_arr = np.array(ids, dtype=np.int32), np.stack(tables)
    labels = np.stack([column_labels(packed[[r]], t)[0] for r, t in zip(ids_arr, tables_arr)])
    return ids_arr, tables_arr, labels.astype(np.uint8)


def rivals_of_game(packed: np.ndarray, classes: np.ndarray, rule_id: int, table: np.ndarray) -> np.ndarray:
    """Every rule outside ``rule_id``'s class that labels ``table`` as ``rule_id`` does."""
    labs = column_labels(packed, table)
    same = np.all(labs == labs[rule_id], axis=1)
    return np.flatnonzero(same & (classes != classes[rule_id]))


def eval_structures(exclude: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` structures of U (sorted) that appear in no table of ``exclude``."""
    rng = np.random.default_rng(seed)
    allowed = np.setdiff1d(np.arange(UNIVERSE_SIZE), np.unique(exclude))
    if n > len(allowed):
        raise HarnessError(
            f"odeen games: {n} evaluation structures asked, {len(allowed)} are outside the games"
        )
    return np.sort(rng.choice(allowed, size=n, replace=False)).astype(np.int32)


def write_npz(path: str, **arrays) -> None:
    write_bytes_with(path, lambda fh: np.savez(fh, **arrays))


def read_npz(path: str, keys: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in keys}
    except FileNotFoundError:
        raise HarnessError(f"{what} {path} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise HarnessError(f"{what} {path} is corrupt or lacks {keys}: {str(err)[:120]}") from None
    _check_arrays(arrays, f"{what} {path}")
    return arrays


# the shape of each array of a games / training-data file: (ndim, integer?, value range)
_ARRAY_SHAPES = {
    "rules": (1, False, None),
    "rule_ids": (1, True, (0, None)),
    "tables": (2, True, (0, UNIVERSE_SIZE - 1)),
    "structures": (2, True, (0, UNIVERSE_SIZE - 1)),
    "labels": (2, True, (0, 1)),
    "eval_structures": (1, True, (0, UNIVERSE_SIZE - 1)),
}


def _check_arrays(arrays: dict[str, np.ndarray], what: str) -> None:
    """One line when an array has the wrong rank, type or values, or the rows disagree."""
    for key, a in arrays.items():
        ndim, integer, bounds = _ARRAY_SHAPES[key]
        if a.ndim != ndim or a.size == 0:
            raise HarnessError(f"{what}: {key} has shape {a.shape}, expected {ndim} non-empty dimension(s)")
        if integer and not np.issubdtype(a.dtype, np.integer):
            raise HarnessError(f"{what}: {key} holds {a.dtype}, expected integers")
        if not integer and a.dtype.kind != "U":
            raise HarnessError(f"{what}: {key} holds {a.dtype}, expected strings")
        if bounds and (a.min() < bounds[0] or (bounds[1] is not None and a.max() > bounds[1])):
            raise HarnessError(f"{what}: {key} has values outside {bounds[0]}..{bounds[1]}")
    rows = {k: len(arrays[k]) for k in ("rules", "rule_ids", "tables", "structures", "labels") if k in arrays}
    if len(set(rows.values())) > 1:
        raise HarnessError(f"{what}: arrays disagree on the number of rules {rows}")
    grid = [arrays[k].shape for k in ("tables", "structures", "labels") if k in arrays]
    if len(set(grid)) > 1:
        raise HarnessError(f"{what}: tables and labels differ in shape {grid}")


def structures_array(idx: np.ndarray) -> np.ndarray:
    """Symbol indices (..., 6) of structure indices (U's base-7 order)."""
    idx = np.asarray(idx, dtype=np.int64)[..., None]
    weights = len(SYMBOLS) ** np.arange(N_SLOTS - 1, -1, -1)
    return ((idx // weights) % len(SYMBOLS)).astype(np.uint8)

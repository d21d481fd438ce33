"""Odeen semantics: the per-rule interpreter and the vectorised tag matrix.

``label(rule, structures)`` evaluates one rule with numpy; it is the plain reference the
benchmark compares against. ``tag_matrix()`` labels every structure of U with every rule at
once, working on all objects, relations and quantities as array axes, and returns the labels
bit-packed along the structure axis (rules x ceil(117649 / 8) bytes).
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.odeen.language import (
    CONNECTIVES,
    OBJECTS,
    QUANTITIES,
    RELATIONAL_RULES,
    RELATIONS,
    SIMPLE_RULES,
    Compound,
    Relational,
    Rule,
    Simple,
    iter_rules,
    object_from_tokens,
    parse_rule,
    quantity_from_tokens,
    rule_to_str,
    universe,
)


def related_slots(other: np.ndarray, relation: str) -> np.ndarray:
    """Slots standing in ``relation`` to at least one selected slot of ``other``.

    ``other`` is a boolean mask (..., 6) of the slots selected by the second object Y; the
    result marks slot i when: touching, Y at i-1 or i+1; surrounded_by, Y at i-1 and i+1;
    at_the_right_of, Y at some j < i; at_the_left_of, Y at some j > i.
    """
    out = np.zeros_like(other)
    if relation == "touching":
        out[..., 1:] |= other[..., :-1]
        out[..., :-1] |= other[..., 1:]
    elif relation == "surrounded_by":
        out[..., 1:-1] = other[..., :-2] & other[..., 2:]
    elif relation == "at_the_right_of":
        out[..., 1:] = np.logical_or.accumulate(other, axis=-1)[..., :-1]
    elif relation == "at_the_left_of":
        out[..., :-1] = np.logical_or.accumulate(other[..., ::-1], axis=-1)[..., ::-1][..., 1:]
    else:
        raise ValueError(f"unknown relation {relation!r}")
    return out


def count(rule: Simple | Relational, structures: np.ndarray) -> np.ndarray:
    """Number of slots that satisfy the rule's object (and relation), per structure."""
    selected = rule.obj.selects(structures)
    if isinstance(rule, Relational):
        selected &= related_slots(rule.other.selects(structures), rule.relation)
    return selected.sum(axis=-1)


def label(rule: Rule | str, structures: np.ndarray) -> np.ndarray:
    """Labels (bool, one per structure) that ``rule`` gives to ``structures`` (N, 6)."""
    if isinstance(rule, str):
        rule = parse_rule(rule)
    structures = np.asarray(structures)
    if isinstance(rule, Compound):
        left, right = label(rule.left, structures), label(rule.right, structures)
        return left & right if rule.connective == "and" else left | right
    return rule.quantity.holds(count(rule, structures))


# ----------------------------------------------------------------------------- vectorised
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _pack_quantities(counts: np.ndarray) -> np.ndarray:
    """(..., N) counts -> (7, ..., ceil(N/8)) packed labels, one block per QUANTITY."""
    return np.stack([np.packbits(quantity_from_tokens(q).holds(counts), axis=-1) for q in QUANTITIES])


def tag_matrix(structures: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
    """Label ``structures`` (default: all of U) with every rule of the language.

    Returns the rule strings in canonical (sorted) order and a uint8 array of shape
    (24794, ceil(N/8)): row r holds rule r's labels, bit-packed big-endian as np.packbits.
    """
    if structures is None:
        structures = universe()
    objects = [object_from_tokens(o) for o in OBJECTS]
    lookups = np.stack([o.lookup for o in objects])  # (14, 7)
    masks = lookups[:, structures]  # (14, N, 6)
    n_obj, n_rel = len(objects), len(RELATIONS)

    simple = _pack_quantities(masks.sum(axis=-1, dtype=np.uint8))  # (7, 14, B)
    simple = simple.reshape(len(QUANTITIES) * n_obj, -1)  # SIMPLE_RULES order
    related = np.stack([related_slots(masks, r) for r in RELATIONS])  # (4, 14, N, 6)
    rel_counts = np.empty((n_obj, n_rel, n_obj, structures.shape[0]), dtype=np.uint8)
    for x in range(n_obj):
        rel_counts[x] = (masks[x] & related).sum(axis=-1, dtype=np.uint8)
    relational = _pack_quantities(rel_counts).reshape(len(RELATIONAL_RULES), -1)

    generated = [rule_to_str(r) for r in iter_rules()]
    rank = np.empty(len(generated), dtype=np.int64)
    rank[np.argsort(np.array(generated), kind="stable")] = np.arange(len(generated))
    out = np.empty((len(generated), simple.shape[1]), dtype=np.uint8)
    start = 0
    blocks = [simple, relational]
    blocks += [
        (simple[:, None, :] & simple[None]) if c == "and" else (simple[:, None, :] | simple[None])
        for c in CONNECTIVES
    ]
    for block in blocks:
        block = block.reshape(-1, simple.shape[1])
        out[rank[start : start + len(block)]] = block
        start += len(block)
    assert start == len(generated) == len(SIMPLE_RULES) + len(RELATIONAL_RULES) + 2 * 98 * 98
    return sorted(generated), out


def unpack_row(packed_row: np.ndarray, n_structures: int) -> np.ndarray:
    return np.unpackbits(packed_row, count=n_structures).astype(bool)


def popcount_rows(packed: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Number of set bits per row of a packed matrix (padding bits are zero)."""
    out = np.empty(packed.shape[0], dtype=np.int64)
    for i in range(0, packed.shape[0], chunk):
        out[i : i + chunk] = _POPCOUNT[packed[i : i + chunk]].sum(axis=1, dtype=np.int64)
    return out


def label_classes(packed: np.ndarray) -> np.ndarray:
    """Class id per row: rows with identical labellings share an id, numbered by first row."""
    ids: dict[bytes, int] = {}
    out = np.empty(packed.shape[0], dtype=np.int64)
    for i, row in enumerate(packed):
        out[i] = ids.setdefault(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), len(ids))
    return out

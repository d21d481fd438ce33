"""The Odeen universe and its rule language (thesis ch. 3.3; facts in shared/reference/odeen.md).

A *structure* is six slots, each holding one of seven symbols. A *rule* is a sentence of a small
grammar; the whole language (24,794 rule strings) is generated here from that grammar, never
listed by hand, and every rule string parses back to an abstract syntax tree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# ----------------------------------------------------------------------------- universe
#: Symbols of a slot: empty, blue/red block, blue/red pyramid up, blue/red pyramid down.
SYMBOLS = ".bBaAvV"
N_SLOTS = 6
UNIVERSE_SIZE = len(SYMBOLS) ** N_SLOTS  # 117,649

# Attributes of each symbol index (empty has neither colour nor shape).
_COLOR = np.array(["", "blue", "red", "blue", "red", "blue", "red"])
_SHAPE = np.array(["", "block", "block", "pointing_up", "pointing_up", "pointing_down", "pointing_down"])


def universe() -> np.ndarray:
    """All 7**6 structures as a (117649, 6) uint8 array of symbol indices.

    Row order is base-7 counting with slot 0 most significant ("......" first, "VVVVVV" last).
    """
    digits = np.indices((len(SYMBOLS),) * N_SLOTS, dtype=np.uint8)
    return digits.reshape(N_SLOTS, -1).T.copy()


def structure_to_str(structure: np.ndarray) -> str:
    return "".join(SYMBOLS[int(i)] for i in structure)


def structure_from_str(text: str) -> np.ndarray:
    """Parse a six-character structure such as ``"b.aA.V"``."""
    if len(text) != N_SLOTS or any(c not in SYMBOLS for c in text):
        raise ValueError(f"bad structure {text!r}: need {N_SLOTS} symbols from {SYMBOLS!r}")
    return np.array([SYMBOLS.index(c) for c in text], dtype=np.uint8)


# ----------------------------------------------------------------------------- grammar
QUANTIFIERS = ("zero", "exactly", "at_least", "at_most")
NUMBERS = ("1", "2")
#: The seven QUANTITY phrases, as token tuples.
QUANTITIES: tuple[tuple[str, ...], ...] = (("zero",),) + tuple(
    (q, n) for q in QUANTIFIERS[1:] for n in NUMBERS
)
COLORS = ("red", "blue")
SHAPES: tuple[tuple[str, ...], ...] = (
    ("block",),
    ("pyramid",),
    ("pyramid", "pointing_up"),
    ("pyramid", "pointing_down"),
)
#: The fourteen OBJ phrases: a colour, a shape, or a colour followed by a shape.
OBJECTS: tuple[tuple[str, ...], ...] = (
    tuple((c,) for c in COLORS) + SHAPES + tuple((c,) + s for c in COLORS for s in SHAPES)
)
RELATIONS = ("touching", "surrounded_by", "at_the_right_of", "at_the_left_of")
CONNECTIVES = ("and", "or")


@dataclass(frozen=True)
class Quantity:
    quantifier: str  # zero | exactly | at_least | at_most
    n: int  # 0 for zero

    def holds(self, count):
        """Compare a count (int or array) with the quantity."""
        if self.quantifier == "zero":
            return count == 0
        if self.quantifier == "exactly":
            return count == self.n
        if self.quantifier == "at_least":
            return count >= self.n
        return count <= self.n

    @property
    def tokens(self) -> tuple[str, ...]:
        return ("zero",) if self.quantifier == "zero" else (self.quantifier, str(self.n))


@dataclass(frozen=True)
class Obj:
    color: str | None
    shape: str | None  # block | pyramid | pointing_up | pointing_down

    @property
    def tokens(self) -> tuple[str, ...]:
        out: tuple[str, ...] = (self.color,) if self.color else ()
        if self.shape in ("pointing_up", "pointing_down"):
            out += ("pyramid", self.shape)
        elif self.shape:
            out += (self.shape,)
        return out

    @property
    def lookup(self) -> np.ndarray:
        """Boolean table over the seven symbols: which ones this object selects."""
        out = np.zeros(len(SYMBOLS), dtype=bool)
        for i in range(1, len(SYMBOLS)):
            shape = _SHAPE[i]
            ok_color = self.color is None or _COLOR[i] == self.color
            if self.shape == "pyramid":
                ok_shape = shape.startswith("pointing")
            else:
                ok_shape = self.shape is None or shape == self.shape
            out[i] = ok_color and ok_shape
        return out

    def selects(self, structures: np.ndarray) -> np.ndarray:
        """Mask (same shape as ``structures``) of the slots this object selects."""
        return self.lookup[structures]


@dataclass(frozen=True)
class Simple:
    quantity: Quantity
    obj: Obj

    kind = "simple"

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.quantity.tokens + self.obj.tokens


@dataclass(frozen=True)
class Relational:
    quantity: Quantity
    obj: Obj
    relation: str
    other: Obj

    kind = "relational"

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.quantity.tokens + self.obj.tokens + (self.relation,) + self.other.tokens


@dataclass(frozen=True)
class Compound:
    connective: str  # and | or
    left: Simple
    right: Simple

    @property
    def kind(self) -> str:
        return self.connective

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.left.tokens + (self.connective,) + self.right.tokens


Rule = Simple | Relational | Compound


def rule_to_str(rule: Rule) -> str:
    return " ".join(rule.tokens)


def quantity_from_tokens(tokens: tuple[str, ...]) -> Quantity:
    return Quantity(tokens[0], 0 if tokens[0] == "zero" else int(tokens[1]))


def object_from_tokens(tokens: tuple[str, ...]) -> Obj:
    color = tokens[0] if tokens[0] in COLORS else None
    shape_tokens = tokens[1:] if color else tokens
    shape = shape_tokens[-1] if shape_tokens else None
    return Obj(color, shape)


SIMPLE_RULES: tuple[Simple, ...] = tuple(
    Simple(quantity_from_tokens(q), object_from_tokens(o)) for q in QUANTITIES for o in OBJECTS
)
RELATIONAL_RULES: tuple[Relational, ...] = tuple(
    Relational(quantity_from_tokens(q), object_from_tokens(o), r, object_from_tokens(p))
    for q in QUANTITIES
    for o in OBJECTS
    for r in RELATIONS
    for p in OBJECTS
)


def iter_rules() -> Iterator[Rule]:
    """Every rule of the language in *generation* order: simple, relational, and, or."""
    yield from SIMPLE_RULES
    yield from RELATIONAL_RULES
    for connective in CONNECTIVES:
        for left, right in itertools.product(SIMPLE_RULES, repeat=2):
            yield Compound(connective, left, right)


def all_rule_strings() -> list[str]:
    """The 24,794 rule strings in canonical order (plain lexicographic sort, as the original)."""
    return sorted(rule_to_str(r) for r in iter_rules())


# ----------------------------------------------------------------------------- parser
class OdeenSyntaxError(ValueError):
    """A rule string that the Odeen grammar does not generate."""


class _Tokens:
    def __init__(self, text: str):
        self.text = text
        self.toks = text.split(" ")
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, allowed, what: str) -> str:
        tok = self.peek()
        if tok not in allowed:
            where = f"token {tok!r} at position {self.i + 1}" if tok is not None else "end of rule"
            raise OdeenSyntaxError(
                f"bad {where} in rule {self.text!r}: expected {what}"
                + (f" ({' | '.join(allowed)})" if allowed else "")
            )
        self.i += 1
        return tok


def _parse_quantity(ts: _Tokens) -> Quantity:
    q = ts.take(QUANTIFIERS, "a quantifier")
    if q == "zero":
        return Quantity("zero", 0)
    return Quantity(q, int(ts.take(NUMBERS, "a number")))


def _parse_obj(ts: _Tokens) -> Obj:
    color = ts.take(COLORS, "a colour") if ts.peek() in COLORS else None
    if color and ts.peek() not in ("block", "pyramid"):
        return Obj(color, None)
    allowed = ("block", "pyramid") if color else COLORS + ("block", "pyramid")
    shape = ts.take(allowed, "a shape" if color else "an object")
    if shape == "pyramid" and ts.peek() in ("pointing_up", "pointing_down"):
        shape = ts.take(("pointing_up", "pointing_down"), "an orientation")
    return Obj(color, shape)


def parse_rule(text: str) -> Rule:
    """Parse a rule string into its syntax tree; raise OdeenSyntaxError naming the bad token."""
    if not isinstance(text, str) or not text.strip():
        raise OdeenSyntaxError(f"empty rule {text!r}")
    ts = _Tokens(text)
    quantity = _parse_quantity(ts)
    obj = _parse_obj(ts)
    nxt = ts.peek()
    if nxt is None:
        return Simple(quantity, obj)
    if nxt in RELATIONS:
        relation = ts.take(RELATIONS, "a relation")
        other = _parse_obj(ts)
        if ts.peek() is not None:
            ts.take((), "end of rule")
        return Relational(quantity, obj, relation, other)
    connective = ts.take(CONNECTIVES + RELATIONS, "a connective, a relation or end of rule")
    right = Simple(_parse_quantity(ts), _parse_obj(ts))
    if ts.peek() is not None:
        ts.take((), "end of rule")
    return Compound(connective, Simple(quantity, obj), right)

"""The Symbol Interpretation world (thesis 4.1): structures of six pieces, the five sub-task
legends (thesis Table 4.2), and the sentences of the three groups, with their meaning.

A piece is a colour (red, blue, yellow) and a shape (circle, square, triangle; triangles are red
and point up or down), or the empty space. A sentence is one clause, or two joined by ``and`` /
``or``; a clause is ``QUANTITY OBJECT [RELATION OBJECT]`` with the Odeen relations (touching,
surrounded by, at the right of, at the left of) and quantities (zero, exactly / at least / at
most one or two).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The eight pieces and the empty space, in the order every legend lists them.
PIECES: tuple[tuple[str, str, str], ...] = (
    ("red", "circle", ""),
    ("blue", "circle", ""),
    ("yellow", "circle", ""),
    ("red", "triangle", "up"),
    ("red", "triangle", "down"),
    ("red", "square", ""),
    ("blue", "square", ""),
    ("yellow", "square", ""),
)
EMPTY = len(PIECES)  # index of the empty space
SUBTASKS = ("plain", "adversarial", "tricky", "name_agnostic", "emoji_agnostic")
GROUPS = ("quantification", "logical", "positional")
QUANTITIES = (
    ("zero", 0),
    ("exactly", 1),
    ("exactly", 2),
    ("at least", 1),
    ("at least", 2),
    ("at most", 1),
    ("at most", 2),
)
RELATIONS = ("touching", "surrounded by", "at the right of", "at the left of")

#: English words of the world, and how each sub-task names them (None: the English word).
WORDS = (
    "red",
    "blue",
    "yellow",
    "circle",
    "square",
    "triangle",
    "pointing",
    "up",
    "down",
    "piece",
    "empty",
    "space",
)
AGNOSTIC_NAMES = {
    "red": "X",
    "blue": "H",
    "yellow": "U",
    "circle": "D",
    "square": "B",
    "triangle": "Y",
    "up": "G",
    "down": "A",
    "piece": "I",
    "empty": "T",
}
PLAIN_EMOJIS = ("🔴", "🔵", "🟡", "🔺", "🔻", "🟥", "🟦", "🟨", "_")
# adversarial: shape emojis given to the wrong pieces; emoji-agnostic: unrelated emojis
ADVERSARIAL_EMOJIS = ("🔺", "🟦", "🔴", "🟥", "🟨", "🔻", "🟡", "_", "🔵")
ANIMAL_EMOJIS = ("🐮", "🐺", "🦁", "🐷", "🐯", "🐱", "🦝", "🐔", "🦄")


@dataclass(frozen=True)
class Obj:
    """A set of pieces: colour and/or shape (``piece``: any shape) and orientation."""

    color: str = ""
    shape: str = "piece"
    orientation: str = ""

    def matches(self, piece: int) -> bool:
        if piece == EMPTY:
            return False
        color, shape, orientation = PIECES[piece]
        return (
            (not self.color or self.color == color)
            and (self.shape == "piece" or self.shape == shape)
            and (not self.orientation or self.orientation == orientation)
        )


@dataclass(frozen=True)
class Clause:
    quantifier: str
    number: int
    obj: Obj
    relation: str = ""
    other: Obj | None = None

    def count(self, structure: tuple[int, ...]) -> int:
        sel = [self.obj.matches(p) for p in structure]
        if not self.relation:
            return sum(sel)
        assert self.other is not None
        return related_count(sel, [self.other.matches(p) for p in structure], self.relation)

    def holds(self, structure: tuple[int, ...]) -> bool:
        return quantity_holds(self.quantifier, self.number, self.count(structure))


def related_count(selected: list[bool], other: list[bool], relation: str) -> int:
    """Selected pieces standing in ``relation`` to at least one ``other`` piece (Odeen's
    relations: touching = an other piece next to it; surrounded by = on both sides; at the
    right of = one anywhere to its left; at the left of = one anywhere to its right)."""
    n, total = len(selected), 0
    for i in range(n):
        if not selected[i]:
            continue
        left, right = i > 0 and other[i - 1], i < n - 1 and other[i + 1]
        related = {
            "touching": left or right,
            "surrounded by": left and right,
            "at the right of": any(other[:i]),
            "at the left of": any(other[i + 1 :]),
        }[relation]
        total += bool(related)
    return total


def quantity_holds(quantifier: str, number: int, count: int) -> bool:
    return {
        "zero": count == 0,
        "exactly": count == number,
        "at least": count >= number,
        "at most": count <= number,
    }[quantifier]


@dataclass(frozen=True)
class Sentence:
    first: Clause
    connective: str = ""
    second: Clause | None = None

    def holds(self, structure: tuple[int, ...]) -> bool:
        a = self.first.holds(structure)
        if not self.connective:
            return a
        assert self.second is not None
        b = self.second.holds(structure)
        return a and b if self.connective == "and" else a or b

    @property
    def group(self) -> str:
        if self.connective:
            return "logical"
        return "positional" if self.first.relation else "quantification"


# ----------------------------------------------------------------------------- naming
class Naming:
    """How one sub-task writes the world's words, and which emoji stands for which piece."""

    def __init__(self, subtask: str) -> None:
        if subtask not in SUBTASKS:
            raise ValueError(f"unknown sub-task {subtask!r} (known: {', '.join(SUBTASKS)})")
        self.subtask = subtask
        self.emojis = {
            "plain": PLAIN_EMOJIS,
            "tricky": PLAIN_EMOJIS,
            "name_agnostic": PLAIN_EMOJIS,
            "adversarial": ADVERSARIAL_EMOJIS,
            "emoji_agnostic": ANIMAL_EMOJIS,
        }[subtask]

    def word(self, english: str) -> str:
        if self.subtask == "tricky":
            return english[::-1]
        if self.subtask == "name_agnostic":
            return AGNOSTIC_NAMES.get(english, english)
        return english

    def noun(self, english: str, plural: bool) -> str:
        return self.word(english) + ("s" if plural else "")

    def orientation(self, orientation: str) -> str:
        if self.subtask == "name_agnostic":
            return self.word(orientation)
        return f"{self.word('pointing')} {self.word(orientation)}"

    def piece_name(self, piece: int) -> str:
        if piece == EMPTY:
            if self.subtask == "name_agnostic":
                return self.word("empty")
            return f"{self.word('empty')} {self.word('space')}"
        color, shape, orientation = PIECES[piece]
        words = [self.word(color), self.word(shape)]
        if orientation:
            words.append(self.orientation(orientation))
        return " ".join(words)

    def obj(self, obj: Obj, plural: bool) -> str:
        words = [self.word(obj.color)] if obj.color else []
        words.append(self.noun(obj.shape, plural))
        if obj.orientation:
            words.append(self.orientation(obj.orientation))
        return " ".join(words)

    def article(self, text: str) -> str:
        vowel = text[:1].lower() in "aeiou" and self.subtask != "name_agnostic"
        return ("an " if vowel else "a ") + text

    def clause(self, c: Clause) -> str:
        number = {0: "zero", 1: "one", 2: "two"}[c.number]
        quantity = "zero" if c.quantifier == "zero" else f"{c.quantifier} {number}"
        plural = c.number != 1 or c.quantifier == "zero"
        text = f"{quantity} {self.obj(c.obj, plural)}"
        if c.relation:
            assert c.other is not None
            if c.relation == "surrounded by":
                text += f" surrounded by {self.obj(c.other, plural=True)}"
            else:
                text += f" {c.relation} {self.article(self.obj(c.other, plural=False))}"
        return text

    def sentence(self, s: Sentence) -> str:
        first = s.first
        verb = "is" if first.number == 1 and first.quantifier != "zero" else "are"
        text = f"There {verb} {self.clause(first)}"
        if s.connective:
            assert s.second is not None
            text += f" {s.connective} {self.clause(s.second)}"
        return text + "."

    def legend(self) -> str:
        name = self.subtask.replace("_", "-")
        lines = [
            f"In the SIT-{name} world a structure is a sequence of six emojis.",
            "Hereafter are reported the emojis used along with their descriptions.",
        ]
        for k, emoji in enumerate(self.emojis):
            end = "." if k == EMPTY else ";"
            lines.append(f" {emoji} is {self.article(self.piece_name(k))}{end}")
        return "\n".join(lines)

    def structure(self, structure: tuple[int, ...]) -> str:
        return " ".join(self.emojis[p] for p in structure)

"""A symbolic solver for Symbol Interpretation examples: the upper-bound row of Table 4.3.

It knows nothing of any sub-task's names. It reads the legend from the text itself (lines
``<symbol> is a <name>;``, in the task prefix or in each input), so emojis, reversed words and
made-up names are all just words: a piece is the set of words of its name, an object phrase of
a sentence matches a piece when all its words are among the piece's words. The empty space is
the (last listed) legend entry that shares no word with any other; a noun not in the legend (``piece``,
``eceip``, ``I``) stands for any piece. Plurals add ``s`` to one word (``triangles``,
``erauqss``, ``Ys``).

An example is solved when exactly one choice holds for the first structure and not for the
second; an example that does not parse, or where no single choice qualifies, is reported with
its reason and counted as not solved, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.sit.world import RELATIONS, quantity_holds, related_count

LEGEND_LINE = re.compile(r"^\s*(\S+)\s+is\s+an?\s+(.+?)\s*[;.]?\s*$")
QUESTION = re.compile(
    r"consistent with the structure\s+(.+?)\s+and not consistent with(?:\s+the structure)?\s+(.+?)\s*:",
    re.S,
)
NUMBERS = {"one": 1, "two": 2}


class SolverError(ValueError):
    """An example the solver cannot read (the message says why)."""


@dataclass
class Legend:
    pieces: dict[str, frozenset[str]]  # symbol -> words of its name (the empty space excluded)
    empty: str
    vocabulary: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_text(cls, text: str) -> Legend:
        entries = {}
        for line in text.splitlines():
            m = LEGEND_LINE.match(line)
            if m and len(m.group(1)) <= 8:
                entries[m.group(1)] = frozenset(m.group(2).replace("_", " ").split())
        if len(entries) < 2:
            raise SolverError("no legend ('<symbol> is a <name>;' lines) in the text")
        lonely = [s for s, w in entries.items() if not any(w & v for t, v in entries.items() if t != s)]
        if not lonely:
            raise SolverError("cannot tell the empty space in the legend: every entry shares a word")
        empty = lonely[-1]  # BIG-bench lists the empty space last
        pieces = {s: w for s, w in entries.items() if s != empty}
        return cls(pieces, empty, frozenset().union(*pieces.values()))

    def structure(self, text: str) -> list[str]:
        symbols = text.split()
        unknown = [s for s in symbols if s not in self.pieces and s != self.empty]
        if unknown:
            raise SolverError(f"symbol {unknown[0]!r} of a structure is not in the legend")
        return symbols


@dataclass(frozen=True)
class ObjPhrase:
    words: frozenset[str]  # legend words the piece must have (empty: any piece)


@dataclass(frozen=True)
class ClausePhrase:
    quantifier: str
    number: int
    obj: ObjPhrase
    relation: str = ""
    other: ObjPhrase | None = None


def _obj(tokens: list[str], legend: Legend, unknown_seen: set[str]) -> ObjPhrase:
    if not tokens:
        raise SolverError("an object phrase is empty")
    words, unknown = set(), []
    for t in tokens:
        if t in legend.vocabulary:
            words.add(t)
        elif t.endswith("s") and t[:-1] in legend.vocabulary:
            words.add(t[:-1])
        else:
            unknown.append(t)
    if len(unknown) > 1:
        raise SolverError(f"words {' '.join(unknown)!r} are not in the legend")
    unknown_seen.update(u[:-1] if u.endswith("s") and u[:-1] in unknown_seen else u for u in unknown)
    return ObjPhrase(frozenset(words))


_RELATION_TOKENS = [(r, r.split()) for r in RELATIONS]


def _relation_at(tokens: list[str], i: int) -> str | None:
    for name, words in _RELATION_TOKENS:
        if tokens[i : i + len(words)] == words:
            return name
    return None


def _clause(tokens: list[str], legend: Legend, unknown: set[str]) -> ClausePhrase:
    if tokens[:1] == ["zero"]:
        quantifier, number, rest = "zero", 0, tokens[1:]
    elif tokens[:1] == ["exactly"] and tokens[1:2] and tokens[1] in NUMBERS:
        quantifier, number, rest = "exactly", NUMBERS[tokens[1]], tokens[2:]
    elif tokens[:2] in (["at", "least"], ["at", "most"]) and tokens[2:3] and tokens[2] in NUMBERS:
        quantifier, number, rest = " ".join(tokens[:2]), NUMBERS[tokens[2]], tokens[3:]
    else:
        raise SolverError(f"no quantity at {' '.join(tokens[:3])!r}")
    for i in range(len(rest)):
        relation = _relation_at(rest, i)
        if relation:
            other = rest[i + len(relation.split()) :]
            if other[:1] in (["a"], ["an"]):
                other = other[1:]
            return ClausePhrase(
                quantifier, number, _obj(rest[:i], legend, unknown), relation, _obj(other, legend, unknown)
            )
    return ClausePhrase(quantifier, number, _obj(rest, legend, unknown))


@dataclass(frozen=True)
class SentencePhrase:
    first: ClausePhrase
    connective: str = ""
    second: ClausePhrase | None = None

    @property
    def group(self) -> str:
        if self.connective:
            return "logical"
        return "positional" if self.first.relation else "quantification"


def parse_sentence(text: str, legend: Legend, unknown: set[str] | None = None) -> SentencePhrase:
    """Parse one choice; words not in the legend (the generic noun 'piece') go to ``unknown``."""
    unknown = set() if unknown is None else unknown
    tokens = text.strip().rstrip(".").split()
    if tokens[:1] != ["There"] or tokens[1:2] not in (["is"], ["are"]):
        raise SolverError(f"sentence {text!r} does not start with 'There is/are'")
    tokens = tokens[2:]
    for connective in ("and", "or"):
        if connective in tokens:
            k = tokens.index(connective)
            return SentencePhrase(
                _clause(tokens[:k], legend, unknown), connective, _clause(tokens[k + 1 :], legend, unknown)
            )
    return SentencePhrase(_clause(tokens, legend, unknown))


def _matches(obj: ObjPhrase, symbol: str, legend: Legend) -> bool:
    return symbol in legend.pieces and obj.words <= legend.pieces[symbol]


def clause_holds(c: ClausePhrase, structure: list[str], legend: Legend) -> bool:
    selected = [_matches(c.obj, s, legend) for s in structure]
    if c.relation:
        assert c.other is not None
        count = related_count(selected, [_matches(c.other, s, legend) for s in structure], c.relation)
    else:
        count = sum(selected)
    return quantity_holds(c.quantifier, c.number, count)


def sentence_holds(s: SentencePhrase, structure: list[str], legend: Legend) -> bool:
    a = clause_holds(s.first, structure, legend)
    if not s.connective:
        return a
    assert s.second is not None
    b = clause_holds(s.second, structure, legend)
    return a and b if s.connective == "and" else a or b


@dataclass
class Solution:
    index: int
    group: str
    predicted: str | None
    correct: bool
    reason: str = ""


def solve_example(index: int, text: str, choices: list[str], target: dict[str, float]) -> Solution:
    """Solve one example: ``text`` holds the legend and the question, ``choices`` the sentences."""
    try:
        legend = Legend.from_text(text)
        m = QUESTION.search(text)
        if not m:
            raise SolverError("no 'consistent with the structure ... and not consistent with ...:' question")
        first, second = legend.structure(m.group(1)), legend.structure(m.group(2))
        unknown: set[str] = set()
        parsed = {c: parse_sentence(c, legend, unknown) for c in choices}
        nouns = {u[:-1] if u.endswith("s") and u[:-1] in unknown else u for u in unknown}
        if len(nouns) > 1:  # one word not in the legend is the generic noun; two are a puzzle
            raise SolverError(f"words not in the legend: {', '.join(sorted(nouns))}")
    except SolverError as err:
        return Solution(index, "", None, False, f"cannot parse: {err}")
    best = max(target.values()) if target else None
    answer = next((c for c, v in target.items() if v == best), None)
    group = parsed[answer].group if answer in parsed else ""
    good = [
        c
        for c, p in parsed.items()
        if sentence_holds(p, first, legend) and not sentence_holds(p, second, legend)
    ]
    if len(good) != 1:
        return Solution(index, group, None, False, f"{len(good)} choices hold for the first structure only")
    return Solution(index, group, good[0], good[0] == answer)


def solve_task(task: dict) -> list[Solution]:
    prefix = task.get("task_prefix", "")
    return [
        solve_example(i, prefix + ex["input"], list(ex["target_scores"]), ex["target_scores"])
        for i, ex in enumerate(task["examples"])
    ]

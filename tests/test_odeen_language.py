"""The Odeen grammar: counts of the reference, canonical order, parser round trip and errors."""

import pytest

from harness.odeen.language import (
    OBJECTS,
    QUANTITIES,
    UNIVERSE_SIZE,
    OdeenSyntaxError,
    all_rule_strings,
    parse_rule,
    rule_to_str,
    structure_from_str,
    structure_to_str,
    universe,
)


@pytest.fixture(scope="module")
def rules():
    return all_rule_strings()


def test_counts_match_reference(rules):
    assert len(QUANTITIES) == 7 and len(OBJECTS) == 14
    assert len(rules) == 24794
    assert len(set(rules)) == len(rules)
    kinds = [parse_rule(r).kind for r in rules]
    assert kinds.count("simple") == 98
    assert kinds.count("and") == 9604
    assert kinds.count("or") == 9604
    assert kinds.count("relational") == 5488
    assert sum("at_the_left_of" in r for r in rules) == 1372
    assert sum("exactly 2" in r for r in rules) == 5894
    assert max(len(r.split(" ")) for r in rules) == 11


def test_canonical_order_is_lexicographic(rules):
    assert rules == sorted(rules)
    assert rules[0] == "at_least 1 block"


def test_every_rule_round_trips(rules):
    for rule in rules:
        assert rule_to_str(parse_rule(rule)) == rule


def test_parse_tree():
    tree = parse_rule("at_most 2 red pyramid pointing_up touching blue")
    assert tree.kind == "relational"
    assert tree.quantity.quantifier == "at_most" and tree.quantity.n == 2
    assert (tree.obj.color, tree.obj.shape) == ("red", "pointing_up")
    assert tree.relation == "touching"
    assert (tree.other.color, tree.other.shape) == ("blue", None)
    both = parse_rule("zero block or exactly 1 pyramid")
    assert both.kind == "or" and both.left.quantity.quantifier == "zero"


@pytest.mark.parametrize(
    "text, bad",
    [
        ("at_least 3 block", "'3' at position 2"),
        ("exactly 1 green block", "'green' at position 3"),
        ("at_least 1 pointing_up", "'pointing_up' at position 3"),
        ("exactly 1 red pyramid blue", "'blue' at position 5"),
        ("zero block and", "end of rule"),
        ("zero block touching red and zero blue", "'and' at position 5"),
        ("zero block xor zero red", "'xor' at position 3"),
        ("exactly two block", "'two' at position 2"),
        ("zero block touching red block block", "'block' at position 6"),
    ],
)
def test_parser_names_the_bad_token(text, bad):
    with pytest.raises(OdeenSyntaxError) as err:
        parse_rule(text)
    assert bad in str(err.value)
    assert "\n" not in str(err.value)


def test_and_of_relational_is_not_in_the_language():
    with pytest.raises(OdeenSyntaxError):
        parse_rule("zero red and zero blue touching red")


def test_universe():
    u = universe()
    assert u.shape == (UNIVERSE_SIZE, 6) == (117649, 6)
    assert len({structure_to_str(s) for s in u[::97]}) == len(u[::97])
    assert structure_to_str(u[0]) == "......" and structure_to_str(u[-1]) == "VVVVVV"
    assert (structure_from_str(structure_to_str(u[12345])) == u[12345]).all()
    with pytest.raises(ValueError):
        structure_from_str("bbbbbX")

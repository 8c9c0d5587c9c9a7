"""Cohen's kappa against hand-computed cases and scikit-learn's cohen_kappa_score."""
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from enginebugs.taxonomy.labelling.kappa import cohen_kappa, raw_agreement


def test_perfect_agreement_is_one():
    a = ["crash", "hang", "crash", "perf"]
    assert cohen_kappa(a, list(a)) == pytest.approx(1.0)
    assert raw_agreement(a, list(a)) == 1.0


def test_chance_agreement_is_zero():
    # Each coder says crash half of the time, independently of the other: p_o = p_e = 0.5.
    a = ["crash", "crash", "hang", "hang"]
    b = ["crash", "hang", "crash", "hang"]
    assert raw_agreement(a, b) == 0.5
    assert cohen_kappa(a, b) == pytest.approx(0.0)


def test_hand_computed_two_by_two_table():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4.
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_hand_computed_three_categories():
    # Confusion (rows A, cols B) over x, y, z: [[3, 1, 0], [0, 2, 1], [1, 0, 2]], n = 10.
    # p_o = 7/10; A marginals 4, 3, 3; B marginals 4, 3, 3; p_e = (16 + 9 + 9) / 100 = 0.34.
    pairs = [("x", "x")] * 3 + [("x", "y")] + [("y", "y")] * 2 + [("y", "z")] + [("z", "x")] + [("z", "z")] * 2
    a, b = zip(*pairs)
    assert cohen_kappa(a, b) == pytest.approx((0.7 - 0.34) / (1 - 0.34))


def test_systematic_disagreement_is_negative():
    assert cohen_kappa(["a", "b", "a", "b"], ["b", "a", "b", "a"]) == pytest.approx(-1.0)


def test_one_shared_category_is_perfect_not_nan():
    assert cohen_kappa(["crash"] * 3, ["crash"] * 3) == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_matches_scikit_learn(seed):
    rng = random.Random(seed)
    cats = ["crash", "hang", "perf", "silent", "output"][: rng.randint(2, 5)]
    a = [rng.choice(cats) for _ in range(rng.randint(5, 60))]
    b = [x if rng.random() < 0.6 else rng.choice(cats) for x in a]
    expected = cohen_kappa_score(a, b)
    if expected == expected:  # sklearn gives NaN where both coders use one category
        assert cohen_kappa(a, b) == pytest.approx(expected)


def test_tuples_as_categories_match_scikit_learn_on_their_string_form():
    a = [("crash",), ("crash", "hang"), ("hang",), ("crash",)]
    b = [("crash",), ("hang",), ("hang",), ("crash", "hang")]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(list(map(str, a)), list(map(str, b))))


def test_rejects_unequal_or_empty_inputs():
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no items"):
        cohen_kappa([], [])

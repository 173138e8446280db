"""Evaluation metrics: AES (hand-computed, both branches and both aggregations), unbiased pass@k
against brute-force enumeration, and benchmark summaries of synthetic records."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead.eval.metrics import AESWeights, aes, aes_aggregates, pass_at_k, summarize


# ----------------------------------------------------------------------------------------------- AES

def test_aes_published_o1_pruner_row():
    # O1-Pruner Table 2 (QwQ, GSM8K): base 95.1 % / 777 tokens -> 96.5 % / 534 tokens, reported 0.36.
    d_len = (777 - 534) / 777  # 0.31274
    d_acc = (96.5 - 95.1) / 95.1  # 0.01472
    assert aes(96.5, 534, 95.1, 777) == pytest.approx(d_len + 3 * d_acc)
    assert round(aes(96.5, 534, 95.1, 777), 3) == 0.357
    # Units cancel: fractions give the same score as percentages.
    assert aes(0.965, 534, 0.951, 777) == pytest.approx(aes(96.5, 534, 95.1, 777))


def test_aes_accuracy_drop_branch_uses_gamma():
    # base 50 % / 1000 tok, model 45 % / 400 tok: dL = 0.6, dA = -0.1 -> 0.6 - 5 * 0.1 = 0.1
    assert aes(45.0, 400, 50.0, 1000) == pytest.approx(0.1)
    # Longer and worse: dL = -0.2, dA = -0.2 -> -0.2 - 1.0
    assert aes(40.0, 1200, 50.0, 1000) == pytest.approx(-1.2)
    # Custom constants (S3-CoT: 1 / 5 / 10): 0.6 - 10 * 0.1
    assert aes(45.0, 400, 50.0, 1000, AESWeights(1, 5, 10)) == pytest.approx(-0.4)


def test_aes_equal_accuracy_is_the_length_term_only():
    assert aes(50.0, 250, 50.0, 1000) == pytest.approx(0.75)
    assert aes(50.0, 1000, 50.0, 1000) == 0.0
    # Gain branch with non-default beta: dL = 0, dA = +0.2 -> 2 * 0.2
    assert aes(60.0, 1000, 50.0, 1000, AESWeights(beta=2.0)) == pytest.approx(0.4)


def test_aes_rejects_undefined_ratios_and_bad_weights():
    with pytest.raises(ValueError, match="base accuracy > 0"):
        aes(10.0, 100, 0.0, 100)
    with pytest.raises(ValueError, match="base mean length > 0"):
        aes(10.0, 100, 10.0, 0)
    with pytest.raises(ValueError, match="gamma"):
        AESWeights(gamma=-1)


def test_aes_aggregations_differ_and_are_labelled():
    base = {"math500": (0.80, 4000.0), "aime24": (0.20, 12000.0)}
    model = {"math500": (0.84, 2000.0), "aime24": (0.18, 6000.0), "minerva": (0.3, 100.0)}
    out = aes_aggregates(model, base)
    # math500: dL = 0.5, dA = +0.05 -> 0.5 + 0.15 = 0.65; aime24: dL = 0.5, dA = -0.1 -> 0.5 - 0.5 = 0
    assert out["benchmarks"] == ["math500", "aime24"]  # minerva has no base: left out
    assert out["per_benchmark"]["math500"] == pytest.approx(0.65)
    assert out["per_benchmark"]["aime24"] == pytest.approx(0.0)
    assert out["mean_of_benchmarks"] == pytest.approx(0.325)
    # Averages: model 0.51 / 4000, base 0.50 / 8000 -> dL = 0.5, dA = 0.02 -> 0.5 + 0.06
    assert out["of_averages"] == pytest.approx(0.56)
    with pytest.raises(ValueError, match="no benchmark in common"):
        aes_aggregates({"minerva": (0.3, 10.0)}, base)


# -------------------------------------------------------------------------------------------- pass@k

def brute_force_pass_at_k(outcomes: list[bool], k: int) -> float:
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=10), st.data())
def test_pass_at_k_matches_enumeration_of_subsets(outcomes, data):
    k = data.draw(st.integers(1, len(outcomes)))
    got = float(pass_at_k(len(outcomes), sum(outcomes), k))
    assert got == pytest.approx(brute_force_pass_at_k(outcomes, k), abs=1e-12)


def test_pass_at_k_vectorised_over_problems_and_edge_cases():
    n = 10
    c = [0, 1, 5, 9, 10]
    got = pass_at_k(n, c, 3)
    expected = [1 - math.comb(n - ci, 3) / math.comb(n, 3) for ci in c]
    assert got.tolist() == pytest.approx(expected)
    assert got[0] == 0.0 and got[-1] == 1.0
    assert pass_at_k(4, 3, 2) == pytest.approx(1.0)  # only 1 wrong sample: any pair has a correct one
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)  # pass@1 = c / n
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_at_k(3, 1, 0)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)


# ----------------------------------------------------------------------------------------- summaries

def _records(table: dict[str, list[tuple[bool, int, bool]]]) -> list[dict]:
    """problem id -> [(correct, tokens, truncated) per sample]."""
    out = []
    for pid, samples in table.items():
        for j, (ok, tok, trunc) in enumerate(samples):
            out.append({"id": pid, "sample": j, "correct": ok, "tokens": tok, "truncated": trunc,
                        "extracted": None if trunc else "x"})
    random.Random(0).shuffle(out)  # order must not matter
    return out


def test_summary_statistics_by_hand():
    recs = _records({
        "a": [(True, 100, False), (True, 200, False), (False, 400, True)],
        "b": [(False, 400, True), (True, 300, False), (False, 50, False)],
        "c": [(False, 10, False), (False, 20, False), (False, 400, True)],
        "d": [(True, 30, False), (True, 40, False), (True, 50, False)],
    })
    m = summarize(recs)
    assert m["problems"] == 4 and m["samples_per_problem"] == 3
    assert m["accuracy"] == pytest.approx(6 / 12)
    # per sample index: j=0: a,d -> 0.5; j=1: a,b,d -> 0.75; j=2: d -> 0.25
    assert m["accuracy_per_sample"] == pytest.approx([0.5, 0.75, 0.25])
    assert m["accuracy_std"] == pytest.approx(0.25)  # sample std of (0.5, 0.75, 0.25)
    # correct counts per problem: a 2, b 1, c 0, d 3
    assert m["pass_at_k"]["1"] == pytest.approx(0.5)
    assert m["pass_at_k"]["2"] == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert m["pass_at_k"]["3"] == pytest.approx(3 / 4)
    assert m["mean_tokens"] == pytest.approx((700 + 750 + 430 + 120) / 12)
    assert m["mean_tokens_correct"] == pytest.approx((100 + 200 + 300 + 30 + 40 + 50) / 6)
    assert m["mean_tokens_incorrect"] == pytest.approx((400 + 400 + 50 + 10 + 20 + 400) / 6)
    assert m["truncation_rate"] == pytest.approx(3 / 12)
    assert m["no_answer_rate"] == pytest.approx(3 / 12)


def test_summary_single_sample_and_no_correct_answers_are_undefined_not_zero():
    m = summarize(_records({"a": [(False, 5, False)], "b": [(False, 7, False)]}))
    assert m["accuracy"] == 0.0
    assert m["accuracy_std"] is None
    assert m["mean_tokens_correct"] is None
    assert m["mean_tokens_incorrect"] == pytest.approx(6.0)


def test_summary_rejects_incomplete_duplicate_or_ungraded_records():
    recs = _records({"a": [(True, 1, False), (True, 1, False)], "b": [(True, 1, False)]})
    with pytest.raises(ValueError, match="every problem needs samples 0..1"):
        summarize(recs)
    dup = _records({"a": [(True, 1, False), (True, 1, False)], "b": [(True, 1, False), (True, 1, False)]})
    for r in dup:
        if r["id"] == "b":
            r["sample"] = 0
    with pytest.raises(ValueError, match="duplicate"):
        summarize(dup)
    ungraded = _records({"a": [(True, 1, False)]})
    ungraded[0]["correct"] = None
    with pytest.raises(ValueError, match="not graded"):
        summarize(ungraded)
    with pytest.raises(ValueError, match="empty"):
        summarize([])

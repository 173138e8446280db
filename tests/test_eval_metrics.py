"""Evaluation metrics: AES (hand-computed, both branches and both aggregations), unbiased pass@k
and maj@k against brute-force enumeration, bootstrap intervals (a hand-computed example and the
exact bootstrap distribution by enumeration), and benchmark summaries of synthetic records."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead.eval.metrics import (
    AESWeights,
    aes,
    aes_aggregates,
    bootstrap_indices,
    excludes_zero,
    majority_at_k,
    majority_ks,
    paired_difference,
    pass_at_k,
    percentile_interval,
    problem_table,
    ratio_replicates,
    summarize,
)

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
            out.append(
                {
                    "id": pid,
                    "sample": j,
                    "correct": ok,
                    "tokens": tok,
                    "truncated": trunc,
                    "extracted": None if trunc else "x",
                }
            )
    random.Random(0).shuffle(out)  # order must not matter
    return out


def test_summary_statistics_by_hand():
    recs = _records(
        {
            "a": [(True, 100, False), (True, 200, False), (False, 400, True)],
            "b": [(False, 400, True), (True, 300, False), (False, 50, False)],
            "c": [(False, 10, False), (False, 20, False), (False, 400, True)],
            "d": [(True, 30, False), (True, 40, False), (True, 50, False)],
        }
    )
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


# --------------------------------------------------------------------------------------------- maj@k


def brute_force_majority(votes: list, k: int) -> Fraction:
    """Mean over every k-subset: 1 when class 0 has the most votes alone, 1/t in a t-way tie with it."""
    total, subsets = Fraction(0), 0
    for subset in itertools.combinations(range(len(votes)), k):
        subsets += 1
        counts = Counter(votes[i] for i in subset if votes[i] is not None)
        if not counts:
            continue
        top = max(counts.values())
        tied = [c for c, m in counts.items() if m == top]
        if 0 in tied:
            total += Fraction(1, len(tied))
    return total / subsets


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([None, 0, 1, 2, 3]), min_size=1, max_size=9), st.data())
def test_majority_at_k_matches_enumeration_of_subsets(votes, data):
    k = data.draw(st.integers(1, len(votes)))
    assert majority_at_k(votes, k) == pytest.approx(float(brute_force_majority(votes, k)), abs=1e-12)


def test_majority_vote_ties_and_equivalent_answers_by_hand():
    # Two correct answers (class 0), two equal wrong ones (class 1): cons@4 is a 2-2 tie -> 1/2.
    assert majority_at_k([0, 1, 0, 1], 4) == pytest.approx(0.5)
    # If the wrong answers were not equal to each other (classes 1 and 2), 0 wins 2-1-1.
    assert majority_at_k([0, 1, 0, 2], 4) == 1.0
    # Three-way tie 1-1-1 -> 1/3; a missing answer casts no vote.
    assert majority_at_k([0, 1, 2, None], 4) == pytest.approx(1 / 3)
    # maj@1 is the accuracy: 2 of 5 samples are correct.
    assert majority_at_k([0, 0, 1, 1, None], 1) == pytest.approx(2 / 5)
    # maj@2 of [0, 0, 1]: subsets {0,0} -> 1, {0,1} twice -> tie 1/2 each: (1 + 1/2 + 1/2) / 3.
    assert majority_at_k([0, 0, 1], 2) == pytest.approx(2 / 3)
    # No correct sample, or only non-votes: 0.
    assert majority_at_k([1, 1, None], 3) == 0.0 and majority_at_k([None, None], 2) == 0.0
    with pytest.raises(ValueError, match="1 <= k <= n=3"):
        majority_at_k([0, 1, 2], 4)
    assert majority_ks(10) == [1, 2, 4, 8, 10] and majority_ks(1) == [1] and majority_ks(4) == [1, 2, 4]


# ----------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_hand_computed_with_a_fixed_seed():
    # Three problems, two samples each: correct counts 2, 1, 0 -> accuracy 1/2.
    idx = bootstrap_indices(3, 5, seed=0)
    assert idx.tolist() == [[2, 1, 1], [0, 0, 0], [0, 0, 0], [2, 1, 2], [1, 1, 2]]  # numpy's default_rng(0)
    reps = ratio_replicates(np.array([2, 1, 0]), np.array([2, 2, 2]), idx)
    # Row by row: (0+1+1)/6, 6/6, 6/6, (0+1+0)/6, (1+1+0)/6
    assert reps.tolist() == pytest.approx([1 / 3, 1, 1, 1 / 6, 1 / 3])
    # Sorted 1/6, 1/3, 1/3, 1, 1; linear interpolation at ranks 0.025 * 4 = 0.1 and 0.975 * 4 = 3.9.
    assert percentile_interval(reps) == pytest.approx([1 / 6 + 0.1 * (1 / 3 - 1 / 6), 1.0])


def test_bootstrap_interval_approaches_the_exact_bootstrap_distribution():
    # Per-problem accuracies of 6 problems (3 samples each). Enumerating all 6^6 equally likely
    # resamples gives the exact bootstrap distribution of the mean and its 2.5 % / 97.5 % quantiles.
    counts = np.array([0, 1, 1, 2, 3, 3])
    means = sorted(Fraction(int(sum(counts[list(r)])), 18) for r in itertools.product(range(6), repeat=6))

    def quantile(q):
        return float(means[math.ceil(q * len(means)) - 1])

    lo, hi = percentile_interval(ratio_replicates(counts, np.full(6, 3), bootstrap_indices(6, 100_000, seed=1)))
    step = 1 / 18  # the resampled means live on a grid of this spacing
    assert abs(lo - quantile(0.025)) <= step and abs(hi - quantile(0.975)) <= step
    assert quantile(0.025) < 0.5 < quantile(0.975)


def test_ratio_replicates_skip_resamples_with_nothing_to_average():
    # Mean tokens of correct samples: problem 0 has none; a resample of only problem 0 is undefined.
    idx = np.array([[0, 0], [0, 1], [1, 1]])
    reps = ratio_replicates(np.array([0.0, 30.0]), np.array([0.0, 2.0]), idx)
    assert np.isnan(reps[0]) and reps[1:].tolist() == [15.0, 15.0]
    assert percentile_interval(reps) == [15.0, 15.0]
    assert percentile_interval(np.array([np.nan])) is None


def test_summary_intervals_std_and_splits_against_direct_computation():
    recs = _records(
        {
            "a": [(True, 100, False), (True, 200, False), (False, 400, True)],
            "b": [(False, 400, True), (True, 300, False), (False, 50, False)],
            "c": [(False, 10, False), (False, 20, False), (False, 400, True)],
            "d": [(True, 30, False), (True, 40, False), (True, 50, False)],
        }
    )
    m = summarize(recs, resamples=300, seed=5)
    idx = bootstrap_indices(4, 300, seed=5)
    rows = {"a": 0, "b": 1, "c": 2, "d": 3}  # problems in sorted id order
    table = {
        "a": [(1, 100, 0), (1, 200, 0), (0, 400, 1)],
        "b": [(0, 400, 1), (1, 300, 0), (0, 50, 0)],
        "c": [(0, 10, 0), (0, 20, 0), (0, 400, 1)],
        "d": [(1, 30, 0), (1, 40, 0), (1, 50, 0)],
    }
    by_row = [table[p] for p in sorted(rows, key=rows.get)]

    def direct(select, value):
        """The interval recomputed sample by sample, resample by resample."""
        reps = []
        for r in idx:
            chosen = [s for q in r for s in by_row[q] if select(s)]
            reps.append(sum(value(s) for s in chosen) / len(chosen) if chosen else float("nan"))
        return percentile_interval(np.array(reps))

    assert m["accuracy_ci"] == pytest.approx(direct(lambda s: True, lambda s: s[0]))
    assert m["mean_tokens_ci"] == pytest.approx(direct(lambda s: True, lambda s: s[1]))
    assert m["mean_tokens_correct_ci"] == pytest.approx(direct(lambda s: s[0] == 1, lambda s: s[1]))
    assert m["truncation_rate_ci"] == pytest.approx(direct(lambda s: True, lambda s: s[2]))
    assert m["completed"]["accuracy_ci"] == pytest.approx(direct(lambda s: s[2] == 0, lambda s: s[0]))
    lo, hi = m["accuracy_ci"]
    assert lo <= m["accuracy"] <= hi
    # per sample index mean tokens: j=0 (100+400+10+30)/4, j=1 (200+300+20+40)/4, j=2 (400+50+400+50)/4
    per_index = [135.0, 140.0, 225.0]
    assert m["mean_tokens_per_sample"] == pytest.approx(per_index)
    assert m["mean_tokens_std"] == pytest.approx(float(np.std(per_index, ddof=1)))
    # completed: 9 samples, 6 correct; truncated: 3 samples at 400 tokens, none correct
    assert (m["completed"]["samples"], m["completed"]["accuracy"]) == (9, pytest.approx(6 / 9))
    assert m["completed"]["mean_tokens"] == pytest.approx((100 + 200 + 300 + 50 + 10 + 20 + 30 + 40 + 50) / 9)
    assert (m["truncated"]["samples"], m["truncated"]["accuracy"], m["truncated"]["mean_tokens"]) == (3, 0.0, 400.0)
    # pass@k intervals contain the estimates; bootstrap settings are recorded
    assert all(ci[0] <= m["pass_at_k"][k] <= ci[1] for k, ci in m["pass_at_k_ci"].items())
    assert m["bootstrap"] == {"resamples": 300, "seed": 5, "confidence": 0.95}


def test_summary_breakdown_by_level_and_majority_from_votes():
    recs = _records(
        {
            "a": [(True, 10, False), (False, 20, False)],
            "b": [(False, 30, False), (False, 50, True)],
            "c": [(True, 40, False), (True, 60, False)],
        }
    )
    votes = {("a", 0): 0, ("a", 1): 1, ("b", 0): 1, ("b", 1): None, ("c", 0): 0, ("c", 1): 0}
    for r in recs:
        r["vote"] = votes[(r["id"], r["sample"])]
    m = summarize(recs, groups={"level": {"a": "1", "b": "1", "c": "5"}}, resamples=50)
    assert set(m["by_level"]) == {"1", "5"}
    one = m["by_level"]["1"]
    assert (one["problems"], one["accuracy"], one["mean_tokens"], one["truncation_rate"]) == (2, 0.25, 27.5, 0.25)
    assert (m["by_level"]["5"]["accuracy"], m["by_level"]["5"]["mean_tokens"]) == (1.0, 50.0)
    # maj@2: a is a 1-1 tie -> 1/2; b has no correct vote -> 0; c -> 1; maj@1 equals the accuracy.
    assert m["maj_at_k"] == pytest.approx({"1": 0.5, "2": 0.5})
    assert "maj_at_k" not in summarize(_records({"a": [(True, 1, False)]}))


def test_paired_difference_on_shared_problems_and_sample_indices():
    def table(rows):
        recs = [
            {"id": p, "sample": j, "correct": ok, "tokens": tok, "truncated": False}
            for p, samples in rows.items()
            for j, (ok, tok) in enumerate(samples)
        ]
        return problem_table(recs)

    a = table(
        {
            "p": [(True, 10), (True, 10)],
            "q": [(False, 30), (True, 20)],
            "r": [(True, 5), (True, 5)],
            "s": [(True, 1), (True, 1)],
        }
    )
    b = table(
        {
            "p": [(False, 40), (True, 40)],
            "q": [(False, 30), (False, 30)],
            "r": [(True, 5), (True, 5)],
            "t": [(True, 1), (True, 1)],
        }
    )
    d = paired_difference(a, b, resamples=400, seed=3)
    assert (d["problems"], d["samples"], d["only_a"], d["only_b"]) == (3, 2, 1, 1)
    # shared p, q, r: a solves 2+1+2 of 6, b solves 1+0+2 of 6 -> +2/6
    assert d["accuracy"] == pytest.approx(2 / 6)
    # per sample index: j=0 a 2/3, b 1/3; j=1 a 3/3, b 2/3 -> differences 1/3, 1/3 -> std 0
    assert d["accuracy_std"] == pytest.approx(0.0)
    assert d["mean_tokens"] == pytest.approx(((10 - 40) * 2 + (30 - 30) + (20 - 30)) / 6)
    assert (d["problems_a_better"], d["problems_b_better"], d["problems_equal"]) == (2, 0, 1)
    # the interval of the accuracy difference, recomputed from per-problem differences (1/2, 1/2, 0)
    idx = bootstrap_indices(3, 400, seed=3)
    per_problem = np.array([1.0, 1.0, 0.0])
    assert d["accuracy_ci"] == pytest.approx(percentile_interval(per_problem[idx].sum(1) / 6))
    assert excludes_zero(d["mean_tokens_ci"]) is (d["mean_tokens_ci"][1] < 0)
    assert not excludes_zero([-0.1, 0.2]) and excludes_zero([0.01, 0.2]) and not excludes_zero(None)
    with pytest.raises(ValueError, match="share no problem"):
        paired_difference(table({"x": [(True, 1)]}), table({"y": [(True, 1)]}))

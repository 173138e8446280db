r"""The math reward: extraction, math-verify equivalence, time bounds, threads, verl's reward loop."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lead.data.selfcheck import main as selfcheck_main
from lead.data.selfcheck import run_selfcheck
from lead.rewards.math import (
    DEFAULT_TIMEOUT_S,
    compute_score,
    extract_answer,
    grade,
    grade_many,
    normalize_answer,
)
from lead.rewards.verifier import GraderUnavailableError, VerifierPool, get_pool

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Worker start-up (python + math-verify import) on a loaded 2-core machine, plus slack: a call
# that is killed at its deadline may also pay for starting the next worker.
STARTUP_SLACK_S = 20.0


# ---------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    "response, expected",
    [
        (r"so $\boxed{5}$", "5"),
        (r"first \boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"nested \boxed{\frac{\sqrt{2}}{2}} done", r"\frac{\sqrt{2}}{2}"),
        (r"set \boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"escaped brace inside \boxed{\left\{ x \right\}}", r"\left\{ x \right\}"),
        (r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
        (r"old style \fbox{7}", "7"),
        (r"\fbox{1} and later \boxed{2}", "2"),
        (r"\boxed{2} and later \fbox{3}", "3"),
        (r"space form \boxed 42 is it", "42"),
        (r"inline $\boxed 42$.", "42"),
        (r"\boxed{  spaced  }", "spaced"),
        (r"\boxedfoo{1} is another command", None),
        (r"\boxed{3} and then \boxedfoo{1}", "3"),
        (r"answer \boxed{12", None),
        (r"\boxed{}", None),
        (r"\boxed{   }", None),
        ("no box at all: 5", None),
        ("", None),
        (r"thinking \boxed{1} </think> final \boxed{2}", "2"),
        (r"thinking \boxed{1} </think> final answer is two", None),
        (r"<think>a</think> b </think> \boxed{9}", "9"),
        (r"unterminated last box \boxed{7} then \boxed{8", None),
    ],
)
def test_extract_answer(response, expected):
    assert extract_answer(response) == expected


def test_extract_answer_rejects_non_strings():
    assert extract_answer(None) is None
    assert extract_answer(123) is None


def test_extract_answer_is_linear_on_adversarial_text():
    huge_nesting = "\\boxed{" + "{" * 200_000 + "x" + "}" * 200_000 + "}"
    assert extract_answer(huge_nesting) == "{" * 200_000 + "x" + "}" * 200_000
    near_misses = "\\boxedx " * 150_000 + "\\boxed{1}" + "\\boxedy " * 150_000
    unbalanced = "\\boxed{" + "{" * 500_000
    megabyte = "a" * 1_000_000 + "\\boxed{3}"
    start = time.perf_counter()
    assert extract_answer(near_misses) == "1"
    assert extract_answer(unbalanced) is None
    assert extract_answer(megabyte) == "3"
    # Quadratic scanning of ~2 MB would take minutes; linear takes well under a second.
    assert time.perf_counter() - start < 10.0


# ---------------------------------------------------------------- equivalence

EQUIVALENT = [
    (r"\frac12", "0.5"),
    ("0.5", r"\frac12"),
    (r"\dfrac{1}{2}", r"\frac{1}{2}"),
    (r"\frac{1}{2}", "1/2"),
    (r"90^\circ", "90"),
    ("90", r"90^\circ"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)"),
    (r"[1,2)", r"[1, 2)"),
    (r"(-\infty, 3]", r"(-\infty,3]"),
    (r"x \in [1,2]", "[1,2]"),
    (r"\text{Evelyn}", "Evelyn"),
    ("Evelyn", r"\text{Evelyn}"),
    (r"\text{(C)}", "C"),
    (r"\{1,2\}", "2, 1"),
    (r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2"),
    ("1000", "1,000"),
    (r"\$5", "5"),
    (r"5\text{ cm}", "5"),
    ("x=3", "3"),
    ("2x+1", "y=2x+1"),
    ("27", "27.0"),
    ("25", "025"),
    ("025", "25"),
    (
        r"\begin{pmatrix} -40/29 \\ 16/29 \end{pmatrix}",
        r"\begin{pmatrix} -\frac{40}{29} \\ \frac{16}{29} \end{pmatrix}",
    ),
    (r"2\sqrt{3}", r"\sqrt{12}"),
    (r"\pi", r"\pi"),
]

NOT_EQUIVALENT = [
    ("1", "2"),
    (r"\frac12", "0.51"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi)"),
    (r"[1,2)", "[1,2]"),
    (r"\text{Evelyn}", "Bob"),
    ("90", "91"),
    (r"2\sqrt{3}", r"\sqrt{13}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}"),
]


@pytest.mark.parametrize("gold, pred", EQUIVALENT)
def test_equivalent_surface_forms(gold, pred):
    assert grade(pred, gold) is True


@pytest.mark.parametrize("gold, pred", NOT_EQUIVALENT)
def test_different_answers(gold, pred):
    assert grade(pred, gold) is False


def test_identical_strings_skip_math_verify_but_equivalence_needs_it():
    pool = get_pool()
    before = pool.stats.requests
    assert grade(r"\text{Evelyn}", r"\text{Evelyn}")
    assert pool.stats.requests == before
    assert grade("0.5", r"\frac12")
    assert pool.stats.requests == before + 1


def test_gold_list_and_types():
    assert grade("4", ["3", "4"])
    assert not grade("5", ["3", "4"])
    assert grade("4", np.array(["3", "4"], dtype=object))  # how verl hands over parquet lists
    assert grade("27", 27.0)
    assert grade("3", 3)
    assert not grade(None, "3")
    assert not grade("", "3")
    with pytest.raises(ValueError, match="no gold answer"):
        grade("3", [])
    with pytest.raises(ValueError, match="no gold answer"):
        grade(None, ["  "])
    with pytest.raises(TypeError, match="gold"):
        grade("3", object())
    with pytest.raises(TypeError, match="gold answers must be strings"):
        grade("3", [None])
    with pytest.raises(ValueError, match="timeout"):
        grade("3", "3", timeout=0)


@pytest.mark.parametrize(
    "answer, normalized",
    [
        (r"18\%", "18"),
        (r"32 \%", "32"),
        ("18%", "18"),
        (r"62^\circ", "62"),
        (r"62^{\circ}", "62"),
        (r"9,\!000,\!000", "9,000,000"),
        (r"\$5.50", "5.50"),
        (r"-\$0.50", "-0.50"),
        (r"40\text{ feet}", "40"),
        (r"8\sqrt{3} \text { square inches}", r"8\sqrt{3}"),
        (r"1+\sqrt 2,\ 1-\sqrt 2", r"1+\sqrt 2, 1-\sqrt 2"),
        # Kept: a unit that carries meaning, words between values, a matrix row break (the
        # space after \\ is not the escape "\ "), a text-only answer, an answer of marks only.
        (r"4\!:\!51\!:\!06 \text{ p.m.}", r"4:51:06 \text{ p.m.}"),
        (r"2, 3, \text{ and } 4", r"2, 3, \text{ and } 4"),
        (r"\begin{pmatrix} 7 \\ 5 \end{pmatrix}", r"\begin{pmatrix} 7 \\ 5 \end{pmatrix}"),
        (r"\text{ feet}", r"\text{ feet}"),
        (r"\%", r"\%"),
        (r"\circle", r"\circle"),
    ],
)
def test_normalize_answer(answer, normalized):
    assert normalize_answer(answer) == normalized


@pytest.mark.parametrize(
    "pred, gold, expected",
    [
        ("18", r"18\%", True),
        (r"18\%", r"18\%", True),
        (r"18 \%", r"18\%", True),
        ("18%", r"18\%", True),
        ("7.2", r"7.2\%", True),
        (r"7.2\%", "7.2", True),
        (r"\boxed{18\%}", r"18\%", True),
        (r"19\%", r"18\%", False),
        ("19", r"18\%", False),
        # A percent is its number, as in the MATH grader, not a fraction.
        ("0.18", r"18\%", False),
        # Both the normalised and the written gold count: "0.56 = 56" alone is a false equation.
        ("56", r"0.56 = 56\%", True),
        (r"56\%", r"0.56 = 56\%", True),
        ("62", r"62^\circ", True),
        ("40", r"40\text{ feet}", True),
    ],
)
def test_percent_and_unit_marks_do_not_decide(pred, gold, expected):
    assert grade(pred, gold) is expected
    assert compute_score("math", f"so \\boxed{{{pred}}}", gold)["acc"] is expected


def test_dict_gold_is_refused():
    with pytest.raises(TypeError, match="dict.*keys would be graded"):
        grade("3", {"3": "x"})
    with pytest.raises(TypeError, match="dict"):
        grade_many(["3"], [{"answer": "3"}])


def test_grade_many_matches_grade_and_deduplicates():
    preds = ["0.5", "0.5", None, "2", r"\text{A}", "0.5", "x=3"]
    golds = [r"\frac12", r"\frac12", "1", "3", "A", ["0.25", "1/2"], "3"]
    expected = [grade(p, g) for p, g in zip(preds, golds)]
    assert expected == [True, True, False, False, True, True, True]
    pool = get_pool()
    before = pool.stats.requests
    assert grade_many(preds, golds) == expected
    # 5 distinct (pred, gold) pairs need math-verify; the duplicate and the None do not.
    assert pool.stats.requests - before == 5
    assert grade_many([], []) == []
    with pytest.raises(ValueError, match="differ in length"):
        grade_many(["1"], [])


# ---------------------------------------------------------------- time bounds and robustness

ADVERSARIAL = {
    "huge exponent": r"10^{10^{10^{10}}}",
    "power tower": "2^{2^{2^{2^{2^{2^{2}}}}}}",
    "factorial tower": r"(10^{10})!!",
    "deep nesting": "{" * 3000 + "1" + "}" * 3000,
    "deep fractions": r"\frac{1}{" * 400 + "2" + "}" * 400,
    "megabyte": "1+" * 500_000 + "1",
    "odd unicode": "\u202e\u0661\u0662\u0663 \U0001f600 \ud800 \x00 \u00bd \u221e",
    "unbalanced": "}}}{{{" * 1000,
    "latex soup": r"\left( \right] \begin{pmatrix} \end{array} \frac{}{} ^^^ __ \\\\",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_answers_return_within_the_time_bound(name):
    timeout = 2.0
    start = time.monotonic()
    verdict = grade(ADVERSARIAL[name], "1", timeout=timeout)
    elapsed = time.monotonic() - start
    assert verdict is False
    assert elapsed < timeout + STARTUP_SLACK_S


def test_adversarial_responses_through_compute_score():
    responses = [
        "x" * 1_000_000,
        "\\boxed{" + "{" * 5000,
        "\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}",
        "think " * 100_000 + "</think> \\boxed{10^{10^{10}}}",
    ]
    timeout = 2.0
    for response in responses:
        start = time.monotonic()
        result = compute_score("deepscaler", response, "1", timeout=timeout)
        assert time.monotonic() - start < timeout + STARTUP_SLACK_S
        assert result["score"] == 0.0 and result["acc"] is False


def test_timeout_kills_the_worker_and_the_pool_recovers():
    pool = VerifierPool(max_workers=1)
    try:
        start = time.monotonic()
        assert pool.check(r"10^{10^{10^{10}}}", ["1"], timeout=1.0) is False
        assert time.monotonic() - start < 1.0 + STARTUP_SLACK_S
        assert pool.stats.timeouts + pool.stats.errors == 1
        assert pool.check("0.5", [r"\frac12"], timeout=DEFAULT_TIMEOUT_S) is True
        assert pool.stats.requests == 2
    finally:
        pool.close()


def test_a_grader_that_cannot_start_is_an_error_not_a_zero(monkeypatch):
    from lead.rewards import verifier

    monkeypatch.setattr(verifier.sys, "executable", "/bin/false")
    pool = VerifierPool(max_workers=1)
    with pytest.raises(GraderUnavailableError, match="did not start"):
        pool.check("1", ["2"], timeout=1.0)
    assert pool.stats.requests == 0


def test_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LEAD_GRADER_WORKERS", "3")
    assert VerifierPool().max_workers == 3
    monkeypatch.setenv("LEAD_GRADER_WORKERS", "many")
    with pytest.raises(ValueError, match="LEAD_GRADER_WORKERS"):
        VerifierPool()


def test_grading_from_many_threads():
    cases = [("0.5", r"\frac12", True), ("3", "4", False), (r"90^\circ", "90", True), ("(1,2)", "(2,1)", False)]
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        pred, gold, _ = cases[i % len(cases)]
        try:
            results[i] = compute_score("deepscaler", f"so \\boxed{{{pred}}}", gold)["acc"]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == {i: cases[i % len(cases)][2] for i in range(16)}


# ---------------------------------------------------------------- compute_score


def test_compute_score_keys_and_rewards():
    right = compute_score("deepscaler", r"a </think> so \boxed{\dfrac{1}{2}}", r"\frac{1}{2}")
    wrong = compute_score("deepscaler", r"so \boxed{3}", "4", correct_reward=2.0, incorrect_reward=-1.0)
    none = compute_score("deepscaler", "I don't know", "4", extra_info={"index": 3})
    inside_think = compute_score("deepscaler", r"\boxed{4} </think> no box", "4")
    assert right == {"score": 1.0, "acc": True, "pred": r"\dfrac{1}{2}"}
    assert wrong == {"score": -1.0, "acc": False, "pred": "3"}
    assert none == {"score": 0.0, "acc": False, "pred": ""}
    assert inside_think == {"score": 0.0, "acc": False, "pred": ""}
    for result in (right, wrong, none, inside_think):
        assert set(result) == {"score", "acc", "pred"}
        assert isinstance(result["score"], float) and isinstance(result["acc"], bool)


# ---------------------------------------------------------------- verl's reward loop


class _CharTokenizer:
    """Token id = code point; enough for the reward manager, which only decodes responses."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids)


def _reward_config(reward_kwargs: dict):
    import verl
    from omegaconf import OmegaConf

    reward = OmegaConf.load(Path(verl.__file__).parent / "trainer" / "config" / "reward" / "reward.yaml")
    reward.custom_reward_function.path = "pkg://lead.rewards.math"
    reward.custom_reward_function.name = "compute_score"
    reward.custom_reward_function.reward_kwargs = reward_kwargs
    return OmegaConf.create({"reward": reward})


def _item(response: str, ground_truth, pad_to: int = 64):
    import torch
    from verl import DataProto

    ids = [ord(c) for c in response]
    prompt = [1, 2, 3]
    responses = torch.tensor([ids + [0] * (pad_to - len(ids))])
    attention = torch.tensor([[1] * len(prompt) + [1] * len(ids) + [0] * (pad_to - len(ids))])
    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt]), "responses": responses, "attention_mask": attention},
        non_tensors={
            "data_source": np.array(["deepscaler"], dtype=object),
            "reward_model": np.array([{"ground_truth": ground_truth, "style": "rule"}], dtype=object),
            "extra_info": np.array([{"index": 0, "split": "test"}], dtype=object),
        },
    )


def test_verl_reward_loop_from_a_worker_thread():
    from verl.trainer.ppo.reward import load_reward_manager

    config = _reward_config({"correct_reward": 1.0, "incorrect_reward": 0.0, "timeout": 2.0})
    items = [
        (r"thinking \boxed{7} </think> The answer is $\boxed{\dfrac{1}{2}}$.", r"\frac{1}{2}", 1.0, r"\dfrac{1}{2}"),
        (r"The answer is \boxed{90^\circ}", "90", 1.0, r"90^\circ"),
        (r"The answer is \boxed{3}", "4", 0.0, "3"),
        ("no answer here", "4", 0.0, ""),
        (r"\boxed{10^{10^{10^{10}}}}", "1", 0.0, r"10^{10^{10^{10}}}"),
        (r"\boxed{B}", np.array(["A", "B"], dtype=object), 1.0, "B"),
    ]
    outcome: dict = {}

    def thread_main() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            manager = load_reward_manager(config, _CharTokenizer())
            outcome["manager"] = type(manager).__name__
            outcome["results"] = loop.run_until_complete(
                asyncio.gather(*(manager.run_single(_item(r, gt)) for r, gt, _, _ in items))
            )
        except BaseException as e:  # noqa: BLE001 - asserted below
            outcome["error"] = e
        finally:
            loop.close()

    thread = threading.Thread(target=thread_main)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "error" not in outcome, repr(outcome.get("error"))
    assert outcome["manager"] == "NaiveRewardManager"
    for (_, _, score, pred), result in zip(items, outcome["results"]):
        assert result["reward_score"] == score
        assert result["reward_extra_info"] == {"score": score, "acc": score == 1.0, "pred": pred}


def test_reward_kwargs_from_the_config_reach_compute_score():
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(_reward_config({"correct_reward": 2.5, "incorrect_reward": -0.5}))
    kwargs = dict(data_source="deepscaler", ground_truth="4", extra_info={})
    assert fn(solution_str=r"\boxed{4}", **kwargs)["score"] == 2.5
    assert fn(solution_str=r"\boxed{5}", **kwargs)["score"] == -0.5


# ---------------------------------------------------------------- real data


TRAIN_FILE = SHARED_DATA / "train" / "math_l3to5_train.parquet"


@pytest.mark.skipif(not TRAIN_FILE.is_file(), reason="shared data not present")
def test_real_percent_answers_match_their_bare_number():
    import pandas as pd

    golds = [row["ground_truth"] for row in pd.read_parquet(TRAIN_FILE, columns=["reward_model"])["reward_model"]]
    percent = [g for g in golds if "\\%" in g]
    assert len(percent) == 29
    bare = [g.replace("\\%", "").strip() for g in percent]
    spaced = [g.replace("\\%", " \\%") for g in percent]
    # The gold's (last) number plus one, with the percent sign: "57\\%" for "0.56 = 56\\%".
    last_numbers = [float(re.findall(r"\d+(?:\.\d+)?", g)[-1]) for g in percent]
    wrong = [f"{x + 1:g}" + "\\%" for x in last_numbers]
    assert grade_many(bare, percent) == [True] * 29
    assert grade_many(spaced, percent) == [True] * 29
    assert grade_many(wrong, percent) == [False] * 29


@pytest.mark.skipif(not (SHARED_DATA / "eval" / "math500.jsonl").is_file(), reason="shared data not present")
def test_math500_gold_answers_grade_against_themselves():
    rows = [json.loads(line) for line in (SHARED_DATA / "eval" / "math500.jsonl").open(encoding="utf-8")]
    golds = [row["answer"] for row in rows]
    assert len(golds) == 500
    result = run_selfcheck(golds)
    assert result.extracted == 500, result.failures
    assert result.self_equivalent == 500, result.failures
    assert result.negatives == 500
    # Another problem's answer is rejected unless it is the same value written as an equation
    # ("x=5" for "5"), which math-verify rightly accepts.
    assert len(result.accepted_others) == result.negatives - result.negatives_rejected
    for gold, pred in result.accepted_others:
        assert pred.split("=")[-1].strip() == gold, (gold, pred)
    assert result.negatives_rejected >= 495


def test_selfcheck_command_reads_gold_answers_from_any_source_format(tmp_path, capsys):
    """``python -m lead.data.selfcheck``: golds come from any field a source uses; a row without one is an error."""
    rows = [
        {"problem": "p1", "answer": "\\frac{1}{2}"},
        {"problem": "p2", "solution": "so it is \\boxed{7}."},
        {"prompt": [], "reward_model": {"ground_truth": "x^2"}},
    ]
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert selfcheck_main([str(bench)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 problems: extraction 100.0%, self-equivalence 100.0%, other answer rejected 100.0% of 3;")
    bench.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"problem": "no gold"}) + "\n")
    assert selfcheck_main([str(bench)]) == 1
    assert capsys.readouterr().err == f"{bench}:2: no gold answer\n"

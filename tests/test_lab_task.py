"""The lab's synthetic task: answers, necessary-step counts, lengths, grading, held-out split."""

import random

import pytest

from lead.lab.task import (
    DIRECT_LENGTH,
    EOS,
    OP_TOKENS,
    Problem,
    TaskConfig,
    apply_op,
    grade,
    heldout_problems,
    min_length,
    random_problem,
    training_problems,
    warmup_example,
)


def reference_answer(start: int, ops: tuple[str, ...]) -> int:
    """Independent evaluation: Python arithmetic on the op text, then mod 10."""
    x = start
    for op in ops:
        x = eval(f"{x}{op}") % 10
    return x


def test_worked_example():
    p = Problem(4, ("+3", "-5", "*2"))
    assert p.prompt() == "Q 4 A +3 B -5 C *2 ?"
    assert p.trace(0) == "A 4 +3 7 B 7 -5 2 C 2 *2 4 ans 4 <eos>"
    assert p.trace(1) == "A 4 +3 7 B 7 -5 2 C 2 *2 4 chk A 4 +3 7 B 7 -5 2 C 2 *2 4 ans 4 <eos>"
    assert p.answer == 4
    assert (apply_op(3, "-7"), apply_op(9, "*9"), apply_op(8, "+5")) == (6, 1, 3)


def test_answers_and_step_counts_on_random_problems():
    rng = random.Random(0)
    cfg = TaskConfig()
    for _ in range(500):
        p = random_problem(rng, cfg)
        assert p.answer == reference_answer(p.start, p.ops)
        rechecks = rng.randint(0, 4)
        tokens = p.trace(rechecks).split()
        # k necessary steps per round, each a (label, input, op, output) quadruple that is right.
        steps = [tokens[i : i + 4] for i, t in enumerate(tokens) if t in cfg.labels]
        assert len(steps) == p.k * (rechecks + 1)
        for label, x, op, y in steps:
            assert p.ops[ord(label) - ord("A")] == op
            assert int(y) == reference_answer(int(x), (op,))
        assert tokens.count("chk") == rechecks
        assert len(tokens) == min_length(p.k) + rechecks * (4 * p.k + 1)
        assert grade(p, tokens).correct and not grade(p, tokens).direct


def test_min_length_is_the_shortest_full_trace():
    assert [min_length(k) for k in range(1, 6)] == [7, 11, 15, 19, 23]
    assert TaskConfig().longest_trace() == 23 + 3 * 21
    for k in range(1, 6):
        assert len(Problem(0, ("+1",) * k).trace(0).split()) == min_length(k)


def test_grading():
    p = Problem(4, ("+3", "-5", "*2"))
    right = p.trace(2).split()
    assert grade(p, right).correct and grade(p, right).rechecks == 2 and grade(p, right).finished
    wrong_digit = right[:-2] + ["5", EOS]
    assert not grade(p, wrong_digit).correct
    unfinished = right[:-1]
    assert not grade(p, unfinished).correct and not grade(p, unfinished).finished
    direct = ["ans", "4", EOS]
    assert grade(p, direct).correct and grade(p, direct).direct and len(direct) == DIRECT_LENGTH
    trailing = right[:-1] + ["A", EOS]
    assert not grade(p, trailing).correct
    assert not grade(p, [EOS]).correct


def test_warmup_mix_follows_the_config():
    cfg = TaskConfig(p_direct=0.3, max_rechecks=3)
    rng = random.Random(1)
    direct = correct_direct_k1 = direct_k1 = 0
    rechecks = set()
    n = 4000
    for _ in range(n):
        p = random_problem(rng, cfg)
        g = grade(p, warmup_example(rng, cfg, p).split())
        if g.direct:
            direct += 1
            if p.k == 1:
                direct_k1 += 1
                correct_direct_k1 += g.correct
        else:
            assert g.correct
            rechecks.add(g.rechecks)
    assert abs(direct / n - 0.3) < 0.03
    assert direct_k1 > 0 and correct_direct_k1 == direct_k1
    assert rechecks == {0, 1, 2, 3}


def test_heldout_split_is_distinct_deterministic_and_excluded():
    cfg = TaskConfig()
    held = heldout_problems(cfg, 20, seed=3)
    assert len(held) == 100 and len({p.key for p in held}) == 100
    assert [sum(p.k == k for p in held) for k in range(1, 6)] == [20] * 5
    assert held == heldout_problems(cfg, 20, seed=3)
    assert held != heldout_problems(cfg, 20, seed=4)
    keys = {p.key for p in held}
    train = training_problems(random.Random(0), cfg, 3000, keys)
    assert not keys & {p.key for p in train}
    assert {p.k for p in train} == {1, 2, 3, 4, 5}


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="max_ops=0"):
        TaskConfig(max_ops=0)
    with pytest.raises(ValueError, match="p_direct=1.5"):
        TaskConfig(p_direct=1.5)
    with pytest.raises(ValueError, match="per_k=200"):
        heldout_problems(TaskConfig(), 200, seed=0)
    with pytest.raises(ValueError, match="'/3'"):
        apply_op(1, "/3")
    assert len(OP_TOKENS) == 27


def test_verl_reward_grades_decoded_text_like_the_lab():
    from lead.lab.reward import DATA_SOURCE, compute_score, problem_from_key

    p = Problem(4, ("+3", "-5", "*2"))
    assert problem_from_key(p.key) == p
    info = {"subject": p.key}
    trace = p.trace(0).replace(" <eos>", "")  # verl decodes without special tokens
    assert compute_score(DATA_SOURCE, trace, str(p.answer), info, max_response_length=96) == 1.0
    # As long as the budget: cut before <eos>, so wrong, as the lab grades an unfinished answer.
    assert compute_score(DATA_SOURCE, trace, str(p.answer), info, max_response_length=len(trace.split())) == 0.0
    assert compute_score(DATA_SOURCE, trace.replace("ans 4", "ans 5"), "4", info, max_response_length=96) == 0.0
    with pytest.raises(ValueError, match="not the answer"):
        compute_score(DATA_SOURCE, trace, "5", info, max_response_length=96)
    with pytest.raises(ValueError, match="max_response_length"):
        compute_score(DATA_SOURCE, trace, "4", info)


def test_verl_overrides_select_the_method_with_every_knob_of_its_lab_config():
    from dataclasses import asdict

    from lead.core.methods import build_method
    from lead.lab.config import PRESETS, method_config
    from lead.lab.verl_loop import method_overrides

    lead = build_method("lead", method_config("lead", PRESETS["test"]))
    overrides = method_overrides(lead)
    assert overrides[0] == "algorithm.adv_estimator=lead"
    assert len(overrides) == 1 + len(asdict(lead.config))
    assert f"algorithm.lead.beta={lead.config.beta}" in overrides
    # GRPO runs verl's own estimator, whose one knob is the std normalisation.
    grpo = build_method("grpo", method_config("grpo", PRESETS["test"], {"scale_by_std": False}))
    assert method_overrides(grpo) == ["algorithm.adv_estimator=grpo", "algorithm.norm_adv_by_std_in_grpo=false"]


def test_verl_data_gives_each_problem_one_index_across_draws(tmp_path):
    """verl hands the estimators extra_info.index as the prompt's stable id; the in-process loop keys
    prompts by Problem.key. Repeated draws of a problem must share its index, as they share its key."""

    import pyarrow.parquet as pq

    from lead.lab.config import PRESETS
    from lead.lab.verl_loop import export_data

    cfg = PRESETS["test"]
    rows = pq.read_table(export_data(cfg, 3, set(), tmp_path)).to_pylist()
    keys = [
        p.key for p in training_problems(random.Random("rl-3"), cfg.task, cfg.rl_steps * cfg.prompts_per_step, set())
    ]
    assert [r["extra_info"]["subject"] for r in rows] == keys
    assert len(set(keys)) < len(keys)  # the stream repeats problems
    index_of = {}
    for r in rows:
        assert index_of.setdefault(r["extra_info"]["subject"], r["extra_info"]["index"]) == r["extra_info"]["index"]
    assert sorted(index_of.values()) == list(range(len(set(keys))))

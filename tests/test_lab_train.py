"""The lab's RL plumbing on a tiny untrained model: every registered method runs through the
registry, steps are finite and deterministic, and bad settings fail early with a clear message."""

import itertools
import json
import math
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import lead.lab.train as lab_train
from lead.core.methods import build_method, load_methods
from lead.lab.config import (
    PRESETS,
    STATIC_BUDGET_KNOBS,
    Arm,
    LabConfig,
    ablation_arms,
    check_arms,
    method_arms,
    method_config,
    parse_method_overrides,
    parse_methods,
)
from lead.lab.experiment import run_lab
from lead.lab.model import ModelConfig, build_model, build_tokenizer
from lead.lab.task import TaskConfig, heldout_problems
from lead.lab.train import evaluate, median_correct_length, over_cap_favoured, sample, train_rl

# A two-operation task keeps responses (and so untrained generation) short: budget 24 tokens.
CFG = replace(
    PRESETS["test"],
    task=TaskConfig(max_ops=2, max_rechecks=1),
    max_new_tokens=24,
    model=ModelConfig(hidden=32, layers=1, heads=2, ffn=64),
    rl_steps=2,
    prompts_per_step=4,
    group_size=4,
    eval_every=2,
    eval_per_k=2,
)


@pytest.fixture(scope="module")
def setup():
    tok = build_tokenizer(CFG.task)
    model = build_model(tok, CFG.model, seed=0)
    held = heldout_problems(CFG.task, CFG.eval_per_k, CFG.seed)
    return tok, model, held


def run(setup, method, seed=0, cfg=CFG, log=lambda _: None, cap=None):
    tok, model, held = setup
    policy = build_model(tok, cfg.model, seed=0)
    policy.load_state_dict(model.state_dict())
    history = train_rl(
        policy,
        tok,
        method,
        cfg,
        seed,
        {p.key for p in held},
        lambda m: evaluate(m, tok, held, cfg.max_new_tokens, 99),
        log,
        cap=cap,
    )
    return policy, history


class Recorder:
    """A registered method seen through a wrapper that keeps every batch it was given."""

    def __init__(self, inner):
        self.inner, self.name, self.config, self.batches = inner, inner.name, inner.config, []

    def advantages(self, batch):
        self.batches.append(batch)
        return self.inner.advantages(batch)


@pytest.mark.parametrize("name", sorted(load_methods()))
def test_every_registered_method_trains_through_the_lab(setup, name):
    method = build_method(name, check_arms([Arm(name, name)], CFG, {})[name])
    knob = STATIC_BUDGET_KNOBS.get(name)
    policy, history = run(setup, method, cap=None if knob is None else getattr(method.config, knob))
    assert [s["step"] for s in history["steps"]] == [1, 2]
    assert [e["step"] for e in history["evals"]] == [0, 2]
    for s in history["steps"]:
        assert math.isfinite(s["loss"]) and math.isfinite(s["grad_norm"])
        assert any(key.startswith(f"{name}/") for key in s)
        if knob is not None:
            assert s["lab/over_cap_favoured"] == 0 and 0 <= s["lab/over_cap_frac"] <= 1
    changed = [not torch.equal(a, b) for a, b in zip(policy.parameters(), setup[1].parameters())]
    assert any(changed)


def test_the_lab_hands_the_method_its_rollouts(setup):
    recorder = Recorder(build_method("grpo"))
    run(setup, recorder)
    assert len(recorder.batches) == CFG.rl_steps
    g = CFG.group_size
    for batch in recorder.batches:
        assert batch.scores.shape == (CFG.prompts_per_step * g,)
        assert set(batch.scores.tolist()) <= {0.0, 1.0}
        assert ((batch.lengths >= 1) & (batch.lengths <= CFG.max_new_tokens)).all()
        assert batch.group_ids.tolist() == [i // g for i in range(len(batch.scores))]
        keys = batch.prompt_keys
        assert all(keys[i] == keys[i - i % g] for i in range(len(keys)))


def test_lead_logs_its_weights_and_targets(setup):
    _, history = run(setup, build_method("lead", method_config("lead", CFG)))
    for s in history["steps"]:
        assert 0.3 <= s["lead/w_corr"] <= 1.0
        assert s["lead/w_corr"] + s["lead/w_eff"] == pytest.approx(1.0)
        assert 0 < s["lead/lstar_mean"] <= CFG.max_new_tokens
        for key, value in s.items():
            if key.startswith("lab/lstar_k"):
                assert 7 <= value < CFG.max_new_tokens


def test_rl_is_deterministic(setup):
    a_policy, a = run(setup, build_method("lead", method_config("lead", CFG)), seed=5)
    b_policy, b = run(setup, build_method("lead", method_config("lead", CFG)), seed=5)

    def strip(records):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in records]

    assert strip(a["steps"]) == strip(b["steps"]) and a["evals"] == b["evals"]
    assert all(torch.equal(x, y) for x, y in zip(a_policy.parameters(), b_policy.parameters()))


def test_sample_lengths_and_masks(setup):
    tok, model, held = setup
    torch.manual_seed(0)
    problems = held[:2] * 3
    ro = sample(model, tok, problems, 3, 20)
    assert len(ro.graded) == 18 and ro.response_ids.shape[0] == 18
    assert torch.equal(ro.response_mask.sum(dim=1), ro.lengths)
    for row, length, g in zip(ro.response_ids, ro.lengths, ro.graded):
        eos = (row == tok.eos_token_id).nonzero()
        assert int(length) == (int(eos[0]) + 1 if len(eos) else 20)
        assert g.finished == bool(len(eos))


def test_lab_settings_for_lead_are_toy_scale():
    values = method_config("lead", PRESETS["default"])
    assert values == {"bmax": 96.0, "lstar_floor": 7.0, "min_correct_len": 4.0}
    assert method_config("lead", PRESETS["default"], {"lstar_floor": 12.0})["lstar_floor"] == 12.0
    assert method_config("grpo", PRESETS["default"]) == {}


def test_lab_settings_of_every_method_follow_the_declared_roles():
    # The default preset: a 96-token response budget, a static budget of 19 tokens, the easiest
    # problem's trace 7 tokens long. Caps become the response budget, global budgets the static
    # one, per-token rates scale by 8000 / 96; LEAD's floors and LASER-D's grid are the task's own.
    lead = {"bmax": 96.0, "lstar_floor": 7.0, "min_correct_len": 4.0}
    want = {
        "lead": lead,
        "gdpo_static": lead,
        "laser": {"target_length": 19.0},
        "laser_d": {"max_length": 96.0, "lower_bound": 12.0, "interval": 6.0},
        "grpo_len_threshold": {"threshold": 19.0, "soft_max": 38.0},
        "truncation": {"max_length": 19.0},
        "dler": {"max_length": 19.0},
        "alp": {"beta": 1e-7 * 8000 / 96},
        "shorter_better": {"beta": 0.001 * 8000 / 96},
        "grpo": {},
        "efficient_reasoning": {},
        "grpo_lambda": {},
        "hapo": {},
        "kimi_len": {},
    }
    assert {name: method_config(name, PRESETS["default"], static_budget=19.0) for name in load_methods()} == want
    assert STATIC_BUDGET_KNOBS == {
        "truncation": "max_length",
        "dler": "max_length",
        "laser": "target_length",
        "grpo_len_threshold": "threshold",
    }


def test_bad_settings_fail_early_and_name_the_value():
    with pytest.raises(ValueError, match="nope"):
        parse_methods("lead,nope")
    with pytest.raises(ValueError, match="twice"):
        parse_methods("lead,lead")
    with pytest.raises(ValueError, match="lead.beta"):
        parse_method_overrides(["lead.beta"], ["lead"])
    with pytest.raises(ValueError, match="'grpo'"):
        parse_method_overrides(["grpo.epsilon=0"], ["lead"])
    assert parse_method_overrides(["lead.beta=0.9", "lead.lstar_mode=max_asym"], ["lead"]) == {
        "lead": {"beta": 0.9, "lstar_mode": "max_asym"}
    }
    with pytest.raises(ValueError, match="beta"):
        check_arms(method_arms(["lead"]), CFG, {"lead": {"beta": 1.5}})
    with pytest.raises(ValueError, match="no_such_knob"):
        check_arms(method_arms(["lead"]), CFG, {"lead": {"no_such_knob": 1}})
    with pytest.raises(ValueError, match="share a label"):
        check_arms([Arm("x", "lead"), Arm("x", "grpo")], CFG, {})
    with pytest.raises(ValueError, match="'nope'"):
        ablation_arms("nope")
    with pytest.raises(ValueError, match="max_new_tokens=50"):
        LabConfig(max_new_tokens=50)
    with pytest.raises(ValueError, match="group_size=1"):
        LabConfig(group_size=1)
    with pytest.raises(ValueError, match="max_positions=100"):
        LabConfig(model=ModelConfig(max_positions=100))
    assert TaskConfig().longest_trace() <= LabConfig().max_new_tokens


def test_the_progress_line_shows_the_mean_step_time_since_the_previous_line(setup, monkeypatch):
    # A clock whose every reading is further from the last, so no two steps take equally long.
    clock = itertools.count()
    monkeypatch.setattr(lab_train, "time", SimpleNamespace(perf_counter=lambda: float(next(clock) ** 2)))
    lines = []
    cfg = replace(CFG, rl_steps=4, eval_every=2)
    _, history = run(setup, build_method("grpo"), cfg=cfg, log=lines.append)
    printed = [float(m) for m in re.findall(r"\(([0-9.]+) s/step\)", "\n".join(lines))]
    times = [s["time/step_s"] for s in history["steps"]]
    assert printed == [round((times[0] + times[1]) / 2, 2), round((times[2] + times[3]) / 2, 2)]
    assert printed[1] != round(times[3], 2)


def test_over_cap_favoured_counts_prompts_that_reward_exceeding_the_cap():
    lengths = torch.tensor([5.0, 12.0, 5.0, 12.0, 5.0, 12.0])
    correct = torch.tensor([True, True, False, False, True, False])
    gid = torch.tensor([0, 0, 1, 1, 2, 2])
    honest = torch.tensor([1.0, 0.5, 0.0, -1.0, 1.0, -1.0])
    assert over_cap_favoured(honest, lengths, correct, gid, 3, cap=10) == 0
    # Prompt 0 pays the longer correct answer more; prompt 2's long wrong answer beats only a correct one.
    longer_wins = torch.tensor([0.5, 1.0, 0.0, -1.0, -1.0, 1.0])
    assert over_cap_favoured(longer_wins, lengths, correct, gid, 3, cap=10) == 1
    assert over_cap_favoured(longer_wins, lengths, correct, gid, 3, cap=12) == 0


def test_static_budget_methods_get_the_one_measured_budget():
    values = {name: method_config(name, PRESETS["default"], static_budget=19.0) for name in STATIC_BUDGET_KNOBS}
    assert {name: values[name][knob] for name, knob in STATIC_BUDGET_KNOBS.items()} == {
        name: 19.0 for name in STATIC_BUDGET_KNOBS
    }
    assert values["grpo_len_threshold"]["soft_max"] == 38.0
    # Validation before the warm-up uses a placeholder a quarter of the response budget.
    assert method_config("truncation", PRESETS["default"])["max_length"] == 24.0


def test_median_correct_length_is_the_median_of_the_correct_samples(setup, monkeypatch):
    tok, model, held = setup
    seen = []
    real_grade = lab_train.grade

    def grade_even_lengths(problem, tokens):
        g = real_grade(problem, tokens)
        seen.append(len(tokens))
        return replace(g, correct=len(tokens) % 2 == 0)

    monkeypatch.setattr(lab_train, "grade", grade_even_lengths)
    exclude = {p.key for p in held}
    got = median_correct_length(model, tok, CFG, exclude, n=64)
    even = sorted(n for n in seen if n % 2 == 0)
    assert even and got == (even[(len(even) - 1) // 2] + even[len(even) // 2]) / 2
    assert median_correct_length(model, tok, CFG, exclude, n=64) == got
    monkeypatch.setattr(lab_train, "grade", lambda p, t: replace(real_grade(p, t), correct=False))
    with pytest.raises(ValueError, match="--budget"):
        median_correct_length(model, tok, CFG, exclude, n=8)


def test_ablations_vary_one_lead_knob_at_a_time():
    agg = ablation_arms("aggregator")
    assert [a.overrides for a in agg] == [
        {"aggregator": x} for x in ("mean_correct", "min_correct", "median_correct", "mean_all")
    ]
    ratio = ablation_arms("ratio")
    assert ratio[0].overrides == {}
    assert [round(a.overrides["static_lambda_corr"], 3) for a in ratio[1:]] == [1.0, 0.8, 0.667, 0.5, 0.333, 0.2]
    ctrl = ablation_arms("controller")
    assert ctrl[0].overrides == {} and set(ctrl[0].groups) == {"alpha", "beta", "lambda_min"}
    for arm in ctrl[1:]:
        (knob,) = arm.groups
        assert set(arm.overrides) == {knob}
    for arms in (agg, ratio, ctrl):
        assert all(a.method == "lead" for a in arms)
        assert len({a.slug for a in arms}) == len(arms)
        check_arms(arms, CFG, {})


def test_an_ablation_run_writes_its_table_and_one_panel_per_knob(tmp_path):
    cfg = replace(CFG, sft_steps=20, rl_steps=1, eval_every=1)
    results = run_lab(
        cfg, ablation_arms("controller"), {}, tmp_path, budget=10, ablation="controller", log=lambda _: None
    )
    assert results["files"] == [
        "results.json",
        "results.md",
        "pareto.png",
        "curves.png",
        "lead_controller.png",
        "ablation.png",
    ]
    assert json.loads((tmp_path / "results.json").read_text())["ablation"] == "controller"
    table = (tmp_path / "results.md").read_text()
    assert table.startswith("## `lead lab --ablation controller` results")
    for arm in ablation_arms("controller"):
        assert f"| {arm.label} |" in table
        assert (tmp_path / "models" / f"{arm.slug}-seed0" / "config.json").is_file()
    for run_ in results["runs"]:
        assert run_["method_config"]["alpha"] == {"lead alpha=0.5": 0.5, "lead alpha=2": 2.0}.get(run_["arm"], 1.0)
    with Image.open(tmp_path / "ablation.png") as img:
        assert img.size == (1800, 480)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ablation", "ratio", "--methods", "lead"], "--ablation ratio trains its own LEAD variants; drop --methods"),
        (["--budget", "0"], "--budget 0 is invalid"),
        (["--ablation", "controller", "--set", "grpo.epsilon=0"], "names method 'grpo'"),
        (["--trainer", "verl", "--methods", "lead,truncation"], "truncation cannot train through verl's loop"),
    ],
)
def test_lab_command_refuses_bad_combinations_before_training(argv, message, tmp_path, capsys):
    from lead.cli import main

    with pytest.raises(SystemExit) as err:
        main(["lab", "--out", str(tmp_path), *argv])
    assert message in str(err.value)
    assert not any(tmp_path.iterdir())


def test_verl_arms_of_capped_methods_are_refused_not_left_unchecked():
    """The in-process loop checks every static-budget method's cap each step; verl's loop cannot,
    so such arms are refused before any training, and train_verl refuses a cap it cannot check."""
    from lead.lab.verl_loop import train_verl

    check_arms(method_arms(["lead", "grpo"], "verl"), CFG, {})
    for name in ("truncation", "laser", "dler", "grpo_len_threshold"):
        with pytest.raises(ValueError, match=f"{name} cannot train through verl's loop.*in-process"):
            check_arms(method_arms(["lead", name], "verl"), CFG, {})
        check_arms(method_arms([name]), CFG, {})
    method = build_method("truncation", check_arms([Arm("truncation", "truncation")], CFG, {})["truncation"])
    with pytest.raises(ValueError, match="length cap \\(24\\).*in-process"):
        train_verl(None, None, method, CFG, 0, set(), lambda m: pytest.fail("evaluated"), print, cap=24.0)

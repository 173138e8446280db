"""The lab's RL plumbing on a tiny untrained model: every registered method runs through the
registry, steps are finite and deterministic, and bad settings fail early with a clear message."""

import math
from dataclasses import replace

import pytest
import torch

from lead.core.registry import build_method, load_methods
from lead.lab.config import (
    PRESETS,
    LabConfig,
    check_methods,
    method_config,
    parse_method_overrides,
    parse_methods,
)
from lead.lab.model import ModelConfig, build_model, build_tokenizer
from lead.lab.task import TaskConfig, heldout_problems
from lead.lab.train import evaluate, sample, train_rl

# A two-operation task keeps responses (and so untrained generation) short: budget 24 tokens.
CFG = replace(PRESETS["test"], task=TaskConfig(max_ops=2, max_rechecks=1), max_new_tokens=24,
              model=ModelConfig(hidden=32, layers=1, heads=2, ffn=64), rl_steps=2,
              prompts_per_step=4, group_size=4, eval_every=2, eval_per_k=2)


@pytest.fixture(scope="module")
def setup():
    tok = build_tokenizer(CFG.task)
    model = build_model(tok, CFG.model, seed=0)
    held = heldout_problems(CFG.task, CFG.eval_per_k, CFG.seed)
    return tok, model, held


def run(setup, method, seed=0):
    tok, model, held = setup
    policy = build_model(tok, CFG.model, seed=0)
    policy.load_state_dict(model.state_dict())
    history = train_rl(policy, tok, method, CFG, seed, {p.key for p in held},
                       lambda m: evaluate(m, tok, held, CFG.max_new_tokens, 99), lambda _: None)
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
    method = build_method(name, check_methods([name], CFG, {})[name])
    policy, history = run(setup, method)
    assert [s["step"] for s in history["steps"]] == [1, 2]
    assert [e["step"] for e in history["evals"]] == [0, 2]
    for s in history["steps"]:
        assert math.isfinite(s["loss"]) and math.isfinite(s["grad_norm"])
        assert any(key.startswith(f"{name}/") for key in s)
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
        "lead": {"beta": 0.9, "lstar_mode": "max_asym"}}
    with pytest.raises(ValueError, match="beta"):
        check_methods(["lead"], CFG, {"lead": {"beta": 1.5}})
    with pytest.raises(ValueError, match="no_such_knob"):
        check_methods(["lead"], CFG, {"lead": {"no_such_knob": 1}})
    with pytest.raises(ValueError, match="max_new_tokens=50"):
        LabConfig(max_new_tokens=50)
    with pytest.raises(ValueError, match="group_size=1"):
        LabConfig(group_size=1)
    with pytest.raises(ValueError, match="max_positions=100"):
        LabConfig(model=ModelConfig(max_positions=100))
    assert TaskConfig().longest_trace() <= LabConfig().max_new_tokens

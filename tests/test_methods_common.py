"""Properties every competing method shares: registry entry, config handling, input checks,
invariance to row order, finite output on degenerate groups, metric names."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lead.core.methods import build_method, get_method, load_methods
from lead.core.rollouts import RolloutBatch
from tests.helpers import make_batch

METHODS = (
    "grpo_len_threshold",
    "efficient_reasoning",
    "kimi_len",
    "truncation",
    "dler",
    "laser",
    "laser_d",
    "grpo_lambda",
    "hapo",
    "shorter_better",
    "alp",
    "gdpo_static",
)

# One invalid value per method, and the key the error must name.
BAD_KNOBS = {
    "grpo_len_threshold": ("mode", "strict"),
    "efficient_reasoning": ("normalisation", "whiten"),
    "kimi_len": ("warmup_steps", 1.5),
    "truncation": ("schedule", [[100, 3000], [50, 2000]]),
    "dler": ("max_length", 0),
    "laser": ("alpha", -0.5),
    "laser_d": ("lower_bound", 9000),
    "grpo_lambda": ("fraction", 1.5),
    "hapo": ("weight", 2.0),
    "shorter_better": ("beta", float("nan")),
    "alp": ("beta", True),
    "gdpo_static": ("lstar_mode", "sym"),
}


def sequences(num_prompts: int, n: int, seed: int, max_len: int = 6000):
    scores_tok, mask, uids = make_batch(num_prompts=num_prompts, n=n, max_len=max_len, seed=seed)
    return (scores_tok * mask).sum(-1), mask.sum(-1).float(), uids


def batch_with(scores, lengths, uids):
    """A batch whose stable prompt keys are derived from the uids (as the dataset index would be)."""
    return RolloutBatch(scores, lengths, uids, [u.replace("prompt-", "idx") for u in uids])


def degenerate_batch() -> RolloutBatch:
    """Singleton groups, all-wrong and all-right groups, equal lengths, lengths at a 4000 cap, length 0."""
    groups = ["solo-right", "solo-wrong", "wrong", "wrong", "right", "right", "equal", "equal", "cap", "cap", "cap"]
    scores = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0], dtype=torch.float32)
    lengths = torch.tensor([0, 8000, 10, 20, 4000, 4000, 300, 300, 4000, 4001, 4000], dtype=torch.float32)
    return RolloutBatch(scores, lengths, groups, groups)


def test_every_method_is_registered():
    registry = load_methods()
    assert set(METHODS) <= set(registry)
    for name in METHODS:
        assert registry[name].name == name
        assert registry[name].config_cls.method == name


@pytest.mark.parametrize("name", METHODS)
def test_config_round_trip_and_unknown_keys(name):
    cls = get_method(name).config_cls
    cfg = cls()
    assert cls.from_mapping(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=rf"algorithm\.{name}: unknown key\(s\) \['not_a_knob'\]"):
        cls.from_mapping({"not_a_knob": 1})


@pytest.mark.parametrize("name", METHODS)
def test_invalid_knob_names_key_and_value(name):
    key, value = BAD_KNOBS[name]
    with pytest.raises(ValueError, match=rf"algorithm\.{name}\.{key}=.* is invalid"):
        build_method(name, {key: value})


@pytest.mark.parametrize("name", METHODS)
def test_bad_batches_are_rejected_before_any_work(name):
    method = build_method(name)
    state = json.dumps(method.state_dict())
    ok_keys = ["k"] * 3
    with pytest.raises(ValueError, match="no rollouts"):
        method.advantages(RolloutBatch(torch.zeros(0), torch.zeros(0), [], []))
    with pytest.raises(ValueError, match="-5"):
        method.advantages(RolloutBatch(torch.ones(3), torch.tensor([1.0, -5.0, 2.0]), ["a"] * 3, ok_keys))
    with pytest.raises(
        ValueError,
        match=r"2 of 4 rollouts have a non-finite score \(e\.g\. inf, nan\), "
        r"in prompt id\(s\) 'b', 'c'; nothing was updated",
    ):
        method.advantages(
            RolloutBatch(
                torch.tensor([1.0, float("nan"), float("inf"), 0.0]),
                torch.ones(4),
                ["a", "b", "c", "a"],
                ok_keys + ["k"],
            )
        )
    with pytest.raises(ValueError, match="2 group ids for 3 rollouts"):
        method.advantages(RolloutBatch(torch.ones(3), torch.ones(3), ["a", "b"], ok_keys))
    with pytest.raises(ValueError, match=r"\[N\]"):
        method.advantages(RolloutBatch(torch.ones(3), torch.ones(2), ["a"] * 3, ok_keys))
    assert json.dumps(method.state_dict()) == state  # a rejected batch leaves the state alone


@pytest.mark.parametrize("name", sorted(load_methods()))
def test_every_epsilon_must_be_positive(name):
    cls = get_method(name).config_cls
    keys = [f.name for f in fields(cls) if f.name == "epsilon" or f.name.endswith("_eps")]
    assert keys, f"{name} has no normalisation epsilon"
    for key in keys:
        with pytest.raises(ValueError, match=rf"algorithm\.{name}\.{key}=0 is invalid: expected a value > 0"):
            cls(**{key: 0})
        with pytest.raises(ValueError, match=rf"algorithm\.{name}\.{key}=-1e-08 is invalid"):
            cls(**{key: -1e-8})


@pytest.mark.parametrize("name", METHODS)
def test_degenerate_groups_give_finite_advantages_and_prefixed_metrics(name):
    adv, metrics = build_method(name).advantages(degenerate_batch())
    assert adv.shape == (11,) and adv.dtype == torch.float32
    assert torch.isfinite(adv).all()
    assert metrics and all(k.startswith(f"{name}/") for k in metrics)
    assert metrics[f"{name}/accuracy_batch"] == pytest.approx(6 / 11)


@pytest.mark.parametrize("name", METHODS)
def test_integer_scores_give_float_advantages(name):
    batch = RolloutBatch(
        torch.tensor([1, 0, 1, 1]), torch.tensor([100, 200, 300, 400]), ["a", "a", "b", "b"], ["1", "1", "2", "2"]
    )
    adv, _ = build_method(name).advantages(batch)
    assert adv.dtype == torch.float32


@pytest.mark.parametrize("name", METHODS)
def test_groups_without_signal_get_zero_advantage(name):
    # every group all-right with equal lengths: every reward in a group is equal, so group-relative
    # methods give 0; DLER and GDPO whiten a zero vector, which stays 0 too
    batch = RolloutBatch(torch.ones(6), torch.full((6,), 700.0), ["a"] * 3 + ["b"] * 3, ["1"] * 3 + ["2"] * 3)
    adv, _ = build_method(name).advantages(batch)
    torch.testing.assert_close(adv, torch.zeros(6), atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", METHODS)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(name, seed):
    """Two steps on shuffled rows give the same per-rollout advantages (and the same state)."""
    first = sequences(12, 6, seed)
    second = sequences(12, 6, seed + 1)
    perms = [torch.randperm(72, generator=torch.Generator().manual_seed(seed + k)) for k in (0, 1)]
    knobs = {"monitor_freq": 1} if name == "laser_d" else None  # re-choose targets on both steps
    plain, shuffled = build_method(name, knobs), build_method(name, knobs)
    for (scores, lengths, uids), perm in zip((first, second), perms):
        adv, metrics = plain.advantages(batch_with(scores, lengths, uids))
        uids_p = [uids[i] for i in perm.tolist()]
        adv_p, metrics_p = shuffled.advantages(batch_with(scores[perm], lengths[perm], uids_p))
        torch.testing.assert_close(adv_p, adv[perm], atol=1e-5, rtol=1e-5)
        assert metrics_p.keys() == metrics.keys()
        for key in metrics:
            assert metrics_p[key] == pytest.approx(metrics[key], rel=1e-6, abs=1e-9), key
    assert plain.state_dict() == shuffled.state_dict()


THROWAWAY = '''
from dataclasses import dataclass

import torch

from lead.core.knobs import MethodConfig
from lead.core.methods._base import Stateless, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


@dataclass
class ThrowawayConfig(MethodConfig):
    method = "throwaway"
    cap_knob = "cap"
    token_knobs = ("cap",)

    cap: float = 3000.0
    """Correct rollouts longer than this count as wrong."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        self.positive("cap")
        self.positive("epsilon")


@register_method("throwaway")
class ThrowawayMethod(Stateless):
    config_cls = ThrowawayConfig

    def __init__(self, config):
        self.config = config

    def advantages(self, batch: RolloutBatch):
        ro = prepare(batch, self.config.correct_threshold, self.name)
        rewards = ro.c * (ro.lengths <= self.config.cap)
        return normalise(rewards, ro, "grpo", self.config.epsilon).to(ro.out_dtype), to_metrics(
            self.name, ro.base_metrics())
'''


@pytest.fixture
def throwaway_method(tmp_path, monkeypatch):
    """A method added the way a contributor would: one new module in lead.core.methods."""
    import sys

    import lead.core.methods as methods_package
    from lead.core import knobs, registry

    (tmp_path / "throwaway.py").write_text(THROWAWAY)
    monkeypatch.setattr(methods_package, "__path__", [*methods_package.__path__, str(tmp_path)])
    yield tmp_path
    registry.METHODS.pop("throwaway", None)
    knobs.CONFIGS.pop("throwaway", None)
    sys.modules.pop("lead.core.methods.throwaway", None)


def test_adding_a_method_is_one_module(throwaway_method):
    from lead.core.knobs import cap_knob, per_token_knobs, token_knobs

    assert "throwaway" in load_methods()
    assert (
        cap_knob("throwaway") == "cap" and token_knobs("throwaway") == ("cap",) and per_token_knobs("throwaway") == ()
    )
    method = build_method("throwaway", {"cap": 200, "correct_threshold": 0.0})
    adv, metrics = method.advantages(
        RolloutBatch(torch.tensor([1.0, 1.0, 0.0, 1.0]), torch.tensor([100, 300, 50, 150]), ["a", "a", "b", "b"])
    )
    assert adv[0] > adv[1] and adv[3] > adv[2] and set(metrics) >= {"throwaway/accuracy_batch"}
    with pytest.raises(ValueError, match=r"algorithm\.throwaway\.epsilon=0 is invalid"):
        build_method("throwaway", {"epsilon": 0})


def test_a_method_must_declare_knobs_it_has(tmp_path, monkeypatch):
    import lead.core.methods as methods_package
    from lead.core import knobs

    monkeypatch.setattr(knobs, "CONFIGS", dict(knobs.CONFIGS))
    source = THROWAWAY.replace('token_knobs = ("cap",)', 'token_knobs = ("cap", "target")').replace(
        '"throwaway"', '"throwaway_bad"'
    )
    (tmp_path / "throwaway_bad.py").write_text(source)
    monkeypatch.setattr(methods_package, "__path__", [*methods_package.__path__, str(tmp_path)])
    with pytest.raises(ValueError, match=r"'throwaway_bad': ThrowawayConfig declares knobs \['target'\]"):
        load_methods()
    from lead.core.registry import METHODS

    assert "throwaway_bad" not in METHODS


def test_cap_and_token_knobs_of_every_method():
    from lead.core.knobs import cap_knob, token_knobs

    caps = {name: cap_knob(name) for name in load_methods()}
    assert {n: c for n, c in caps.items() if c} == {
        "lead": "bmax",
        "gdpo_static": "bmax",
        "truncation": "max_length",
        "dler": "max_length",
        "laser_d": "max_length",
    }
    for name in load_methods():
        config = get_method(name).config_cls()
        for key in token_knobs(name):
            value = getattr(config, key)
            assert isinstance(value, float) and value > 1, (name, key)  # counts of tokens, stored as numbers

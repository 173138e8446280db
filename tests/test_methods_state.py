"""State of the competing methods: JSON round trips through a checkpoint make the next steps
identical to an uninterrupted run, and bad state is rejected with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lead.core.methods import build_method
from lead.core.rollouts import RolloutBatch
from tests.helpers import make_batch
from tests.test_methods_common import METHODS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STATEFUL = {
    "kimi_len": {"warmup_steps": 2},
    "truncation": {"schedule": [[2, 3000], [3, 1500]]},
    "laser_d": {"monitor_freq": 3, "max_length": 6000, "lower_bound": 1024},
    "hapo": {},
}


def steps(count: int, seed: int, num_prompts: int = 10, n: int = 8):
    """``count`` batches over the same prompts (new uids each step, stable keys), as in training."""
    out = []
    for k in range(count):
        scores_tok, mask, uids = make_batch(num_prompts=num_prompts, n=n, max_len=6000, seed=seed + k)
        keys = [u.replace("prompt-", "") for u in uids]
        out.append(RolloutBatch((scores_tok * mask).sum(-1), mask.sum(-1).float(), [f"s{k}-{u}" for u in uids], keys))
    return out


def checkpoint(method) -> dict:
    return json.loads(json.dumps(method.state_dict()))


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("resume_after", [0, 1, 2])
def test_resume_from_json_state_matches_an_uninterrupted_run(name, resume_after):
    knobs = STATEFUL.get(name, {})
    batches = steps(5, seed=3)
    straight = build_method(name, knobs)
    expected = [straight.advantages(b) for b in batches]

    first = build_method(name, knobs)
    for b in batches[:resume_after]:
        first.advantages(b)
    resumed = build_method(name, knobs)
    resumed.load_state_dict(checkpoint(first))
    for b, (adv, metrics) in zip(batches[resume_after:], expected[resume_after:]):
        got_adv, got_metrics = resumed.advantages(b)
        assert torch.equal(got_adv, adv)
        assert got_metrics == metrics
    assert resumed.state_dict() == straight.state_dict()


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_state_changes_what_the_next_step_computes(name):
    """Restoring matters: a fresh instance computes something else on the same next batch."""
    knobs = STATEFUL[name]
    batches = steps(3, seed=5)
    trained = build_method(name, knobs)
    for b in batches[:2]:  # shorter responses than the next step, so remembered targets/lengths differ
        trained.advantages(RolloutBatch(b.scores, b.lengths * 0.25, b.group_ids, b.prompt_keys))
    resumed, fresh = build_method(name, knobs), build_method(name, knobs)
    resumed.load_state_dict(checkpoint(trained))
    adv_resumed, _ = resumed.advantages(batches[2])
    adv_fresh, _ = fresh.advantages(batches[2])
    assert not torch.allclose(adv_resumed, adv_fresh)


def test_kimi_warmup_survives_a_resume():
    method = build_method("kimi_len", {"warmup_steps": 1})
    batch = RolloutBatch(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([100.0, 300.0, 500.0]), ["q"] * 3)
    method.advantages(batch)
    resumed = build_method("kimi_len", {"warmup_steps": 1})
    resumed.load_state_dict(checkpoint(method))
    assert checkpoint(method) == {"step": 1}
    _, metrics = resumed.advantages(batch)
    assert metrics["kimi_len/weight"] == 0.4 and metrics["kimi_len/step"] == 2


def test_laser_d_refreshes_on_schedule_across_a_resume():
    knobs = {"monitor_freq": 2, "max_length": 6000, "lower_bound": 1024}
    batches = steps(3, seed=9)
    method = build_method("laser_d", knobs)
    refreshed = [method.advantages(b)[1]["laser_d/refreshed"] for b in batches[:2]]
    resumed = build_method("laser_d", knobs)
    resumed.load_state_dict(checkpoint(method))
    refreshed.append(resumed.advantages(batches[2])[1]["laser_d/refreshed"])
    assert refreshed == [1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "name, state, message",
    [
        ("kimi_len", {}, "missing \\['step'\\]"),
        ("kimi_len", {"step": -1}, "step=-1"),
        ("truncation", {"step": 2, "extra": 1}, "unexpected \\['extra'\\]"),
        ("laser_d", {"step": 0, "targets": [1, 2]}, "targets=\\[1, 2\\]"),
        ("laser_d", {"step": 0, "targets": [1, 0, 3]}, "expected 3 numbers > 0"),
        ("hapo", {"keys": ["1"], "lengths": []}, "1 keys but 0 lengths"),
        ("hapo", {"keys": ["1", "1"], "lengths": [3, 4]}, "duplicate keys"),
        ("hapo", {"keys": ["1"], "lengths": [-3]}, "-3.0 for key '1'"),
        ("hapo", {"keys": [1], "lengths": [3]}, "keys must be strings"),
        ("dler", {"step": 1}, "dler has no state"),
        ("gdpo_static", {"weights": [0.5, 0.5]}, "gdpo_static has no state"),
    ],
)
def test_bad_state_is_rejected(name, state, message):
    with pytest.raises(ValueError, match=message):
        build_method(name, STATEFUL.get(name)).load_state_dict(state)


def test_hapo_needs_stable_prompt_keys():
    method = build_method("hapo")
    batch = RolloutBatch(torch.ones(2), torch.ones(2), ["a", "a"])
    with pytest.raises(ValueError, match="prompt_keys .*extra_info.index"):
        method.advantages(batch)
    with pytest.raises(ValueError, match="different prompt keys"):
        method.advantages(RolloutBatch(torch.ones(2), torch.ones(2), ["a", "a"], [1, 2]))
    with pytest.raises(ValueError, match=r"shape \(3,\) for 2 rollouts"):
        method.advantages(RolloutBatch(torch.ones(2), torch.ones(2), ["a", "a"], [1, 1, 1]))
    assert method.state_dict() == {"keys": [], "lengths": []}


def test_hapo_history_is_keyed_by_prompt_not_by_uid():
    method = build_method("hapo")
    first = RolloutBatch(
        torch.tensor([1.0, 0.0, 1.0, 1.0]),
        torch.tensor([900.0, 50.0, 300.0, 200.0]),
        ["u1", "u1", "u2", "u2"],
        torch.tensor([10, 10, 2, 2]),
    )
    method.advantages(first)
    # keys compare by their string form, sorted as strings; the tensor keys above become "10" and "2"
    assert method.state_dict() == {"keys": ["10", "2"], "lengths": [900.0, 200.0]}
    # the same prompts come back under new uids and other row positions; an unseen prompt joins
    second = RolloutBatch(
        torch.tensor([1.0, 1.0, 1.0, 0.0]),
        torch.tensor([100.0, 450.0, 80.0, 5.0]),
        ["v9", "v9", "v1", "v1"],
        ["2", "2", "5", "5"],
    )
    _, metrics = method.advantages(second)
    assert metrics["hapo/with_history_frac"] == 0.5
    assert method.state_dict() == {"keys": ["10", "2", "5"], "lengths": [900.0, 100.0, 80.0]}


@pytest.mark.skipif(not (DATA / "train" / "math_l3to5_train.parquet").exists(), reason="shared data not present")
def test_hapo_history_over_the_real_training_set_keys():
    """One simulated epoch over the real dataset's extra_info.index values: every solved prompt is
    remembered once, and the history survives a JSON checkpoint."""
    import pandas as pd

    index = pd.read_parquet(DATA / "train" / "math_l3to5_train.parquet", columns=["extra_info"])["extra_info"]
    keys = torch.tensor([int(info["index"]) for info in index])
    assert keys.numel() == 8521 and keys.unique().numel() == 8521
    g = torch.Generator().manual_seed(0)
    method = build_method("hapo")
    solved = set()
    for start in range(0, keys.numel(), 1024):
        chunk = keys[start : start + 1024].repeat_interleave(4)
        correct = (torch.rand(chunk.numel(), generator=g) < 0.4).float()
        lengths = torch.randint(50, 8000, (chunk.numel(),), generator=g).float()
        method.advantages(RolloutBatch(correct, lengths, [f"{start}-{k}" for k in chunk.tolist()], chunk))
        solved |= set(chunk[correct > 0.5].tolist())
    state = checkpoint(method)
    assert sorted(state["keys"]) == state["keys"]
    assert set(state["keys"]) == {str(k) for k in solved}
    restored = build_method("hapo")
    restored.load_state_dict(state)
    assert restored.state_dict() == state

"""Hand-computed examples of every competing method's reward and advantage.

Each expected number is worked out from the method's formula in the comment next to it (group
z-scores use the unbiased std plus verl's 1e-6; a group of one keeps its raw reward).
"""

from __future__ import annotations

import math

import pytest
import torch

from lead.core.knobs import GrpoLenThresholdConfig, LaserDConfig, LeadConfig, TruncationConfig
from lead.core.lead import LeadController, lead_advantages
from lead.core.methods import build_method
from lead.core.methods.alp import solve_rate_weights
from lead.core.methods.efficient_reasoning import sigmoid_length_rewards
from lead.core.methods.grpo_lambda import top_fraction_groups
from lead.core.methods.grpo_len_threshold import threshold_length_rewards
from lead.core.methods.hapo import cosine_length_rewards
from lead.core.methods.kimi_len import kimi_length_rewards
from lead.core.methods.laser import choose_targets, difficulty_buckets, step_rewards, target_grid
from lead.core.methods.shorter_better import sample_optimal_lengths
from lead.core.methods.truncation import truncation_rewards
from lead.core.rollouts import RolloutBatch
from tests.helpers import make_batch

F64 = torch.float64
EPS = 1e-6


def t(values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


def run(name, scores, lengths, groups, keys=None, **knobs):
    method = build_method(name, knobs)
    adv, metrics = method.advantages(RolloutBatch(t(scores), t(lengths), groups, keys))
    return adv, metrics, method


def close(actual, expected, tol=1e-6):
    torch.testing.assert_close(actual.to(F64), t(expected), atol=tol, rtol=0)


def pair(hi, lo):
    """GRPO advantages of a two-rollout group with rewards (hi, lo): +-(d/2) / (d/sqrt(2) + eps)."""
    d = hi - lo
    a = (d / 2) / (abs(d) / math.sqrt(2) + EPS)
    return [a, -a]


# --- grpo_len_threshold -------------------------------------------------------------------------

LENGTHS = [1000.0, 2000.0, 2001.0, 3000.0, 4000.0, 5000.0]
CORRECT = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("classic", [1, 1, 0, 0, 0, 0]),  # 1[l <= 2000]
        ("conditioned", [1, 0, 0, 0, 0, 0]),  # c * 1[l <= 2000]
        ("soft", [1, 1, 1999 / 2000, 0.5, 0, 0]),  # (4000 - l) / 2000 between T and M
        ("conditioned_soft", [1, 0, 1999 / 2000, 0.5, 0, 0]),
    ],
)
def test_threshold_length_reward_modes(mode, expected):
    cfg = GrpoLenThresholdConfig(mode=mode, threshold=2000, soft_max=4000)
    close(threshold_length_rewards(t(LENGTHS), t(CORRECT), cfg), expected)


def test_soft_threshold_with_equal_bounds_is_a_step():
    cfg = GrpoLenThresholdConfig(mode="soft", threshold=2000, soft_max=2000)
    close(threshold_length_rewards(t(LENGTHS), t(CORRECT), cfg), [1, 1, 0, 0, 0, 0])


def test_grpo_len_threshold_advantage_with_a_singleton_group():
    # group a: r = c + 1[c, l <= 2000] = [2, 1, 0] -> mean 1, std 1 -> A = [1, 0, -1] / (1 + eps)
    # group b (one rollout): r = 2, kept raw -> 2 / (1 + eps)
    adv, metrics, _ = run("grpo_len_threshold", [1, 1, 0, 1], [1000, 3000, 1500, 100], ["a", "a", "a", "b"])
    close(adv, [1 / (1 + EPS), 0.0, -1 / (1 + EPS), 2 / (1 + EPS)])
    assert metrics["grpo_len_threshold/within_threshold_frac"] == 0.75
    assert metrics["grpo_len_threshold/length_reward_mean"] == 0.5


def test_grpo_len_threshold_lambda_weights_classic():
    # classic rewards length whatever the correctness: r = 0.8 c + 0.2 1[l <= 2000]
    # group: c = [1, 0], l = [3000, 1000] -> r = [0.8, 0.2] -> A = +-1/sqrt(2) (up to eps)
    adv, _, _ = run("grpo_len_threshold", [1, 0], [3000, 1000], ["q", "q"], mode="classic", lambda1=0.8, lambda2=0.2)
    close(adv, pair(0.8, 0.2))
    # equal weights: r = [1, 1] -> no signal in the group
    adv, _, _ = run("grpo_len_threshold", [1, 0], [3000, 1000], ["q", "q"], mode="classic", lambda1=1, lambda2=1)
    close(adv, [0.0, 0.0])


# --- efficient_reasoning (Arora & Zanette) -----------------------------------------------------

SIG_M1, SIG_P1 = 0.2689414213699951, 0.7310585786300049  # sigmoid(-1), sigmoid(+1)
ARORA_A, ARORA_B = 1 - 0.2 * SIG_M1, 1 - 0.2 * SIG_P1  # alpha = 0.2, z = -1 and +1


def test_sigmoid_length_rewards_by_hand():
    # q0: correct lengths 100, 300 -> mean 200, population std 100 -> z = -1, +1; the wrong one gets 0
    # q1: one correct rollout -> z = 0 -> 1 - alpha / 2 = 0.9
    # q2: nobody correct -> 0, 0
    # q3: equal correct lengths -> z = 0 -> 0.9, 0.9
    lengths = t([100, 300, 900, 400, 50, 10, 20, 250, 250])
    correct = t([1, 1, 0, 1, 0, 0, 0, 1, 1]).bool()
    gid = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3])
    rewards, z = sigmoid_length_rewards(lengths, correct, gid, 4, alpha=0.2, length_std_eps=1e-7)
    close(rewards, [ARORA_A, ARORA_B, 0, 0.9, 0, 0, 0, 0.9, 0.9])
    close(z, [-1, 1, 0, 0, 0, 0, 0, 0, 0])


def test_efficient_reasoning_rloo_advantage_by_hand():
    # RLOO: A_i = r_i - mean of the others. q0: r = [a, b, 0] -> [a - b/2, b - a/2, -(a + b)/2]
    # q1: r = [0.9, 0] -> [0.9, -0.9]; q2: zeros; singleton s: raw 0.9
    scores = [1, 1, 0, 1, 0, 0, 0, 1]
    lengths = [100, 300, 900, 400, 50, 10, 20, 77]
    groups = ["q0", "q0", "q0", "q1", "q1", "q2", "q2", "s"]
    adv, metrics, _ = run("efficient_reasoning", scores, lengths, groups, alpha=0.2)
    close(adv, [ARORA_A - ARORA_B / 2, ARORA_B - ARORA_A / 2, -(ARORA_A + ARORA_B) / 2, 0.9, -0.9, 0, 0, 0.9])
    assert metrics["efficient_reasoning/accuracy_batch"] == 0.5


def test_efficient_reasoning_grpo_normalisation_and_alpha_zero():
    # alpha = 0 is plain correctness; under grpo the pair [1, 0] gives +-1/sqrt(2)
    adv, _, _ = run("efficient_reasoning", [1, 0], [100, 900], ["q", "q"], alpha=0.0, normalisation="grpo")
    close(adv, pair(1.0, 0.0))
    # alpha = 0.2 under rloo: both correct with z = -1, +1 -> A = +-(a - b)
    adv, _, _ = run("efficient_reasoning", [1, 1], [100, 300], ["q", "q"], alpha=0.2)
    close(adv, [ARORA_A - ARORA_B, ARORA_B - ARORA_A])


# --- kimi_len -------------------------------------------------------------------------------------


def test_kimi_length_rewards_by_hand():
    # q0: min 100, max 500 -> lambda = 0.5 - (l - 100) / 400 = [0.5, 0.25, 0, -0.5];
    #     correct keep lambda, wrong get min(0, lambda) -> [0.5, 0, 0, -0.5]
    # q1: equal lengths -> 0; q2: one rollout -> 0
    lengths = t([100, 200, 300, 500, 700, 700, 42])
    correct = t([1, 0, 1, 0, 1, 0, 1]).bool()
    gid = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    close(kimi_length_rewards(lengths, correct, gid, 3), [0.5, 0, 0, -0.5, 0, 0, 0])


def test_kimi_warmup_then_weighted_length_reward():
    method = build_method("kimi_len", {"weight": 0.4, "warmup_steps": 1})
    batch = RolloutBatch(t([1, 1, 0]), t([100, 300, 500]), ["q", "q", "q"])
    # warm-up: r = c = [1, 1, 0] -> mean 2/3, std 1/sqrt(3)
    adv, metrics = method.advantages(batch)
    close(adv, [0.5773492691913578, 0.5773492691913578, -1.1546985383827153])
    assert metrics["kimi_len/weight"] == 0.0 and metrics["kimi_len/step"] == 1.0
    # after: len = [0.5, 0, -0.5] -> r = [1.2, 1.0, -0.2] -> mean 2/3, var (0.28444 + 0.11111 + 0.75111) / 2
    adv, metrics = method.advantages(batch)
    close(adv, [0.7043597948291694, 0.44022487176823094, -1.1445846665974004])
    assert metrics["kimi_len/weight"] == 0.4


# --- truncation / ThinkPrune / DLER -------------------------------------------------------------


def test_truncation_reward_at_the_cap():
    # a correct answer of exactly L tokens counts, one more token does not; wrong answers never count
    close(truncation_rewards(t([3000, 4000, 4001, 100]), t([1, 1, 1, 0]), 4000.0), [1, 1, 0, 0])


def test_thinkprune_schedule_caps():
    cfg = TruncationConfig(max_length=4000, schedule=[[180, 3000], [360, 2000]])
    assert [cfg.cap_at(s) for s in (0, 179, 180, 359, 360, 10_000)] == [4000, 4000, 3000, 3000, 2000, 2000]
    assert TruncationConfig(max_length=4000).cap_at(10_000) == 4000


def test_truncation_advantage_follows_the_schedule():
    method = build_method("truncation", {"max_length": 4000, "schedule": [[1, 3000]]})
    batch = RolloutBatch(t([1, 1, 1, 0]), t([2000, 3500, 4500, 100]), ["q"] * 4)
    # step 0, cap 4000: r = [1, 1, 0, 0] -> mean 0.5, std sqrt(1/3) -> +-0.8660
    adv, metrics = method.advantages(batch)
    a = 0.5 / (math.sqrt(1 / 3) + EPS)
    close(adv, [a, a, -a, -a])
    assert metrics["truncation/cap"] == 4000
    # step 1, cap 3000: r = [1, 0, 0, 0] -> mean 0.25, std 0.5 -> [1.5, -0.5, -0.5, -0.5]
    adv, metrics = method.advantages(batch)
    close(adv, [0.75 / (0.5 + EPS), -0.25 / (0.5 + EPS), -0.25 / (0.5 + EPS), -0.25 / (0.5 + EPS)])
    assert metrics["truncation/cap"] == 3000 and metrics["truncation/over_cap_frac"] == 0.5


def test_dler_group_mean_then_token_whitening():
    # r = c 1[l <= 4000] = [1, 0 | 1, 0]; group means 0.5 -> centred [0.5, -0.5, 0.5, -0.5]
    # token weights [3000, 4500, 2500, 1000]: weighted mean 0.5 (3000 - 4500 + 2500 - 1000) / 11000 = 0,
    # var = 0.25 * 11000 / 10999 -> A = +-0.5 / sqrt(var) = +-sqrt(10999 / 11000)
    adv, _, _ = run("dler", [1, 1, 1, 0], [3000, 4500, 2500, 1000], ["a", "a", "b", "b"])
    v = math.sqrt(10999 / 11000)
    close(adv, [v, -v, v, -v])


def test_dler_sequence_whitening_with_a_singleton():
    # centred: group a [0.5, -0.5], singleton b keeps r = 1 -> x = [0.5, -0.5, 1]
    # sequence weights: mean 1/3, var ((1/6)^2 + (5/6)^2 + (2/3)^2) / 2 = 7/12
    adv, _, _ = run("dler", [1, 0, 1], [100, 200, 300], ["a", "a", "b"], whiten_weighting="sequence")
    sd = math.sqrt(7 / 12)
    close(adv, [(1 / 6) / sd, (-5 / 6) / sd, (2 / 3) / sd])


# --- laser / laser_d ---------------------------------------------------------------------------------


def test_laser_step_reward_at_the_target():
    # c + 0.5 * 1[c and l <= 4096]
    close(step_rewards(t([4096, 4097, 100, 5000]), t([1, 1, 0, 0]), 4096.0, 0.5), [1.5, 1.0, 0, 0])


def test_laser_advantage_by_hand():
    # r = [1.5, 1, 0] -> mean 5/6, var ((2/3)^2 + (1/6)^2 + (5/6)^2) / 2 = 7/12
    adv, metrics, _ = run("laser", [1, 1, 0], [1000, 5000, 10], ["q"] * 3, target_length=4096)
    sd = math.sqrt(7 / 12)
    close(adv, [(2 / 3) / (sd + EPS), (1 / 6) / (sd + EPS), (-5 / 6) / (sd + EPS)])
    assert metrics["laser/bonus_frac"] == pytest.approx(1 / 3)


def test_difficulty_buckets_compare_counts_exactly():
    # n = 3: k = 0 low, 1 (p = 1/3) medium, 2 (p = 2/3) high, 3 high; n = 8: k = 2 low, 3 and 5 medium, 6 high
    groups = [3, 3, 3, 3, 8, 8, 8, 8]
    hits = [0, 1, 2, 3, 2, 3, 5, 6]
    c = torch.cat([t([1.0] * k + [0.0] * (n - k)) for n, k in zip(groups, hits)])
    gid = torch.cat([torch.full((n,), g) for g, n in enumerate(groups)])
    bucket, sizes = difficulty_buckets(c, gid, len(groups))
    assert bucket.tolist() == [0, 1, 2, 2, 0, 1, 1, 2]
    assert sizes.tolist() == [3, 3, 3, 3, 8, 8, 8, 8]


def test_choose_targets_by_hand():
    cfg = LaserDConfig(max_length=5000, lower_bound=1024, interval=1024)
    assert target_grid(cfg).tolist() == [1024, 2048, 3072, 4096]
    # n = 3 -> C = [1, 1, 2] for low, medium, high; a bucket's target is the first grid L with fit(L) C >= n_b
    # high: 6 rollouts, need 3 fitting: 1024 fits {500, 900}, 2048 fits 4 -> 2048
    # medium: 3 rollouts, need 3 fitting: 4096 fits {3000, 3500} only -> max_length 5000
    # low: no rollout -> keeps the previous 777
    lengths = t([500, 1500, 2500, 3500, 900, 1100, 3000, 3500, 5000])
    bucket = torch.tensor([2, 2, 2, 2, 2, 2, 1, 1, 1])
    close(choose_targets(lengths, bucket, 3, t([777, 777, 777]), cfg), [777, 5000, 2048])


def test_laser_d_targets_per_bucket_end_to_end():
    groups = ["A"] * 3 + ["B"] * 3 + ["C"] * 3
    scores = [1, 1, 0, 1, 1, 1, 1, 0, 0]  # A high (2/3), B high (3/3), C medium (1/3)
    lengths = [500, 1500, 2500, 3500, 900, 1100, 3000, 3500, 5000]
    method = build_method("laser_d", {"max_length": 5000, "lower_bound": 1024, "interval": 1024})
    adv, metrics = method.advantages(RolloutBatch(t(scores), t(lengths), groups))
    assert (metrics["laser_d/target_low"], metrics["laser_d/target_medium"], metrics["laser_d/target_high"]) == (
        5000,
        5000,
        2048,
    )
    # rewards: A [1.5, 1.5, 0], B [1, 1.5, 1.5], C [1.5, 0, 0] (3000 <= 5000)
    # A and C: r = [x, x, 0] / [x, 0, 0] shapes; B: [1, 1.5, 1.5] -> mean 4/3, std sqrt(1/12)
    sd_b = math.sqrt(1 / 12)
    close(adv[3:6], [(-1 / 3) / (sd_b + EPS), (1 / 6) / (sd_b + EPS), (1 / 6) / (sd_b + EPS)])
    sd_a = math.sqrt(((0.5) ** 2 * 2 + 1.0**2) / 2)  # r = [1.5, 1.5, 0], mean 1
    close(adv[0:3], [0.5 / (sd_a + EPS), 0.5 / (sd_a + EPS), -1.0 / (sd_a + EPS)])
    assert metrics["laser_d/prompt_frac_high"] == pytest.approx(2 / 3)
    assert method.state_dict() == {"step": 1, "targets": [5000.0, 5000.0, 2048.0]}


# --- grpo_lambda ------------------------------------------------------------------------------------


def test_top_fraction_groups_ceil_and_ties():
    acc = t([1.0, 1.0, 0.5, 0.0])
    assert top_fraction_groups(acc, 0.25).tolist() == [True, False, False, False]  # tie at 1.0 -> lower id
    assert top_fraction_groups(acc, 0.3).tolist() == [True, True, False, False]  # ceil(1.2) = 2
    assert top_fraction_groups(acc, 0.0).tolist() == [False] * 4
    assert top_fraction_groups(acc, 1.0).tolist() == [True] * 4
    assert int(top_fraction_groups(torch.zeros(10, dtype=F64), 0.7).sum()) == 7  # 0.7 * 10 is not 7.000...1


def test_grpo_lambda_penalises_only_the_top_groups():
    # p: a = 1, b = 1, c = 1/2, d = 0; fraction 0.25 -> one group, the tie between a and b goes to "a"
    # a: lengths 100, 300 -> Arora rewards [A, B] (alpha 0.2), a two-member group -> +-1/sqrt(2)
    # b: not selected -> r = [1, 1] -> 0; c: [1, 0] -> +-1/sqrt(2); d: 0
    groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
    scores = [1, 1, 1, 1, 1, 0, 0, 0]
    lengths = [100, 300, 100, 300, 100, 300, 100, 200]
    adv, metrics, _ = run("grpo_lambda", scores, lengths, groups, fraction=0.25, alpha=0.2)
    close(adv, [*pair(ARORA_A, ARORA_B), 0, 0, *pair(1.0, 0.0), 0, 0])
    assert metrics["grpo_lambda/penalised_prompts"] == 1
    assert metrics["grpo_lambda/penalised_min_accuracy"] == 1.0
    # renaming b to "0b" puts it first in label order: now b is penalised and a is not
    renamed = ["0b" if g == "b" else g for g in groups]
    adv, _, _ = run("grpo_lambda", scores, lengths, renamed, fraction=0.25, alpha=0.2)
    close(adv, [0, 0, *pair(ARORA_A, ARORA_B), *pair(1.0, 0.0), 0, 0])


def test_grpo_lambda_wrong_rollouts_of_selected_groups_get_zero():
    # only group selected (fraction 1): c = [1, 0], one correct -> z = 0 -> r = [0.9, 0]; pair -> +-1/sqrt(2)
    adv, metrics, _ = run("grpo_lambda", [1, 0], [100, 50], ["q", "q"], fraction=1.0, alpha=0.2)
    close(adv, pair(0.9, 0.0))
    assert metrics["grpo_lambda/reward_mean"] == pytest.approx(0.45)


# --- hapo ----------------------------------------------------------------------------------------------


def test_cosine_length_rewards_by_hand():
    # h = 1000: f = cos(pi/2 * min(l/h, 2)) = [1, 0.7071, 0, -0.7071, -1, -1]
    lengths = t([0, 500, 1000, 1500, 2000, 3000])
    h = torch.full((6,), 1000.0, dtype=F64)
    r = 0.7071067811865476
    close(cosine_length_rewards(lengths, torch.ones(6, dtype=torch.bool), h, -0.7), [1, r, 0, -0.7, -0.7, -0.7])
    close(cosine_length_rewards(lengths, torch.zeros(6, dtype=torch.bool), h, -0.7), [0, 0, 0, -r, -1, -1])
    # no history (NaN, or 0 as in the release) -> 0
    none = t([float("nan"), float("nan"), 0, 0, 0, 0])
    close(cosine_length_rewards(lengths, torch.ones(6, dtype=torch.bool), none, -0.7), [0] * 6)


def test_hapo_history_drives_the_next_step():
    method = build_method("hapo")
    # step 1, prompt 7, no history: r = c = [1, 1, 0]; afterwards h(7) = min correct = 800
    adv, metrics = method.advantages(RolloutBatch(t([1, 1, 0]), t([800, 1200, 600]), ["u1"] * 3, [7, 7, 7]))
    close(adv, [0.5773492691913578, 0.5773492691913578, -1.1546985383827153])
    assert metrics["hapo/with_history_frac"] == 0.0
    assert method.state_dict() == {"keys": ["7"], "lengths": [800.0]}
    # step 2, new uid, same prompt: x = [0.5, 1, 2] -> len = [0.7071, 0, min(-1, 0)] -> r = [1.7071, 1, -1]
    adv, metrics = method.advantages(RolloutBatch(t([1, 1, 0]), t([400, 800, 1600]), ["u2"] * 3, [7, 7, 7]))
    close(adv, [0.8105526781363729, 0.3069398096834933, -1.1174924878198662])
    assert metrics["hapo/with_history_frac"] == 1.0
    assert method.state_dict() == {"keys": ["7"], "lengths": [400.0]}


def test_hapo_unsolved_prompt_keeps_no_history():
    method = build_method("hapo")
    method.advantages(RolloutBatch(t([0, 0, 1, 0]), t([5, 6, 700, 9]), ["a", "a", "b", "b"], ["1", "1", "2", "2"]))
    assert method.state_dict() == {"keys": ["2"], "lengths": [700.0]}


# --- shorter_better / alp --------------------------------------------------------------------------------


def test_sample_optimal_lengths_by_hand():
    # q0: shortest correct = 300; q1: none correct -> mean 200; q2: one rollout, correct -> 50
    lengths = t([100, 300, 500, 100, 300, 50])
    correct = t([0, 1, 1, 0, 0, 1]).bool()
    gid = torch.tensor([0, 0, 0, 1, 1, 2])
    close(sample_optimal_lengths(lengths, correct, gid, 3), [300, 200, 50])


def test_shorter_better_advantage_by_hand():
    # q0: SOL 300 -> r = 2 c - 0.001 |l - 300| = [-0.2, 2, 1.8]; q1: SOL 200 -> [-0.1, -0.1] -> 0
    adv, metrics, _ = run("shorter_better", [0, 1, 1, 0, 0], [100, 300, 500, 100, 300], ["q0"] * 3 + ["q1"] * 2)
    close(adv, [-1.1507919651923328, 0.657595408681333, 0.49319655651099986, 0, 0])
    assert metrics["shorter_better/sol_mean"] == 250


def test_solve_rate_weights_floor_at_one_over_k():
    # q0: p = 3/4; q1: p = 0 -> 1/K = 1/2; q2: one rollout, wrong -> 1/1
    c = t([1, 1, 0, 1, 0, 0, 0])
    gid = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    close(solve_rate_weights(c, gid, 3), [0.75, 0.5, 1.0])


def test_alp_advantage_by_hand():
    # beta 1e-4: q0 p = 0.75 -> r = c - 1e-4 * 0.75 * l = [0.925, 0.85, -0.225, 0.7]
    # q1: unsolved, weight 1/2 -> r = [-0.05, -0.15] -> +-1/sqrt(2)
    adv, metrics, _ = run(
        "alp", [1, 1, 0, 1, 0, 0], [1000, 2000, 3000, 4000, 1000, 3000], ["q0"] * 4 + ["q1"] * 2, beta=1e-4
    )
    close(adv, [0.679769210137934, 0.5391273045921545, -1.476740008230684, 0.25784349350059554, *pair(-0.05, -0.15)])
    assert metrics["alp/penalty_mean"] == pytest.approx((0.075 + 0.15 + 0.225 + 0.3 + 0.05 + 0.15) / 6)


# --- gdpo_static -------------------------------------------------------------------------------------------


def test_gdpo_static_by_hand():
    # one group, l = [1000 (correct), 3000 (wrong)]: L* = 1000 -> r_eff = [1, -1]; both rewards z-score to +-1/sqrt(2)
    # (up to eps) and add to x = +-sqrt(2). Token whitening with w = [1000, 3000]:
    # mean = -sqrt(2)/2, var = (1000 * 4.5 + 3000 * 0.5) / 3999 -> A = [1.5 sqrt(2), -0.5 sqrt(2)] / sqrt(var)
    adv, metrics, _ = run("gdpo_static", [1, 0], [1000, 3000], ["q", "q"])
    sd = math.sqrt(6000 / 3999)
    close(adv, [1.5 * math.sqrt(2) / sd, -0.5 * math.sqrt(2) / sd], tol=1e-5)
    assert metrics["gdpo_static/lstar_mean"] == 1000
    assert metrics["gdpo_static/r_eff_mean"] == 0


EFFICIENCY_SETTINGS = [
    {},
    {"lstar_mode": "max_asym", "aggregator": "min_correct", "min_correct_len": 2500.0},
    {"lstar_mode": "upper_only", "aggregator": "median_correct"},
    {"aggregator": "mean_all", "whiten_weighting": "sequence"},
    {"zero_unsolved_efficiency": True, "bmax": 6000.0, "lstar_floor": 3000.0},
]


@pytest.mark.parametrize("w_corr, w_eff", [(1.0, 1.0), (1.0, 3.0), (2.0, 0.5)])
@pytest.mark.parametrize("efficiency", EFFICIENCY_SETTINGS)
def test_gdpo_static_equals_lead_with_static_weights(w_corr, w_eff, efficiency):
    # The shared efficiency knobs mean the same for both: LEAD with the same knobs and the
    # weights' ratio as its static lambda_c gives the same advantages.
    scores_tok, mask, uids = make_batch(num_prompts=16, n=8, max_len=8000, seed=11)
    scores, lengths = (scores_tok * mask).sum(-1), mask.sum(-1).float()
    adv, _, _ = run("gdpo_static", scores.tolist(), lengths.tolist(), uids, w_corr=w_corr, w_eff=w_eff, **efficiency)
    lead_adv, _ = lead_advantages(
        scores.double(),
        lengths.double(),
        uids,
        LeadConfig(static_lambda_corr=w_corr / (w_corr + w_eff), **efficiency),
        LeadController(),
    )
    torch.testing.assert_close(adv, lead_adv, atol=1e-6, rtol=1e-6)


def test_gdpo_static_without_efficiency_is_whitened_grpo():
    # w_eff = 0: whiten(z-score of correctness); two groups [1, 0] with equal lengths -> +-1
    adv, _, _ = run("gdpo_static", [1, 0, 0, 1], [500, 500, 500, 500], ["a", "a", "b", "b"], w_eff=0.0)
    # x = [u, -u, -u, u]; token weights 500 each: mean 0, var = 2000 u^2 / 1999 -> A = +-sqrt(1999 / 2000)
    v = math.sqrt(1999 / 2000)
    close(adv, [v, -v, -v, v])


def test_soft_max_below_threshold_is_refused_only_where_it_is_used():
    with pytest.raises(ValueError, match="soft_max"):
        GrpoLenThresholdConfig(mode="soft", threshold=5000, soft_max=4000)
    step = GrpoLenThresholdConfig(mode="conditioned", threshold=5000, soft_max=4000)
    close(threshold_length_rewards(t([4500.0, 6000.0]), t([1.0, 1.0]), step), [1, 0])

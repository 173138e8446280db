"""The verl 0.9.1 integration: discovery, verl's own advantage paths, config, trainer hooks.

Everything that imports verl lives in this one module so the suite pays verl's import cost
once per process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("verl", reason="verl==0.9.1 is a declared dependency; install the project first")

from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from lead.core.knobs import LeadConfig
from lead.core.lead import LeadController, lead_advantages
from lead.core.methods import load_methods
from lead.verl_plugin import plugin
from lead.verl_plugin.algo_config import LeadAlgoConfig, validate_run_config
from lead.verl_plugin.estimators import STORE, register_estimators
from lead.verl_plugin.main import check_config
from lead.verl_plugin.trainer import STATE_FILE, LeadTrainerSync
from tests.helpers import make_batch

REPO = Path(__file__).resolve().parents[1]
SMALL_RUN = [
    "data.train_batch_size=8",
    "actor_rollout_ref.rollout.n=4",
    "trainer.n_gpus_per_node=1",
    "actor_rollout_ref.actor.ppo_mini_batch_size=8",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
]


def compose_config(*overrides: str):
    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return compose("lead_trainer", overrides=[*SMALL_RUN, *overrides])


@pytest.fixture(autouse=True)
def fresh_store():
    STORE.reset()
    yield
    STORE.reset()


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **env}, cwd=REPO
    )


# --- discovery --------------------------------------------------------------------------------


def test_fresh_import_of_verl_finds_estimator_and_trainer_through_entry_point():
    code = (
        "import verl\n"
        "from verl.trainer.ppo.core_algos import get_adv_estimator_fn\n"
        "from verl.trainer.ppo.v1.trainer_base import get_trainer_cls\n"
        "print(get_adv_estimator_fn('lead').__module__, get_trainer_cls('lead_sync').__name__)\n"
    )
    found = run_python(code)
    assert found.returncode == 0, found.stderr[-2000:]
    assert "lead.verl_plugin.estimators LeadTrainerSync" in found.stdout
    without = run_python(code, VERL_USE_EXTERNAL_PLUGINS="none")
    assert without.returncode != 0 and "Unknown advantage estimator" in without.stderr


def test_plugin_failure_is_a_warning_naming_the_error(monkeypatch):
    import lead.verl_plugin.estimators as estimators

    def broken():
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(estimators, "register_estimators", broken)
    with pytest.warns(UserWarning, match="registry exploded"):
        plugin._load()


def test_every_registry_method_is_a_verl_estimator_except_verl_builtins():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    names = register_estimators()
    assert "lead" in names and "grpo" not in names  # verl's own grpo stays in charge
    assert set(names) == set(load_methods()) - {"grpo"}
    for name in names:
        assert get_adv_estimator_fn(name).__name__ == f"compute_{name}_advantage"
    assert register_estimators() == names  # idempotent


# --- verl's advantage paths -------------------------------------------------------------------


def make_dataproto(seed: int, num_prompts: int = 4, n: int = 4, max_len: int = 3000):
    from verl import DataProto

    scores, mask, uids = make_batch(num_prompts, n, max_len, seed=seed, min_len=100)
    data = DataProto.from_dict(
        tensors={
            "responses": torch.zeros_like(mask),
            "attention_mask": torch.cat([torch.ones_like(mask), mask], 1),
            "response_mask": mask,
            "token_level_rewards": scores,
        },
        non_tensors={"uid": np.array(uids, dtype=object)},
    )
    return data, scores, mask, uids


def test_verl_compute_advantage_runs_lead_on_a_real_dataproto():
    from verl.trainer.ppo.ray_trainer import compute_advantage

    cfg = compose_config("algorithm.lead.bmax=3000")
    expected_ctl = LeadController()
    for step in range(3):
        data, scores, mask, uids = make_dataproto(seed=step)
        out = compute_advantage(data, adv_estimator="lead", config=cfg.algorithm)
        want, _ = lead_advantages((scores * mask).sum(-1), mask.sum(-1), uids, LeadConfig(bmax=3000), expected_ctl)
        assert torch.allclose(out.batch["advantages"], want[:, None] * mask, atol=1e-6)
        assert torch.equal(out.batch["returns"], out.batch["advantages"])
        metrics = STORE.pop_metrics()
        assert metrics["lead/step"] == step + 1 and metrics["lead/w_corr"] == pytest.approx(
            expected_ctl.weights[0] if expected_ctl.weights[0] > 0.3 else 0.3
        )


def test_dataclass_algorithm_config_works_too():
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.utils.config import omega_conf_to_dataclass

    cfg = compose_config("algorithm.lead.lstar_mode=upper_only")
    algo = omega_conf_to_dataclass(cfg.algorithm)
    assert isinstance(algo, LeadAlgoConfig) and algo.lead["lstar_mode"] == "upper_only"
    data, *_ = make_dataproto(seed=0)
    compute_advantage(data, adv_estimator="lead", config=algo)
    assert STORE.pop_metrics()["lead/lstar_mode"] == 2.0


class FakeTransferQueue:
    """In-memory stand-in for the two TransferQueue calls ``_compute_advantage`` makes."""

    def __init__(self, rows: dict[str, dict]):
        self.rows = rows

    def kv_batch_get(self, keys, partition_id, select_fields):
        from verl.utils import tensordict_utils as tu

        out = {}
        for field in select_fields:
            if field not in self.rows[keys[0]]:
                continue
            values = [self.rows[k][field] for k in keys]
            out[field] = (
                torch.nested.as_nested_tensor(values, layout=torch.jagged)
                if isinstance(values[0], torch.Tensor)
                else np.array(values, dtype=object)
            )
        return tu.get_tensordict(out)

    def kv_batch_put(self, keys, partition_id, fields=None, tags=None):
        for i, key in enumerate(keys):
            for name in fields.keys():
                self.rows[key][name] = fields[name][i]
        return "written"


def test_v1_compute_advantage_writes_lead_advantages_and_metrics(monkeypatch):
    import verl.trainer.ppo.v1.trainer_base as base
    from transfer_queue import KVBatchMeta

    import lead.verl_plugin.trainer as trainer_module

    scores, mask, uids = make_batch(4, 4, 600, seed=3, min_len=50)
    keys = [f"{u}_{i}_0" for i, u in enumerate(uids)]
    rows = {
        k: {"uid": u, "response_mask": mask[i][mask[i] > 0], "rm_scores": scores[i][mask[i] > 0], "index": 100 + i}
        for i, (k, u) in enumerate(zip(keys, uids))
    }
    fake = FakeTransferQueue(rows)
    monkeypatch.setattr(base, "tq", fake)
    monkeypatch.setattr(trainer_module, "tq", fake)

    trainer = LeadTrainerSync.__new__(LeadTrainerSync)
    trainer.config = compose_config("algorithm.lead.bmax=1000", "algorithm.lead.lstar_floor=10")
    trainer.trainer_mode = "lead_sync"
    assert trainer.trainer_mode == "sync"
    metrics: dict = {}
    batch = KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train")
    assert trainer._compute_advantage(batch, metrics) == "written"

    want, _ = lead_advantages(
        (scores * mask).sum(-1), mask.sum(-1), uids, LeadConfig(bmax=1000, lstar_floor=10), LeadController()
    )
    for i, key in enumerate(keys):
        adv = rows[key]["advantages"]
        assert adv.shape[0] == int(mask[i].sum()) and torch.allclose(adv, torch.full_like(adv, want[i]), atol=1e-6)
    assert metrics["lead/step"] == 1.0 and "lead/target_w_corr" in metrics and not STORE.pop_metrics()


# --- configuration ----------------------------------------------------------------------------


def test_yaml_blocks_equal_every_methods_dataclass_defaults():
    cfg = compose_config()
    assert cfg.algorithm.adv_estimator == "lead" and cfg.trainer.v1.trainer_mode == "lead_sync"
    for name, cls in load_methods().items():
        if name == "grpo":  # verl's own estimator serves adv_estimator=grpo
            continue
        defaults = json.loads(json.dumps(cls.config_cls().to_dict()))
        cap = cls.config_cls.cap_knob
        if cap is not None:  # the cap follows the response cap (8,000, the paper's) by interpolation
            assert OmegaConf.to_container(cfg.algorithm[name])[cap] == "${data.max_response_length}", name
            defaults[cap] = cfg.data.max_response_length
        block = OmegaConf.to_container(cfg.algorithm[name], resolve=True)
        assert block == defaults, name
        assert cls.config_cls.from_mapping(block) == cls.config_cls(**{k: block[k] for k in ([cap] if cap else [])}), (
            name
        )
    assert cfg.data.max_response_length == 8000


def test_composed_config_passes_our_and_verls_validation():
    check_config(
        compose_config(
            "algorithm.lead.lstar_mode=max_asym", "algorithm.lead.bmax=4000", "data.max_response_length=4000"
        )
    )


@pytest.mark.parametrize(
    "override,message",
    [
        ("algorithm.lead.lstar_mode=paper", "algorithm.lead.lstar_mode='paper'"),
        ("algorithm.lead.aggregator=max", "algorithm.lead.aggregator='max'"),
        ("algorithm.lead.lambda_min=1.2", "algorithm.lead.lambda_min=1.2"),
        ("algorithm.lead.beta=1.0", "algorithm.lead.beta=1.0"),
        ("algorithm.lead.bmax=-5", "algorithm.lead.bmax=-5"),
        ("algorithm.use_kl_in_reward=true", "use_kl_in_reward"),
    ],
)
def test_bad_values_fail_at_start_up_naming_key_and_value(override, message):
    with pytest.raises(ValueError) as err:
        validate_run_config(compose_config(override))
    assert message in str(err.value)


def test_misspelt_key_is_refused_by_hydra_and_by_the_knob_check():
    with pytest.raises(ConfigCompositionException, match="alpah"):
        compose_config("algorithm.lead.alpah=2")
    cfg = compose_config("+algorithm.lead.alpah=2")
    with pytest.raises(ValueError, match="alpah"):
        validate_run_config(cfg)


def test_bmax_below_response_cap_warns():
    with pytest.warns(UserWarning, match="bmax=2000 is below data.max_response_length=4000"):
        validate_run_config(compose_config("algorithm.lead.bmax=2000", "data.max_response_length=4000"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_run_config(compose_config("algorithm.lead.bmax=4000", "data.max_response_length=4000"))


def test_trainer_refuses_bad_knobs_before_any_setup():
    cfg = compose_config("algorithm.lead.aggregator=nope")
    with pytest.raises(ValueError, match="aggregator='nope'"):
        LeadTrainerSync(cfg)


# --- checkpoint and resume ----------------------------------------------------------------------


class StubWorkerGroup:
    def __init__(self, state_dir: Path | None = None):
        self.saved, self.loaded = [], []
        self.state_dir = state_dir

    def save_checkpoint(self, local_path, remote_path, global_step, max_ckpt_to_keep=None):
        # verl writes the actor first; our state must already be on disk by then.
        assert (Path(local_path).parent / STATE_FILE).exists()
        self.saved.append(local_path)

    def load_checkpoint(self, local_path, del_local_after_load=False):
        self.loaded.append(local_path)


class StubLoader:
    def state_dict(self):
        return {"position": 7}

    def load_state_dict(self, state):
        self.restored = state


class StubCallback:
    def on_save(self, **kwargs):
        self.kwargs = kwargs


def stub_trainer(config) -> LeadTrainerSync:
    trainer = LeadTrainerSync.__new__(LeadTrainerSync)
    trainer.config = config
    trainer.use_critic = False
    trainer.actor_rollout_wg = StubWorkerGroup()
    trainer.train_dataloader = StubLoader()
    trainer.checkpoint_callback = StubCallback()
    return trainer


def lead_step(cfg, seed):
    from verl.trainer.ppo.ray_trainer import compute_advantage

    data, *_ = make_dataproto(seed=seed)
    return compute_advantage(data, adv_estimator="lead", config=cfg.algorithm).batch["advantages"]


def test_checkpoint_resume_gives_the_advantages_of_an_uninterrupted_run(tmp_path):
    cfg = compose_config(
        f"trainer.default_local_dir={tmp_path}",
        "trainer.resume_mode=auto",
        "algorithm.lead.bmax=3000",
        "algorithm.lead.beta=0.5",
    )
    trainer = stub_trainer(cfg)
    for step in (1, 2):
        lead_step(cfg, seed=step)
    trainer.global_steps = 2
    trainer._save_checkpoint()
    assert (tmp_path / "latest_checkpointed_iteration.txt").read_text() == "2"
    saved = json.loads((tmp_path / "global_step_2" / STATE_FILE).read_text())
    assert saved["methods"]["lead"]["step"] == 2 and saved["methods"]["lead"]["initialized"]
    uninterrupted = lead_step(cfg, seed=3)

    STORE.reset()
    resumed = stub_trainer(cfg)
    resumed._load_checkpoint()
    assert resumed.global_steps == 2 and resumed.train_dataloader.restored == {"position": 7}
    assert STORE.methods["lead"].state_dict() == saved["methods"]["lead"]
    assert torch.equal(lead_step(cfg, seed=3), uninterrupted)
    assert STORE.pop_metrics()["lead/step"] == 3.0

    STORE.reset()
    fresh = lead_step(cfg, seed=3)
    assert not torch.allclose(fresh, uninterrupted)  # the restored state is what made them equal


def test_resume_from_a_checkpoint_without_state_warns(tmp_path):
    folder = tmp_path / "global_step_5"
    folder.mkdir()
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("5")
    cfg = compose_config(f"trainer.default_local_dir={tmp_path}", "trainer.resume_mode=auto")
    with pytest.warns(UserWarning, match="starts fresh"):
        stub_trainer(cfg)._load_checkpoint()


# --- entry points -----------------------------------------------------------------------------


def test_lead_train_dry_run_and_stock_main_ppo_compose_our_config():
    env = {**os.environ, "DRY_RUN": "1"}
    dry = subprocess.run(
        [sys.executable, "-m", "lead.verl_plugin.main", *SMALL_RUN, "algorithm.lead.alpha=2.0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "DRY_RUN: configuration is valid" in dry.stdout and "alpha: 2.0" in dry.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lead.verl_plugin.main", *SMALL_RUN, "algorithm.lead.beta=2"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert bad.returncode != 0 and "algorithm.lead.beta=2" in bad.stderr


@pytest.mark.parametrize("override", ["+algorithm.lead_alpha=2.0", "algorithm.lead_alpha=2.0"])
def test_lead_train_refuses_the_release_knob_names_with_the_new_key(override):
    done = subprocess.run(
        [sys.executable, "-m", "lead.verl_plugin.main", *SMALL_RUN, override],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DRY_RUN": "1"},
        cwd=REPO,
    )
    assert done.returncode != 0 and "DRY_RUN: configuration is valid" not in done.stdout
    assert done.stderr.splitlines()[-1] == (
        "lead-train: error: algorithm.lead_alpha is the paper release's name of a LEAD knob, which this package does "
        "not read: use algorithm.lead.alpha=2.0"
    )


def test_a_length_knob_at_or_above_the_cap_warns_only_where_it_silences_the_length_reward():
    with pytest.warns(
        UserWarning,
        match=r"algorithm.grpo_len_threshold.threshold=2000 is not below the response cap "
        r"data.max_response_length=2000",
    ):
        check_config(compose_config("algorithm.adv_estimator=grpo_len_threshold", "data.max_response_length=2000"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message="Disabled critic")
        # The soft ramp still rewards shorter responses when its end lies beyond the cap; the step
        # modes ignore soft_max.
        for mode in ("soft", "conditioned"):
            check_config(
                compose_config(
                    "algorithm.adv_estimator=grpo_len_threshold",
                    "data.max_response_length=2000",
                    f"algorithm.grpo_len_threshold.mode={mode}",
                    "algorithm.grpo_len_threshold.threshold=1500",
                )
            )


def test_every_method_runs_through_verls_compute_advantage_with_its_yaml_block():
    from verl.trainer.ppo.ray_trainer import compute_advantage

    cfg = compose_config()
    for name in register_estimators():
        data, scores, mask, uids = make_dataproto(seed=11)
        if getattr(load_methods()[name], "needs_prompt_keys", False):
            with pytest.raises(ValueError, match="prompt_keys"):
                compute_advantage(data, adv_estimator=name, config=cfg.algorithm)
            STORE.set_prompt_keys([int(u.split("-")[1]) for u in uids])
        adv = compute_advantage(data, adv_estimator=name, config=cfg.algorithm).batch["advantages"]
        assert adv.shape == mask.shape and torch.isfinite(adv).all(), name
        assert (adv[mask == 0] == 0).all(), name
        metrics = STORE.pop_metrics()
        assert metrics and all(k.startswith(f"{name}/") and math.isfinite(v) for k, v in metrics.items()), name


def test_unknown_estimator_fails_at_start_up():
    with pytest.raises(ValueError, match="adv_estimator='leed' is not a registered advantage estimator"):
        validate_run_config(compose_config("algorithm.adv_estimator=leed"))


# --- padding rows, bad scores and refused combinations -----------------------------------------


def with_padding(scores, mask, uids, num_pad: int):
    """The batch as verl's upsample_batch_to_divisible_size leaves it: padding rows with an
    all-zero response mask and reward and one shared ``pad...`` uid, here interleaved."""
    total = scores.shape[0] + num_pad
    real_rows = torch.randperm(total, generator=torch.Generator().manual_seed(5))[: scores.shape[0]].sort().values
    padded_scores = torch.zeros(total, scores.shape[1])
    padded_mask = torch.zeros(total, mask.shape[1], dtype=mask.dtype)
    padded_scores[real_rows], padded_mask[real_rows] = scores, mask
    padded_uids = np.array(["pad0123abcd"] * total, dtype=object)
    padded_uids[real_rows.numpy()] = uids
    return padded_scores, padded_mask, padded_uids, real_rows


@pytest.mark.parametrize("name", sorted(set(load_methods()) - {"grpo"}))
def test_padding_rows_take_no_part_and_get_zero_advantage(name):
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    register_estimators()
    cfg = compose_config("algorithm.lead.bmax=3000", "algorithm.gdpo_static.bmax=3000").algorithm
    estimator = get_adv_estimator_fn(name)
    needs_keys = getattr(load_methods()[name], "needs_prompt_keys", False)
    runs = {}
    for padded in (False, True):
        STORE.reset()
        history = []
        for step in range(3):
            scores, mask, uids = make_batch(6, 4, 3000, seed=20 + step, min_len=100)
            keys = [int(u.split("-")[1]) for u in uids]
            if padded:
                scores, mask, uids, real_rows = with_padding(scores, mask, uids, num_pad=8)
                full_keys = [-1] * scores.shape[0]
                for row, key in zip(real_rows.tolist(), keys):
                    full_keys[row] = key
                keys = full_keys
            else:
                real_rows = torch.arange(scores.shape[0])
            if needs_keys:
                STORE.set_prompt_keys(keys)
            adv, _ = estimator(
                token_level_rewards=scores, response_mask=mask, index=np.asarray(uids, dtype=object), config=cfg
            )
            pad_rows = torch.ones(scores.shape[0], dtype=torch.bool)
            pad_rows[real_rows] = False
            assert (adv[pad_rows] == 0).all()
            history.append((adv[real_rows], STORE.pop_metrics()))
        runs[padded] = (history, json.dumps(STORE.state_dict()))
    (plain, plain_state), (padded, padded_state) = runs[False], runs[True]
    for (want, want_metrics), (got, got_metrics) in zip(plain, padded):
        assert torch.equal(got, want), name
        assert got_metrics == want_metrics, name
    assert padded_state == plain_state


def test_a_batch_of_padding_only_is_an_error():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    register_estimators()
    with pytest.raises(ValueError, match="every one of the 4 rows has an empty response mask"):
        get_adv_estimator_fn("lead")(
            token_level_rewards=torch.zeros(4, 5),
            response_mask=torch.zeros(4, 5, dtype=torch.long),
            index=np.array(["pad1"] * 4, dtype=object),
            config=compose_config().algorithm,
        )


def test_non_finite_reward_names_rows_and_uids_and_leaves_the_state_alone():
    from verl.trainer.ppo.ray_trainer import compute_advantage

    cfg = compose_config("algorithm.lead.bmax=3000")
    data, *_ = make_dataproto(seed=0)
    compute_advantage(data, adv_estimator="lead", config=cfg.algorithm)
    before = json.dumps(STORE.state_dict())
    data, scores, mask, uids = make_dataproto(seed=1)
    last = mask.sum(-1) - 1
    data.batch["token_level_rewards"][0, last[0]] = float("nan")
    data.batch["token_level_rewards"][3, last[3]] = float("inf")
    with pytest.raises(ValueError) as err:
        compute_advantage(data, adv_estimator="lead", config=cfg.algorithm)
    assert "2 of 16 rollouts have a non-finite score" in str(err.value)
    assert repr(uids[0]) in str(err.value) and repr(uids[3]) in str(err.value)
    assert json.dumps(STORE.state_dict()) == before


@pytest.mark.parametrize("estimator", ["lead", "laser"])
def test_rollout_rejection_sampling_is_refused_naming_the_key(estimator):
    with pytest.raises(
        ValueError,
        match=r"algorithm\.rollout_correction\.rollout_rs='seq_mean_k3' is incompatible "
        rf"with adv_estimator={estimator}",
    ):
        validate_run_config(
            compose_config(
                f"algorithm.adv_estimator={estimator}", "algorithm.rollout_correction.rollout_rs=seq_mean_k3"
            )
        )
    validate_run_config(
        compose_config(f"algorithm.adv_estimator={estimator}", "algorithm.rollout_correction.rollout_is=token")
    )


@pytest.mark.parametrize(
    "override, setting",
    [
        ("trainer.v1.trainer_mode=sync", "trainer.v1.trainer_mode=sync"),
        ("trainer.v1.trainer_mode=colocate_async", "trainer.v1.trainer_mode=colocate_async"),
        ("trainer.use_v1=false", "trainer.use_v1=false"),
    ],
)
def test_stateful_methods_need_the_lead_sync_trainer(override, setting):
    for name in ("lead", "hapo", "laser_d", "truncation", "kimi_len"):
        with pytest.raises(
            ValueError,
            match=rf"adv_estimator={name} keeps state from step to step, which "
            rf"{setting} neither.*trainer\.v1\.trainer_mode=lead_sync",
        ):
            validate_run_config(compose_config(f"algorithm.adv_estimator={name}", override))
    with pytest.warns(UserWarning, match=rf"adv_estimator=laser with {setting}: its laser/\* metrics are not logged"):
        validate_run_config(compose_config("algorithm.adv_estimator=laser", override))
    validate_run_config(compose_config("algorithm.adv_estimator=grpo", override))  # verl's own: not ours to judge


REWARD = [
    "reward.custom_reward_function.path=pkg://lead.rewards.math",
    "reward.custom_reward_function.name=compute_score",
]


def test_reward_levels_other_than_one_zero_need_the_indicator_knob_and_a_separating_threshold():
    plus_minus = [
        *REWARD,
        "+reward.custom_reward_function.reward_kwargs.correct_reward=1.0",
        "+reward.custom_reward_function.reward_kwargs.incorrect_reward=-1.0",
    ]
    with pytest.raises(
        ValueError,
        match=r"correct_reward=1.0 and incorrect_reward=-1.0.*"
        r"algorithm\.lead\.indicator_stats=true",
    ):
        validate_run_config(compose_config(*plus_minus, "algorithm.lead.correct_threshold=0.0"))
    validate_run_config(
        compose_config(*plus_minus, "algorithm.lead.correct_threshold=0.0", "algorithm.lead.indicator_stats=true")
    )
    with pytest.raises(ValueError, match=r"algorithm\.laser\.correct_threshold=1\.5 does not separate"):
        validate_run_config(
            compose_config(*REWARD, "algorithm.adv_estimator=laser", "algorithm.laser.correct_threshold=1.5")
        )
    validate_run_config(compose_config(*REWARD))  # the default 1/0 reward and threshold 0.5


def test_a_new_method_module_gets_its_hydra_block_and_verl_estimator(tmp_path):
    from tests.test_methods_common import THROWAWAY

    (tmp_path / "throwaway.py").write_text(THROWAWAY)
    code = f"""
import lead.core.methods as methods
methods.__path__.append({str(tmp_path)!r})
from hydra import compose, initialize_config_module
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from lead.core.knobs import cap_knob
from lead.verl_plugin.algo_config import validate_run_config
with initialize_config_module("lead.verl_plugin.config", version_base=None):
    cfg = compose("lead_trainer", overrides=["algorithm.adv_estimator=throwaway", "algorithm.throwaway.cap=1500"])
validate_run_config(cfg)
print(dict(cfg.algorithm.throwaway), cap_knob("throwaway"), get_adv_estimator_fn("throwaway").__name__)
"""
    done = run_python(code, HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "{'correct_threshold': 0.5, 'cap': 1500, 'epsilon': 1e-06} cap compute_throwaway_advantage" in done.stdout

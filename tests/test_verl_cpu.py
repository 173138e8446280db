"""The CPU backend's pieces, without Ray: registration, the ``device=cpu`` group, the ``hfcpu``
rollout server, the offline model and data, ``lead-train``'s CPU arguments.

verl's real loop on the CPU runs in ``test_verl_cpu_e2e.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("verl", reason="verl==0.9.1 is a declared dependency; install the project first")

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lead.verl_plugin import cpu
from lead.verl_plugin.cpu import assets
from lead.verl_plugin.main import cpu_arguments, cpu_settings_report, override_key
from lead.verl_plugin.trainer import replay_poll_interval

REPO = Path(__file__).resolve().parents[1]

REGISTRIES = """
import json, verl
from verl.plugin.platform import PlatformRegistry
from verl.workers.engine.base import EngineRegistry
from verl.workers.rollout.base import _ROLLOUT_REGISTRY
from verl.workers.rollout.replica import RolloutReplicaRegistry
engines = EngineRegistry._engines.get("language_model", {})
print(json.dumps({
    "platforms": sorted(PlatformRegistry.registered_names()),
    "engines": sorted(str(k) for b in engines.values() for k in b),
    "rollouts": sorted(n for n, _ in _ROLLOUT_REGISTRY),
    "replicas": sorted(RolloutReplicaRegistry._registry),
    "cpu_modules": sorted(m for m in __import__("sys").modules if m.startswith("lead.verl_plugin.cpu.")),
}))
"""


def registries(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "DEVICE")}
    out = subprocess.run(
        [sys.executable, "-c", REGISTRIES], capture_output=True, text=True, timeout=300, env={**clean, **env}, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cpu_backend_is_registered_only_in_cpu_mode():
    gpu = registries()
    assert "cpu" not in gpu["platforms"]
    assert "cpu" not in gpu["engines"]
    assert "hfcpu" not in gpu["rollouts"] and "hfcpu" not in gpu["replicas"]
    assert gpu["cpu_modules"] == []
    on = registries(VERL_PLATFORM="cpu")
    assert "cpu" in on["platforms"] and "cpu" in on["engines"]
    assert "hfcpu" in on["rollouts"] and "hfcpu" in on["replicas"]
    # The rollout's module (transformers generate) loads only when verl asks for the rollout.
    assert "lead.verl_plugin.cpu.rollout" not in on["cpu_modules"]


def test_device_switch_rejects_bad_values(monkeypatch):
    monkeypatch.setenv("DEVICE", "tpu")
    with pytest.raises(ValueError, match="DEVICE='tpu'"):
        cpu.select_from_env()
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("VERL_PLATFORM", "huawei")
    with pytest.raises(ValueError, match="VERL_PLATFORM='huawei'"):
        cpu.select_from_env()
    monkeypatch.delenv("VERL_PLATFORM")
    assert cpu.select_from_env() and os.environ["VERL_PLATFORM"] == "cpu"


def test_device_group_alone_selects_cpu_mode_and_contradictions_fail(cpu_cache, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "DEVICE", "BASE_MODEL", "DATA_DIR")}

    def lead_train(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "lead.verl_plugin.main", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **extra},
            cwd=tmp_path,
        )

    bad = lead_train("device=cpu", DEVICE="gpu")
    assert bad.returncode != 0 and "device=cpu contradicts DEVICE='gpu'" in bad.stderr
    dry = lead_train("device=cpu", DRY_RUN="1", LEAD_CACHE=str(cpu_cache))
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "CPU mode (DEVICE=cpu)" in dry.stdout and "DRY_RUN: configuration is valid" in dry.stdout
    assert f"path: {cpu_cache / assets.MODEL_VERSION}" in dry.stdout


def compose_cpu(*overrides: str):
    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return compose("lead_trainer", overrides=list(overrides))


def test_device_group_overrides_the_base_and_command_line_overrides_win():
    base = compose_cpu()
    assert OmegaConf.is_missing(base.actor_rollout_ref.rollout, "name") and base.algorithm.lead.bmax == 8000
    on = compose_cpu("device=cpu")
    assert on.actor_rollout_ref.rollout.name == "hfcpu" and on.trainer.device == "cpu"
    assert on.actor_rollout_ref.rollout.n == 4 and on.data.max_response_length == 32
    assert on.algorithm.lead.bmax == 32 and on.actor_rollout_ref.rollout.response_length == 32
    assert on.ray_kwargs.ray_init.runtime_env.env_vars.VERL_PLATFORM == "cpu"
    assert on.trainer.v1.sync.replay_poll_interval < 1 and on.trainer.save_freq == 1
    # Key overrides apply after the defaults list: they beat the group, and caps follow them.
    user = compose_cpu("device=cpu", "actor_rollout_ref.rollout.n=2", "data.max_response_length=48")
    assert user.actor_rollout_ref.rollout.n == 2
    assert user.algorithm.lead.bmax == 48 and user.actor_rollout_ref.rollout.response_length == 48


def test_settings_report_lists_the_group_and_the_kept_overrides():
    config = compose_cpu("device=cpu", "actor_rollout_ref.rollout.n=2")
    report = cpu_settings_report(config, {"actor_rollout_ref.rollout.n"})
    scaled, kept = report.split("kept from your overrides:")
    assert "actor_rollout_ref.rollout.name = hfcpu" in scaled and "algorithm.lead.lstar_floor = 4.0" in scaled
    assert "actor_rollout_ref.rollout.n = 2" in kept and "rollout.n = " not in scaled


def test_cpu_config_passes_every_check():
    from lead.verl_plugin.main import check_config

    for estimator in ("lead", "hapo", "grpo", "laser_d", "gdpo_static", "truncation"):
        check_config(
            compose_cpu(
                "device=cpu",
                f"algorithm.adv_estimator={estimator}",
                "data.train_files=x.parquet",
                "data.val_files=y.parquet",
            )
        )


def test_replay_poll_interval_is_checked():
    config = compose_cpu("device=cpu")
    assert replay_poll_interval(config) == config.trainer.v1.sync.replay_poll_interval
    assert replay_poll_interval(compose_cpu()) == 2.0
    for bad in ("0", "-1", "'fast'"):
        with pytest.raises(ValueError, match="replay_poll_interval"):
            replay_poll_interval(compose_cpu(f"trainer.v1.sync.replay_poll_interval={bad}"))


def test_cpu_arguments_add_the_group_model_and_data_unless_given(cpu_cache, monkeypatch):
    monkeypatch.delenv("BASE_MODEL", raising=False)
    monkeypatch.delenv("DATA_DIR", raising=False)
    args, notes = cpu_arguments(["trainer.total_training_steps=3"])
    keys = {override_key(a): a.split("=", 1)[-1] for a in args}
    assert args[0] == "device=cpu" and args[-1] == "trainer.total_training_steps=3"
    assert Path(keys["actor_rollout_ref.model.path"]) == cpu_cache / assets.MODEL_VERSION
    assert Path(keys["data.train_files"]).is_file() and Path(keys["data.val_files"]).is_file()
    assert len(notes) == 2
    given, _ = cpu_arguments(["actor_rollout_ref.model.path=/m", "data.train_files=/t.parquet", "device=cpu"])
    assert [override_key(a) for a in given] == [
        "data.val_files",
        "actor_rollout_ref.model.path",
        "data.train_files",
        "device",
    ]
    monkeypatch.setenv("BASE_MODEL", "/m")
    monkeypatch.setenv("DATA_DIR", "/d")
    assert cpu_arguments([])[0] == ["device=cpu"]


def test_generated_data_follow_the_schema_and_are_graded(cpu_cache):
    import pyarrow.parquet as pq

    from lead.rewards.math import compute_score

    folder = assets.ensure_data()
    assert assets.ensure_data() == folder
    train = pq.read_table(folder / "train.parquet").to_pylist()
    val = pq.read_table(folder / "test.parquet").to_pylist()
    assert len(train) == 64 and len(val) == 16
    assert not {r["prompt"][0]["content"] for r in train} & {r["prompt"][0]["content"] for r in val}
    row = train[0]
    assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    gold = row["reward_model"]["ground_truth"]
    assert compute_score(row["data_source"], f"so \\boxed{{{gold}}}", gold)["acc"]
    assert not compute_score(row["data_source"], f"\\boxed{{{(int(gold) + 1) % 10}}}", gold)["acc"]
    with pytest.raises(ValueError, match="n_train"):
        assets.ensure_data(cpu_cache / "bad", n_train=200, n_val=16)


def test_tiny_model_encodes_math_and_has_a_chat_template(cpu_cache):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets.ensure_model(), local_files_only=True)
    text = r"Let $x^2 = \frac{1}{2}$; what is √x? \boxed{}"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1+1?"}], add_generation_prompt=True, tokenize=False
    )
    assert chat == "<|user|>1+1?<|end|><|assistant|>"
    assert tokenizer.eos_token == assets.EOS


def test_hfcpu_server_batches_requests_and_honours_sampling(cpu_cache):
    import torch

    from lead.verl_plugin.cpu.rollout import BATCH_WINDOW_S, HFCPUServer, weights_checksum

    config = compose_cpu("device=cpu", f"actor_rollout_ref.model.path={assets.ensure_model()}")
    server = HFCPUServer(config.actor_rollout_ref.rollout, config.actor_rollout_ref.model)
    tokenizer = server.model_config.tokenizer
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    sample = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    greedy = {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    top1 = {"temperature": 1.0, "top_p": 1.0, "top_k": 1, "logprobs": False}

    async def run():
        torch.manual_seed(0)
        requests = [server.generate(ids, dict(sample), f"s{i}") for i in range(6)]
        requests += [server.generate(ids, dict(greedy), f"g{i}") for i in range(2)]
        requests += [server.generate(ids[-40:], {**top1, "max_tokens": 5}, "t")]
        return await asyncio.gather(*requests)

    outputs = asyncio.run(run())
    assert sorted(server.batch_sizes) == [1, 2, 6]
    eos = set(server.eos_ids)
    for out in outputs[:8]:
        assert 1 <= len(out.token_ids) <= config.actor_rollout_ref.rollout.response_length
        assert len(out.log_probs) == len(out.token_ids) and max(out.log_probs) <= 0
        assert not eos & set(out.token_ids[:-1])
    assert any(out.token_ids[-1] in eos for out in outputs[:8])
    assert len({tuple(o.token_ids) for o in outputs[:6]}) > 1
    # Greedy is deterministic, and top-k 1 sampling is greedy.
    assert outputs[6].token_ids == outputs[7].token_ids
    assert len(outputs[8].token_ids) <= 5 and outputs[8].log_probs is None
    shifted = {k: v * 1.5 for k, v in server.model.state_dict().items()}
    before = weights_checksum(server.model)
    info = server.load_weights(shifted, global_steps=3)
    assert info["version"] == 1 and info["global_steps"] == 3 and info["checksum"] != before
    assert info["requests"] == 9 and info["largest_batch"] == 6
    with pytest.raises(KeyError, match="unknown names"):
        server.load_weights({"not.a.weight": torch.zeros(1)})

    # verl's top_k=-1 means no top-k even when the model's own generation_config sets one.
    server.model.generation_config.top_k = 1

    async def unrestricted():
        torch.manual_seed(0)
        return await asyncio.gather(*(server.generate(ids, dict(sample), f"u{i}") for i in range(6)))

    assert len({tuple(o.token_ids) for o in asyncio.run(unrestricted())}) > 1

    # A batcher that stops hands that to the requests it holds instead of leaving them waiting.
    async def batcher_stops():
        pending = [asyncio.ensure_future(server.generate(ids, dict(sample), f"c{i}")) for i in range(2)]
        await asyncio.sleep(BATCH_WINDOW_S / 4)
        server._batcher.cancel()
        return await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)

    assert [type(r) for r in asyncio.run(batcher_stops())] == [asyncio.CancelledError] * 2

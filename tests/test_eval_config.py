"""Evaluation settings that need no model: presets and overrides, model argument resolution,
the verl merger call."""

from __future__ import annotations

import json
import sys

import pytest

from lead.eval.models import ModelError, merge_command, model_slug, resolve_model, verl_checkpoint_backend
from lead.eval.presets import PRESETS, Sampling, parse_n, resolve_sampling
from lead.eval.runner import sample_seed

LEAD_FIVE = ["math500", "aime24", "aime25", "amc23", "olympiadbench"]


def test_sober_preset_matches_the_paper_protocol():
    s = resolve_sampling("sober", LEAD_FIVE + ["minerva"])
    assert {b: x.n for b, x in s.items()} == {
        "math500": 3,
        "aime24": 10,
        "aime25": 10,
        "amc23": 10,
        "olympiadbench": 3,
        "minerva": 3,
    }
    assert {(x.temperature, x.top_p, x.top_k, x.max_tokens) for x in s.values()} == {(0.8, 0.9, 0, 32768)}


def test_deepseek_and_laser_presets():
    d = resolve_sampling("deepseek", LEAD_FIVE)
    assert {(x.temperature, x.top_p) for x in d.values()} == {(0.6, 0.95)}
    assert d["aime24"].n == 64 and d["math500"].n == 4
    lz = resolve_sampling("laser", LEAD_FIVE)
    assert {(x.temperature, x.top_p, x.n, x.max_tokens) for x in lz.values()} == {(0.6, 0.95, 16, 32768)}
    assert set(PRESETS) == {"sober", "deepseek", "laser"}


def test_every_value_can_be_overridden():
    s = resolve_sampling(
        "sober", ["math500", "aime24"], n={"aime24": 4}, temperature=0.0, top_p=0.5, top_k=20, max_tokens=4096
    )
    assert s["math500"] == Sampling(n=3, temperature=0.0, top_p=0.5, top_k=20, max_tokens=4096)
    assert s["aime24"].n == 4
    assert {x.n for x in resolve_sampling("laser", ["math500", "aime24"], n=2).values()} == {2}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="greedy"), "unknown preset 'greedy'"),
        (dict(temperature=-0.1), "temperature=-0.1"),
        (dict(top_p=0.0), "top_p=0.0"),
        (dict(top_k=-1), "top_k=-1"),
        (dict(max_tokens=0), "max_tokens=0"),
        (dict(n=0), "n=0"),
        (dict(n={"aime25": 3}), "not being evaluated"),
    ],
)
def test_bad_sampling_values_are_named(kwargs, message):
    preset = kwargs.pop("preset", "sober")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        resolve_sampling(preset, ["math500"], **kwargs)


def test_parse_n():
    assert parse_n(None) is None
    assert parse_n("5") == 5
    assert parse_n("math500=3, aime24=10") == {"math500": 3, "aime24": 10}
    with pytest.raises(ValueError, match="'three'"):
        parse_n("three")
    with pytest.raises(ValueError, match="'aime24=x'"):
        parse_n("math500=3,aime24=x")


def test_sample_seeds_are_stable_and_distinct():
    seeds = {sample_seed(0, b, str(p), j) for b in ("math500", "aime24") for p in range(50) for j in range(4)}
    assert len(seeds) == 400
    assert sample_seed(0, "math500", "7", 1) == sample_seed(0, "math500", "7", 1)
    assert sample_seed(1, "math500", "7", 1) != sample_seed(0, "math500", "7", 1)
    assert all(0 <= s < 2**32 for s in seeds)


def test_model_argument_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B").kind == "hub"
    with pytest.raises(ModelError, match="model path does not exist: ./missing"):
        resolve_model("./missing")
    (tmp_path / "runs").mkdir()
    # `runs/x` has the org/name shape, but runs/ is a local folder: a typo in a path, not a hub id.
    with pytest.raises(ModelError, match="model path does not exist: runs/x"):
        resolve_model("runs/x")
    local = tmp_path / "hf"
    local.mkdir()
    (local / "config.json").write_text("{}")
    assert resolve_model(str(local)).kind == "local"
    (tmp_path / "weights.bin").write_text("")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model("weights.bin")


def test_verl_checkpoint_detection_and_merge_errors(tmp_path):
    actor = tmp_path / "exp" / "global_step_40" / "actor"
    actor.mkdir(parents=True)
    assert verl_checkpoint_backend(actor) is None
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 1}))
    assert verl_checkpoint_backend(actor) == "fsdp"
    with pytest.raises(ModelError, match="no huggingface/config.json"):
        resolve_model(str(actor.parent))
    mega = tmp_path / "mega"
    (mega / "model" / "dist_ckpt").mkdir(parents=True)
    assert verl_checkpoint_backend(mega) == "megatron"
    assert model_slug(str(actor)) == "exp-global_step_40"
    assert model_slug("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "DeepSeek-R1-Distill-Qwen-1.5B"


def test_merge_command_is_verls_cli(tmp_path):
    cmd = merge_command(tmp_path / "actor", tmp_path / "out")
    assert cmd == [
        sys.executable,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        "fsdp",
        "--local_dir",
        str(tmp_path / "actor"),
        "--target_dir",
        str(tmp_path / "out"),
    ]
    assert merge_command(tmp_path, tmp_path, "megatron", trust_remote_code=True)[4:6] == ["--backend", "megatron"]
    assert merge_command(tmp_path, tmp_path, trust_remote_code=True)[-1] == "--trust-remote-code"
    with pytest.raises(ModelError, match="'deepspeed'"):
        merge_command(tmp_path, tmp_path, "deepspeed")

"""The flash-attn launch check, on verl 0.9.1's own flattened trainer config (no verl import, no GPU)."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lead.verl_plugin.preflight import (
    FLASH_ATTN_INSTALL,
    FlashAttentionMissing,
    attention_choice,
    flash_attn_uses,
    prepare_attention,
)

ATTN = "actor_rollout_ref.model.override_config.attn_implementation"
GROUP_DIR = Path(__file__).resolve().parents[1] / "lead" / "verl_plugin" / "config"


def verl_config(*overrides: str):
    """verl's full PPO config as Hydra hands it over (struct mode), plus the launch scripts' settings."""
    verl_dir = Path(importlib.util.find_spec("verl").submodule_search_locations[0])
    config = OmegaConf.load(verl_dir / "trainer" / "config" / "_generated_ppo_trainer.yaml")
    config.merge_with(OmegaConf.from_dotlist(["algorithm.adv_estimator=grpo", *overrides]))
    OmegaConf.set_struct(config, True)
    return config


def missing(name: str):
    raise ImportError(f"/x/flash_attn_2_cuda.so: undefined symbol: _ZN3c10 (importing {name})")


def run(config, importer=missing, environ=None, **kw):
    stream = io.StringIO()
    applied = prepare_attention(config, import_module=importer, environ=environ or {}, stream=stream, **kw)
    return applied, stream.getvalue()


def test_default_gpu_run_without_flash_attn_stops_with_one_line_naming_the_settings_and_both_ways_out():
    config = verl_config("actor_rollout_ref.model.use_remove_padding=true")
    with pytest.raises(FlashAttentionMissing) as info:
        run(config, uses_critic=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"{ATTN}=flash_attention_2 (verl's default)" in message
    assert "actor_rollout_ref.model.use_remove_padding=true" in message
    assert "undefined symbol" in message
    assert FLASH_ATTN_INSTALL in message and "attention=sdpa" in message and "LEAD_ATTENTION=sdpa" in message
    assert OmegaConf.select(config, ATTN) is None


def test_remove_padding_alone_needs_flash_attn():
    config = verl_config(f"{ATTN}=sdpa", "actor_rollout_ref.model.use_remove_padding=true")
    with pytest.raises(
        FlashAttentionMissing,
        match=r"\(actor_rollout_ref.model.use_remove_padding=true, "
        r"actor_rollout_ref.actor.use_remove_padding=true\)",
    ):
        run(config, uses_critic=False)


def test_run_that_uses_no_flash_attn_or_runs_on_cpu_passes_unchanged():
    sdpa_padded = verl_config(f"{ATTN}=sdpa", "actor_rollout_ref.model.use_remove_padding=false")
    assert run(sdpa_padded, uses_critic=False) == ([], "")
    cpu = verl_config("trainer.device=cpu")
    assert run(cpu, uses_critic=False) == ([], "")
    assert OmegaConf.select(cpu, ATTN) is None and cpu.actor_rollout_ref.model.use_remove_padding is True


def test_config_only_check_applies_the_choice_without_importing():
    config = verl_config()
    assert run(config, check_import=False, uses_critic=False) == ([], "")
    applied, _ = run(config, check_import=False, environ={"LEAD_ATTENTION": "sdpa"}, uses_critic=False)
    assert f"{ATTN}=sdpa" in applied and OmegaConf.select(config, ATTN) == "sdpa"


def test_installed_flash_attn_passes_and_the_module_imported_is_bert_padding():
    imported = []
    config = verl_config()
    assert run(config, importer=lambda name: imported.append(name), uses_critic=False) == ([], "")
    assert imported == ["flash_attn.bert_padding"]


def test_critic_counts_only_when_the_run_uses_one():
    config = verl_config(f"{ATTN}=sdpa", "actor_rollout_ref.model.use_remove_padding=false")
    assert run(config, uses_critic=False) == ([], "")
    with pytest.raises(FlashAttentionMissing, match=r"critic.model.override_config.attn_implementation"):
        run(config, uses_critic=True)


@pytest.mark.parametrize("how", ["group", "env"])
def test_sdpa_choice_switches_every_model_over_the_scripts_overrides_and_says_so(how):
    overrides = ["actor_rollout_ref.model.use_remove_padding=true"]
    config = verl_config(*overrides, *(["attention.implementation=sdpa"] if how == "group" else []))
    environ = {"LEAD_ATTENTION": "sdpa"} if how == "env" else {}
    applied, said = run(config, environ=environ, uses_critic=True)
    for root in ("actor_rollout_ref", "critic"):
        assert OmegaConf.select(config, f"{root}.model.override_config.attn_implementation") == "sdpa"
        assert OmegaConf.select(config, f"{root}.model.use_remove_padding") is False
    assert config.actor_rollout_ref.actor.use_remove_padding is False
    assert f"{ATTN}=sdpa" in applied and "critic.model.use_remove_padding=false" in applied
    assert (
        said.count("\n") == 1
        and "attention=sdpa" in said
        and "actor_rollout_ref.actor.use_remove_padding=false" in said
    )
    assert flash_attn_uses(config, ["actor_rollout_ref", "critic"]) == []


def test_unknown_choice_is_refused_naming_where_it_came_from():
    with pytest.raises(ValueError, match=r"LEAD_ATTENTION='flash'.*allowed: sdpa"):
        attention_choice(verl_config(), {"LEAD_ATTENTION": "flash"})
    with pytest.raises(ValueError, match=r"attention.implementation='eager'"):
        attention_choice(verl_config("attention.implementation=eager"), {})
    assert attention_choice(verl_config(), {"LEAD_ATTENTION": ""}) is None


def test_attention_group_file_selects_sdpa_from_a_null_default(tmp_path):
    (tmp_path / "run.yaml").write_text(
        f"hydra:\n  searchpath:\n    - file://{GROUP_DIR}\ndefaults:\n  - attention: null\n  - _self_\n"
    )
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        assert "attention" not in compose("run")
        assert compose("run", overrides=["attention=sdpa"]).attention.implementation == "sdpa"


# --- vLLM and the NVIDIA driver ------------------------------------------------------------------


def test_vllm_rollout_without_vllm_names_the_environment_to_use():
    from lead.verl_plugin.preflight import vllm_missing

    vllm = verl_config("actor_rollout_ref.rollout.name=vllm")
    absent, present = (lambda name: None), (lambda name: object())
    cpu_line = vllm_missing(vllm, cpu=True, find_spec=absent)
    assert "make vllm-env" in cpu_line and ".venv-vllm/bin/python" in cpu_line and "hfcpu" in cpu_line
    assert "\n" not in cpu_line
    assert 'pip install -e ".[gpu]"' in vllm_missing(vllm, cpu=False, find_spec=absent)
    assert vllm_missing(vllm, cpu=True, find_spec=present) is None
    assert vllm_missing(verl_config("actor_rollout_ref.rollout.name=hfcpu"), cpu=True, find_spec=absent) is None


@pytest.mark.parametrize(
    "torch_cuda, driver, needed",
    [("13.0", "550.54.15", "580.65.06"), ("13.0", "580.65.05", "580.65.06"), ("12.8", "520.61.05", "525.60.13")],
)
def test_driver_older_than_torchs_cuda_gets_one_line_naming_both_and_the_fix(torch_cuda, driver, needed):
    import torch

    from lead.verl_plugin.preflight import CUDA12_ROUTE, driver_mismatch

    line = driver_mismatch(torch_cuda, driver)
    assert "\n" not in line
    assert f"driver {driver}" in line and f"older than {needed}" in line and f"CUDA {torch_cuda}" in line
    assert f"torch {torch.__version__}" in line and f"upgrade the driver to {needed}" in line
    # A CUDA 13 build on a CUDA 12 driver also gets the CUDA 12 builds as the way out.
    assert (CUDA12_ROUTE in line and "cu128" in line and "cu129" in line) == torch_cuda.startswith("13")


@pytest.mark.parametrize(
    "torch_cuda, driver",
    [
        ("13.0", "580.65.06"),
        ("13.0", "590.10.01"),
        ("12.8", "535.104.05"),
        ("12.1", "525.60.13"),
        (None, "535.104.05"),
        ("13.0", None),
    ],
)
def test_new_enough_driver_or_nothing_to_compare_passes(torch_cuda, driver):
    from lead.verl_plugin.preflight import driver_mismatch

    assert driver_mismatch(torch_cuda, driver) is None


def test_driver_version_reads_nvidia_smi_and_is_none_without_it():
    import subprocess

    from lead.verl_plugin.preflight import driver_version

    calls = []

    def smi(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="550.54.15\n550.54.15\n")

    def missing(cmd, **kw):
        raise FileNotFoundError(cmd[0])

    def failing(cmd, **kw):
        raise subprocess.CalledProcessError(9, cmd)

    assert driver_version(smi) == "550.54.15" and calls[0][0] == "nvidia-smi"
    assert driver_version(missing) is None and driver_version(failing) is None


def test_runtime_problems_check_the_driver_only_where_the_run_executes(monkeypatch):
    import subprocess

    import torch

    from lead.verl_plugin import preflight

    old = lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, stdout="535.104.05\n")  # noqa: E731
    monkeypatch.setattr(preflight, "cuda_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(preflight.subprocess, "run", old)
    # A node with an old driver: torch sees no GPU there, and the run stops before any worker.
    problems = preflight.runtime_problems(verl_config("actor_rollout_ref.rollout.name=hfcpu"))
    assert len(problems) == 1 and "driver 535.104.05" in problems[0]
    # CPU mode never asks the driver.
    assert preflight.runtime_problems(verl_config("trainer.device=cpu", "actor_rollout_ref.rollout.name=hfcpu")) == []
    # A machine without a driver and without a GPU dry-runs a GPU recipe.
    monkeypatch.setattr(preflight.subprocess, "run", lambda cmd, **kw: (_ for _ in ()).throw(FileNotFoundError()))
    assert preflight.runtime_problems(verl_config("actor_rollout_ref.rollout.name=vllm")) == []

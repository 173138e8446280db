"""Launch checks: fail in the launcher with one line, not deep inside a worker.

Three things a worker would otherwise find out late: flash-attn missing (below), vLLM missing for a
``rollout.name=vllm`` run (:func:`vllm_missing`), and an NVIDIA driver older than the CUDA release
torch was built for (:func:`driver_mismatch`).

verl loads every FSDP model with ``attn_implementation=flash_attention_2`` unless
``<model>.override_config.attn_implementation`` says otherwise, and ``use_remove_padding=true``
packs a batch's sequences into one row, which only flash-attn's variable-length kernel keeps apart.
Both need ``flash_attn`` importable on a CUDA run. :func:`prepare_attention` checks that before
anything starts, or, on the user's explicit choice (``attention=sdpa``, or ``LEAD_ATTENTION=sdpa``),
switches every model of the run to PyTorch's ``sdpa`` with padded batches and says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from omegaconf import DictConfig, OmegaConf, open_dict

ENV_VAR = "LEAD_ATTENTION"
CHOICES = ("sdpa",)
FLASH_ATTN_INSTALL = "pip install flash-attn==2.8.3 --no-build-isolation"
# verl's HFModelConfig uses this when override_config names no attn_implementation.
VERL_DEFAULT_ATTN = "flash_attention_2"


def cuda_available() -> bool:
    """Whether this machine's torch sees a GPU (a machine without one checks a GPU run's config
    but cannot hold its flash-attn)."""
    import torch

    return torch.cuda.is_available()


class FlashAttentionMissing(RuntimeError):
    """The run needs flash-attn and it cannot be imported; the message is one line."""


def attention_choice(config: DictConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The user's explicit attention choice: ``attention.implementation`` (the ``attention`` config
    group), else the ``LEAD_ATTENTION`` environment variable; None when neither is set."""
    from_config = OmegaConf.select(config, "attention.implementation", default=None)
    choice = from_config if from_config is not None else (environ.get(ENV_VAR) or None)
    if choice is not None and choice not in CHOICES:
        source = "attention.implementation" if from_config is not None else ENV_VAR
        raise ValueError(
            f"{source}={choice!r} is not an attention choice; allowed: {', '.join(CHOICES)} (or unset, for flash-attn)"
        )
    return choice


def models_in_use(config: DictConfig, uses_critic: bool | None = None) -> list[str]:
    """Config roots of the FSDP models the run loads: the actor (its reference and rollout share
    ``actor_rollout_ref.model``), and the critic when verl's ``need_critic`` says it runs."""
    if uses_critic is None:
        from verl.trainer.ppo.utils import need_critic

        uses_critic = need_critic(config)
    return ["actor_rollout_ref", "critic"] if uses_critic else ["actor_rollout_ref"]


def _remove_padding_keys(config: DictConfig, root: str) -> list[str]:
    keys = [f"{root}.model.use_remove_padding"]
    if root == "actor_rollout_ref":
        keys += [f"{root}.actor.use_remove_padding", f"{root}.ref.use_remove_padding"]
    else:
        keys.append(f"{root}.use_remove_padding")
    return [k for k in keys if OmegaConf.select(config, k, default=None) is not None]


def flash_attn_uses(config: DictConfig, roots: list[str]) -> list[str]:
    """The settings of ``roots`` that need flash-attn, as ``key=value`` strings (empty: none)."""
    uses = []
    for root in roots:
        attn_key = f"{root}.model.override_config.attn_implementation"
        attn = OmegaConf.select(config, attn_key, default=None)
        if (attn or VERL_DEFAULT_ATTN) == "flash_attention_2":
            uses.append(f"{attn_key}=flash_attention_2" + ("" if attn else " (verl's default)"))
        uses += [f"{k}=true" for k in _remove_padding_keys(config, root) if OmegaConf.select(config, k)]
    return uses


def use_sdpa(config: DictConfig, roots: list[str]) -> list[str]:
    """Set ``attn_implementation=sdpa`` and every ``use_remove_padding`` to false on ``roots``
    (in place, over any earlier override); returns the settings as ``key=value`` strings."""
    applied = []
    for root in roots:
        model = OmegaConf.select(config, f"{root}.model")
        with open_dict(model):
            if model.get("override_config") is None:
                model.override_config = {}
            with open_dict(model.override_config):
                model.override_config.attn_implementation = "sdpa"
        applied.append(f"{root}.model.override_config.attn_implementation=sdpa")
        for key in _remove_padding_keys(config, root):
            OmegaConf.update(config, key, False, merge=False)
            applied.append(f"{key}=false")
    return applied


def prepare_attention(
    config: DictConfig,
    *,
    uses_critic: bool | None = None,
    import_module: Callable[[str], Any] = importlib.import_module,
    environ: Mapping[str, str] = os.environ,
    stream: TextIO = sys.stderr,
    check_import: bool = True,
) -> list[str]:
    """Make the composed run config runnable with the attention kernels at hand, before any worker.

    - ``attention=sdpa`` (or ``LEAD_ATTENTION=sdpa``): every model in use gets ``sdpa`` and
      ``use_remove_padding=false``, one line on ``stream`` says so; returns the settings applied.
    - otherwise, on ``trainer.device=cuda``, when a model uses flash-attn (``flash_attention_2`` or
      ``use_remove_padding=true``) and ``import_module("flash_attn.bert_padding")`` fails: raises
      :class:`FlashAttentionMissing` with one line naming the settings, the import error, the
      install command and the sdpa choice. Returns [] when nothing was changed.

    Importing (not just finding) the module catches a wheel built for another torch, whose
    compiled extension fails to load with an undefined symbol. ``check_import=False`` applies the
    choice only: a dry run on a CPU machine validates a GPU run's config without flash-attn.
    """
    choice = attention_choice(config, environ)
    roots = models_in_use(config, uses_critic)
    if choice == "sdpa":
        applied = use_sdpa(config, roots)
        print(f"lead: attention=sdpa: running without flash-attn ({', '.join(applied)})", file=stream)
        return applied
    if not check_import or OmegaConf.select(config, "trainer.device", default="cuda") != "cuda":
        return []
    uses = flash_attn_uses(config, roots)
    if not uses:
        return []
    try:
        import_module("flash_attn.bert_padding")
    except ImportError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise FlashAttentionMissing(
            f"this run needs flash-attn ({', '.join(uses)}) but it cannot be imported ({reason}): "
            f'install it with `{FLASH_ATTN_INSTALL}` (docs/install.md, "CUDA node"), or run with PyTorch attention '
            f"by adding the override attention=sdpa (or setting {ENV_VAR}=sdpa)"
        ) from exc
    return []


VLLM_ENV_COMMAND = "make vllm-env"


def vllm_missing(
    config: DictConfig, cpu: bool, find_spec: Callable[[str], Any] = importlib.util.find_spec
) -> str | None:
    """One line on which environment to use when the run's rollout is vLLM and this environment has
    no vLLM; None when vLLM is not asked for or is importable."""
    if OmegaConf.select(config, "actor_rollout_ref.rollout.name", default=None) != "vllm" or find_spec("vllm"):
        return None
    if cpu:
        return (
            "actor_rollout_ref.rollout.name=vllm needs vLLM, which this environment lacks: build the vLLM "
            f"CPU environment with `{VLLM_ENV_COMMAND}` and run with PYTHON=.venv-vllm/bin/python "
            '(docs/install.md, "The vLLM lane"), or drop the override to train with the hfcpu rollout'
        )
    return (
        "actor_rollout_ref.rollout.name=vllm needs vLLM, which this environment lacks: install the GPU "
        'environment with `pip install -e ".[gpu]"` (docs/install.md, "CUDA node")'
    )


# The oldest Linux driver that runs a CUDA release of each major version (NVIDIA's CUDA
# compatibility guide: minor-version compatibility holds within a major version from this driver on).
MIN_DRIVER_FOR_CUDA_MAJOR = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
CUDA12_ROUTE = 'docs/install.md, "CUDA 12 drivers"'


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split(".") if part.isdigit())


def driver_version(run: Callable[..., Any] | None = None) -> str | None:
    """The NVIDIA driver version of this node as ``nvidia-smi`` reports it; None without a driver."""
    try:
        out = (run or subprocess.run)(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    versions = [line.strip() for line in out.splitlines() if line.strip()]
    return versions[0] if versions else None


def driver_mismatch(torch_cuda: str | None, driver: str | None) -> str | None:
    """One line when the node's driver is too old for the CUDA release torch was built for; None when
    it is new enough, or when there is no driver or no CUDA build to compare."""
    if not torch_cuda or not driver:
        return None
    major = _version_tuple(torch_cuda)[0]
    needed = MIN_DRIVER_FOR_CUDA_MAJOR.get(major)
    if needed is None or _version_tuple(driver) >= _version_tuple(needed):
        return None
    fix = f"upgrade the driver to {needed} or newer"
    if major >= 13:
        fix += f", or install torch 2.11.0's cu128 wheels and vLLM's cu129 build of 0.24.0 ({CUDA12_ROUTE})"
    return (
        f"the NVIDIA driver {driver} on this node is older than {needed}, the oldest that runs torch "
        f"{_torch_version()} built for CUDA {torch_cuda}: {fix}"
    )


def _torch_version() -> str:
    import torch

    return torch.__version__


def runtime_problems(config: DictConfig) -> list[str]:
    """What stops ``config`` from running on this machine's vLLM and driver, one line each; checked
    only where the run would execute (CPU mode, or torch sees a GPU), so that a machine without a GPU
    still dry-runs a GPU recipe."""
    cpu = OmegaConf.select(config, "trainer.device", default="cuda") == "cpu"
    driver = None if cpu else driver_version()
    if not cpu and not driver and not cuda_available():
        return []
    problems = [vllm_missing(config, cpu)]
    if not cpu:
        import torch

        problems.append(driver_mismatch(torch.version.cuda, driver))
    return [p for p in problems if p]

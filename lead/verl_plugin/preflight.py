"""Launch check for flash-attn: fail in the launcher with one line, not deep inside a worker.

verl loads every FSDP model with ``attn_implementation=flash_attention_2`` unless
``<model>.override_config.attn_implementation`` says otherwise, and ``use_remove_padding=true``
packs a batch's sequences into one row, which only flash-attn's variable-length kernel keeps apart.
Both need ``flash_attn`` importable on a CUDA run. :func:`prepare_attention` checks that before
anything starts, or, on the user's explicit choice (``attention=sdpa``, or ``LEAD_ATTENTION=sdpa``),
switches every model of the run to PyTorch's ``sdpa`` with padded batches and says so.
"""

from __future__ import annotations

import importlib
import os
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
        raise ValueError(f"{source}={choice!r} is not an attention choice; allowed: {', '.join(CHOICES)} "
                         "(or unset, for flash-attn)")
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
            f"install it with `{FLASH_ATTN_INSTALL}` (README, Install), or run with PyTorch attention "
            f"by adding the override attention=sdpa (or setting {ENV_VAR}=sdpa)"
        ) from exc
    return []

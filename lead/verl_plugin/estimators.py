"""verl advantage estimators for every method of :mod:`lead.core.methods`.

verl calls an estimator with ``token_level_rewards`` ``[B, L]``, ``response_mask`` ``[B, L]``,
``index`` (the per-step prompt ``uid`` of each row) and ``config`` (``config.algorithm``). The
adapter reduces them to what a method needs (summed score and token length per rollout),
calls the method, and broadcasts its per-rollout advantage over the response tokens. Methods
are looked up by the estimator name, and their knobs come from ``algorithm.<name>``.

Method instances live in :data:`STORE` for the life of the process (the ``TaskRunnerV1`` actor,
where verl computes advantages), because LEAD's controller and some baselines carry state from
step to step. The trainer subclass drains the metrics the estimators leave there, hands them
the prompts' stable dataset ids, and checkpoints their state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lead.core.methods import build_method, get_method, load_methods
from lead.core.rollouts import RolloutBatch

logger = logging.getLogger(__name__)


def method_block(algorithm_config: Any, name: str) -> dict[str, Any]:
    """The ``algorithm.<name>`` block as a plain dict ({} when absent); accepts an omegaconf
    node, verl's ``AlgoConfig`` dataclass, or a dict."""
    if algorithm_config is None:
        return {}
    block = algorithm_config.get(name) if hasattr(algorithm_config, "get") else getattr(algorithm_config, name, None)
    if block is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(block, DictConfig):
            block = OmegaConf.to_container(block, resolve=True)
    except ImportError:
        pass
    if not isinstance(block, Mapping):
        raise ValueError(f"algorithm.{name} must be a mapping of knobs, got {block!r}")
    return {k: v for k, v in block.items() if k != "_target_"}


class MethodStore:
    """Process-wide home of the method instances, their pending metrics and prompt ids."""

    def __init__(self) -> None:
        self.methods: dict[str, Any] = {}
        self._metrics: dict[str, float] = {}
        self._prompt_keys: list[Any] | None = None

    def get(self, name: str, block: Mapping[str, Any]) -> Any:
        """The instance of ``name`` configured by ``block``. A changed configuration (e.g. a
        resumed run with new knobs) rebuilds the method but keeps its state."""
        current = self.methods.get(name)
        # The instance knows its config class; the registry lookup rescans the methods package.
        config_cls = get_method(name).config_cls if current is None else type(current.config)
        cfg = config_cls.from_mapping(block)
        if current is None or current.config != cfg:
            fresh = build_method(name, cfg)
            if current is not None:
                fresh.load_state_dict(current.state_dict())
            self.methods[name] = current = fresh
        return current

    def add_metrics(self, metrics: Mapping[str, float]) -> None:
        self._metrics.update(metrics)

    def pop_metrics(self) -> dict[str, float]:
        metrics, self._metrics = self._metrics, {}
        return metrics

    def set_prompt_keys(self, keys: list[Any] | None) -> None:
        """Stable prompt ids (``extra_info.index``) of the rows of the next advantage call."""
        self._prompt_keys = keys

    def take_prompt_keys(self, num_rows: int) -> list[Any] | None:
        keys, self._prompt_keys = self._prompt_keys, None
        if keys is not None and len(keys) != num_rows:
            raise ValueError(f"got {len(keys)} prompt ids for {num_rows} rollouts")
        return keys

    def state_dict(self) -> dict[str, Any]:
        return {name: method.state_dict() for name, method in self.methods.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]], algorithm_config: Any) -> None:
        for name, method_state in state.items():
            self.get(name, method_block(algorithm_config, name)).load_state_dict(method_state)

    def reset(self) -> None:
        self.__init__()


STORE = MethodStore()


def compute_method_advantage(
    name: str, token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any = None, config: Any = None
) -> torch.Tensor:
    """Advantages ``[B, L]`` of method ``name`` for one verl batch (see the module docstring)."""
    if index is None:
        raise ValueError(f"advantage estimator {name!r} groups rollouts by prompt and needs the batch's 'uid' column")
    if config is not None and bool(config.get("use_kl_in_reward", False)):
        raise ValueError(
            f"algorithm.use_kl_in_reward=True is incompatible with adv_estimator={name}: the estimator reads "
            "correctness from token_level_rewards, which then include the KL penalty. Use the actor's KL loss "
            "(actor_rollout_ref.actor.use_kl_loss=True) instead."
        )
    method = STORE.get(name, method_block(config, name))
    # verl puts the outcome reward on the last valid token and zeros elsewhere, so a plain row
    # sum (what verl's own outcome estimators do) is the masked sum without another [B, L] pass.
    scores, lengths = token_level_rewards.sum(-1), response_mask.sum(-1)
    prompt_keys = STORE.take_prompt_keys(response_mask.shape[0])
    if bool(lengths.min() > 0):
        adv, metrics = method.advantages(RolloutBatch(scores, lengths, index, prompt_keys))
    else:
        adv, metrics = _advantages_of_real_rows(name, method, scores, lengths, index, prompt_keys, lengths > 0)
    STORE.add_metrics(metrics)
    return adv.to(token_level_rewards.dtype).unsqueeze(-1) * response_mask


def _advantages_of_real_rows(
    name: str,
    method: Any,
    scores: torch.Tensor,
    lengths: torch.Tensor,
    index: Any,
    prompt_keys: list[Any] | None,
    real: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The method's advantages on the rows with a non-empty response only, 0 on the others.

    verl's ``upsample_batch_to_divisible_size`` appends padding rows (all-zero response mask,
    zero reward, one shared ``pad...`` uid) so the batch divides across workers; as members of
    the batch they would shift every batch statistic (accuracy, the controller's targets, the
    whitening)."""
    rows = real.nonzero().reshape(-1)
    if rows.numel() == 0:
        raise ValueError(
            f"advantage estimator {name!r}: every one of the {real.numel()} rows has an empty "
            "response mask; there is nothing to score"
        )
    picked = rows.cpu().numpy()
    keys = None if prompt_keys is None else [prompt_keys[i] for i in picked.tolist()]
    labels = index[rows] if isinstance(index, torch.Tensor) else np.asarray(index, dtype=object)[picked]
    adv, metrics = method.advantages(RolloutBatch(scores[rows], lengths[rows], labels, keys))
    return scores.new_zeros(scores.shape, dtype=adv.dtype).index_copy_(0, rows, adv), metrics


_ESTIMATORS: dict[str, Any] = {}


def _make_estimator(name: str) -> Any:
    def estimator(
        token_level_rewards: torch.Tensor, response_mask: torch.Tensor, config: Any = None, index: Any = None, **_: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        advantages = compute_method_advantage(name, token_level_rewards, response_mask, index, config)
        return advantages, advantages

    estimator.__name__ = f"compute_{name}_advantage"
    estimator.__qualname__ = estimator.__name__
    estimator.__doc__ = (
        f"verl estimator `{name}`: see lead.core.methods.get_method({name!r}); "
        f"knobs in algorithm.{name}. Returns (advantages, returns), both [B, L]."
    )
    return estimator


def register_estimators() -> list[str]:
    """Register one verl estimator per registry method; idempotent. Names verl already defines
    (``grpo``) keep verl's own estimator. Returns the names registered by this package."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

    names = []
    for name in load_methods():
        fn = _ESTIMATORS.get(name)
        if fn is None and name in ADV_ESTIMATOR_REGISTRY:
            continue
        if fn is None:
            fn = _ESTIMATORS[name] = _make_estimator(name)
        register_adv_est(name)(fn)
        names.append(name)
    return names


def is_lead_estimator(name: str) -> bool:
    """Whether ``algorithm.adv_estimator=name`` is served by this package."""
    return name in _ESTIMATORS

"""Plumbing shared by the competing methods: normalisation, metrics, state.

Each method's ``advantages`` starts from :func:`lead.core.rollouts.prepare` (validated inputs
and the correctness rule ``c_i = 1[s_i > correct_threshold]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lead.core.groups import group_count, group_zscore
from lead.core.rollouts import Rollouts


def rloo(x: torch.Tensor, gid: torch.Tensor, num_groups: int) -> torch.Tensor:
    r"""Leave-one-out baseline, ``[N]``: :math:`A_i = x_i - \frac{1}{n_g - 1}\sum_{j \ne i} x_j
    = \frac{n_g}{n_g - 1}(x_i - \bar x_g)`. A group of size 1 has no other member and keeps its
    raw value (verl's ``rloo`` does the same)."""
    n = group_count(gid, num_groups, dtype=x.dtype)[gid]
    centred = group_zscore(x, gid, num_groups, scale_by_std=False)
    return torch.where(n > 1, centred * n / (n - 1).clamp_min(1.0), centred)


def normalise(rewards: torch.Tensor, rollouts: Rollouts, mode: str, eps: float) -> torch.Tensor:
    """Per-group advantage of a shaped reward: ``grpo`` (:func:`~lead.core.groups.group_zscore`,
    unbiased std + ``eps``) or ``rloo`` (:func:`rloo`)."""
    if mode == "rloo":
        return rloo(rewards, rollouts.gid, rollouts.num_groups)
    return group_zscore(rewards, rollouts.gid, rollouts.num_groups, eps=eps)


def to_metrics(method: str, values: Mapping[str, torch.Tensor | float]) -> dict[str, float]:
    """``{"<method>/<name>": float}`` with one device-to-host copy for all tensor values."""
    names = list(values)
    device = next((v.device for v in values.values() if isinstance(v, torch.Tensor)), None)
    stacked = torch.stack([torch.as_tensor(values[k], dtype=torch.float64, device=device).reshape(()) for k in names])
    return {f"{method}/{k}": v for k, v in zip(names, stacked.tolist())}


class Stateless:
    """``state_dict`` / ``load_state_dict`` of a method that remembers nothing between steps."""

    name: str

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"{self.name} has no state, got {dict(state)!r}")


class StepCounter:
    """State of a method whose reward depends only on the number of completed steps, ``step``
    (one :meth:`advantages` call per training step)."""

    name: str
    step: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"step": int(self.step)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_keys(self.name, state, ("step",))
        self.step = read_step(self.name, state)


def check_state_keys(method: str, state: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``state`` has exactly ``keys``."""
    missing, unexpected = sorted(set(keys) - set(state)), sorted(set(state) - set(keys))
    if missing or unexpected:
        raise ValueError(
            f"{method} state must have keys {sorted(keys)}; missing {missing}, unexpected {unexpected}: {dict(state)!r}"
        )


def read_step(method: str, state: Mapping[str, Any]) -> int:
    """The non-negative integer ``state["step"]``, or a ``ValueError`` naming what is wrong."""
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{method} state has step={step!r}; expected an integer >= 0")
    return step

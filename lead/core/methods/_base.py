"""Plumbing shared by the competing methods: per-batch preparation, normalisation, metrics, state.

:func:`prepare` turns a :class:`~lead.core.registry.RolloutBatch` into float64 tensors plus
contiguous group ids, after checking shapes and values, so each method's ``advantages`` starts
from validated inputs and the same correctness rule ``c_i = 1[s_i > correct_threshold]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from lead.core.groups import group_count, group_index, group_zscore
from lead.core.registry import RolloutBatch

NORMALISATIONS = ("grpo", "rloo")


@dataclass
class Rollouts:
    """A validated batch: float64 ``scores`` and ``lengths``, ``correct`` (bool) and ``c``
    (its 0/1 float), contiguous group ids ``gid`` in ``[0, num_groups)``, and the dtype the
    advantages are returned in."""

    scores: torch.Tensor
    lengths: torch.Tensor
    correct: torch.Tensor
    c: torch.Tensor
    gid: torch.Tensor
    num_groups: int
    out_dtype: torch.dtype

    def base_metrics(self) -> dict[str, torch.Tensor]:
        """Accuracy and response lengths of the batch (``resp_len_mean_correct`` is 0 when
        no rollout is correct)."""
        n_correct = self.c.sum()
        return {
            "accuracy_batch": self.c.mean(),
            "resp_len_mean": self.lengths.mean(),
            "resp_len_mean_correct": (self.lengths * self.c).sum() / n_correct.clamp_min(1.0),
        }


def prepare(batch: RolloutBatch, correct_threshold: float, method: str) -> Rollouts:
    """Validate ``batch`` and return it as :class:`Rollouts` (``c_i = 1[s_i > correct_threshold]``)."""
    scores, lengths = batch.scores, batch.lengths
    if not isinstance(scores, torch.Tensor) or not isinstance(lengths, torch.Tensor):
        raise TypeError(f"{method}: scores and lengths must be tensors, got {type(scores).__name__} "
                        f"and {type(lengths).__name__}")
    if scores.ndim != 1 or scores.shape != lengths.shape:
        raise ValueError(f"{method}: scores and lengths must both be [N]; got {tuple(scores.shape)} "
                         f"and {tuple(lengths.shape)}")
    if scores.shape[0] == 0:
        raise ValueError(f"{method}: the batch has no rollouts")
    gid, num_groups = group_index(batch.group_ids, device=scores.device)
    if gid.shape[0] != scores.shape[0]:
        raise ValueError(f"{method}: got {gid.shape[0]} group ids for {scores.shape[0]} rollouts")
    s = scores.to(torch.float64)
    length = lengths.to(torch.float64)
    bad = ~torch.isfinite(s)
    if bool(bad.any()):
        raise ValueError(f"{method}: scores must be finite, got {float(s[bad][0])} at row {int(bad.nonzero()[0, 0])}")
    bad = ~torch.isfinite(length) | (length < 0)
    if bool(bad.any()):
        raise ValueError(f"{method}: response lengths must be finite and >= 0, got {float(length[bad][0])} "
                         f"at row {int(bad.nonzero()[0, 0])}")
    correct = s > correct_threshold
    out_dtype = scores.dtype if scores.is_floating_point() else torch.float32
    return Rollouts(s, length, correct, correct.to(torch.float64), gid, num_groups, out_dtype)


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
        raise ValueError(f"{method} state must have keys {sorted(keys)}; missing {missing}, "
                         f"unexpected {unexpected}: {dict(state)!r}")


def read_step(method: str, state: Mapping[str, Any]) -> int:
    """The non-negative integer ``state["step"]``, or a ``ValueError`` naming what is wrong."""
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{method} state has step={step!r}; expected an integer >= 0")
    return step

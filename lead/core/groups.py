"""Segment statistics over rollout groups.

Every estimator in this package works on per-sequence tensors of shape ``[N]`` plus an integer
group id per sequence (``gid`` in ``[0, G)``), never on Python lists of rollouts. The helpers
below are the only place where grouped reductions are written; they use ``index_add_`` /
``scatter_reduce_`` so the cost is O(N) whatever the number of groups.

Conventions shared by all helpers:

* ``mask`` (optional, bool ``[N]``) selects the members that take part; a group with no
  selected member gets the value documented per helper (usually 0) rather than NaN, and the
  caller decides what an empty group means by looking at :func:`group_count`.
* Statistics are computed in the dtype of ``x``; callers pass float64 when they need headroom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def group_index(ids: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, int]:
    """Map arbitrary group labels (uid strings, ints, a tensor) to contiguous ids.

    Returns ``(gid, G)`` with ``gid`` a ``long`` tensor of shape ``[N]`` and ``G`` the number of
    distinct labels. Labels are compared by value, so the grouping does not depend on row order.
    """
    if isinstance(ids, torch.Tensor):
        uniq, inverse = torch.unique(ids, return_inverse=True)
        return inverse.to(device=device or ids.device, dtype=torch.long), int(uniq.numel())
    arr = np.asarray(ids if not isinstance(ids, Sequence) or isinstance(ids, np.ndarray) else list(ids))
    if arr.ndim != 1:
        raise ValueError(f"group labels must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return torch.zeros(0, dtype=torch.long, device=device), 0
    _, inverse = np.unique(arr.astype(str) if arr.dtype == object else arr, return_inverse=True)
    inverse = torch.as_tensor(inverse.reshape(-1), dtype=torch.long, device=device)
    return inverse, int(inverse.max().item()) + 1


def _selected(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else torch.where(mask, x, torch.zeros_like(x))


def group_count(gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None,
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Number of (selected) members per group, ``[G]``."""
    ones = torch.ones(gid.shape[0], dtype=dtype, device=gid.device)
    return group_sum(_selected(ones, mask), gid, num_groups)


def group_sum(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of ``x`` over the (selected) members of each group, ``[G]``."""
    out = torch.zeros(num_groups, dtype=x.dtype, device=x.device)
    return out.index_add_(0, gid, _selected(x, mask))


def group_mean(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per group, ``[G]``; 0 for a group with no selected member."""
    count = group_count(gid, num_groups, mask, dtype=x.dtype)
    return group_sum(x, gid, num_groups, mask) / count.clamp_min(1)


def group_var(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None,
              unbiased: bool = False) -> torch.Tensor:
    """Variance per group, ``[G]``: ``sum (x - mean_g)^2 / (n_g - unbiased)``.

    Two-pass (centre first) for accuracy. A group with fewer than ``1 + unbiased`` members gets 0.
    """
    count = group_count(gid, num_groups, mask, dtype=x.dtype)
    mean = group_sum(x, gid, num_groups, mask) / count.clamp_min(1)
    sq = group_sum((x - mean[gid]) ** 2, gid, num_groups, mask)
    dof = count - (1 if unbiased else 0)
    return torch.where(dof > 0, sq / dof.clamp_min(1), torch.zeros_like(sq))


def group_min(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Minimum per group, ``[G]``; ``+inf`` for a group with no selected member."""
    out = torch.full((num_groups,), float("inf"), dtype=x.dtype, device=x.device)
    vals = x if mask is None else torch.where(mask, x, torch.full_like(x, float("inf")))
    return out.scatter_reduce_(0, gid, vals, reduce="amin", include_self=True)


def group_max(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Maximum per group, ``[G]``; ``-inf`` for a group with no selected member."""
    return -group_min(-x, gid, num_groups, mask)


def group_median(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Median per group, ``[G]``: the middle value, or the mean of the two middle values for an
    even count (``numpy.median`` semantics, not ``torch.median``'s lower middle). 0 for an empty group.

    Sorting by value and then stably by group lays each group out contiguously in ascending
    order, so the middle elements are found by offset arithmetic instead of a loop over groups.
    """
    keep = torch.ones_like(gid, dtype=torch.bool) if mask is None else mask
    xs, gs = x[keep], gid[keep]
    order = torch.argsort(xs, stable=True)
    xs, gs = xs[order], gs[order]
    order = torch.argsort(gs, stable=True)
    xs, gs = xs[order], gs[order]
    counts = torch.bincount(gs, minlength=num_groups)
    starts = torch.cumsum(counts, 0) - counts
    last = max(xs.numel() - 1, 0)
    lo = (starts + (counts - 1).clamp_min(0) // 2).clamp(max=last)
    hi = (starts + counts // 2).clamp(max=last)
    if xs.numel() == 0:
        return torch.zeros(num_groups, dtype=x.dtype, device=x.device)
    med = 0.5 * (xs[lo] + xs[hi])
    return torch.where(counts > 0, med, torch.zeros_like(med))


def group_zscore(x: torch.Tensor, gid: torch.Tensor, num_groups: int, eps: float = 1e-6,
                 scale_by_std: bool = True) -> torch.Tensor:
    """GRPO outcome normalisation, ``[N]``: ``A_i = (x_i - mean_g) / (std_g + eps)``.

    ``std_g`` is the unbiased (n-1) standard deviation, as in verl's ``grpo`` estimator. A group
    of size 1 uses mean 0 and std 1 (so its member keeps its raw value), also as verl does.
    With ``scale_by_std=False`` only the mean is removed (Dr.GRPO).
    """
    count = group_count(gid, num_groups, dtype=x.dtype)
    single = count[gid] <= 1
    mean = group_mean(x, gid, num_groups)[gid]
    centred = torch.where(single, x, x - mean)
    if not scale_by_std:
        return centred
    std = group_var(x, gid, num_groups, unbiased=True).sqrt()[gid]
    return torch.where(single, x / (1.0 + eps), centred / (std + eps))

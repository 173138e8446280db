"""Segment statistics over rollout groups.

Every estimator in this package works on per-sequence tensors of shape ``[N]`` plus an integer
group id per sequence (``gid`` in ``[0, G)``), never on Python lists of rollouts. The helpers
below are the only place where grouped reductions are written; they use ``index_add_`` /
``scatter_reduce_`` so the cost is O(N) whatever the number of groups.

Conventions shared by all helpers:

* ``x`` is ``[N]`` or ``[N, k]``: ``k`` statistics side by side (e.g. two rewards) cost the
  reductions of one, which matters because every reduction is one pass over the batch.
* ``mask`` (optional, bool, ``[N]`` or shaped like ``x``) selects the members that take part; a
  group with no selected member gets the value documented per helper (usually 0) rather than
  NaN, and the caller decides what an empty group means by looking at :func:`group_count`.
* ``count`` (optional): the :func:`group_count` for the same ``mask``, when the caller has it
  already, so it is not recomputed.
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
    distinct labels. Labels are compared by value (strings and other objects by their string
    form), and ids follow the sorted labels, so the grouping does not depend on row order.
    """
    if isinstance(ids, torch.Tensor):
        uniq, inverse = torch.unique(ids, return_inverse=True)
        return inverse.to(device=device or ids.device, dtype=torch.long), int(uniq.numel())
    arr = np.asarray(ids if not isinstance(ids, Sequence) or isinstance(ids, np.ndarray) else list(ids))
    if arr.ndim != 1:
        raise ValueError(f"group labels must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return torch.zeros(0, dtype=torch.long, device=device), 0
    if arr.dtype == object or arr.dtype.kind == "U":
        # Hashing beats np.unique's sort of N strings; only the G distinct labels get sorted.
        labels = [str(label) for label in arr.tolist()]
        lookup = {label: i for i, label in enumerate(sorted(set(labels)))}
        inverse = np.fromiter(map(lookup.__getitem__, labels), dtype=np.int64, count=len(labels))
        return torch.from_numpy(inverse).to(device), len(lookup)
    _, inverse = np.unique(arr, return_inverse=True)
    inverse = torch.as_tensor(inverse.reshape(-1), dtype=torch.long, device=device)
    return inverse, int(inverse.max().item()) + 1


def _like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` (``[N]`` or ``[G]``) with trailing unit dimensions so it broadcasts against ``x``."""
    return t.reshape(t.shape + (1,) * (x.ndim - t.ndim))


def _selected(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else torch.where(_like(mask, x), x, 0.0)


def group_count(gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None,
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Number of (selected) members per group, ``[G]`` (``[G, k]`` for a ``[N, k]`` mask)."""
    if mask is None:
        return torch.bincount(gid, minlength=num_groups).to(dtype)
    return group_sum(mask.to(dtype), gid, num_groups)


def group_sum(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of ``x`` over the (selected) members of each group, ``[G]`` or ``[G, k]``."""
    out = torch.zeros((num_groups, *x.shape[1:]), dtype=x.dtype, device=x.device)
    return out.index_add_(0, gid, _selected(x, mask))


def _count_for(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None,
               count: torch.Tensor | None) -> torch.Tensor:
    count = group_count(gid, num_groups, mask, dtype=x.dtype) if count is None else count
    return _like(count, x)


def group_mean(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None,
               count: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per group, ``[G]`` or ``[G, k]``; 0 for a group with no selected member."""
    count = _count_for(x, gid, num_groups, mask, count)
    return group_sum(x, gid, num_groups, mask) / count.clamp_min(1)


def group_var(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None,
              unbiased: bool = False, count: torch.Tensor | None = None,
              mean: torch.Tensor | None = None) -> torch.Tensor:
    """Variance per group, ``[G]`` or ``[G, k]``: ``sum (x - mean_g)^2 / (n_g - unbiased)``.

    Two-pass (centre first) for accuracy; ``mean``: the :func:`group_mean` for the same
    ``mask``, when the caller has it. A group with fewer than ``1 + unbiased`` members gets 0.
    """
    count = _count_for(x, gid, num_groups, mask, count)
    if mean is None:
        mean = group_sum(x, gid, num_groups, mask) / count.clamp_min(1)
    sq = group_sum((x - mean[gid]) ** 2, gid, num_groups, mask)
    dof = count - (1 if unbiased else 0)
    return torch.where(dof > 0, sq / dof.clamp_min(1), 0.0)


def group_min(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Minimum per group, ``[G]``; ``+inf`` for a group with no selected member."""
    out = torch.full((num_groups,), float("inf"), dtype=x.dtype, device=x.device)
    vals = x if mask is None else torch.where(mask, x, float("inf"))
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
                 scale_by_std: bool = True, count: torch.Tensor | None = None) -> torch.Tensor:
    """GRPO outcome normalisation, ``[N]`` or ``[N, k]``: ``A_i = (x_i - mean_g) / (std_g + eps)``.

    ``std_g`` is the unbiased (n-1) standard deviation, as in verl's ``grpo`` estimator. A group
    of size 1 uses mean 0 and std 1 (so its member keeps its raw value), also as verl does.
    With ``scale_by_std=False`` only the mean is removed (Dr.GRPO). ``count``: the group sizes.
    """
    count = _like(group_count(gid, num_groups, dtype=x.dtype) if count is None else count, x)
    mean = group_sum(x, gid, num_groups) / count.clamp_min(1)
    single = (count <= 1)[gid]
    centred = torch.where(single, x, x - mean[gid])
    if not scale_by_std:
        return centred
    sq = group_sum(centred ** 2, gid, num_groups)
    std = torch.where(count > 1, sq / (count - 1).clamp_min(1), 0.0).sqrt()
    return torch.where(single, x / (1.0 + eps), centred / (std[gid] + eps))

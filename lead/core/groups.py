"""Segment statistics over rollout groups.

Every estimator in this package works on per-sequence tensors of shape ``[N]`` plus an integer
group id per sequence (``gid`` in ``[0, G)``), never on Python lists of rollouts. The helpers
below are the only place where grouped reductions are written; they use ``index_add_`` /
``scatter_reduce_`` so the cost is O(N) whatever the number of groups.

Every operation on an ``[N]`` tensor that PyTorch splits over threads waits for all of them, which
on a busy machine costs milliseconds whatever the size; so the reductions use the kernels that run
in one pass on the calling thread (one-dimensional ``index_add_``, ``index_select``,
``scatter_reduce_``) and leave elementwise work to the callers, and a mask used by several
reductions is applied once, with :func:`member_ids`.

Conventions shared by all helpers:

* ``x`` is ``[N]`` or ``[N, k]``: ``k`` statistics side by side (e.g. two rewards) cost the
  reductions of one, which matters because every reduction is one pass over the batch.
* ``mask`` (optional, bool, ``[N]`` or shaped like ``x``) selects the members that take part; a
  group with no selected member gets the value documented per helper (usually 0) rather than
  NaN, and the caller decides what an empty group means by looking at :func:`group_count`.
* ``count`` (optional): the :func:`group_count` for the same ``mask``, when the caller has it
  already, so it is not recomputed.
* ``ids`` in ``[0, G]`` from :func:`member_ids`, reduced over ``G + 1`` groups, select members
  like a mask: the last group holds the others and is dropped.
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


def group_count(
    gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Number of (selected) members per group, ``[G]`` (``[G, k]`` for a ``[N, k]`` mask)."""
    if mask is None:
        # bincount scans its input for the range first: three passes where this is one.
        ones = torch.ones((), dtype=dtype, device=gid.device).expand(gid.shape[0])
        return torch.zeros(num_groups, dtype=dtype, device=gid.device).index_add_(0, gid, ones)
    return group_sum(mask.to(dtype), gid, num_groups)


def group_sum(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of ``x`` over the (selected) members of each group, ``[G]`` or ``[G, k]``."""
    out = torch.zeros((num_groups, *x.shape[1:]), dtype=x.dtype, device=x.device)
    src = _selected(x, mask)
    if src.ndim == 1:
        return out.index_add_(0, gid, src)
    # A 2-D index_add_ becomes a threaded scatter; one 1-D pass per column stays on this thread.
    for col in range(src.shape[1]):
        out[:, col].index_add_(0, gid, src[:, col])
    return out


def member_ids(gid: torch.Tensor, num_groups: int, mask: torch.Tensor) -> torch.Tensor:
    """``gid`` where ``mask`` holds, else ``num_groups``: with these ids, any reduction over
    ``num_groups + 1`` groups followed by ``[:num_groups]`` gives the statistic of the selected
    members, the last group collecting the others."""
    return torch.where(mask, gid, num_groups)


def per_member(t: torch.Tensor, gid: torch.Tensor) -> torch.Tensor:
    """Per-group values ``t`` (``[G]`` or ``[G, k]``) repeated for each member, ``[N]`` or
    ``[N, k]``: ``t[gid]`` as one pass on the calling thread (advanced indexing is threaded)."""
    return t.index_select(0, gid)


def _count_for(
    x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None, count: torch.Tensor | None
) -> torch.Tensor:
    count = group_count(gid, num_groups, mask, dtype=x.dtype) if count is None else count
    return _like(count, x)


def group_mean(
    x: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    mask: torch.Tensor | None = None,
    count: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean per group, ``[G]`` or ``[G, k]``; 0 for a group with no selected member."""
    count = _count_for(x, gid, num_groups, mask, count)
    return group_sum(x, gid, num_groups, mask) / count.clamp_min(1)


def group_var(
    x: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    mask: torch.Tensor | None = None,
    unbiased: bool = False,
    count: torch.Tensor | None = None,
    mean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Variance per group, ``[G]`` or ``[G, k]``: ``sum (x - mean_g)^2 / (n_g - unbiased)``.

    Two-pass (centre first) for accuracy; ``mean``: the :func:`group_mean` for the same
    ``mask``, when the caller has it. A group with fewer than ``1 + unbiased`` members gets 0.
    """
    count = _count_for(x, gid, num_groups, mask, count)
    if mean is None:
        mean = group_sum(x, gid, num_groups, mask) / count.clamp_min(1)
    sq = group_sum((x - per_member(mean, gid)) ** 2, gid, num_groups, mask)
    dof = count - (1 if unbiased else 0)
    return torch.where(dof > 0, sq / dof.clamp_min(1), 0.0)


def group_min(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Minimum per group, ``[G]``; ``+inf`` for a group with no selected member."""
    out = torch.full((num_groups,), float("inf"), dtype=x.dtype, device=x.device)
    vals = x if mask is None else torch.where(mask, x, float("inf"))
    return out.scatter_reduce_(0, gid, vals, reduce="amin", include_self=True)


def group_max(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Maximum per group, ``[G]``; ``-inf`` for a group with no selected member."""
    out = torch.full((num_groups,), float("-inf"), dtype=x.dtype, device=x.device)
    vals = x if mask is None else torch.where(mask, x, float("-inf"))
    return out.scatter_reduce_(0, gid, vals, reduce="amax", include_self=True)


def group_median(x: torch.Tensor, gid: torch.Tensor, num_groups: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Median per group, ``[G]``: the middle value, or the mean of the two middle values for an
    even count (``numpy.median`` semantics, not ``torch.median``'s lower middle). 0 for an empty group.

    Sorting by value and then stably by group lays each group out contiguously in ascending
    order, so the middle elements are found by offset arithmetic instead of a loop over groups.
    """
    xs, gs = (x, gid) if mask is None else (x[mask], gid[mask])
    order = torch.argsort(xs, stable=True)
    xs, gs = xs.index_select(0, order), gs.index_select(0, order)
    if num_groups > 1:
        order = torch.argsort(gs, stable=True)
        xs, gs = xs.index_select(0, order), gs.index_select(0, order)
    counts = group_count(gs, num_groups, dtype=torch.long)
    starts = torch.cumsum(counts, 0) - counts
    last = max(xs.numel() - 1, 0)
    lo = (starts + (counts - 1).clamp_min(0) // 2).clamp(max=last)
    hi = (starts + counts // 2).clamp(max=last)
    if xs.numel() == 0:
        return torch.zeros(num_groups, dtype=x.dtype, device=x.device)
    med = 0.5 * (xs.index_select(0, lo) + xs.index_select(0, hi))
    return torch.where(counts > 0, med, torch.zeros_like(med))


def group_deviations(
    x: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    count: torch.Tensor | None = None,
    sums: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deviations from the group means and the statistics behind them, ``(d, mean, sq)``.

    ``d_i = x_i - mean_g`` (``[N]`` or ``[N, k]``), except in a group of one, whose member keeps
    ``d_i = x_i`` (verl's GRPO uses mean 0 there); ``mean_g = sum_i x_i / n_g`` (``[G]`` or
    ``[G, k]``, 0 for an empty group); ``sq_g = sum_i (x_i - mean_g)^2``, 0 in a group of fewer
    than two. ``count``: the group sizes; ``sums``: the :func:`group_sum` of ``x``.
    """
    count = _like(group_count(gid, num_groups, dtype=x.dtype) if count is None else count, x)
    mean = (group_sum(x, gid, num_groups) if sums is None else sums) / count.clamp_min(1)
    several = count > 1
    d = x - per_member(torch.where(several, mean, 0.0), gid)
    sq = torch.where(several, group_sum(d**2, gid, num_groups), 0.0)
    return d, mean, sq


def zscore_scale(sq: torch.Tensor, count: torch.Tensor, eps: float) -> torch.Tensor:
    """The divisor of :func:`group_zscore` per group: ``std_g + eps`` with ``std_g`` the unbiased
    standard deviation ``sqrt(sq_g / (n_g - 1))``, and ``1 + eps`` for a group of one."""
    count = _like(count, sq)
    return torch.where(count > 1, (sq / (count - 1).clamp_min(1)).sqrt() + eps, 1.0 + eps)


def group_zscore(
    x: torch.Tensor,
    gid: torch.Tensor,
    num_groups: int,
    eps: float = 1e-6,
    scale_by_std: bool = True,
    count: torch.Tensor | None = None,
) -> torch.Tensor:
    """GRPO outcome normalisation, ``[N]`` or ``[N, k]``: ``A_i = (x_i - mean_g) / (std_g + eps)``.

    ``std_g`` is the unbiased (n-1) standard deviation, as in verl's ``grpo`` estimator. A group
    of size 1 uses mean 0 and std 1 (so its member keeps its raw value), also as verl does.
    With ``scale_by_std=False`` only the mean is removed (Dr.GRPO). ``count``: the group sizes.
    """
    count = group_count(gid, num_groups, dtype=x.dtype) if count is None else count
    d, _, sq = group_deviations(x, gid, num_groups, count)
    if not scale_by_std:
        return d
    return d / per_member(zscore_scale(sq, count, eps), gid)

"""Builders for synthetic rollout batches shared by the core and verl tests."""

from __future__ import annotations

import torch


def make_batch(
    num_prompts: int, n: int, max_len: int, seed: int, p_correct: float = 0.5, min_len: int = 1
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Token-level scores ``[N, L]`` (reward at the last valid token), response mask ``[N, L]``
    and uid strings, with rows shuffled so that groups are not contiguous."""
    g = torch.Generator().manual_seed(seed)
    total = num_prompts * n
    lengths = torch.randint(min_len, max_len + 1, (total,), generator=g)
    # Per-prompt difficulty so that some prompts are all wrong and some all right.
    p = torch.rand(num_prompts, generator=g).repeat_interleave(n) * 2 * p_correct
    correct = (torch.rand(total, generator=g) < p).float()
    uids = [f"prompt-{i // n}" for i in range(total)]
    perm = torch.randperm(total, generator=g)
    lengths, correct = lengths[perm], correct[perm]
    uids = [uids[i] for i in perm.tolist()]
    mask = (torch.arange(max_len)[None, :] < lengths[:, None]).long()
    scores = torch.zeros(total, max_len)
    scores[torch.arange(total), (lengths - 1).clamp_min(0)] = correct
    return scores * mask, mask, uids

"""Validated per-batch inputs of every method: float64 tensors, contiguous group ids, correctness.

:func:`prepare` turns a :class:`RolloutBatch`, what every method is given, into
:class:`Rollouts` after checking shapes and values, so every method (LEAD and the competing
ones) starts from the same validated inputs and the same correctness rule
``c_i = 1[s_i > correct_threshold]``. A bad value is an error naming how many rollouts carry one
and their prompt ids, raised before any method state changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from lead.core.groups import group_count, group_index, group_min, group_sum

# Prompt ids named in an error message; the count is always given in full.
_NAMED_IDS = 8


@dataclass
class RolloutBatch:
    """What every method sees of one training step's rollouts (``N`` of them).

    ``scores``: summed reward of each rollout, ``[N]``. ``lengths``: response tokens, ``[N]``.
    ``group_ids``: the per-step prompt id (verl's ``uid``) of each rollout; rollouts of one
    prompt share it. ``prompt_keys``: a prompt id that is stable across steps (the dataset's
    ``extra_info.index``), needed only by methods that remember prompts between steps.
    """

    scores: torch.Tensor
    lengths: torch.Tensor
    group_ids: Any
    prompt_keys: Any | None = None


@dataclass
class Rollouts:
    """A validated batch: float64 ``scores`` and ``lengths``, ``correct`` (bool), contiguous
    group ids ``gid`` in ``[0, num_groups)``, and the dtype the advantages are returned in; with
    the per-prompt reductions every method starts from, ``[G]`` float64: ``counts`` (rollouts),
    ``score_sums`` and ``length_sums``, and ``total_length``, the batch's token count."""

    scores: torch.Tensor
    lengths: torch.Tensor
    correct: torch.Tensor
    gid: torch.Tensor
    num_groups: int
    out_dtype: torch.dtype
    counts: torch.Tensor
    score_sums: torch.Tensor
    length_sums: torch.Tensor
    total_length: float

    @cached_property
    def c(self) -> torch.Tensor:
        """``correct`` as 0/1 float64."""
        return self.correct.to(torch.float64)

    def base_metrics(self) -> dict[str, torch.Tensor]:
        """Accuracy and response lengths of the batch (``resp_len_mean_correct`` is 0 when
        no rollout is correct)."""
        n_correct = self.c.sum()
        return {
            "accuracy_batch": self.c.mean(),
            "resp_len_mean": self.lengths.mean(),
            "resp_len_mean_correct": (self.lengths * self.c).sum() / n_correct.clamp_min(1.0),
        }


def _ids_of(group_ids: Any, rows: torch.Tensor) -> list[str]:
    """The distinct prompt ids of ``rows``, in row order, as strings."""
    picked = rows.tolist()
    if isinstance(group_ids, torch.Tensor):
        labels = group_ids.reshape(-1)[rows].tolist()
    else:
        labels = np.asarray(group_ids if isinstance(group_ids, np.ndarray) else list(group_ids))[picked].tolist()
    return list(dict.fromkeys(str(label) for label in labels))


def _refuse_rows(method: str, bad: torch.Tensor, values: torch.Tensor, what: str, group_ids: Any) -> None:
    """Raise ``ValueError`` for the rows selected by ``bad``, naming their number, values and prompt ids."""
    rows = bad.nonzero().reshape(-1)
    ids = _ids_of(group_ids, rows)
    shown = ", ".join(repr(i) for i in ids[:_NAMED_IDS]) + (
        f" and {len(ids) - _NAMED_IDS} more" if len(ids) > _NAMED_IDS else ""
    )
    examples = sorted({str(v) for v in values[rows[:_NAMED_IDS]].tolist()})
    raise ValueError(
        f"{method}: {rows.numel()} of {bad.numel()} rollouts have {what} (e.g. {', '.join(examples)}), "
        f"in prompt id(s) {shown}; nothing was updated. Check the reward function and the batch."
    )


def prepare(batch: RolloutBatch, correct_threshold: float, method: str) -> Rollouts:
    """Validate ``batch`` and return it as :class:`Rollouts` (``c_i = 1[s_i > correct_threshold]``).

    Raises ``TypeError``/``ValueError`` for non-tensor or mis-shaped inputs, an empty batch, a
    non-finite score, or a length that is negative or not finite.
    """
    scores, lengths = batch.scores, batch.lengths
    if not isinstance(scores, torch.Tensor) or not isinstance(lengths, torch.Tensor):
        raise TypeError(
            f"{method}: scores and lengths must be tensors, got {type(scores).__name__} and {type(lengths).__name__}"
        )
    if scores.ndim != 1 or scores.shape != lengths.shape:
        raise ValueError(
            f"{method}: scores and lengths must both be [N]; got {tuple(scores.shape)} and {tuple(lengths.shape)}"
        )
    if scores.shape[0] == 0:
        raise ValueError(f"{method}: the batch has no rollouts")
    gid, num_groups = group_index(batch.group_ids, device=scores.device)
    if gid.shape[0] != scores.shape[0]:
        raise ValueError(f"{method}: got {gid.shape[0]} group ids for {scores.shape[0]} rollouts")
    s = scores.to(torch.float64)
    length = lengths.to(torch.float64)
    counts = group_count(gid, num_groups)
    score_sums, length_sums = group_sum(s, gid, num_groups), group_sum(length, gid, num_groups)
    # The per-prompt sums serve every method and decide, with one host sync, that the batch is
    # clean (a NaN or inf makes its prompt's sum non-finite, a negative length the minimum
    # negative); only a suspect batch pays for the row-by-row check.
    total, total_length, shortest = torch.stack(
        [score_sums.sum(), length_sums.sum(), group_min(length, gid, num_groups).min()]
    ).tolist()
    if not (math.isfinite(total) and shortest >= 0 and math.isfinite(total_length)):
        bad_score = ~torch.isfinite(s)
        if bool(bad_score.any()):
            _refuse_rows(method, bad_score, s, "a non-finite score", batch.group_ids)
        bad_length = ~torch.isfinite(length) | (length < 0)
        if bool(bad_length.any()):
            _refuse_rows(
                method, bad_length, length, "a response length that is negative or not finite", batch.group_ids
            )
    out_dtype = scores.dtype if scores.is_floating_point() else torch.float32
    return Rollouts(
        s, length, s > correct_threshold, gid, num_groups, out_dtype, counts, score_sums, length_sums, total_length
    )

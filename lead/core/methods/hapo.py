r"""HAPO, history-aware policy optimisation (arXiv 2505.11225).

Each prompt remembers :math:`h_q`, the shortest correct response seen for it so far (none at
first). With :math:`x_i = l_i / h_q` and :math:`f_i = \cos(\frac{\pi}{2} \min(x_i, 2))` (1 at
length 0, 0 at :math:`h_q`, -1 from :math:`2 h_q` on), the length reward is

.. math:: \mathrm{len}_i = \begin{cases} \max(f_i, -0.7) & c_i = 1 \\ \min(f_i, 0) & c_i = 0 \end{cases}

and 0 for every rollout of a prompt with no history. The reward
:math:`r_i = c_i + w\, \mathrm{len}_i` (``w`` in ``[0, 1]``, so a correct rollout always beats an
incorrect one) goes through the GRPO z-score. After scoring, the history takes this step's
correct lengths: :math:`h_q \leftarrow \min(h_q, \min_{i \in q, c_i = 1} l_i)`.

The history is keyed by :attr:`RolloutBatch.prompt_keys`, the dataset's stable
``extra_info.index`` (verl's per-step ``uid`` changes every step), compared by their string
form; every rollout of one group must carry the same key. The release's ``mean`` history mode
and repetition penalty (off by default there) are not provided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lead.core.groups import group_max, group_min
from lead.core.knobs import HapoConfig
from lead.core.methods._base import check_state_keys, normalise, to_metrics
from lead.core.registry import register_method
from lead.core.rollouts import RolloutBatch, prepare


def cosine_length_rewards(
    lengths: torch.Tensor, correct: torch.Tensor, history: torch.Tensor, correct_floor: float
) -> torch.Tensor:
    """HAPO's length reward, ``[N]``, given each rollout's history ``h`` (NaN, or 0 as in the
    release: no history, reward 0)."""
    known = ~torch.isnan(history) & (history > 0)
    ratio = torch.where(
        known, lengths / torch.where(known, history, torch.ones_like(history)), torch.zeros_like(lengths)
    )
    f = torch.cos(0.5 * math.pi * ratio.clamp(max=2.0))
    r = torch.where(correct, f.clamp(min=correct_floor), f.clamp(max=0.0))
    return torch.where(known, r, torch.zeros_like(r))


class PromptHistory:
    """Shortest correct length per stable prompt key: sorted string keys and their lengths."""

    def __init__(self) -> None:
        self.keys = np.array([], dtype=str)
        self.lengths = np.array([], dtype=np.float64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """History of each key (NaN for an unseen key), vectorised with a binary search."""
        pos = np.searchsorted(self.keys, keys)
        hit = pos < self.keys.size
        hit[hit] = self.keys[pos[hit]] == keys[hit]
        out = np.full(keys.shape, np.nan)
        out[hit] = self.lengths[pos[hit]]
        return out

    def update(self, keys: np.ndarray, shortest: np.ndarray) -> None:
        """``h <- min(h, shortest)`` for unique ``keys``; NaN in ``shortest`` means no correct rollout."""
        merged = np.fmin(self.lookup(keys), shortest)
        keep = ~np.isnan(merged)
        keys, merged = keys[keep], merged[keep]
        pos = np.searchsorted(self.keys, keys)
        hit = pos < self.keys.size
        hit[hit] = self.keys[pos[hit]] == keys[hit]
        self.lengths[pos[hit]] = merged[hit]
        all_keys = np.concatenate([self.keys, keys[~hit]])
        all_lengths = np.concatenate([self.lengths, merged[~hit]])
        order = np.argsort(all_keys, kind="stable")
        self.keys, self.lengths = all_keys[order], all_lengths[order]

    def state_dict(self) -> dict[str, Any]:
        return {"keys": self.keys.tolist(), "lengths": self.lengths.tolist()}

    def load_state_dict(self, state: Mapping[str, Any], method: str) -> None:
        check_state_keys(method, state, ("keys", "lengths"))
        keys, lengths = list(state["keys"]), list(state["lengths"])
        if len(keys) != len(lengths):
            raise ValueError(f"{method} history has {len(keys)} keys but {len(lengths)} lengths")
        if not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{method} history keys must be strings, got {keys[:5]!r}...")
        values = np.asarray(lengths, dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise ValueError(
                f"{method} history length {float(values[bad][0])} for key {keys[int(np.argmax(bad))]!r} "
                "is invalid: expected a finite number >= 0"
            )
        key_arr = np.asarray(keys, dtype=str)
        unique = np.unique(key_arr)
        if unique.size != key_arr.size:
            raise ValueError(f"{method} history has duplicate keys")
        order = np.argsort(key_arr, kind="stable")
        self.keys, self.lengths = key_arr[order], values[order]


def _prompt_keys(batch: RolloutBatch, num_rows: int, method: str) -> np.ndarray:
    keys = batch.prompt_keys
    if keys is None:
        raise ValueError(
            f"{method} remembers prompts across steps and needs RolloutBatch.prompt_keys (the "
            "dataset's extra_info.index of each rollout), but the batch has none"
        )
    if isinstance(keys, torch.Tensor):
        keys = keys.cpu().numpy()
    arr = np.asarray(keys if isinstance(keys, np.ndarray) else list(keys))
    if arr.ndim != 1 or arr.shape[0] != num_rows:
        raise ValueError(f"{method}: got prompt keys of shape {arr.shape} for {num_rows} rollouts")
    return arr.astype(str)


@register_method("hapo")
class HapoMethod:
    """HAPO's cosine length reward against each prompt's shortest correct length so far.

    State: the history ``{keys, lengths}`` (plain lists, JSON-serialisable).
    """

    config_cls = HapoConfig
    needs_prompt_keys = True

    def __init__(self, config: HapoConfig) -> None:
        self.config = config
        self.history = PromptHistory()

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        ro = prepare(batch, cfg.correct_threshold, self.name)
        keys = _prompt_keys(batch, ro.lengths.shape[0], self.name)
        unique, kid = np.unique(keys, return_inverse=True)
        kid_t = torch.as_tensor(kid.reshape(-1), dtype=torch.long, device=ro.lengths.device)
        kid_f = kid_t.to(torch.float64)
        if bool((group_min(kid_f, ro.gid, ro.num_groups) != group_max(kid_f, ro.gid, ro.num_groups)).any()):
            raise ValueError(
                f"{self.name}: rollouts of one group carry different prompt keys; prompt_keys "
                "must be the dataset index of each rollout's prompt"
            )

        known = torch.as_tensor(self.history.lookup(unique), dtype=torch.float64, device=ro.lengths.device)
        history = known[kid_t]
        length_reward = cosine_length_rewards(ro.lengths, ro.correct, history, cfg.correct_floor)
        rewards = ro.c + cfg.weight * length_reward
        adv = normalise(rewards, ro, "grpo", cfg.epsilon)

        shortest = group_min(ro.lengths, kid_t, unique.size, ro.correct)
        shortest = torch.where(torch.isinf(shortest), torch.full_like(shortest, float("nan")), shortest)
        self.history.update(unique, shortest.cpu().numpy())

        has_history = ~torch.isnan(history) & (history > 0)
        metrics = to_metrics(
            self.name,
            {
                **ro.base_metrics(),
                "with_history_frac": has_history.to(torch.float64).mean(),
                "history_size": float(self.history.keys.size),
                "length_reward_mean": length_reward.mean(),
                "reward_mean": rewards.mean(),
            },
        )
        return adv.to(ro.out_dtype), metrics

    def state_dict(self) -> dict[str, Any]:
        return self.history.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history.load_state_dict(state, self.name)

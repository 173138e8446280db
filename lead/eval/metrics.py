r"""Evaluation metrics: avg@n, unbiased pass@k, length statistics and the AES score.

Notation: a benchmark has problems :math:`q = 1..P`, each sampled :math:`n` times; sample
:math:`j` of problem :math:`q` has correctness :math:`c_{qj} \in \{0, 1\}`, length
:math:`\ell_{qj}` (generated tokens, counted at the cap when truncated) and a truncation flag.

* avg@n (pass@1 averaged over the n samples): :math:`\bar A = \frac{1}{Pn}\sum_{q,j} c_{qj}`.
* Its spread over samples: the accuracy of sample index ``j`` over all problems,
  :math:`A_j = \frac1P \sum_q c_{qj}`, is one "seed's" score; ``accuracy_std`` is the sample
  standard deviation (ddof = 1) of :math:`A_1..A_n`, i.e. the "mean ± std over seeds" of
  Sober Reasoning. It is ``None`` for n = 1 (undefined, not zero).
* Unbiased pass@k (Chen et al. 2021) with :math:`C_q = \sum_j c_{qj}` correct samples:
  :math:`\mathrm{pass@}k = \frac1P\sum_q \bigl[1 - \binom{n - C_q}{k} / \binom{n}{k}\bigr]`,
  computed as :math:`1 - \prod_{i=0}^{k-1} \frac{n - C_q - i}{n - i}` (a factor reaches 0 when
  fewer than k samples are wrong).
* AES (O1-Pruner, 2501.12570) of a model against a base run, with
  :math:`\Delta L = (L_{base} - L)/L_{base}` and :math:`\Delta A = (A - A_{base})/A_{base}`:
  :math:`\alpha\Delta L + \beta\Delta A` when :math:`\Delta A \ge 0`, else
  :math:`\alpha\Delta L - \gamma|\Delta A|`; defaults :math:`\alpha=1, \beta=3, \gamma=5`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lead.core.groups import group_count, group_index, group_mean, group_sum


def pass_at_k(n: Any, c: Any, k: int) -> np.ndarray:
    """Unbiased per-problem pass@k for ``n`` samples of which ``c`` are correct.

    ``n`` and ``c`` broadcast (scalars or arrays of shape ``[P]``); ``1 <= k <= min(n)``.
    """
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    n, c = np.broadcast_arrays(n, c)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"pass@k needs an integer k >= 1, got k={k!r}")
    if n.size and (n.min() < k):
        raise ValueError(f"pass@k needs k <= n, got k={k} with n={int(n.min())} samples")
    if np.any(c < 0) or np.any(c > n):
        raise ValueError("pass@k needs 0 <= c <= n for every problem")
    i = np.arange(k)
    wrong = (n - c)[..., None] - i
    ratio = np.prod(np.clip(wrong, 0, None) / (n[..., None] - i), axis=-1)
    return 1.0 - ratio


def _mean_or_none(x: torch.Tensor) -> float | None:
    """Mean of a possibly empty selection: None (not 0) when there is nothing to average."""
    return float(x.mean()) if x.numel() else None


def summarize(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Benchmark metrics from per-sample records.

    Each record needs ``id`` (problem id), ``sample`` (index 0..n-1), ``correct`` (bool),
    ``tokens`` (int) and ``truncated`` (bool); ``extracted`` (answer string or None) is used
    for the no-answer rate when present. Every problem must have the same samples 0..n-1:
    an incomplete set raises instead of biasing the averages.
    """
    if not records:
        raise ValueError("cannot summarise an empty set of records")
    missing = [r for r in records if r.get("correct") is None]
    if missing:
        raise ValueError(f"{len(missing)} record(s) are not graded yet (first: problem {missing[0]['id']!r}, "
                         f"sample {missing[0]['sample']})")
    pid, num_problems = group_index([str(r["id"]) for r in records])
    sample = torch.tensor([int(r["sample"]) for r in records], dtype=torch.long)
    correct = torch.tensor([bool(r["correct"]) for r in records], dtype=torch.float64)
    tokens = torch.tensor([float(r["tokens"]) for r in records], dtype=torch.float64)
    truncated = torch.tensor([bool(r["truncated"]) for r in records], dtype=torch.float64)

    per_problem = group_count(pid, num_problems)
    n = int(per_problem.max())
    if int(per_problem.min()) != n or int(sample.min()) < 0 or int(sample.max()) != n - 1:
        raise ValueError(f"every problem needs samples 0..{n - 1}: sample counts per problem range "
                         f"{int(per_problem.min())}..{n}, sample indices {int(sample.min())}..{int(sample.max())}")
    if torch.unique(pid * n + sample).numel() != len(records):
        raise ValueError("duplicate (problem id, sample) pairs in the records")

    n_correct = group_sum(correct, pid, num_problems)
    per_sample_acc = group_mean(correct, sample, n)
    is_correct = correct > 0
    metrics: dict[str, Any] = {
        "problems": num_problems,
        "samples_per_problem": n,
        "accuracy": float(correct.mean()),
        "accuracy_std": float(per_sample_acc.std(unbiased=True)) if n > 1 else None,
        "accuracy_per_sample": [float(a) for a in per_sample_acc],
        "pass_at_k": {str(k): float(pass_at_k(n, n_correct.long().numpy(), k).mean()) for k in range(1, n + 1)},
        "mean_tokens": float(tokens.mean()),
        "mean_tokens_correct": _mean_or_none(tokens[is_correct]),
        "mean_tokens_incorrect": _mean_or_none(tokens[~is_correct]),
        "truncation_rate": float(truncated.mean()),
    }
    if all("extracted" in r for r in records):
        metrics["no_answer_rate"] = sum(r["extracted"] is None for r in records) / len(records)
    return metrics


@dataclass(frozen=True)
class AESWeights:
    """AES constants: reward per unit of relative length saved (alpha), per unit of relative
    accuracy gained (beta) and penalty per unit of relative accuracy lost (gamma)."""

    alpha: float = 1.0
    beta: float = 3.0
    gamma: float = 5.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"AES {name}={value!r} is invalid: expected a finite number >= 0")


def aes(accuracy: float, tokens: float, base_accuracy: float, base_tokens: float,
        weights: AESWeights = AESWeights()) -> float:
    """Accuracy-Efficiency Score of one (accuracy, mean length) pair against a base pair.

    Accuracy may be a fraction or a percentage (only ratios enter), as long as both use the same unit.
    """
    if not base_tokens > 0:
        raise ValueError(f"AES needs a base mean length > 0, got {base_tokens!r}")
    if not base_accuracy > 0:
        raise ValueError(f"AES needs a base accuracy > 0 (relative change is undefined), got {base_accuracy!r}")
    d_len = (base_tokens - tokens) / base_tokens
    d_acc = (accuracy - base_accuracy) / base_accuracy
    if d_acc >= 0:
        return weights.alpha * d_len + weights.beta * d_acc
    return weights.alpha * d_len - weights.gamma * abs(d_acc)


def aes_aggregates(model: Mapping[str, tuple[float, float]], base: Mapping[str, tuple[float, float]],
                   weights: AESWeights = AESWeights()) -> dict[str, Any]:
    """AES over several benchmarks, both ways papers aggregate it.

    ``model`` and ``base`` map benchmark -> (accuracy, mean tokens); only benchmarks present in
    both enter. Returns ``per_benchmark`` AES, ``mean_of_benchmarks`` (mean of the per-benchmark
    AES, as O1-Pruner's AVERAGE column) and ``of_averages`` (AES of the mean accuracy and mean
    length over those benchmarks, as InfoDensity), plus the ``benchmarks`` used.
    """
    shared = [b for b in model if b in base]
    if not shared:
        raise ValueError(f"no benchmark in common between the run ({sorted(model)}) and the base ({sorted(base)})")
    per = {b: aes(model[b][0], model[b][1], base[b][0], base[b][1], weights) for b in shared}
    m = np.array([model[b] for b in shared], dtype=np.float64).mean(axis=0)
    r = np.array([base[b] for b in shared], dtype=np.float64).mean(axis=0)
    return {
        "benchmarks": shared,
        "per_benchmark": per,
        "mean_of_benchmarks": float(np.mean(list(per.values()))),
        "of_averages": aes(float(m[0]), float(m[1]), float(r[0]), float(r[1]), weights),
    }

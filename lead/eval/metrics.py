r"""Evaluation metrics: avg@n, unbiased pass@k, maj@k, length statistics, bootstrap intervals, AES.

Notation: a benchmark has problems :math:`q = 1..P`, each sampled :math:`n` times; sample
:math:`j` of problem :math:`q` has correctness :math:`c_{qj} \in \{0, 1\}`, length
:math:`\ell_{qj}` (generated tokens, counted at the cap when truncated) and a truncation flag.

* avg@n (pass@1 averaged over the n samples): :math:`\bar A = \frac{1}{Pn}\sum_{q,j} c_{qj}`.
* Its spread over samples: the accuracy of sample index ``j`` over all problems,
  :math:`A_j = \frac1P \sum_q c_{qj}`, is one "seed's" score; ``accuracy_std`` is the sample
  standard deviation (ddof = 1) of :math:`A_1..A_n`, i.e. the "mean ± std over seeds" of
  Sober Reasoning. It is ``None`` for n = 1 (undefined, not zero). ``mean_tokens_std`` is the
  same for the mean length.
* Unbiased pass@k (Chen et al. 2021) with :math:`C_q = \sum_j c_{qj}` correct samples:
  :math:`\mathrm{pass@}k = \frac1P\sum_q \bigl[1 - \binom{n - C_q}{k} / \binom{n}{k}\bigr]`,
  computed as :math:`1 - \prod_{i=0}^{k-1} \frac{n - C_q - i}{n - i}` (a factor reaches 0 when
  fewer than k samples are wrong).
* maj@k (also written cons@k): majority vote over the extracted answers of k samples, answers
  the grader considers equal voting together, averaged exactly over all k-subsets of the n
  samples (:func:`majority_at_k`, which defines ties).
* 95% intervals: percentile bootstrap over problems. A resample draws P problems with
  replacement and keeps each drawn problem's n samples together; every figure is recomputed on
  it (:func:`ratio_replicates`). Differences between runs resample the shared problems once
  for both runs (:func:`paired_difference`); each benchmark draws its own resamples
  (:func:`benchmark_seed`), so an average over benchmarks has independent parts.
* AES (O1-Pruner, 2501.12570) of a model against a base run, with
  :math:`\Delta L = (L_{base} - L)/L_{base}` and :math:`\Delta A = (A - A_{base})/A_{base}`:
  :math:`\alpha\Delta L + \beta\Delta A` when :math:`\Delta A \ge 0`, else
  :math:`\alpha\Delta L - \gamma|\Delta A|`; defaults :math:`\alpha=1, \beta=3, \gamma=5`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


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


def majority_at_k(votes: Sequence[int | None], k: int) -> float:
    r"""Expected majority-vote correctness of a uniformly random k-subset of one problem's samples.

    ``votes[j]`` is sample j's answer class: ``0`` for the class of correct answers, ``1, 2, ...``
    for classes of wrong answers the grader considers equal to each other, None for a sample
    that casts no vote (no answer, or a truncated response). The vote of a subset goes to the
    class with most members in it; a tie between t classes is broken uniformly at random, so a
    tie that includes the correct class scores :math:`1/t`; a subset without any vote scores 0.
    For ``k = n`` this is cons@n (majority over all samples).

    Exact, by counting subsets: with :math:`m_0` correct samples, wrong classes of sizes
    :math:`m_1..m_W` and :math:`u` non-voting samples,

    .. math:: \mathrm{maj@}k = \binom{n}{k}^{-1} \sum_{a \ge 1} \binom{m_0}{a}
              \sum_{y, s} \frac{N_a(s, t)}{1 + t} \binom{u}{k - a - s}

    where :math:`N_a(s, t)` counts the ways to draw s samples from the wrong classes with at
    most a from each and exactly t classes at a (a dynamic programme over the classes).
    """
    n = len(votes)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"maj@k needs an integer 1 <= k <= n={n}, got k={k!r}")
    m0 = sum(v == 0 for v in votes)
    if m0 == 0:
        return 0.0
    sizes = list(Counter(v for v in votes if v is not None and v != 0).values())
    unvoted = sum(v is None for v in votes)
    total = 0.0
    for a in range(1, min(k, m0) + 1):
        rest = k - a
        # ways[s, t]: draws of s samples from the wrong classes seen so far, each class at most a,
        # t of them exactly a.
        ways = np.zeros((rest + 1, len(sizes) + 1))
        ways[0, 0] = 1.0
        for m in sizes:
            nxt = np.zeros_like(ways)
            for y in range(min(m, a, rest) + 1):
                tie = int(y == a)
                nxt[y:, tie:] += math.comb(m, y) * ways[: rest + 1 - y, : ways.shape[1] - tie]
            ways = nxt
        fill = np.array([math.comb(unvoted, rest - s) for s in range(rest + 1)], dtype=np.float64)
        share = 1.0 / (1.0 + np.arange(len(sizes) + 1))
        total += math.comb(m0, a) * float(fill @ ways @ share)
    return total / math.comb(n, k)


def majority_ks(n: int) -> list[int]:
    """The k reported for maj@k: powers of two below n, and n itself."""
    return sorted({2**i for i in range(n.bit_length()) if 2**i < n} | {n})


# ---------------------------------------------------------------------------------------------
# bootstrap over problems

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def bootstrap_indices(
    num_problems: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """``[resamples, num_problems]`` problem indices drawn with replacement:
    ``numpy.random.default_rng(seed).integers(0, num_problems, (resamples, num_problems))``."""
    if resamples < 1:
        raise ValueError(f"bootstrap needs at least 1 resample, got {resamples}")
    return np.random.default_rng(seed).integers(0, num_problems, size=(resamples, num_problems))


def benchmark_seed(seed: int, benchmark: str) -> int:
    """The bootstrap seed of one benchmark, derived from ``seed`` and the benchmark's name (SHA-256:
    the same in every process, unlike ``hash()``). Benchmarks averaged together need independent
    resamples: with one seed for all, two of the same size would be resampled identically."""
    digest = hashlib.sha256(f"{seed}/{benchmark}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def ratio_replicates(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    r"""Bootstrap replicates :math:`\sum_{q \in b} num_q / \sum_{q \in b} den_q` for each row b of
    ``idx``; NaN where the resampled denominator is 0 (nothing to average in that resample).

    Every figure of a benchmark is such a ratio over problems: accuracy (correct samples / n),
    pass@k and maj@k (per-problem value / 1), mean tokens (token sum / n), mean tokens of the
    correct samples (their token sum / their count), ...
    """
    top = np.asarray(num, dtype=np.float64)[idx].sum(axis=1)
    bottom = np.asarray(den, dtype=np.float64)[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def percentile_interval(replicates: np.ndarray, level: float = CONFIDENCE) -> list[float] | None:
    """The central ``level`` percentile interval of the defined (non-NaN) replicates (numpy's
    linear interpolation); None when no replicate is defined."""
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return [float(lo), float(hi)]


def _ratio(num: np.ndarray, den: np.ndarray) -> float | None:
    """The point estimate sum(num) / sum(den): None (not 0) when there is nothing to average."""
    d = float(np.sum(den))
    return float(np.sum(num)) / d if d > 0 else None


def _figure(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> tuple[float | None, list[float] | None]:
    value = _ratio(num, den)
    return value, None if value is None else percentile_interval(ratio_replicates(num, den, idx))


# ---------------------------------------------------------------------------------------------
# per-problem tables and summaries


@dataclass(frozen=True)
class ProblemTable:
    """One benchmark's samples as ``[P, n]`` arrays, problems in sorted id order, samples by index.

    ``votes`` holds answer classes as described in :func:`majority_at_k`, with -1 for "no vote"
    (None when the records carry no classes).
    """

    ids: list[str]
    correct: np.ndarray
    tokens: np.ndarray
    truncated: np.ndarray
    votes: np.ndarray | None = None

    @property
    def num_problems(self) -> int:
        return len(self.ids)

    @property
    def n(self) -> int:
        return int(self.correct.shape[1])

    def to_dict(self) -> dict[str, Any]:
        out = {
            "ids": self.ids,
            "correct": self.correct.astype(int).tolist(),
            "tokens": self.tokens.tolist(),
            "truncated": self.truncated.astype(int).tolist(),
        }
        if self.votes is not None:
            out["votes"] = self.votes.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProblemTable:
        votes = data.get("votes")
        return cls(
            list(data["ids"]),
            np.asarray(data["correct"], dtype=bool),
            np.asarray(data["tokens"], dtype=np.int64),
            np.asarray(data["truncated"], dtype=bool),
            None if votes is None else np.asarray(votes, dtype=np.int64),
        )

    def select(self, ids: Sequence[str], n: int | None = None) -> ProblemTable:
        """The rows of ``ids`` (in that order) and the first ``n`` samples."""
        pos = {p: i for i, p in enumerate(self.ids)}
        rows = [pos[p] for p in ids]
        cols = slice(0, self.n if n is None else n)
        return ProblemTable(
            list(ids),
            self.correct[rows, cols],
            self.tokens[rows, cols],
            self.truncated[rows, cols],
            None if self.votes is None else self.votes[rows, cols],
        )


def problem_table(records: Sequence[Mapping[str, Any]]) -> ProblemTable:
    """The ``[P, n]`` table of graded records; every problem must have the same samples 0..n-1.

    Each record needs ``id`` (problem id), ``sample`` (index 0..n-1), ``correct`` (bool),
    ``tokens`` (int) and ``truncated`` (bool); ``vote`` (answer class or None) when present in
    every record. An incomplete set raises instead of biasing the averages.
    """
    if not records:
        raise ValueError("cannot summarise an empty set of records")
    missing = [r for r in records if r.get("correct") is None]
    if missing:
        raise ValueError(
            f"{len(missing)} record(s) are not graded yet (first: problem {missing[0]['id']!r}, "
            f"sample {missing[0]['sample']})"
        )
    ids = sorted({str(r["id"]) for r in records})
    row = {p: i for i, p in enumerate(ids)}
    pid = np.array([row[str(r["id"])] for r in records])
    sample = np.array([int(r["sample"]) for r in records])
    per_problem = np.bincount(pid, minlength=len(ids))
    n = int(per_problem.max())
    if int(per_problem.min()) != n or int(sample.min()) < 0 or int(sample.max()) != n - 1:
        raise ValueError(
            f"every problem needs samples 0..{n - 1}: sample counts per problem range "
            f"{int(per_problem.min())}..{n}, sample indices {int(sample.min())}..{int(sample.max())}"
        )
    if np.unique(pid * n + sample).size != len(records):
        raise ValueError("duplicate (problem id, sample) pairs in the records")

    def grid(values: list, dtype: Any) -> np.ndarray:
        out = np.zeros((len(ids), n), dtype=dtype)
        out[pid, sample] = values
        return out

    votes = None
    if all("vote" in r for r in records):
        votes = grid([-1 if r["vote"] is None else int(r["vote"]) for r in records], np.int64)
    return ProblemTable(
        ids,
        grid([bool(r["correct"]) for r in records], bool),
        grid([int(r["tokens"]) for r in records], np.int64),
        grid([bool(r["truncated"]) for r in records], bool),
        votes,
    )


def _std_over_samples(per_sample: np.ndarray) -> float | None:
    """Sample standard deviation (ddof = 1) of the per-sample-index figures; None for n = 1."""
    return float(np.std(per_sample, ddof=1)) if per_sample.size > 1 else None


def table_metrics(t: ProblemTable, idx: np.ndarray) -> dict[str, Any]:
    """Accuracy, length and truncation figures of a table, each with its bootstrap interval
    (``<name>_ci``) computed on the resampled problem indices ``idx``."""
    n = t.n
    c = t.correct.astype(np.float64)
    tok = t.tokens.astype(np.float64)
    trunc = t.truncated.astype(np.float64)
    count = np.full(t.num_problems, float(n))
    out: dict[str, Any] = {"problems": t.num_problems, "samples_per_problem": n}
    out["accuracy"], out["accuracy_ci"] = _figure(c.sum(1), count, idx)
    out["accuracy_std"] = _std_over_samples(c.mean(0))
    out["accuracy_per_sample"] = [float(a) for a in c.mean(0)]
    out["mean_tokens"], out["mean_tokens_ci"] = _figure(tok.sum(1), count, idx)
    out["mean_tokens_std"] = _std_over_samples(tok.mean(0))
    out["mean_tokens_per_sample"] = [float(x) for x in tok.mean(0)]
    out["mean_tokens_correct"], out["mean_tokens_correct_ci"] = _figure((tok * c).sum(1), c.sum(1), idx)
    out["mean_tokens_incorrect"], out["mean_tokens_incorrect_ci"] = _figure((tok * (1 - c)).sum(1), (1 - c).sum(1), idx)
    out["truncation_rate"], out["truncation_rate_ci"] = _figure(trunc.sum(1), count, idx)
    for name, keep in (("completed", 1 - trunc), ("truncated", trunc)):
        part: dict[str, Any] = {"samples": int(keep.sum())}
        part["accuracy"], part["accuracy_ci"] = _figure((c * keep).sum(1), keep.sum(1), idx)
        part["mean_tokens"], part["mean_tokens_ci"] = _figure((tok * keep).sum(1), keep.sum(1), idx)
        out[name] = part
    return out


def summarize(
    records: Sequence[Mapping[str, Any]],
    groups: Mapping[str, Mapping[str, str]] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Benchmark metrics from per-sample records (see :func:`problem_table` for their fields).

    ``groups`` maps a breakdown name (``level``, ``subject``) to ``{problem id: value}``; each
    value gets the figures of :func:`table_metrics` over its problems (``by_<name>``). Every
    interval is a 95% percentile interval of ``resamples`` bootstrap resamples of the problems
    (each problem's samples kept together), drawn with ``seed``. ``no_answer_rate`` is added
    when the records carry ``extracted``.
    """
    t = problem_table(records)
    idx = bootstrap_indices(t.num_problems, resamples, seed)
    metrics = table_metrics(t, idx)
    n_correct = t.correct.sum(1)
    pass_k = {k: pass_at_k(t.n, n_correct, k) for k in range(1, t.n + 1)}
    metrics["pass_at_k"] = {str(k): float(v.mean()) for k, v in pass_k.items()}
    ones = np.ones(t.num_problems)
    metrics["pass_at_k_ci"] = {str(k): percentile_interval(ratio_replicates(v, ones, idx)) for k, v in pass_k.items()}
    if t.votes is not None:
        maj = {
            k: np.array([majority_at_k([None if v < 0 else int(v) for v in row], k) for row in t.votes])
            for k in majority_ks(t.n)
        }
        metrics["maj_at_k"] = {str(k): float(v.mean()) for k, v in maj.items()}
        metrics["maj_at_k_ci"] = {str(k): percentile_interval(ratio_replicates(v, ones, idx)) for k, v in maj.items()}
    if all("extracted" in r for r in records):
        metrics["no_answer_rate"] = sum(r["extracted"] is None for r in records) / len(records)
    for name, mapping in (groups or {}).items():
        values = sorted({mapping[p] for p in t.ids if mapping.get(p) is not None})
        if not values:
            continue
        metrics[f"by_{name}"] = {}
        for value in values:
            sub = t.select([p for p in t.ids if mapping.get(p) == value])
            metrics[f"by_{name}"][value] = table_metrics(sub, bootstrap_indices(sub.num_problems, resamples, seed))
    metrics["bootstrap"] = {"resamples": resamples, "seed": seed, "confidence": CONFIDENCE}
    return metrics


def paired_difference(
    a: ProblemTable,
    b: ProblemTable,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    keep_replicates: bool = False,
) -> dict[str, Any]:
    r"""Run a minus run b on the problems and sample indices they share.

    Pairs sample j of problem q in both runs. Reports the differences of accuracy and mean
    tokens with 95% intervals from one bootstrap over the shared problems (the same resampled
    problems for both runs, so the pairing is kept), the std over sample indices of the
    per-index differences, and how many problems each run solves more often. With
    ``keep_replicates`` the bootstrap replicates are returned too (``replicates``), for
    combining benchmarks.
    """
    shared = sorted(set(a.ids) & set(b.ids))
    if not shared:
        raise ValueError("the two runs share no problem")
    n = min(a.n, b.n)
    out: dict[str, Any] = {
        "problems": len(shared),
        "samples": n,
        "only_a": len(set(a.ids) - set(shared)),
        "only_b": len(set(b.ids) - set(shared)),
    }
    a, b = a.select(shared, n), b.select(shared, n)
    idx = bootstrap_indices(len(shared), resamples, seed)
    count = np.full(len(shared), float(n))
    replicates = {}
    for key, x, y in (("accuracy", a.correct, b.correct), ("mean_tokens", a.tokens, b.tokens)):
        d = x.astype(np.float64) - y.astype(np.float64)
        out[key] = float(d.sum() / d.size)
        replicates[key] = ratio_replicates(d.sum(1), count, idx)
        out[f"{key}_ci"] = percentile_interval(replicates[key])
        out[f"{key}_std"] = _std_over_samples(d.mean(0))
    solved_a, solved_b = a.correct.sum(1), b.correct.sum(1)
    out["problems_a_better"] = int((solved_a > solved_b).sum())
    out["problems_b_better"] = int((solved_a < solved_b).sum())
    out["problems_equal"] = int((solved_a == solved_b).sum())
    if keep_replicates:
        out["replicates"] = replicates
    return out


def excludes_zero(interval: Sequence[float] | None) -> bool:
    """Whether a difference's interval lies entirely on one side of 0."""
    return interval is not None and (interval[0] > 0 or interval[1] < 0)


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


def aes(
    accuracy: float, tokens: float, base_accuracy: float, base_tokens: float, weights: AESWeights = AESWeights()
) -> float:
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


def aes_aggregates(
    model: Mapping[str, tuple[float, float]],
    base: Mapping[str, tuple[float, float]],
    weights: AESWeights = AESWeights(),
) -> dict[str, Any]:
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

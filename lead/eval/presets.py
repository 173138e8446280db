"""Named sampling presets for evaluation and their per-benchmark resolution.

A preset fixes temperature, top-p, the generation budget and the number of samples per problem
(which depends on the benchmark: small sets need more samples for a stable average). Every value
can be overridden from the command line; the resolved values are written into every result file.

* ``sober``: Sober Reasoning (arXiv 2504.07086, lighteval + vLLM): temperature 0.8, top-p 0.9,
  32,768 tokens; n = 3 for the large sets (MATH-500, OlympiadBench, Minerva) and n = 10 for the
  small ones (AIME 2024/2025, AMC 2023), the counts the LEAD paper reports.
* ``deepseek``: the DeepSeek-R1 report: temperature 0.6, top-p 0.95, 32,768 tokens, "between 4
  and 64 samples depending on the test-set size": 64 for the 30/40-problem sets, 4 for the others.
* ``laser``: the LASER evaluation script: temperature 0.6, top-p 0.95, 32,768 tokens, n = 16 everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sampling:
    """How one benchmark is sampled. ``top_k = 0`` disables top-k; ``temperature = 0`` is greedy."""

    n: int
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n={self.n!r} is invalid: expected an integer >= 1 samples per problem")
        if (
            not isinstance(self.temperature, (int, float))
            or not math.isfinite(self.temperature)
            or self.temperature < 0
        ):
            raise ValueError(f"temperature={self.temperature!r} is invalid: expected a finite number >= 0")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p!r} is invalid: expected 0 < top_p <= 1")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k={self.top_k!r} is invalid: expected an integer >= 0 (0 disables it)")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens!r} is invalid: expected an integer >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    name: str
    temperature: float
    top_p: float
    max_tokens: int
    n: Mapping[str, int]
    source: str
    top_k: int = 0


_SMALL_SETS = ("aime24", "aime25", "amc23")
_LARGE_SETS = ("math500", "olympiadbench", "minerva")

PRESETS: dict[str, Preset] = {
    "sober": Preset(
        "sober",
        0.8,
        0.9,
        32768,
        {**dict.fromkeys(_LARGE_SETS, 3), **dict.fromkeys(_SMALL_SETS, 10)},
        "Sober Reasoning (arXiv 2504.07086); n as reported by LEAD",
    ),
    "deepseek": Preset(
        "deepseek",
        0.6,
        0.95,
        32768,
        {**dict.fromkeys(_LARGE_SETS, 4), **dict.fromkeys(_SMALL_SETS, 64)},
        "DeepSeek-R1 report (arXiv 2501.12948)",
    ),
    "laser": Preset(
        "laser",
        0.6,
        0.95,
        32768,
        dict.fromkeys(_LARGE_SETS + _SMALL_SETS, 16),
        "LASER evaluation script (arXiv 2505.15612)",
    ),
}


def parse_n(text: str | None) -> int | dict[str, int] | None:
    """``"4"`` -> 4 for every benchmark; ``"math500=3,aime24=10"`` -> per benchmark."""
    if text is None:
        return None
    text = text.strip()
    if "=" not in text:
        try:
            return int(text)
        except ValueError:
            raise ValueError(
                f"--n {text!r} is invalid: expected an integer or NAME=INT pairs like math500=3,aime24=10"
            ) from None
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise ValueError(f"--n entry {part!r} is invalid: expected NAME=INT") from None
    return out


def resolve_sampling(
    preset: str,
    benchmarks: Iterable[str],
    *,
    n: int | Mapping[str, int] | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    top_k: int | None = None,
    max_tokens: int | None = None,
) -> dict[str, Sampling]:
    """Per-benchmark sampling from a preset plus explicit overrides (None keeps the preset's value)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    benchmarks = list(benchmarks)
    if isinstance(n, Mapping):
        stray = sorted(set(n) - set(benchmarks))
        if stray:
            raise ValueError(f"--n names benchmark(s) {stray} that are not being evaluated ({benchmarks})")
    out = {}
    for b in benchmarks:
        if isinstance(n, Mapping) and b in n:
            count = n[b]
        elif isinstance(n, int):
            count = n
        elif b in p.n:
            count = p.n[b]
        else:
            raise ValueError(f"preset {preset!r} has no sample count for benchmark {b!r}; pass --n {b}=N")
        out[b] = Sampling(
            n=count,
            temperature=p.temperature if temperature is None else temperature,
            top_p=p.top_p if top_p is None else top_p,
            top_k=p.top_k if top_k is None else top_k,
            max_tokens=p.max_tokens if max_tokens is None else max_tokens,
        )
    return out

r"""Self-check of the math reward on a benchmark's own gold answers.

``python -m lead.data.selfcheck FILE.jsonl [--timeout S]`` reads each problem's first gold answer
(:func:`lead.data.sources.answers_of`: any source's field names), builds a response ending in
``\boxed{<gold>}`` and checks that

* :func:`~lead.rewards.math.extract_answer` returns the gold answer exactly;
* math-verify judges it equivalent to itself (asked directly, without the exact-string
  shortcut that :func:`~lead.rewards.math.grade` takes first);
* another problem's (different) gold answer is judged not equivalent.

It prints the three rates, the failing cases, and the mean wall time per math-verify call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lead.data.sources import answers_of
from lead.rewards.math import DEFAULT_TIMEOUT_S, extract_answer
from lead.rewards.verifier import get_pool


def response_with(answer: str) -> str:
    return (
        "Let me work through this carefully, trying \\boxed{0} first.\n</think>\n\n"
        f"So the final answer is $\\boxed{{{answer}}}$."
    )


@dataclass
class SelfCheck:
    problems: int = 0
    extracted: int = 0
    self_equivalent: int = 0
    negatives: int = 0
    negatives_rejected: int = 0
    seconds_per_call: float = 0.0
    failures: list[str] = field(default_factory=list)
    accepted_others: list[tuple[str, str]] = field(default_factory=list)

    def rates(self) -> dict[str, float]:
        return {
            "extraction": self.extracted / max(self.problems, 1),
            "self_equivalence": self.self_equivalent / max(self.problems, 1),
            "other_answer_rejected": self.negatives_rejected / max(self.negatives, 1),
        }


def run_selfcheck(golds: list[str], timeout: float = DEFAULT_TIMEOUT_S) -> SelfCheck:
    """Run the three checks on a list of gold answers (one per problem, in benchmark order)."""
    result = SelfCheck(problems=len(golds))
    pool = get_pool()
    pool.check("1", ["1"], timeout=timeout)  # start a worker outside the timed loop
    calls, elapsed = 0, 0.0
    for i, gold in enumerate(golds):
        pred = extract_answer(response_with(gold))
        if pred == gold:
            result.extracted += 1
        else:
            result.failures.append(f"extraction #{i}: gold {gold!r} -> {pred!r}")
        start = time.perf_counter()
        ok = pool.check(pred or "", [gold], timeout=timeout)
        elapsed += time.perf_counter() - start
        calls += 1
        if ok:
            result.self_equivalent += 1
        else:
            result.failures.append(f"self-equivalence #{i}: {gold!r}")
        following = (golds[(i + k) % len(golds)] for k in range(1, len(golds)))
        other = next((g for g in following if g != gold), None)
        if other is None:
            continue
        result.negatives += 1
        start = time.perf_counter()
        wrong = pool.check(other, [gold], timeout=timeout)
        elapsed += time.perf_counter() - start
        calls += 1
        if wrong:
            result.accepted_others.append((gold, other))
            result.failures.append(f"other answer accepted #{i}: gold {gold!r}, pred {other!r}")
        else:
            result.negatives_rejected += 1
    result.seconds_per_call = elapsed / max(calls, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lead.data.selfcheck", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="benchmark JSONL (raw or normalised)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per math-verify call")
    args = parser.parse_args(argv)
    golds = []
    with args.file.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                answers = answers_of(json.loads(line))
                if not answers:
                    print(f"{args.file}:{lineno}: no gold answer", file=sys.stderr)
                    return 1
                golds.append(answers[0])
    result = run_selfcheck(golds, timeout=args.timeout)
    for failure in result.failures:
        print(failure)
    rates = result.rates()
    print(
        f"{result.problems} problems: extraction {rates['extraction']:.1%}, "
        f"self-equivalence {rates['self_equivalence']:.1%}, "
        f"other answer rejected {rates['other_answer_rejected']:.1%} of {result.negatives}; "
        f"{result.seconds_per_call * 1000:.1f} ms per math-verify call"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

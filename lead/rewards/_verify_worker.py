"""Grading subprocess: decides math-verify equivalence for one request at a time.

Runs as ``python -m lead.rewards._verify_worker [MEMORY_LIMIT_MB]`` under
:class:`lead.rewards.verifier.VerifierPool`. Protocol, one JSON document per line:

* on start, after importing math-verify, it writes ``"ready"``;
* each request is ``[pred, [gold, ...]]``; the reply is ``1`` when ``pred`` is equivalent to at
  least one gold answer, ``0`` when it is not, ``-1`` when math-verify raised an exception.

The parent bounds the time of every request by killing this process; here math-verify's own
``signal.alarm`` timeouts are switched off so that nothing depends on which thread calls what.
A memory cap (``RLIMIT_AS``) turns a runaway sympy expression (``10^{10^{10}}``) into a
``MemoryError`` instead of exhausting the node's memory before the parent's deadline.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from functools import lru_cache


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str]) -> int:
    # Replies go to a private copy of stdout; anything a library prints goes to stderr instead
    # of corrupting the protocol.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if argv and int(argv[0]) > 0:
        _limit_memory(int(argv[0]))
    # Timeouts are switched off on purpose (see module docstring); math-verify would warn about it.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    extraction = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]

    def parse_answer(answer: str):
        # Both sides are bare answers; boxing them makes math-verify take the whole string as
        # the answer instead of searching it for an "answer is ..." pattern.
        text = answer if "\\boxed" in answer else "\\boxed{" + answer + "}"
        return parse(text, extraction_config=extraction, parsing_timeout=None)

    gold_cache = lru_cache(maxsize=4096)(parse_answer)

    def equivalent(pred: str, golds: list[str]) -> bool:
        parsed_pred = parse_answer(pred)
        return any(verify(gold_cache(g), parsed_pred, timeout_seconds=None) for g in golds)

    out.write('"ready"\n')
    out.flush()
    for line in sys.stdin:
        try:
            pred, golds = json.loads(line)
            reply = 1 if equivalent(pred, golds) else 0
        except Exception:  # noqa: BLE001 - one bad request must not end the worker
            reply = -1
        out.write(f"{reply}\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

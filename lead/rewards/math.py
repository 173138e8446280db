r"""Math answer reward: the last ``\boxed{...}`` of a response, graded with math-verify.

* :func:`extract_answer` takes the model's final answer from its response only: the text after
  the last ``</think>`` when there is one, else the whole response; in it, the last ``\boxed``
  (or ``\fbox``) command, brace-matched, in either form ``\boxed{...}`` or ``\boxed 5``.
* :func:`grade` / :func:`grade_many` decide equivalence with math-verify (gold parsed first),
  every comparison bounded in time by a killable worker process
  (:mod:`lead.rewards.verifier`), so they are safe in any thread and never hang. Both answers
  first lose the marks the usual MATH answer normalisation drops (:func:`normalize_answer`):
  math-verify reads ``18\%`` as a string, so without this ``18`` would never match it.
* :func:`compute_score` is the verl custom reward function::

      reward.custom_reward_function.path=pkg://lead.rewards.math
      reward.custom_reward_function.name=compute_score

  returning ``{"score", "acc", "pred"}`` for every sample, with
  ``score = correct_reward if acc else incorrect_reward``.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lead.rewards.verifier import get_pool

DEFAULT_TIMEOUT_S = 5.0

_THINK_END = "</think>"
_BOX_COMMANDS = ("\\boxed", "\\fbox")


_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)


def _match_braces(text: str, open_at: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_at``; escaped ``\\{``/``\\}`` don't count."""
    depth = 0
    for token in _BRACE_TOKENS.finditer(text, open_at):
        brace = token.group()
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth -= 1
            if depth == 0:
                return token.start()
    return None


def _box_argument(text: str, start: int) -> str | None:
    """The argument of a box command whose name ends at ``start``; None when it has none."""
    if start < len(text) and text[start] == "{":
        close = _match_braces(text, start)
        return None if close is None else text[start + 1 : close]
    # `\boxed 5`: one space-delimited token (inline math may close it with `$`).
    rest = text[start:].lstrip()
    token = rest.split(None, 1)[0] if rest else ""
    return token.split("$", 1)[0]


def extract_answer(response: str) -> str | None:
    r"""The content of the last ``\boxed``/``\fbox`` in the final part of ``response``.

    The final part is the text after the last ``</think>``, or the whole response when it has
    none. Returns None when that part has no box command, when the last one is unterminated
    (e.g. a truncated ``\boxed{12``) or empty. Linear in the length of the response.
    """
    if not isinstance(response, str):
        return None
    think_end = response.rfind(_THINK_END)
    text = response[think_end + len(_THINK_END) :] if think_end >= 0 else response
    # Last occurrence of each command; only the one just rejected is searched again, further
    # left, so the whole scan stays linear even for text full of near-miss command names.
    last = {cmd: text.rfind(cmd) for cmd in _BOX_COMMANDS}
    while True:
        cmd = max(last, key=last.__getitem__)
        pos = last[cmd]
        if pos < 0:
            return None
        after = pos + len(cmd)
        if after < len(text) and text[after].isalpha():
            # A longer command name such as \boxedsomething: keep looking further left.
            last[cmd] = text.rfind(cmd, 0, pos)
            continue
        if after < len(text) and text[after] != "{" and not text[after].isspace():
            return None
        content = _box_argument(text, after)
        if content is None:
            return None
        content = content.strip()
        return content or None


# A LaTeX escape (``\\`` counts as one, so the space in ``\\ `` is not ``\ ``) or a bare ``%``.
_ESCAPE_OR_PERCENT = re.compile(r"\\(.)|%", re.DOTALL)
# Escapes dropped (percent, dollar, negative thin space) or turned into a plain space.
_ESCAPE_REPLACEMENTS = {"%": "", "$": "", "!": "", " ": " "}
_DEGREES = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ(?![A-Za-z]))")
# A trailing unit in words, written with a leading space as MATH does (``40\text{ feet}``).
# Only letters and spaces: ``\text{ p.m.}`` or ``\text{ and } 4`` carry meaning and stay.
_TRAILING_UNIT = re.compile(r"^(.*?\S)\s*\\(?:text|textnormal|mbox|mathrm)\s*\{\s+[A-Za-z][A-Za-z ]*\}\s*$", re.DOTALL)


def normalize_answer(answer: str) -> str:
    r"""``answer`` without the marks that MATH answer normalisation removes: ``\%`` and ``%``,
    ``\$``, ``\!``, degrees (``^\circ``, ``^{\circ}``), a trailing unit in words
    (``40\text{ feet}`` -> ``40``); ``\ `` becomes a plain space. ``18\%`` therefore means 18
    (not 0.18), as in the MATH grader. Returns ``answer`` unchanged when nothing would remain."""
    text = _DEGREES.sub("", answer)
    text = _ESCAPE_OR_PERCENT.sub(
        lambda m: "" if m.group(1) is None else _ESCAPE_REPLACEMENTS.get(m.group(1), m.group(0)), text
    )
    unit = _TRAILING_UNIT.match(text)
    if unit:
        text = unit.group(1)
    text = text.strip()
    return text or answer


def _gold_list(gold: Any) -> list[str]:
    if isinstance(gold, Mapping):
        # Iterating a dict yields its keys, which would silently become the gold answers.
        raise TypeError(
            f"gold must be a string or a list of strings, got a {type(gold).__name__} "
            f"(its keys would be graded as the answers): {gold!r}"
        )
    if isinstance(gold, str):
        items: Iterable[Any] = [gold]
    elif isinstance(gold, numbers.Number) and not isinstance(gold, bool):
        items = [gold]
    elif isinstance(gold, Iterable):
        items = list(gold)
    else:
        raise TypeError(f"gold must be a string or a list of strings, got {type(gold).__name__}: {gold!r}")
    golds = []
    for item in items:
        if isinstance(item, numbers.Number) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise TypeError(f"gold answers must be strings, got {type(item).__name__}: {item!r}")
        item = item.strip()
        if item:
            # The written form stays acceptable too: ``0.56 = 56\%`` accepts 56 but ``0.56 = 56``
            # reads as a false equation.
            golds.extend(dict.fromkeys((normalize_answer(item), item)))
    if not golds:
        # An empty ground truth would score every response 0; that is a data bug to surface.
        raise ValueError(f"no gold answer given (gold={gold!r})")
    return golds


def _check_timeout(timeout: float) -> float:
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    return timeout


def _prepare(pred: str | None, gold: Any) -> tuple[str, list[str]] | bool:
    """Either a decided verdict (bool) or the ``(pred, golds)`` request for math-verify."""
    golds = _gold_list(gold)
    if not isinstance(pred, str) or not pred.strip():
        return False
    pred = normalize_answer(pred.strip())
    if pred in golds:
        return True
    return pred, golds


def grade(pred: str | None, gold: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """True iff ``pred`` is equivalent to ``gold`` (or to any of a list of acceptable golds).

    Equivalence is math-verify's ``verify(parse(gold), parse(pred))`` on both answers boxed,
    with ``pred`` normalised (:func:`normalize_answer`) and each gold both normalised and as
    written; identical strings are equivalent without asking it. None or an empty ``pred`` is never
    correct. The comparison runs in a worker process and is abandoned (False) after
    ``timeout`` seconds, so this never hangs and never raises for any ``pred``. A gold that is
    not a string, a number or a list of those (a dict included) raises TypeError, and an empty one ValueError
    (data bugs, not model output).
    """
    timeout = _check_timeout(timeout)
    prepared = _prepare(pred, gold)
    if isinstance(prepared, bool):
        return prepared
    return get_pool().check(*prepared, timeout=timeout)


def grade_many(
    preds: Sequence[str | None],
    golds: Sequence[str | Sequence[str]],
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[bool]:
    """:func:`grade` for each ``(preds[i], golds[i])``, spread over the worker pool.

    Identical (pred, gold) pairs are graded once, which matters when many samples of one problem
    give the same answer.
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} != {len(golds)}")
    timeout = _check_timeout(timeout)
    verdicts: list[bool | None] = [None] * len(preds)
    pending: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, (pred, gold) in enumerate(zip(preds, golds)):
        prepared = _prepare(pred, gold)
        if isinstance(prepared, bool):
            verdicts[i] = prepared
        else:
            pending.setdefault((prepared[0], tuple(prepared[1])), []).append(i)
    if pending:
        pool = get_pool()
        keys = list(pending)
        with ThreadPoolExecutor(max_workers=min(pool.max_workers, len(keys))) as executor:
            results = executor.map(lambda key: pool.check(key[0], list(key[1]), timeout=timeout), keys)
            for key, verdict in zip(keys, results):
                for i in pending[key]:
                    verdicts[i] = verdict
    return [bool(v) for v in verdicts]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | Sequence[str],
    extra_info: dict | None = None,
    correct_reward: float = 1.0,
    incorrect_reward: float = 0.0,
    timeout: float = DEFAULT_TIMEOUT_S,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl reward function: ``{"score": float, "acc": bool, "pred": str}`` for every sample.

    ``pred`` is the extracted answer, ``""`` when the response has none (then ``acc`` is False).
    ``data_source``, ``extra_info`` and other keyword arguments verl passes are accepted and
    ignored: the grading is the same for every math data source.
    """
    pred = extract_answer(solution_str)
    acc = grade(pred, ground_truth, timeout=timeout)
    return {
        "score": float(correct_reward) if acc else float(incorrect_reward),
        "acc": acc,
        "pred": pred or "",
    }

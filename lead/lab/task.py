r"""The lab's synthetic reasoning task: chains of ``k`` small operations mod 10.

A problem is a start digit ``x_0`` and ``k`` labelled operations ``o_1..o_k`` (``+d``, ``-d`` or
``*d`` with ``d`` in 1..9), and its answer is ``x_k`` with ``x_j = o_j(x_{j-1}) mod 10``::

    prompt:  Q 4 A +3 B -5 C *2 ?
    trace:   A 4 +3 7 B 7 -5 2 C 2 *2 4 ans 4 <eos>

The necessary reasoning is one *round* of ``k`` steps, each written as four tokens
``label x_{j-1} o_j x_j``, so the shortest complete trace has ``4k + 3`` tokens (the round, then
``ans``, the digit and ``<eos>``). The warm-up corpus "overthinks": after the round it repeats
the whole round ``R ~ U{0..max_rechecks}`` times, each repetition prefixed by ``chk``
(``4k + 1`` tokens each), so length varies both with difficulty and with waste. A fraction
``p_direct`` of the corpus answers at once (``ans x <eos>``, 3 tokens, no reasoning): right for
``k = 1`` (one operation can be done at a glance) and a uniformly random digit otherwise.

Everything is drawn from ``random.Random(seed)``, so a seed fixes the data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

OPS = ("+", "-", "*")
DIGITS = tuple(str(d) for d in range(10))
OP_TOKENS = tuple(f"{op}{d}" for op in OPS for d in range(1, 10))
WORDS = ("Q", "?", "chk", "ans")
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
DIRECT_LENGTH = 3
"""Tokens of a direct answer: ``ans``, the digit, ``<eos>``."""


@dataclass(frozen=True)
class TaskConfig:
    max_ops: int = 5
    """The most operations a problem has (labels run ``A..``); difficulties are ``k = 1..max_ops``
    operations, drawn uniformly, unless ``ks`` names a subset."""
    max_rechecks: int = 3
    """Redundant re-check rounds per warm-up trace are drawn from ``U{0..max_rechecks}``."""
    p_direct: float = 0.3
    """Share of warm-up answers that skip the reasoning."""
    ks: tuple[int, ...] = ()
    """The difficulties drawn, uniformly; empty: every ``k`` in ``1..max_ops``. A spread-out
    set (e.g. 1, 2, 4, 8, 14) gives problems whose shortest solutions lie far apart without
    spending the evaluation on every ``k`` in between."""
    warmup_ks: tuple[int, ...] = ()
    """The difficulties of the warm-up corpus, a superset of :attr:`difficulties`; empty: the
    same. RL and evaluation draw only :attr:`difficulties`. Warming up on every ``k`` in between
    teaches the model to find each label's operation in the prompt by its label: trained on 1, 2,
    4, 8 and 14 alone, it copies the wrong operations for the labels (E-G) that appear only in the
    two longest difficulties, whose prompts put them at two different distances."""

    def __post_init__(self) -> None:
        if not isinstance(self.max_ops, int) or not 1 <= self.max_ops <= 26:
            raise ValueError(f"task.max_ops={self.max_ops!r} is invalid: expected an integer in 1..26")
        for key in ("ks", "warmup_ks"):
            # A JSON round trip (results.json) gives a list; keep the config hashable and comparable.
            ks = tuple(getattr(self, key))
            object.__setattr__(self, key, ks)
            if (
                any(not isinstance(k, int) or not 1 <= k <= self.max_ops for k in ks)
                or len(set(ks)) != len(ks)
                or list(ks) != sorted(ks)
            ):
                raise ValueError(
                    f"task.{key}={ks!r} is invalid: expected distinct increasing integers in "
                    f"1..max_ops ({self.max_ops}), or () for {'all of them' if key == 'ks' else 'task.ks'}"
                )
        missing = sorted(set(self.difficulties) - set(self.warmup_difficulties))
        if missing:
            raise ValueError(
                f"task.warmup_ks={self.warmup_ks!r} is invalid: it lacks the difficulties {missing}, "
                "which RL and evaluation draw"
            )
        if not isinstance(self.max_rechecks, int) or self.max_rechecks < 0:
            raise ValueError(f"task.max_rechecks={self.max_rechecks!r} is invalid: expected an integer >= 0")
        if not 0.0 <= self.p_direct <= 1.0:
            raise ValueError(f"task.p_direct={self.p_direct!r} is invalid: expected a value in [0, 1]")

    @property
    def difficulties(self) -> tuple[int, ...]:
        """The ``k`` values problems are drawn from."""
        return self.ks or tuple(range(1, self.max_ops + 1))

    @property
    def warmup_difficulties(self) -> tuple[int, ...]:
        """The ``k`` values warm-up problems are drawn from."""
        return self.warmup_ks or self.difficulties

    def warmup_task(self) -> TaskConfig:
        """This task with the warm-up's difficulties as its own: what the warm-up corpus draws from."""
        return replace(self, ks=self.warmup_ks, warmup_ks=()) if self.warmup_ks else self

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(chr(ord("A") + i) for i in range(self.max_ops))

    @property
    def vocab(self) -> tuple[str, ...]:
        """Every token the task can produce; specials first so their ids are 0..3."""
        return SPECIALS + DIGITS + OP_TOKENS + self.labels + WORDS

    def longest_prompt(self) -> int:
        """Tokens of the longest prompt with its ``<bos>``: ``Q x_0``, ``K`` labelled operations, ``?``."""
        return 1 + 3 + 2 * self.max_ops

    def longest_trace(self) -> int:
        """Tokens of the longest warm-up trace: ``4K + 3 + max_rechecks (4K + 1)``."""
        k = self.max_ops
        return min_length(k) + self.max_rechecks * (4 * k + 1)


def min_length(k: int) -> int:
    """Tokens of the shortest complete trace of a ``k``-operation problem: ``4k + 3``."""
    return 4 * k + 3


def apply_op(x: int, op: str) -> int:
    d = int(op[1:])
    if op[0] == "+":
        return (x + d) % 10
    if op[0] == "-":
        return (x - d) % 10
    if op[0] == "*":
        return (x * d) % 10
    raise ValueError(f"unknown operation {op!r}; expected one of {OP_TOKENS}")


@dataclass(frozen=True)
class Problem:
    start: int
    ops: tuple[str, ...]

    @property
    def k(self) -> int:
        return len(self.ops)

    @property
    def key(self) -> str:
        """A stable id, used as the prompt key across RL steps and to keep evaluation held out."""
        return " ".join((str(self.start),) + self.ops)

    def values(self) -> list[int]:
        """``x_0 .. x_k``."""
        xs = [self.start]
        for op in self.ops:
            xs.append(apply_op(xs[-1], op))
        return xs

    @property
    def answer(self) -> int:
        return self.values()[-1]

    def prompt(self) -> str:
        labelled = " ".join(f"{chr(ord('A') + i)} {op}" for i, op in enumerate(self.ops))
        return f"Q {self.start} {labelled} ?"

    def round(self) -> str:
        """One full pass of reasoning: ``k`` steps of ``label x_{j-1} o_j x_j``."""
        xs = self.values()
        return " ".join(f"{chr(ord('A') + i)} {xs[i]} {op} {xs[i + 1]}" for i, op in enumerate(self.ops))

    def trace(self, rechecks: int) -> str:
        body = " ".join([self.round()] + [f"chk {self.round()}"] * rechecks)
        return f"{body} ans {self.answer} {EOS}"


def random_problem(rng: random.Random, cfg: TaskConfig, k: int | None = None) -> Problem:
    if k is None:
        # randint over the full range keeps the default task's draws what they always were.
        k = rng.choice(cfg.ks) if cfg.ks else rng.randint(1, cfg.max_ops)
    if k not in cfg.difficulties:
        raise ValueError(f"k={k!r} is not a difficulty of this task ({list(cfg.difficulties)})")
    return Problem(rng.randrange(10), tuple(rng.choice(OP_TOKENS) for _ in range(k)))


def heldout_problems(cfg: TaskConfig, per_k: int, seed: int) -> list[Problem]:
    """``per_k`` distinct problems of every difficulty, for evaluation (training skips their keys)."""
    rng = random.Random(f"heldout-{seed}")
    out: list[Problem] = []
    for k in cfg.difficulties:
        space = 10 * len(OP_TOKENS) ** k
        if per_k > space // 2:
            raise ValueError(
                f"per_k={per_k} held-out problems would leave too few of the {space} with k={k} for training"
            )
        seen: set[str] = set()
        while len(seen) < per_k:
            p = random_problem(rng, cfg, k)
            if p.key not in seen:
                seen.add(p.key)
                out.append(p)
    return out


def training_problems(rng: random.Random, cfg: TaskConfig, n: int, exclude: set[str]) -> list[Problem]:
    """``n`` problems of uniformly random difficulty whose keys are not in ``exclude``."""
    out: list[Problem] = []
    while len(out) < n:
        p = random_problem(rng, cfg)
        if p.key not in exclude:
            out.append(p)
    return out


def warmup_example(rng: random.Random, cfg: TaskConfig, problem: Problem) -> str:
    """One warm-up response: a direct answer with probability ``p_direct``, else an overthought trace."""
    if rng.random() < cfg.p_direct:
        guess = problem.answer if problem.k == 1 else rng.randrange(10)
        return f"ans {guess} {EOS}"
    return problem.trace(rng.randint(0, cfg.max_rechecks))


@dataclass(frozen=True)
class Graded:
    correct: bool
    rechecks: int
    direct: bool
    finished: bool


def grade(problem: Problem, response: list[str]) -> Graded:
    """Grade a response given as tokens (``<eos>`` included when generated).

    Correct iff the response ends in ``ans <digit> <eos>`` with the right digit; a response without
    ``<eos>`` (cut at the length budget) is wrong. ``rechecks`` counts ``chk`` tokens, ``direct``
    marks an answer with no reasoning before it.
    """
    finished = EOS in response
    body = response[: response.index(EOS)] if finished else response
    correct = finished and len(body) >= 2 and body[-2] == "ans" and body[-1] == str(problem.answer)
    return Graded(
        correct=correct, rechecks=body.count("chk"), direct=len(body) > 0 and body[0] == "ans", finished=finished
    )

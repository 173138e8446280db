"""The lab's settings: sizes and schedules (:class:`LabConfig` and its presets), the method
knobs rescaled to the toy task's token lengths (:func:`method_config`, from the length roles the
methods declare in :mod:`lead.core.knobs`, and the task's own choices,
:data:`LAB_METHOD_SETTINGS`), and the arms a run compares (:class:`Arm`: the default comparison
and the ablations).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lead.core.knobs import AGGREGATORS, CONFIGS, LeadConfig, budget_knob, scaled_knobs
from lead.core.methods import build_method, load_methods
from lead.lab.model import ModelConfig
from lead.lab.task import DIRECT_LENGTH, TaskConfig, min_length


@dataclass(frozen=True)
class LabConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    """Seeds the held-out split, the warm-up and the first RL run."""
    seeds: int = 1
    """RL runs per method, with seeds ``seed .. seed + seeds - 1``, all from the one warm-up model."""
    threads: int = 2
    sft_steps: int = 1000
    sft_batch: int = 64
    sft_lr: float = 3e-3
    sft_warmup: int = 50
    """Linear learning-rate warm-up steps, then linear decay to 0."""
    rl_steps: int = 60
    prompts_per_step: int = 16
    group_size: int = 8
    """Samples per prompt (``G``); advantages compare samples of the same prompt."""
    rl_lr: float = 3e-4
    max_new_tokens: int = 96
    """Response budget; a response without ``<eos>`` within it is wrong."""
    eval_every: int = 10
    eval_per_k: int = 50
    """Held-out problems per difficulty, each sampled once at temperature 1 with a fixed seed."""

    def __post_init__(self) -> None:
        for key in (
            "seeds",
            "threads",
            "sft_batch",
            "prompts_per_step",
            "group_size",
            "max_new_tokens",
            "eval_every",
            "eval_per_k",
        ):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} is invalid: expected a positive integer")
        for key in ("seed", "sft_steps", "sft_warmup", "rl_steps"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{key}={value!r} is invalid: expected an integer >= 0")
        for key in ("sft_lr", "rl_lr"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}={getattr(self, key)!r} is invalid: expected a learning rate > 0")
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size} is invalid: group advantages need >= 2 samples per prompt")
        if self.max_new_tokens < self.task.longest_trace():
            raise ValueError(
                f"max_new_tokens={self.max_new_tokens} cannot hold the longest warm-up trace "
                f"({self.task.longest_trace()} tokens)"
            )
        longest_prompt = self.task.longest_prompt()
        if self.model.max_positions < longest_prompt + self.max_new_tokens:
            raise ValueError(
                f"model.max_positions={self.model.max_positions} is shorter than the longest prompt "
                f"plus max_new_tokens ({longest_prompt + self.max_new_tokens})"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Three layers are needed: with two, the warm-up stayed at 0.5-0.85 greedy accuracy after as
# many steps as take three layers to ~1.0. The warm-up learns in a sudden transition (loss ~0.9 -> <0.15), at about
# step 400 for the default model; the step counts leave a margin past it.
PRESETS: dict[str, LabConfig] = {
    # ~10 min on 2 cores for the five default arms: docs/lab.md's run (0.34M parameters).
    "default": LabConfig(sft_steps=600, rl_steps=60, seeds=2),
    # ~2 min on 2 cores (0.2M parameters).
    "quick": LabConfig(
        model=ModelConfig(hidden=64, layers=3, heads=4, ffn=256), sft_steps=500, rl_steps=20, eval_per_k=20
    ),
    # The CI test configuration: the quick model with a handful of RL steps per arm.
    "test": LabConfig(
        model=ModelConfig(hidden=64, layers=3, heads=4, ffn=256), sft_steps=500, rl_steps=8, eval_every=4, eval_per_k=20
    ),
}


CLAIMS_TASK = TaskConfig(max_ops=14, max_rechecks=2, p_direct=0.3, ks=(1, 2, 4, 8, 14), warmup_ks=tuple(range(1, 15)))
"""The claims suite's task: shortest complete solutions of 7, 11, 19, 35 and 59 tokens (8.4x
apart), so one global budget cannot suit every difficulty; every warm-up trace may re-check
(0-2 rounds), so every difficulty starts with waste. Its longest warm-up trace has 173 tokens.
The warm-up draws every ``k`` from 1 to 14, so that the model learns the labels between."""

# The claims suite (`--suite claims`): the default model, warmed up for 1200 steps on every k from 1
# to 14, which solves all five difficulties greedily (1.00 each; its loss drops from ~0.6 to ~0.08
# between steps 480 and 720). Warmed up on the five difficulties alone, 1000 steps solved k = 8 and
# 14 only 0.10-0.12 of the time and 2000 steps k = 8 0.14 of the time: the operations of labels E-G
# were copied wrongly.
# The response budget holds the longest warm-up trace (173 tokens) with a few tokens to spare.
# 17 arms x 3 seeds x 20 steps fit 90 minutes on 2 quiet cores (58 min measured in all): a step takes
# 1.8-4.0 s (it grows with the longest sample of the batch), an evaluation about 10 s, the warm-up
# 8.5 min. Runs are evaluated at the end only; every step's training accuracy and length are logged.
CLAIMS_PRESETS: dict[str, LabConfig] = {
    "default": LabConfig(
        task=CLAIMS_TASK,
        model=ModelConfig(max_positions=224),
        sft_steps=1200,
        rl_steps=20,
        seeds=3,
        max_new_tokens=180,
        eval_every=20,
        eval_per_k=50,
    ),
    # A first look at the claims in well under an hour on 2 quiet cores: the same difficulties with at
    # most one re-check (longest warm-up trace 116 tokens), the quick model, one seed of 20 steps.
    "quick": LabConfig(
        task=replace(CLAIMS_TASK, max_rechecks=1),
        model=ModelConfig(hidden=64, layers=3, heads=4, ffn=256, max_positions=160),
        sft_steps=800,
        rl_steps=20,
        max_new_tokens=120,
        eval_every=10,
        eval_per_k=20,
    ),
    # The CI configuration: a smaller task (k = 1, 2, 4, 8: 7-35 tokens, 5x) and model, a warm-up
    # too short to learn the task well, two seeds of one RL step: it exercises every arm, the
    # intervals, the figures and the claim paragraphs, not the claims themselves.
    "test": LabConfig(
        task=TaskConfig(max_ops=8, max_rechecks=1, p_direct=0.3, ks=(1, 2, 4, 8)),
        model=ModelConfig(hidden=32, layers=2, heads=2, ffn=64, max_positions=96),
        sft_steps=150,
        rl_steps=1,
        seeds=2,
        prompts_per_step=4,
        group_size=4,
        max_new_tokens=72,
        eval_every=1,
        eval_per_k=6,
    ),
}


@dataclass(frozen=True)
class Budgets:
    """The two lengths the lab's method settings are scaled to."""

    response: int
    """The response budget (``max_new_tokens``): what ``bmax`` and the papers' ``max_response_length`` become."""
    static: float
    """The one global length budget of the static-budget methods (a cap or a target): the warm-up
    model's median correct length unless ``--budget`` sets it (:func:`lead.lab.train.median_correct_length`)."""


def _lead_family(task: TaskConfig, budgets: Budgets) -> dict[str, Any]:
    return {
        # The paper's 1000-token floor sits below the genuine solutions of its tasks; here the
        # shortest genuine solution is the easiest problem's trace (7 tokens at k=1), so L* never asks for less
        # reasoning than the easiest problem needs. (Scaling 1000/8000 by the budget gives 12,
        # which pushes k=1 answers up to ~12 tokens: one needless re-check.)
        "lstar_floor": float(min_length(task.difficulties[0])),
        # max_asym only: no efficiency bonus for suspiciously short correct answers (the
        # paper's 500 tokens); here only the 3-token direct answers are that short.
        "min_correct_len": float(DIRECT_LENGTH + 1),
    }


# The task's own choices for knobs whose scaled paper value does not suit it; every other length
# knob follows the method's declared roles (method_config).
LAB_METHOD_SETTINGS: dict[str, Callable[[TaskConfig, Budgets], dict[str, Any]]] = {
    "lead": _lead_family,
    "gdpo_static": _lead_family,  # the same L* and efficiency reward as LEAD, fixed weights
    # LASER-D: grid from 2048 in steps of 1024 up to the 16384 budget of the LASER paper.
    "laser_d": lambda task, b: {"lower_bound": b.response / 8, "interval": b.response / 16},
    # The LEAD paper's GRPO baseline: threshold 2000 with the soft penalty reaching 0 at twice that.
    "grpo_len_threshold": lambda task, b: {"soft_max": min(2 * b.static, b.response)},
}

STATIC_BUDGET_KNOBS: dict[str, str] = {name: cls.budget_knob for name, cls in CONFIGS.items() if cls.budget_knob}
"""The knob holding each static-budget method's global cap or target (its declared
``budget_knob``): no response longer than it may score above a response of the same correctness
within it (the lab checks this every step)."""


@dataclass(frozen=True)
class Arm:
    """One trained configuration: a registered method, the knobs this arm sets, a display label,
    in an ablation the panel it belongs to (e.g. ``alpha``), and the RL loop that trains it
    (``local``: the in-process loop; ``verl``: verl's real loop on the CPU)."""

    label: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    trainer: str = "local"
    budget: str | None = None
    """For a static-budget method, which of :data:`NAMED_BUDGETS` is its cap or target; ``None``:
    the run's one static budget."""

    @property
    def slug(self) -> str:
        """The label as a folder name."""
        return "".join(ch if ch.isalnum() or ch in "._=-" else "_" for ch in self.label)


DEFAULT_METHODS = ("lead", "grpo", "truncation", "laser", "gdpo_static")
"""The default comparison: LEAD, correctness-only GRPO, two static-budget methods (a hard cap
and a bonus within a target) and LEAD's efficiency reward with fixed equal weights instead of
the controller (GDPO's default weights)."""

RATIOS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""The paper's ratio sweep R: static weights ``lambda_c = 1 / (1 + R)``, ``lambda_e = R / (1 + R)``."""

CONTROLLER_SWEEP = {"alpha": (0.5, 2.0), "beta": (0.8, 0.99), "lambda_min": (0.1, 0.5)}
"""Values tried for each controller knob, one knob at a time, around LEAD's defaults (1, 0.95, 0.3)."""


ABLATIONS = ("aggregator", "ratio", "controller")


def ratio_arms(groups: tuple[str, ...] = ()) -> list[Arm]:
    """LEAD with static weights at the paper's ratios :data:`RATIOS` (Table 2's LEAD-static column)."""
    return [
        Arm(f"static R={r:g} (λ_c={1 / (1 + r):.2f})", "lead", {"static_lambda_corr": 1 / (1 + r)}, groups)
        for r in RATIOS
    ]


NAMED_BUDGETS = {
    "median": "the warm-up model's median correct length",
    "hardest": "the shortest complete solution of the hardest difficulty",
}
"""The two global budgets of the claims suite's static-budget arms (:func:`named_budgets`)."""

SUITES = ("default", "claims")
PER_PROBLEM_METHODS = ("kimi_len", "efficient_reasoning", "hapo", "shorter_better")
"""Length methods that need only each sample's reward and length and its group (HAPO also the
problem's own history), with per-problem rather than global length targets."""


def claims_arms() -> list[Arm]:
    """The claims suite (``--suite claims``); ``groups`` marks each arm's role in the claims:
    LEAD and GRPO; ``global`` budgets (truncation, LASER) at both :data:`NAMED_BUDGETS`;
    ``per_problem`` length methods; ``static`` weight ratios; LEAD's ``upper_only`` reward."""
    arms = [Arm("lead", "lead", groups=("lead",)), Arm("grpo", "grpo", groups=("grpo",))]
    arms += [Arm(f"{m} @{b}", m, groups=("global",), budget=b) for b in NAMED_BUDGETS for m in ("truncation", "laser")]
    arms += [Arm(m, m, groups=("per_problem",)) for m in PER_PROBLEM_METHODS]
    arms += ratio_arms(("static",))
    return arms + [Arm("lead upper_only", "lead", {"lstar_mode": "upper_only"}, ("upper_only",))]


def named_budgets(task: TaskConfig, measured_median: float) -> dict[str, float]:
    """The values of :data:`NAMED_BUDGETS`: the measured median, and what the hardest problems need."""
    return {"median": float(measured_median), "hardest": float(min_length(task.difficulties[-1]))}


def ablation_arms(name: str) -> list[Arm]:
    """The arms of ``--ablation name``: ``aggregator`` (the paper's Table 3), ``ratio`` (Table 2's
    LEAD-static column against the controller) or ``controller`` (alpha, beta, lambda_min)."""
    if name == "aggregator":
        return [Arm(f"lead aggregator={agg}", "lead", {"aggregator": agg}) for agg in AGGREGATORS]
    if name == "ratio":
        return [Arm("lead (controller)", "lead")] + ratio_arms()
    if name == "controller":
        defaults = LeadConfig()
        arms = [
            Arm(
                f"lead (alpha={defaults.alpha:g}, beta={defaults.beta:g}, lambda_min={defaults.lambda_min:g})",
                "lead",
                {},
                tuple(CONTROLLER_SWEEP),
            )
        ]
        return arms + [
            Arm(f"lead {knob}={v:g}", "lead", {knob: v}, (knob,))
            for knob, values in CONTROLLER_SWEEP.items()
            for v in values
        ]
    raise ValueError(f"unknown --ablation {name!r}; expected one of {list(ABLATIONS)}")


TRAINER_NAMES = ("local", "verl")
VERL_METHODS = ("lead", "grpo")
"""``--trainer verl``'s default methods."""


def method_arms(names: list[str], trainer: str = "local") -> list[Arm]:
    """One arm per method; with ``trainer="verl"`` each method twice, in-process then through
    verl's loop (labelled ``<method> (verl)``), so both loops' results sit side by side."""
    if trainer not in TRAINER_NAMES:
        raise ValueError(f"unknown trainer {trainer!r}; expected one of {list(TRAINER_NAMES)}")
    if trainer == "local":
        return [Arm(name, name) for name in names]
    return [arm for name in names for arm in (Arm(name, name), Arm(f"{name} (verl)", name, trainer="verl"))]


def method_config(
    name: str, cfg: LabConfig, overrides: dict[str, Any] | None = None, static_budget: float | None = None
) -> dict[str, Any]:
    """The config mapping the lab passes to ``build_method(name, ...)``: ``name``'s length knobs
    at the lab's scale, then ``overrides``; every other knob keeps its paper default.

    The method's declared roles (:mod:`lead.core.knobs`) set them: its cap becomes the response
    budget, token knobs scale from the paper's budget to it, per-token rates scale inversely (a
    full-budget response pays what it pays at 8000 tokens), and a static-budget method's one
    global cap or target becomes the static budget (a user tunes it to the model at hand, so it
    is measured on the warm-up model rather than scaled from a paper); then the task's own
    choices (:data:`LAB_METHOD_SETTINGS`). ``static_budget`` defaults to a quarter of the
    response budget, a placeholder used to validate knobs before the warm-up is measured."""
    budgets = Budgets(cfg.max_new_tokens, cfg.max_new_tokens / 4 if static_budget is None else float(static_budget))
    values = scaled_knobs(name, budgets.response)
    if budget_knob(name):
        values[budget_knob(name)] = budgets.static
    if name in LAB_METHOD_SETTINGS:
        values.update(LAB_METHOD_SETTINGS[name](cfg.task, budgets))
    values.update(overrides or {})
    return values


def parse_methods(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--methods {text!r} names no method")
    if len(set(names)) != len(names):
        raise ValueError(f"--methods {text!r} names a method twice")
    available = load_methods()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown} in --methods; available: {sorted(available)}")
    return names


def parse_method_overrides(items: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """``["lead.beta=0.9", ...]`` -> ``{"lead": {"beta": 0.9}}``; values are JSON (bare words are strings)."""
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        name, sep, value = item.partition("=")
        method, dot, key = name.partition(".")
        if not sep or not dot or not key:
            raise ValueError(f"--set {item!r} is invalid: expected METHOD.KEY=VALUE, e.g. lead.beta=0.9")
        if method not in out:
            raise ValueError(
                f"--set {item!r} names method {method!r}, which this run does not train (methods: {methods})"
            )
        try:
            out[method][key] = json.loads(value)
        except json.JSONDecodeError:
            out[method][key] = value
    return out


def check_arms(
    arms: list[Arm],
    cfg: LabConfig,
    overrides: dict[str, dict[str, Any]],
    static_budget: float | None = None,
    budgets: dict[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build every arm's method once so a bad knob fails before any training; returns the config
    mapping of each arm (by label). An arm's own knobs win over the user's ``--set`` overrides.
    An arm with a ``budget`` name gets that one of ``budgets`` (a placeholder while ``None``).
    A static-budget method (:data:`STATIC_BUDGET_KNOBS`) is refused in verl's loop, where its
    over-cap check cannot run."""
    labels = [arm.label for arm in arms]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two arms share a label: {labels}")
    capped = sorted({arm.method for arm in arms if arm.trainer == "verl" and arm.method in STATIC_BUDGET_KNOBS})
    if capped:
        raise ValueError(
            f"{', '.join(capped)} cannot train through verl's loop: the lab checks at every step that no "
            "response over the method's length cap gets a higher advantage than one within it, which "
            "needs each sample's advantage, and verl's loop does not hand them back. Train "
            f"{', '.join(capped)} in-process (without --trainer verl), or leave them out of --methods"
        )
    for arm in arms:
        if arm.budget is not None and (arm.budget not in NAMED_BUDGETS or arm.method not in STATIC_BUDGET_KNOBS):
            raise ValueError(
                f"arm {arm.label!r}: budget {arm.budget!r} needs a static-budget method "
                f"({sorted(STATIC_BUDGET_KNOBS)}) and one of {list(NAMED_BUDGETS)}"
            )
    configs = {}
    for arm in arms:
        budget = static_budget if arm.budget is None else (budgets or {}).get(arm.budget)
        values = method_config(arm.method, cfg, {**overrides.get(arm.method, {}), **arm.overrides}, budget)
        build_method(arm.method, values)
        configs[arm.label] = values
    return configs


def with_overrides(cfg: LabConfig, **changes: Any) -> LabConfig:
    """``cfg`` with the given top-level fields replaced (``None`` leaves a field alone)."""
    return replace(cfg, **{k: v for k, v in changes.items() if v is not None})

"""Every method's knobs and their length roles: one config dataclass per method, without torch.

A config derives from :class:`MethodConfig` with ``method`` set to its registry name. Its fields
are the method's knobs, each documented by the string under it; the Hydra blocks
``algorithm.<method>``, the CPU group's scaled values, the lab's settings, the launcher's
``BUDGET``-owned keys and the docs tables (:func:`knob_rows`) are all derived from them. It gets
``from_mapping`` (rejects unknown keys), ``to_dict`` and validation helpers whose errors name the
Hydra key (``algorithm.<method>.<key>``), the bad value and what is allowed. The formulas live in
:mod:`lead.core.lead` and :mod:`lead.core.methods`; this module imports neither, nor torch, so
the launcher reads the knobs without loading them.

Length roles, declared as class attributes and read by :func:`scaled_knobs`:

* ``token_knobs``: knobs counted in tokens; their defaults are counted in the paper's budget
  (:data:`PAPER_BUDGET`) and scale with the response cap;
* ``cap_knob``: the token knob that equals the response cap (``data.max_response_length``,
  ``BUDGET`` in the launch scripts);
* ``budget_knob``: a static-budget method's one global length budget (a cap or a target), a
  token knob: no response longer than it may score above a response of the same correctness
  within it;
* ``per_token_knobs``: rates per token, which scale inversely with the response cap.
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, NoReturn

PAPER_BUDGET = 8000
"""Response budget (tokens) of the LEAD paper's runs, ``data.max_response_length`` of the GPU
recipes: the budget the token knobs' defaults and the per-token rates are given in."""

CONFIGS: dict[str, type[MethodConfig]] = {}
"""Every defined config class by method name (filled as each class is defined)."""

LSTAR_MODES = ("max_sym", "max_asym", "upper_only")
AGGREGATORS = ("mean_correct", "min_correct", "median_correct", "mean_all")
WHITEN_WEIGHTINGS = ("token", "sequence")
NORMALISATIONS = ("grpo", "rloo")
LENGTH_MODES = ("classic", "conditioned", "soft", "conditioned_soft")


@dataclass
class MethodConfig:
    """Base of the method config dataclasses; subclasses set ``method`` to their registry name."""

    method: ClassVar[str] = ""
    cap_knob: ClassVar[str | None] = None
    budget_knob: ClassVar[str | None] = None
    token_knobs: ClassVar[tuple[str, ...]] = ()
    per_token_knobs: ClassVar[tuple[str, ...]] = ()

    correct_threshold: float = 0.5
    """A rollout is correct when its summed reward exceeds this. Assumes a 1/0 reward; with
    other reward values (e.g. +1/-1) set it between the two."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "method" not in cls.__dict__:
            return  # a base of several configs (EfficiencyKnobs), not a method's
        known = CONFIGS.get(cls.method)
        # Re-importing a module defines its class again; another class claiming the name is an error.
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"method {cls.method!r} already has the config {known.__module__}.{known.__qualname__}")
        CONFIGS[cls.method] = cls

    def __post_init__(self) -> None:
        self.number("correct_threshold")
        self.validate()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> MethodConfig:
        """Build from a dict-like (an omegaconf node converted to a dict, a dict). Unknown keys are an error."""
        values = dict(values or {})
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"algorithm.{cls.method}: unknown key(s) {unknown}; allowed keys are {known}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key, the value and what is allowed (overridden per method)."""

    def invalid(self, key: str, allowed: str) -> NoReturn:
        raise ValueError(f"algorithm.{self.method}.{key}={getattr(self, key)!r} is invalid: {allowed}")

    def number(self, key: str) -> float:
        """The finite number stored under ``key`` (booleans are rejected)."""
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.invalid(key, "expected a finite number")
        return float(value)

    def positive(self, key: str) -> float:
        """The number under ``key``, which must be > 0: an epsilon guarding a division, where 0
        turns a group or batch without variance into NaN advantages."""
        if self.number(key) <= 0:
            self.invalid(key, "expected a value > 0 (it guards a division)")
        return float(getattr(self, key))

    def integer(self, key: str) -> int:
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.invalid(key, "expected an integer")
        return int(value)

    def flag(self, key: str) -> bool:
        value = getattr(self, key)
        if not isinstance(value, bool):
            self.invalid(key, "expected true or false")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = getattr(self, key)
        if value not in options:
            self.invalid(key, f"expected one of {list(options)}")
        return value


# --- LEAD and its efficiency reward --------------------------------------------------------------


@dataclass
class EfficiencyKnobs(MethodConfig):
    """LEAD's efficiency reward around the per-prompt target length L*, with the per-group
    normalisation and the batch whitening around it: the knobs ``lead`` and ``gdpo_static``
    share (same keys, defaults and checks)."""

    cap_knob = "bmax"
    token_knobs = ("bmax", "lstar_floor", "min_correct_len")

    bmax: float = float(PAPER_BUDGET)
    """Upper clamp of L*, and L* of a prompt with no correct rollout. Set it to the rollout's
    ``max_response_length`` (the launch scripts tie both to ``BUDGET``)."""
    lstar_mode: str = "max_sym"
    """Efficiency reward shape: ``max_sym`` (the paper's), ``max_asym``, or ``upper_only``. The
    release's yaml defaulted to ``max_asym`` although every script and the paper use ``max_sym``."""
    aggregator: str = "mean_correct"
    """How L* is estimated from a group: ``mean_correct``, ``min_correct``, ``median_correct``
    (mean of the two middle values for an even count), or ``mean_all`` (all rollouts, correct or not)."""
    lstar_floor: float = 1000.0
    """Lower clamp of L* in tokens."""
    min_correct_len: float = 500.0
    """``max_asym`` only: a correct rollout shorter than this gets efficiency reward 0."""
    group_std_eps: float = 1e-6
    """Added to the group std in the decoupled normalisation of both rewards (verl's GRPO epsilon)."""
    whiten_eps: float = 1e-8
    """Added to the batch variance before the final whitening."""
    zero_unsolved_efficiency: bool = False
    """Opt-in fix. The release gives prompts with no correct rollout ``L* = bmax``; under
    ``max_sym`` that makes ``r = l / bmax`` and rewards the LONGER rollouts of unsolved prompts.
    When true, their efficiency reward is 0, so unsolved prompts carry no length signal."""
    whiten_weighting: str = "token"
    """``token`` (verl's ``masked_whiten``, as in the release and GDPO: long responses weigh more
    in the batch mean/variance) or ``sequence`` (every response counts once)."""

    def validate(self) -> None:
        self.choice("lstar_mode", LSTAR_MODES)
        self.choice("aggregator", AGGREGATORS)
        self.choice("whiten_weighting", WHITEN_WEIGHTINGS)
        if self.number("bmax") <= 0:
            self.invalid("bmax", "expected bmax > 0 (tokens)")
        if self.number("lstar_floor") <= 0:
            self.invalid("lstar_floor", "expected lstar_floor > 0 (tokens)")
        if self.lstar_floor > self.bmax:
            self.invalid("lstar_floor", f"expected lstar_floor <= bmax ({self.bmax})")
        if self.number("min_correct_len") < 0:
            self.invalid("min_correct_len", "expected min_correct_len >= 0 (tokens)")
        for key in ("group_std_eps", "whiten_eps"):
            self.positive(key)
        self.flag("zero_unsolved_efficiency")


@dataclass
class LeadConfig(EfficiencyKnobs):
    """LEAD's knobs. Defaults reproduce the paper's runs (``algorithm.lead.*`` in verl).

    The release's name of each knob is ``algorithm.lead_<name>`` for ``alpha``, ``beta``,
    ``epsilon``, ``bmax``, ``lambda_min``, ``lstar_mode``, ``aggregator`` and ``static_lambda_corr``.
    """

    method = "lead"

    alpha: float = 1.0
    """Exponent of both potentials ``P_k``; larger values push harder towards the weaker reward."""
    beta: float = 0.95
    """EMA coefficient of the controller's weights, in ``[0, 1)``; 0 follows the targets at once."""
    epsilon: float = 1e-8
    """Guards the CV denominators, the CV normalisation and the target normalisation."""
    lambda_min: float = 0.3
    """Floor on the correctness weight ``lambda_c`` (dynamic mode; static mode too with ``static_floor``)."""
    static_lambda_corr: float | None = None
    """When set, a fixed ``lambda_c`` (and ``lambda_e = 1 - lambda_c``) replaces the controller;
    the targets are still computed and logged. ``lambda_min`` is ignored unless ``static_floor``."""
    sigma_eps: float = 1e-8
    """Added inside the square root of the PSI standard deviations (so sigma >= 1e-4)."""
    static_floor: bool = False
    """Opt-in fix: apply ``lambda_min`` to ``static_lambda_corr`` too (the release ignores it)."""
    indicator_stats: bool = False
    """Opt-in fix for rewards other than 1/0. The release computes the controller's correctness
    statistics (``mu_corr``, ``sigma_corr``, hence ``P_c`` and the targets) on the raw scores,
    which assumes 1/0 rewards: with +1/-1 at 50% accuracy ``mu_corr`` is 0 and ``P_c`` 1. When
    true they use the indicator ``1[s > correct_threshold]``, so any two reward levels drive the
    controller as 1/0 would. Identical to the release on 1/0 rewards."""

    def validate(self) -> None:
        super().validate()
        if self.number("alpha") <= 0:
            self.invalid("alpha", "expected alpha > 0")
        if not 0 <= self.number("beta") < 1:
            self.invalid("beta", "expected 0 <= beta < 1")
        if not 0 <= self.number("lambda_min") <= 1:
            self.invalid("lambda_min", "expected 0 <= lambda_min <= 1")
        for key in ("epsilon", "sigma_eps"):
            self.positive(key)
        if self.static_lambda_corr is not None and not 0 <= self.number("static_lambda_corr") <= 1:
            self.invalid("static_lambda_corr", "expected null or a value in [0, 1]")
        self.flag("static_floor")
        self.flag("indicator_stats")


@dataclass
class GdpoStaticConfig(EfficiencyKnobs):
    """Knobs of ``gdpo_static`` (``algorithm.gdpo_static.*``): the two weights, and LEAD's
    efficiency-reward knobs (:class:`EfficiencyKnobs`, the keys and defaults of ``algorithm.lead.*``)."""

    method = "gdpo_static"

    w_corr: float = 1.0
    """Weight of the normalised correctness reward (GDPO's default weights are all 1)."""
    w_eff: float = 1.0
    """Weight of the normalised efficiency reward."""

    def validate(self) -> None:
        for key in ("w_corr", "w_eff"):
            if self.number(key) < 0:
                self.invalid(key, "expected a weight >= 0")
        if self.w_corr == 0 and self.w_eff == 0:
            self.invalid("w_eff", "w_corr and w_eff are both 0, so every advantage would be 0")
        super().validate()


# --- correctness-only GRPO -----------------------------------------------------------------------


@dataclass
class GRPOConfig(MethodConfig):
    """Knobs of ``grpo``, the length-blind reference."""

    method = "grpo"

    epsilon: float = 1e-6
    """Added to the group std."""
    scale_by_std: bool = True
    """False removes only the group mean (Dr.GRPO)."""

    def validate(self) -> None:
        self.positive("epsilon")
        self.flag("scale_by_std")


# --- global length budgets: truncation, DLER, LASER, the LEAD paper's GRPO baseline --------------


@dataclass
class TruncationConfig(MethodConfig):
    """Knobs of ``truncation`` (``algorithm.truncation.*``)."""

    method = "truncation"
    cap_knob = "max_length"
    budget_knob = "max_length"
    token_knobs = ("max_length",)

    max_length: float = 4000.0
    """Cap ``L`` in response tokens before any ``schedule`` stage (ThinkPrune's first stage and
    DLER's cap are 4000). Must not exceed ``data.max_response_length``, or it has no effect."""
    schedule: Any = field(default_factory=tuple)
    """ThinkPrune stages ``[[start_step, cap], ...]``: from ``start_step`` completed steps on the
    cap is ``cap``. Starts strictly increasing and > 0; empty for a fixed cap."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if self.number("max_length") <= 0:
            self.invalid("max_length", "expected a cap > 0 (tokens)")
        try:
            stages = tuple((s, c) for s, c in (tuple(stage) for stage in self.schedule))
        except (TypeError, ValueError):
            self.invalid("schedule", "expected a list of [start_step, cap] pairs")
        last = 0
        for start, cap in stages:
            if isinstance(start, bool) or not isinstance(start, int) or start <= last:
                self.invalid("schedule", "expected integer start steps, > 0 and strictly increasing")
            if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0:
                self.invalid("schedule", "expected every cap to be a number > 0 (tokens)")
            last = start
        self.schedule = tuple((int(s), float(c)) for s, c in stages)
        self.positive("epsilon")

    def cap_at(self, step: int) -> float:
        """``L(t)`` after ``step`` completed steps."""
        started = [cap for start, cap in self.schedule if start <= step]
        return started[-1] if started else float(self.max_length)


@dataclass
class DlerConfig(MethodConfig):
    """Knobs of ``dler`` (``algorithm.dler.*``); defaults are DLER's released recipe."""

    method = "dler"
    cap_knob = "max_length"
    budget_knob = "max_length"
    token_knobs = ("max_length",)

    max_length: float = 4000.0
    """Truncation cap ``L`` in response tokens (DLER's ``max_response_length``)."""
    whiten_eps: float = 1e-8
    """Added to the batch variance before whitening."""
    whiten_weighting: str = "token"
    """``token`` (DLER/verl: every response token counts, so long responses weigh more) or
    ``sequence`` (every response counts once)."""

    def validate(self) -> None:
        if self.number("max_length") <= 0:
            self.invalid("max_length", "expected a cap > 0 (tokens)")
        self.positive("whiten_eps")
        self.choice("whiten_weighting", WHITEN_WEIGHTINGS)


def _check_laser(cfg: MethodConfig) -> None:
    if cfg.number("alpha") < 0:
        cfg.invalid("alpha", "expected alpha >= 0")
    cfg.positive("epsilon")


@dataclass
class LaserConfig(MethodConfig):
    """Knobs of ``laser`` (``algorithm.laser.*``); defaults are the paper's 1.5B runs."""

    method = "laser"
    budget_knob = "target_length"
    token_knobs = ("target_length",)

    alpha: float = 0.5
    """Bonus for a correct rollout within the target (the release's ``length_reward_scalar``)."""
    target_length: float = 4096.0
    """``L_T`` in response tokens; the paper trains with 2048, 4096 and 8192 at a 16384 cap."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        _check_laser(self)
        if self.number("target_length") <= 0:
            self.invalid("target_length", "expected a target > 0 (tokens)")


@dataclass
class LaserDConfig(MethodConfig):
    """Knobs of ``laser_d`` (``algorithm.laser_d.*``); defaults follow the paper's 1.5B runs."""

    method = "laser_d"
    cap_knob = "max_length"
    token_knobs = ("max_length", "lower_bound", "interval")

    alpha: float = 0.5
    """Bonus for a correct rollout within its bucket's target."""
    max_length: float = float(PAPER_BUDGET)
    """``L_max``: top of the target grid and the target when no grid length fits. Set it to
    ``data.max_response_length`` (the paper: 16384)."""
    lower_bound: float = 2048.0
    """``L_low``, the shortest target; the paper's variants use 1024, 2048 and 4096."""
    interval: float = 1024.0
    """``Delta``, the step of the target grid."""
    monitor_freq: int = 20
    """Targets are re-chosen every this many steps, starting with the first."""
    expected_correct: int = 1
    """``k``: expected correct rollouts per prompt that must fit under the target."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        _check_laser(self)
        if self.number("max_length") <= 0:
            self.invalid("max_length", "expected a cap > 0 (tokens)")
        if not 0 < self.number("lower_bound") <= self.max_length:
            self.invalid("lower_bound", f"expected 0 < lower_bound <= max_length ({self.max_length})")
        if self.number("interval") <= 0:
            self.invalid("interval", "expected an interval > 0 (tokens)")
        if self.integer("monitor_freq") < 1:
            self.invalid("monitor_freq", "expected an integer >= 1")
        if self.integer("expected_correct") < 1:
            self.invalid("expected_correct", "expected an integer >= 1")


@dataclass
class GrpoLenThresholdConfig(MethodConfig):
    """Knobs of ``grpo_len_threshold`` (``algorithm.grpo_len_threshold.*``); defaults are the
    paper's main GRPO run."""

    method = "grpo_len_threshold"
    budget_knob = "threshold"
    token_knobs = ("threshold", "soft_max")

    lambda1: float = 1.0
    """Weight of the correctness reward (the release's ``DEEPSCALE_CORRECT_REWARD``)."""
    lambda2: float = 1.0
    """Weight of the length reward (the release's ``DEEPSCALE_LENGTH_REWARD``)."""
    mode: str = "conditioned"
    """Shape of the length reward: ``classic``, ``conditioned`` (the paper's main run), ``soft``
    or ``conditioned_soft``."""
    threshold: float = 2000.0
    """``T``: responses of at most this many tokens get the full length reward."""
    soft_max: float = 4000.0
    """``M``, soft modes only: the length reward reaches 0 here (the release's ``DEEPSCALE_LENGTH_MAX``)."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        self.choice("mode", LENGTH_MODES)
        for key in ("lambda1", "lambda2"):
            if self.number(key) < 0:
                self.invalid(key, "expected a weight >= 0")
        if self.lambda1 == 0 and self.lambda2 == 0:
            self.invalid("lambda2", "lambda1 and lambda2 are both 0, so every reward would be 0")
        if self.number("threshold") <= 0:
            self.invalid("threshold", "expected threshold > 0 (tokens)")
        # soft_max only shapes the soft modes; the step modes ignore it.
        if self.number("soft_max") < self.threshold and self.mode in ("soft", "conditioned_soft"):
            self.invalid("soft_max", f"expected soft_max >= threshold ({self.threshold}) in mode {self.mode}")
        self.positive("epsilon")


# --- per-prompt length rewards --------------------------------------------------------------------


@dataclass
class AlpConfig(MethodConfig):
    """Knobs of ``alp`` (``algorithm.alp.*``); defaults are the paper's."""

    method = "alp"
    per_token_knobs = ("beta",)

    beta: float = 1e-7
    """Penalty per token at solve rate 1."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if self.number("beta") < 0:
            self.invalid("beta", "expected beta >= 0")
        self.positive("epsilon")


@dataclass
class EfficientReasoningConfig(MethodConfig):
    """Knobs of ``efficient_reasoning`` (``algorithm.efficient_reasoning.*``); defaults are the
    paper's released 1.5B run (``run_rloo_1.5B.sh``)."""

    method = "efficient_reasoning"

    alpha: float = 0.1
    """Length-penalty strength in ``[0, 1]``; the paper sweeps 0.05-0.4, its script uses 0.1."""
    normalisation: str = "rloo"
    """``rloo`` (the paper's estimator) or ``grpo`` (z-score with the unbiased group std)."""
    length_std_eps: float = 1e-7
    """Added to the std of the correct lengths in the z-score (the paper's code)."""
    epsilon: float = 1e-6
    """Added to the group std under ``grpo`` normalisation."""

    def validate(self) -> None:
        if not 0 <= self.number("alpha") <= 1:
            self.invalid("alpha", "expected 0 <= alpha <= 1 (a correct rollout must stay above an incorrect one)")
        self.choice("normalisation", NORMALISATIONS)
        self.positive("length_std_eps")
        self.positive("epsilon")


@dataclass
class GrpoLambdaConfig(MethodConfig):
    """Knobs of ``grpo_lambda`` (``algorithm.grpo_lambda.*``)."""

    method = "grpo_lambda"

    fraction: float = 0.2
    """``lambda``: share of the batch's prompts, the most accurate first, that get the length
    penalty; ``ceil(lambda * G)`` prompts."""
    alpha: float = 0.1
    """Strength of the sigmoid length penalty, in ``[0, 1]``."""
    length_std_eps: float = 1e-7
    """Added to the std of the correct lengths in the z-score."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if not 0 <= self.number("fraction") <= 1:
            self.invalid("fraction", "expected 0 <= fraction <= 1")
        if not 0 <= self.number("alpha") <= 1:
            self.invalid("alpha", "expected 0 <= alpha <= 1 (a correct rollout must stay above an incorrect one)")
        self.positive("length_std_eps")
        self.positive("epsilon")


@dataclass
class HapoConfig(MethodConfig):
    """Knobs of ``hapo`` (``algorithm.hapo.*``); defaults are the paper's."""

    method = "hapo"

    weight: float = 1.0
    """``w``, the weight of the length reward, in ``[0, 1]`` (the release's ``w_lr``)."""
    correct_floor: float = -0.7
    """Lower clamp of a correct rollout's length reward (keeps ``1 + w * len > 0``)."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if not 0 <= self.number("weight") <= 1:
            self.invalid("weight", "expected 0 <= weight <= 1 (a correct rollout must stay above an incorrect one)")
        if not -1 <= self.number("correct_floor") <= 0:
            self.invalid("correct_floor", "expected -1 <= correct_floor <= 0")
        self.positive("epsilon")


@dataclass
class KimiLenConfig(MethodConfig):
    """Knobs of ``kimi_len`` (``algorithm.kimi_len.*``)."""

    method = "kimi_len"

    weight: float = 0.4
    """``w``, the weight of the length reward once warm-up is over (0.4 in the LASER release's
    implementation; the paper gives no value)."""
    warmup_steps: int = 0
    """Training steps without the length term before ``w`` applies (the paper warms up but
    gives no count)."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if self.number("weight") < 0:
            self.invalid("weight", "expected a weight >= 0")
        if self.integer("warmup_steps") < 0:
            self.invalid("warmup_steps", "expected an integer >= 0")
        self.positive("epsilon")


@dataclass
class ShorterBetterConfig(MethodConfig):
    """Knobs of ``shorter_better`` (``algorithm.shorter_better.*``); defaults are the paper's."""

    method = "shorter_better"
    per_token_knobs = ("beta",)

    alpha: float = 2.0
    """Correctness reward (the paper reports runs with 1 and 2; its headline 7B run uses 2)."""
    beta: float = 0.001
    """Penalty per token of distance to ``SOL``."""
    epsilon: float = 1e-6
    """Added to the group std."""

    def validate(self) -> None:
        if self.number("alpha") <= 0:
            self.invalid("alpha", "expected alpha > 0")
        if self.number("beta") < 0:
            self.invalid("beta", "expected beta >= 0")
        self.positive("epsilon")


# --- reading the declarations ---------------------------------------------------------------------


def check_roles(config_cls: type[MethodConfig]) -> None:
    """Raise ``ValueError`` unless the length roles of ``config_cls`` name its fields, its cap and
    budget knobs are token knobs, and no knob is both counted in tokens and a rate per token."""
    knobs = {f.name for f in fields(config_cls)}
    singles = tuple(k for k in (config_cls.cap_knob, config_cls.budget_knob) if k)
    unknown = sorted(set((*config_cls.token_knobs, *config_cls.per_token_knobs, *singles)) - knobs)
    if unknown:
        raise ValueError(f"{config_cls.__qualname__} declares knobs {unknown} it does not have")
    for role in ("cap_knob", "budget_knob"):
        knob = getattr(config_cls, role)
        if knob and knob not in config_cls.token_knobs:
            raise ValueError(f"{config_cls.__qualname__}: {role} {knob!r} must be one of its token_knobs")
    both = sorted(set(config_cls.token_knobs) & set(config_cls.per_token_knobs))
    if both:
        raise ValueError(f"{config_cls.__qualname__}: {both} cannot be token_knobs and per_token_knobs at once")


def config_class(method: str) -> type[MethodConfig]:
    """The config class of ``method``."""
    if method not in CONFIGS:
        raise ValueError(f"unknown method {method!r}; available: {sorted(CONFIGS)}")
    return CONFIGS[method]


def cap_knob(method: str) -> str | None:
    """The knob of ``method`` that must equal the response cap (the launch budget), or None when
    the method has none: ``bmax`` for LEAD, ``max_length`` for ``truncation``..."""
    return config_class(method).cap_knob


def budget_knob(method: str) -> str | None:
    """The knob holding ``method``'s one global length budget (a cap or a target), or None for a
    method without one: ``max_length`` for ``truncation``, ``target_length`` for ``laser``..."""
    return config_class(method).budget_knob


def token_knobs(method: str) -> tuple[str, ...]:
    """The knobs of ``method`` counted in tokens (its cap included), which scale with the
    response budget."""
    return tuple(config_class(method).token_knobs)


def per_token_knobs(method: str) -> tuple[str, ...]:
    """The knobs of ``method`` that are rates per token (they scale inversely with the budget)."""
    return tuple(config_class(method).per_token_knobs)


def cap_knobs() -> dict[str, str]:
    """``{method: cap knob}`` for every method that has one."""
    return {name: cls.cap_knob for name, cls in CONFIGS.items() if cls.cap_knob}


def scaled_knobs(method: str, response_cap: float) -> dict[str, float]:
    """``method``'s length knobs for a response cap of ``response_cap`` tokens: each token knob's
    default times ``response_cap / PAPER_BUDGET``, the cap knob ``response_cap`` itself, and each
    per-token rate's default times ``PAPER_BUDGET / response_cap`` (a full-length response pays
    what it pays at the paper's budget). ``{}`` for a method without length knobs."""
    if (
        isinstance(response_cap, bool)
        or not isinstance(response_cap, (int, float))
        or not (math.isfinite(response_cap) and response_cap > 0)
    ):
        raise ValueError(f"response cap {response_cap!r} is invalid: expected a number of tokens > 0")
    config_cls = config_class(method)
    defaults = config_cls()
    values = {knob: getattr(defaults, knob) * response_cap / PAPER_BUDGET for knob in config_cls.token_knobs}
    if config_cls.cap_knob:
        values[config_cls.cap_knob] = float(response_cap)
    values.update({knob: getattr(defaults, knob) * PAPER_BUDGET / response_cap for knob in config_cls.per_token_knobs})
    return values


class KnobRow(NamedTuple):
    """One knob of a method as the docs tables show it."""

    name: str
    default: Any
    role: str
    """``cap``, ``budget``, ``cap, budget``, ``tokens``, ``per-token``, or ``""`` (no length role)."""
    doc: str
    """The field's documentation on one line."""


def _default(f: Field) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def field_docs(config_cls: type) -> dict[str, str]:
    """``{field: the string under it}`` over ``config_cls`` and its bases (the nearest class wins),
    each on one line."""
    docs: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if klass is object or "__dataclass_fields__" not in klass.__dict__:
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def knob_rows(method: str) -> list[KnobRow]:
    """Every knob of ``method`` in its Hydra block's order: name, default, length role, doc."""
    config_cls = config_class(method)
    docs = field_docs(config_cls)
    rows = []
    for f in fields(config_cls):
        roles = [r for r, knob in (("cap", config_cls.cap_knob), ("budget", config_cls.budget_knob)) if knob == f.name]
        if not roles and f.name in config_cls.token_knobs:
            roles = ["tokens"]
        if f.name in config_cls.per_token_knobs:
            roles = ["per-token"]
        rows.append(KnobRow(f.name, _default(f), ", ".join(roles), docs.get(f.name, "")))
    return rows

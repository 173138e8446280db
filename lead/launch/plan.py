"""Planning: the runs a launch script asks for, each a run name and its Hydra overrides.

A single-run script plans one run of its recipe (``--experiment``) with its method; a sweep
script plans one run per point of a paper table. Every run's overrides are, in order: the recipe,
the settings the environment derives (BUDGET, N_GPUS, ...), the run's own (method, sweep point),
the run's name and folder, and last the user's command-line overrides, so those win.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lead.core.knobs import AGGREGATORS, LSTAR_MODES, LeadConfig
from lead.launch.environment import NAME_PATTERN, LaunchError


@dataclass
class PlannedRun:
    """One training run: its name and its Hydra overrides for ``lead-train``."""

    name: str
    overrides: list[str]
    device: str = "cuda"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> PlannedRun:
        return cls(**json.loads(line))


@dataclass
class SweepPoint:
    """A run of a sweep before the recipe and the environment are added: name stem and own overrides."""

    stem: str
    overrides: list[str]


def words(value: str) -> list[str]:
    """The items of a space- or comma-separated list."""
    return value.replace(",", " ").split()


def number(text: str, variable: str, what: str = "a number >= 0") -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise LaunchError(f'{variable}: {text!r} is not {what} (e.g. {variable}="0 0.5 2")')
    return value


def exact(value: float) -> str:
    """A number as overrides write it: the shortest text that reads back as ``value`` (never
    rounded, so two sweep points never collapse into one run), 1.0 -> 1."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def name_number(value: float) -> str:
    """A number as run names write it, exactly: 0.25 -> 0p25, 1.0 -> 1, 0.99999991 -> 0p99999991."""
    return exact(value).replace(".", "p").replace("+", "")


def tokens(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip() or str(default)
    if not raw.isdigit() or int(raw) == 0:
        raise LaunchError(f"{variable}={raw!r} is not a number of tokens: set it to a positive integer, e.g. {default}")
    return int(raw)


def choices(env: Mapping[str, str], variable: str, default: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = words(env.get(variable, default))
    for item in items:
        if item not in allowed:
            raise LaunchError(f"{variable}: unknown {what} {item!r}; choose from: {' '.join(allowed)}")
    return items


def ratio_sweep(env: Mapping[str, str]) -> list[SweepPoint]:
    """Table 2: static correctness:length weight ratios r (w_corr = 1/(1+r), w_len = r/(1+r)) for
    GRPO with a length-threshold reward and for LEAD with fixed weights. ``METHODS`` (grpo lead),
    ``RATIOS`` (0 0.25 0.5 1 2 4), ``LENGTH_THRESHOLD`` (GRPO's length threshold; unset: the
    method's default, 2000, which the CPU group scales down as it does every token knob)."""
    methods = choices(env, "METHODS", "grpo lead", ("grpo", "lead"), "method")
    ratios = [number(r, "RATIOS", "a ratio >= 0") for r in words(env.get("RATIOS", "0 0.25 0.5 1 2 4"))]
    # Only a threshold the user sets is passed: a command-line override would beat the device group's.
    threshold = (
        [f"algorithm.grpo_len_threshold.threshold={tokens(env, 'LENGTH_THRESHOLD', 2000)}"]
        if env.get("LENGTH_THRESHOLD", "").strip()
        else []
    )
    points = []
    for method in methods:
        for ratio in ratios:
            w_corr, w_len = exact(1 / (1 + ratio)), exact(ratio / (1 + ratio))
            stem = f"math_{method}_ratio{name_number(ratio)}"
            if method == "grpo":
                points.append(
                    SweepPoint(
                        stem,
                        [
                            "algorithm.adv_estimator=grpo_len_threshold",
                            "algorithm.grpo_len_threshold.mode=classic",
                            f"algorithm.grpo_len_threshold.lambda1={w_corr}",
                            f"algorithm.grpo_len_threshold.lambda2={w_len}",
                            *threshold,
                        ],
                    )
                )
            else:
                points.append(
                    SweepPoint(stem, ["algorithm.adv_estimator=lead", f"algorithm.lead.static_lambda_corr={w_corr}"])
                )
    return points


def aggregator_sweep(env: Mapping[str, str]) -> list[SweepPoint]:
    """Table 3: how L* is taken from a group's rollouts. ``AGGS`` (all four aggregators)."""
    return [
        SweepPoint(f"math_lead_agg_{a}", ["algorithm.adv_estimator=lead", f"algorithm.lead.aggregator={a}"])
        for a in choices(env, "AGGS", " ".join(AGGREGATORS), AGGREGATORS, "aggregator")
    ]


def mode_sweep(env: Mapping[str, str]) -> list[SweepPoint]:
    """The efficiency reward's shape around L*. ``MODES`` (max_sym max_asym upper_only)."""
    return [
        SweepPoint(f"math_lead_mode_{m}", ["algorithm.adv_estimator=lead", f"algorithm.lead.lstar_mode={m}"])
        for m in choices(env, "MODES", " ".join(LSTAR_MODES), LSTAR_MODES, "mode")
    ]


PAPER_CONTROLLER = {knob: getattr(LeadConfig(), knob) for knob in ("alpha", "beta", "lambda_min")}
CONTROLLER_AXES = {
    "alpha": ("ALPHAS", "0.5 1 2"),
    "beta": ("BETAS", "0.9 0.95 0.99"),
    "lambda_min": ("LAMBDA_MINS", "0.1 0.3 0.5"),
}


def controller_sweep(env: Mapping[str, str]) -> list[SweepPoint]:
    """The PSI controller's knobs, one at a time around the paper's point (alpha 1, beta 0.95,
    lambda_min 0.3). ``KNOBS`` (alpha beta lambda_min), ``ALPHAS``, ``BETAS``, ``LAMBDA_MINS``."""
    points: dict[str, SweepPoint] = {}
    for knob in choices(env, "KNOBS", "alpha beta lambda_min", tuple(CONTROLLER_AXES), "knob"):
        variable, default = CONTROLLER_AXES[knob]
        for raw in words(env.get(variable, default)):
            point = {**PAPER_CONTROLLER, knob: number(raw, variable, "a number >= 0")}
            stem = "math_lead_a{}_b{}_lm{}".format(*(name_number(point[k]) for k in ("alpha", "beta", "lambda_min")))
            points.setdefault(
                stem,
                SweepPoint(
                    stem,
                    [
                        "algorithm.adv_estimator=lead",
                        *(f"algorithm.lead.{k}={exact(point[k])}" for k in ("alpha", "beta", "lambda_min")),
                    ],
                ),
            )
    return list(points.values())


SWEEPS: dict[str, Callable[[Mapping[str, str]], list[SweepPoint]]] = {
    "ratio": ratio_sweep,
    "aggregator": aggregator_sweep,
    "mode": mode_sweep,
    "controller": controller_sweep,
}


def run_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise LaunchError(f"run name {name!r} may only hold letters, digits, '.', '_' and '-'")
    return name


def append_plan(runs: list[PlannedRun], path: str | Path) -> None:
    with open(path, "a", encoding="utf-8") as out:
        for run in runs:
            out.write(run.to_json() + "\n")


def read_plan(path: str | Path) -> list[PlannedRun]:
    runs = []
    seen = set()
    for number_, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            run = PlannedRun.from_json(line)
        except (ValueError, TypeError) as err:
            raise LaunchError(f"{path}:{number_}: not a planned run ({err})") from None
        if run.name in seen:
            raise LaunchError(f"{path}:{number_}: run {run.name!r} is planned twice")
        seen.add(run.name)
        runs.append(run)
    return runs

"""What a GPU run costs before it starts, from the sources' own figures (never measured here).

Each recipe (``config/experiment/*.yaml``) carries one ``cost`` block: the GPUs the source ran on
(``gpus``, ``gpu``), its wall-clock ``hours`` for ``steps`` training steps (null when the source
gives no time) and the ``source``. A recipe without one inherits its parent's (its defaults list).
Here the figure is scaled linearly to a run's remaining steps and summed over a sweep's runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EXPERIMENTS = Path(__file__).resolve().parents[1] / "verl_plugin" / "config" / "experiment"


def recipe_cost(experiment: str) -> dict[str, Any] | None:
    """The ``cost`` block of an experiment file, or of the nearest recipe it builds on."""
    from omegaconf import OmegaConf

    path = EXPERIMENTS / f"{experiment}.yaml"
    if not path.is_file():
        return None
    node = OmegaConf.load(path)
    if "cost" in node:
        return OmegaConf.to_container(node.cost)
    parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    return recipe_cost(parents[0]) if parents else None


def _hardware(cost: Mapping[str, Any]) -> str:
    return f"{cost['gpus']} x {cost['gpu']}"


def _hours(hours: float) -> str:
    return f"{hours:,.0f} h" if hours >= 10 else f"{hours:.1f} h"


def run_hours(cost: Mapping[str, Any], steps: int | None) -> float | None:
    """The source's time scaled to ``steps`` (the source's own steps when None)."""
    if cost.get("hours") is None:
        return None
    return float(cost["hours"]) * (cost["steps"] if steps is None else steps) / float(cost["steps"])


def describe(cost: Mapping[str, Any], runs: int = 1, steps: int | None = None) -> str:
    """One sentence: hardware and time for ``runs`` runs of ``steps`` steps each, and its source."""
    source = f"{cost['source']}; not measured here"
    per_run = run_hours(cost, steps)
    length = f"{cost['steps'] if steps is None else steps} steps"
    if per_run is None:
        return f"{_hardware(cost)} per run, time unknown ({source})"
    if runs == 1:
        return f"about {_hours(per_run)} on {_hardware(cost)} for {length} ({source})"
    total = per_run * runs
    return (
        f"about {_hours(total)} on {_hardware(cost)} for {runs} runs of {length}, one after another "
        f"({_hours(total * cost['gpus'])} GPU time; {source})"
    )


def report_cost(report: Any) -> tuple[dict[str, Any], int] | None:
    """A checked GPU run's cost block and the steps it has left (None for CPU runs and no figure)."""
    if report.config is None or report.run.device == "cpu" or report.config.get("cost") is None:
        return None
    from omegaconf import OmegaConf

    cost = OmegaConf.to_container(report.config.cost)
    if report.state == "done":
        return cost, 0
    final = report.final_step if report.final_step is not None else cost["steps"]
    return cost, max(final - (report.step or 0), 0)


def run_cost_line(report: Any) -> str | None:
    """``GPU cost: ...`` of one checked run's remaining steps."""
    found = report_cost(report)
    return None if found is None else f"GPU cost: {describe(found[0], 1, found[1])}"


def plan_cost_line(reports: Sequence[Any]) -> str | None:
    """The cost of a plan's runs together, when there are several with the same source."""
    costs = [c for c in (report_cost(r) for r in reports) if c is not None]
    if len(costs) < 2 or any(c != costs[0][0] for c, _ in costs):
        return None
    steps = sum(s for _, s in costs)
    return f"GPU cost of the {len(costs)} runs: {describe(costs[0][0], len(costs), round(steps / len(costs)))}"


def help_cost_line(experiment: str, runs: int) -> str | None:
    """The cost line of a launch script's ``--help`` (from the recipe file, nothing composed)."""
    cost = recipe_cost(experiment)
    return None if cost is None else f"GPU cost: {describe(cost, runs)}."

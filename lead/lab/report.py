"""The lab's tables (markdown and JSON summary) and plots."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from lead.lab import claims
from lead.lab.config import NAMED_BUDGETS, STATIC_BUDGET_KNOBS
from lead.lab.task import min_length

METRICS = ("accuracy", "greedy_accuracy", "length", "rechecks", "direct", "excess")


def _spread(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation over seeds (0 for one seed)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


BY_K_METRICS = ("accuracy", "length", "rechecks", "direct", "excess")


def summarise(warm: dict[str, Any], runs: list[dict[str, Any]], arms: list[str]) -> dict[str, Any]:
    """Final held-out evaluation per arm, averaged over seeds, with the change against the
    warm-up model: ``delta_accuracy`` in absolute points, ``delta_length_pct`` in percent."""
    out: dict[str, Any] = {}
    for name in arms:
        finals = [r["evals"][-1] for r in runs if r["arm"] == name]
        row = {m: _spread([f[m] for f in finals]) for m in METRICS}
        row["delta_accuracy"] = row["accuracy"]["mean"] - warm["accuracy"]
        row["delta_length_pct"] = 100.0 * (row["length"]["mean"] / warm["length"] - 1.0)
        row["by_k"] = {k: {m: _spread([f["by_k"][k][m] for f in finals]) for m in BY_K_METRICS} for k in warm["by_k"]}
        row["seeds"] = len(finals)
        row["steps"] = finals[0]["step"]
        out[name] = row
    return out


def _fmt(cell: dict[str, float], digits: int) -> str:
    text = f"{cell['mean']:.{digits}f}"
    return text + f" ± {cell['std']:.{digits}f}" if cell["std"] > 0 else text


def shortest_mean(warm: dict[str, Any]) -> float:
    """Mean length of the shortest complete traces (``4k + 3``) over the held-out set."""
    return sum(min_length(int(k)) * cell["n"] for k, cell in warm["by_k"].items()) / warm["n"]


def _ks_text(warm: dict[str, Any]) -> str:
    ks = sorted(int(k) for k in warm["by_k"])
    return f"1..{ks[-1]}" if ks == list(range(1, ks[-1] + 1)) else ", ".join(map(str, ks))


def markdown_table(results: dict[str, Any]) -> str:
    cfg, warm, summary = results["config"], results["warmup"], results["summary"]
    ks = sorted(warm["by_k"], key=int)
    seeds = results["seeds"]
    budget = results.get("static_budget")
    title = "## `lead lab` results"
    if results.get("ablation"):
        title = f"## `lead lab --ablation {results['ablation']}` results"
    elif results.get("suite") == "claims":
        title = f"## `lead lab --suite claims --preset {results.get('preset')}` results"
    lines = [
        title,
        "",
        *(claims.size_note(results) if results.get("suite") == "claims" else []),
        f"Model: {results['model']}, "
        + (
            f"warm-up model loaded from {results['warmup_from']}. "
            if results.get("warmup_from")
            else f"{cfg['sft_steps']} warm-up steps. "
        )
        + f"Held-out problems: {warm['n']} ({cfg['eval_per_k']} per difficulty k = {_ks_text(warm)}), "
        f"one sample each at temperature 1. RL: {cfg['rl_steps']} steps of {cfg['prompts_per_step']} prompts x "
        f"{cfg['group_size']} samples from the same warm-up model"
        + (f"; mean ± std over {seeds} seeds." if seeds > 1 else f", seed {cfg['seed']}.")
        + f" The shortest complete traces average {shortest_mean(warm):.1f} tokens on this set. Accuracy is of that"
        " sample; greedy accuracy is of greedy decoding.",
    ]
    if results.get("budgets"):
        lines += [
            "",
            "Global length budgets (the cap or target of each static-budget arm, named after @): "
            + ", ".join(
                f"@{name} = {value:g} tokens, {NAMED_BUDGETS[name]}" for name, value in results["budgets"].items()
            )
            + ".",
        ]
    elif budget is not None and any(r["method"] in STATIC_BUDGET_KNOBS for r in results["runs"]):
        lines += [
            "",
            f"Static length budget (the cap or target of truncation, DLER, LASER and the threshold "
            f"reward): {budget['tokens']:g} tokens, "
            + (
                "the warm-up model's median correct length."
                if budget["source"] == "measured"
                else f"set by --budget (the warm-up model's median correct length is "
                f"{budget['measured_median_correct']:g})."
            ),
        ]
    if "verl" in results.get("trainers", []):
        lines += [
            "",
            "Arms marked (verl) trained through verl 0.9.1's real loop on the CPU (`lead-train device=cpu`: "
            "Ray, FSDP2 actor, hfcpu rollout server, verl's reward loop with the lab's grading, the "
            "registered estimator), from the same warm-up weights, problems and settings; their final "
            "checkpoint (fp32 weights) was evaluated here. The loops differ in the rollouts' random draws, "
            "in verl's clipped-surrogate loss (the same gradient at one update per batch, another "
            "logged value), in its FSDP-wrapped AdamW (same hyperparameters) and its own GRPO "
            "estimator (same formula); verl runs are evaluated at the start and the end only.",
        ]
    lines += [
        "",
        (
            "| method | accuracy | Δ accuracy | mean length | Δ length | re-checks / answer | direct answers "
            "| greedy accuracy |"
        ),
        "|---|---|---|---|---|---|---|---|",
        (
            f"| warm-up model | {warm['accuracy']:.3f} | | {warm['length']:.1f} | | {warm['rechecks']:.2f} "
            f"| {warm['direct']:.2f} | {warm['greedy_accuracy']:.3f} |"
        ),
    ]
    for name, row in summary.items():
        lines.append(
            f"| {name} | {_fmt(row['accuracy'], 3)} | {100 * row['delta_accuracy']:+.1f} pt | {_fmt(row['length'], 1)} "
            f"| {row['delta_length_pct']:+.0f}% | {_fmt(row['rechecks'], 2)} | {_fmt(row['direct'], 2)} "
            f"| {_fmt(row['greedy_accuracy'], 3)} |"
        )

    def by_k_table(caption: str, cell: Callable[[dict[str, Any]], str]) -> list[str]:
        return [
            "",
            caption,
            "",
            "| method | " + " | ".join(f"k={k} ({min_length(int(k))})" for k in ks) + " |",
            "|---|" + "---|" * len(ks),
            "| warm-up model | "
            + " | ".join(cell({m: {"mean": warm["by_k"][k][m]} for m in BY_K_METRICS}) for k in ks)
            + " |",
            *(f"| {name} | " + " | ".join(cell(row["by_k"][k]) for k in ks) + " |" for name, row in summary.items()),
        ]

    lines += by_k_table(
        "Per difficulty, accuracy / mean length (the shortest complete trace has 4k + 3 tokens):",
        lambda c: f"{c['accuracy']['mean']:.2f} / {c['length']['mean']:.1f}",
    )
    lines += by_k_table(
        "Per difficulty, tokens over the shortest complete trace (> 0: over-thinking; < 0: "
        "reasoning cut short) / share of direct answers, which skip the reasoning (guesses when k > 1):",
        lambda c: f"{round(c['excess']['mean'], 1) + 0.0:+.1f} / {c['direct']['mean']:.2f}",
    )
    if results.get("suite") == "claims":
        lines += claims.markdown(results).splitlines()
    settings = [
        f"{name}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        for name, values in results["method_settings"].items()
        if values
    ]
    if settings:
        lines += [
            "",
            "Method settings that differ from the papers' defaults (toy-scale lengths and the arms' own "
            "knobs): " + "; ".join(settings) + ".",
        ]
    return "\n".join(lines) + "\n"


def _curve(runs: list[dict[str, Any]], metric: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps, mean, min and max over seeds of one evaluation metric."""
    steps = [e["step"] for e in runs[0]["evals"]]
    per_step = [[r["evals"][i][metric] for r in runs] for i in range(len(steps))]
    return steps, [statistics.fmean(v) for v in per_step], [min(v) for v in per_step], [max(v) for v in per_step]


def plot_curves(results: dict[str, Any], path: Path) -> None:
    """Held-out accuracy and mean length against RL step, one line per arm (band: min-max over seeds)."""
    fig = Figure(figsize=(10, 3.8), dpi=100)
    ax_acc, ax_len = fig.subplots(1, 2)
    for name in results["methods"]:
        runs = [r for r in results["runs"] if r["arm"] == name]
        for ax, metric in ((ax_acc, "accuracy"), (ax_len, "length")):
            steps, mean, lo, hi = _curve(runs, metric)
            (line,) = ax.plot(steps, mean, marker="o", ms=3, label=name)
            if len(runs) > 1:
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    ax_len.axhline(shortest_mean(results["warmup"]), color="grey", ls="--", lw=1, label="shortest complete traces")
    ax_acc.set(xlabel="RL step", ylabel="held-out accuracy", title="Accuracy (temperature 1)")
    ax_len.set(xlabel="RL step", ylabel="mean response tokens", title="Response length")
    ax_acc.set_ylim(0, 1.02)
    ax_len.set_ylim(bottom=0)
    ax_acc.legend(loc="best")
    ax_len.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)


def plot_lead(results: dict[str, Any], path: Path) -> None:
    """LEAD's weights (used and target) and its per-difficulty target length L* against RL step
    (first seed of the first LEAD arm)."""
    run = next(r for r in results["runs"] if r["method"] == "lead")
    steps = [s["step"] for s in run["steps"]]
    fig = Figure(figsize=(10, 3.8), dpi=100)
    ax_w, ax_l = fig.subplots(1, 2)
    for key, label in (("w_corr", "λ_c (correctness)"), ("w_eff", "λ_e (efficiency)")):
        (line,) = ax_w.plot(steps, [s[f"lead/{key}"] for s in run["steps"]], label=label)
        ax_w.plot(
            steps,
            [s[f"lead/target_{key}"] for s in run["steps"]],
            color=line.get_color(),
            lw=0.8,
            alpha=0.4,
            label=f"target τ{label[1:3]}",
        )
    ax_w.set(xlabel="RL step", ylabel="weight", title="LEAD controller weights", ylim=(0, 1))
    ax_w.legend(loc="best", fontsize=8)
    ks = sorted({int(key[len("lab/lstar_k") :]) for s in run["steps"] for key in s if key.startswith("lab/lstar_k")})
    for k in ks:
        pts = [(s["step"], s[f"lab/lstar_k{k}"]) for s in run["steps"] if f"lab/lstar_k{k}" in s]
        (line,) = ax_l.plot([p[0] for p in pts], [p[1] for p in pts], lw=1, label=f"k={k}")
        ax_l.axhline(min_length(k), color=line.get_color(), ls="--", lw=0.8)
    ax_l.set(xlabel="RL step", ylabel="L* (tokens)", title="Target length L* per difficulty (dashed: 4k + 3)")
    ax_l.set_ylim(bottom=0)
    ax_l.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def _accuracy_length_axes(ax: Any, results: dict[str, Any], labels: list[str]) -> None:
    """Accuracy (%) against mean length: the warm-up model, then one point per arm at its seed
    mean with bars over the seed range, the seeds as small dots, and the front of the arms that
    no other arm beats on both. The y-axis stays within 0-100 %."""
    warm = results["warmup"]
    ax.scatter(
        [warm["length"]], [100 * warm["accuracy"]], color="grey", marker="s", s=40, label="warm-up model", zorder=3
    )
    means = []
    for i, name in enumerate(labels):
        finals = [r["evals"][-1] for r in results["runs"] if r["arm"] == name]
        xs, ys = [f["length"] for f in finals], [100 * f["accuracy"] for f in finals]
        x, y = statistics.fmean(xs), statistics.fmean(ys)
        color = f"C{i % 10}"
        ax.errorbar(
            [x],
            [y],
            xerr=[[x - min(xs)], [max(xs) - x]],
            yerr=[[y - min(ys)], [max(ys) - y]],
            fmt="o",
            color=color,
            ms=7,
            capsize=3,
            label=name,
            zorder=4,
        )
        if len(finals) > 1:
            ax.scatter(xs, ys, color=color, s=10, alpha=0.5, zorder=3)
        means.append((x, y))
    front = sorted(p for p in means if not any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in means))
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], "k--", lw=0.8, alpha=0.6, label="front")
    ax.axvline(shortest_mean(warm), color="grey", ls=":", lw=1, label="shortest complete traces")
    all_y = [100 * warm["accuracy"]] + [100 * r["evals"][-1]["accuracy"] for r in results["runs"] if r["arm"] in labels]
    ax.set_ylim(max(0.0, min(all_y) - 5), min(100.0, max(all_y) + 3))
    ax.set_xlim(left=0)
    ax.set(xlabel="mean response tokens (held-out)", ylabel="held-out accuracy (%)")
    ax.grid(alpha=0.3)


def plot_pareto(results: dict[str, Any], path: Path) -> None:
    """Accuracy against mean length after RL, every arm in one panel."""
    fig = Figure(figsize=(7, 4.8), dpi=100)
    ax = fig.subplots()
    _accuracy_length_axes(ax, results, results["methods"])
    ax.set_title("Accuracy against length after RL (bars: range over seeds)")
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def plot_ablation(results: dict[str, Any], path: Path) -> None:
    """Accuracy against mean length per ablation panel: one panel for the whole ablation, or one
    per swept knob (each with the default arm)."""
    panels: dict[str, list[str]] = {}
    for arm in results["arms"]:
        for group in arm["groups"] or [results["ablation"]]:
            panels.setdefault(group, []).append(arm["label"])
    fig = Figure(figsize=(6 * len(panels), 4.8), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (group, labels) in zip(axes, panels.items()):
        _accuracy_length_axes(ax, results, labels)
        ax.set_title(f"{group}")
        ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_outputs(results: dict[str, Any], out: Path) -> list[str]:
    """Write ``results.md`` and the figures into ``out``; returns the file names written
    (``results.json`` is written by the caller, with this list in it)."""
    files = {"results.md": None, "pareto.png": plot_pareto, "curves.png": plot_curves}
    if any(r["method"] == "lead" for r in results["runs"]):
        files["lead_controller.png"] = plot_lead
    if results.get("ablation"):
        files["ablation.png"] = plot_ablation
    (out / "results.md").write_text(markdown_table(results))
    for name, plot in files.items():
        if plot is not None:
            plot(results, out / name)
    extra = claims.write(results, out) if results.get("suite") == "claims" else []
    return ["results.json", *files, *extra]

"""The lab's table (markdown and JSON summary) and plots."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from lead.lab.task import min_length

METRICS = ("accuracy", "greedy_accuracy", "length", "rechecks", "direct", "excess")


def _spread(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation over seeds (0 for one seed)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarise(warm: dict[str, Any], runs: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    """Final held-out evaluation per method, averaged over seeds, with the change against the
    warm-up model: ``delta_accuracy`` in absolute points, ``delta_length_pct`` in percent."""
    out: dict[str, Any] = {}
    for name in methods:
        finals = [r["evals"][-1] for r in runs if r["method"] == name]
        row = {m: _spread([f[m] for f in finals]) for m in METRICS}
        row["delta_accuracy"] = row["accuracy"]["mean"] - warm["accuracy"]
        row["delta_length_pct"] = 100.0 * (row["length"]["mean"] / warm["length"] - 1.0)
        row["by_k"] = {k: {m: _spread([f["by_k"][k][m] for f in finals]) for m in ("accuracy", "length", "rechecks")}
                       for k in warm["by_k"]}
        row["seeds"] = len(finals)
        row["steps"] = finals[0]["step"]
        out[name] = row
    return out


def _fmt(cell: dict[str, float], digits: int) -> str:
    text = f"{cell['mean']:.{digits}f}"
    return text + f" ± {cell['std']:.{digits}f}" if cell["std"] > 0 else text


def markdown_table(results: dict[str, Any]) -> str:
    cfg, warm, summary = results["config"], results["warmup"], results["summary"]
    ks = sorted(warm["by_k"], key=int)
    min_mean = sum(min_length(int(k)) * warm["by_k"][k]["n"] for k in ks) / warm["n"]
    seeds = results["seeds"]
    lines = [
        "## `lead lab` results",
        "",
        f"Model: {results['model']}, "
        + (f"warm-up model loaded from {results['warmup_from']}. " if results.get("warmup_from")
           else f"{cfg['sft_steps']} warm-up steps. ")
        + f"Held-out problems: {warm['n']} ({cfg['eval_per_k']} per difficulty k = 1..{cfg['task']['max_ops']}), "
        f"one sample each at temperature 1. RL: {cfg['rl_steps']} steps of {cfg['prompts_per_step']} prompts x "
        f"{cfg['group_size']} samples from the same warm-up model"
        + (f"; mean ± std over {seeds} seeds." if seeds > 1 else f", seed {cfg['seed']}.")
        + f" The shortest complete traces average {min_mean:.1f} tokens on this set. Accuracy is of that sample;"
        " greedy accuracy is of greedy decoding.",
        "",
        ("| method | accuracy | Δ accuracy | mean length | Δ length | re-checks / answer | direct answers "
        "| greedy accuracy |"),
        "|---|---|---|---|---|---|---|---|",
        (f"| warm-up model | {warm['accuracy']:.3f} | | {warm['length']:.1f} | | {warm['rechecks']:.2f} "
        f"| {warm['direct']:.2f} | {warm['greedy_accuracy']:.3f} |"),
    ]
    for name, row in summary.items():
        lines.append(
            f"| {name} | {_fmt(row['accuracy'], 3)} | {100 * row['delta_accuracy']:+.1f} pt | {_fmt(row['length'], 1)} "
            f"| {row['delta_length_pct']:+.0f}% | {_fmt(row['rechecks'], 2)} | {_fmt(row['direct'], 2)} "
            f"| {_fmt(row['greedy_accuracy'], 3)} |")
    lines += [
        "",
        "Per difficulty, accuracy / mean length (the shortest complete trace has 4k + 3 tokens):",
        "",
        "| method | " + " | ".join(f"k={k} ({min_length(int(k))})" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
        "| warm-up model | " + " | ".join(
            f"{warm['by_k'][k]['accuracy']:.2f} / {warm['by_k'][k]['length']:.1f}" for k in ks) + " |",
    ]
    for name, row in summary.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{row['by_k'][k]['accuracy']['mean']:.2f} / {row['by_k'][k]['length']['mean']:.1f}" for k in ks) + " |")
    settings = [f"{name}: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
                for name, values in results["method_settings"].items() if values]
    if settings:
        lines += ["", "Method settings that differ from the papers' defaults (rescaled to this task's token lengths): "
                  + "; ".join(settings) + "."]
    return "\n".join(lines) + "\n"


def _curve(runs: list[dict[str, Any]], metric: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps, mean, min and max over seeds of one evaluation metric."""
    steps = [e["step"] for e in runs[0]["evals"]]
    per_step = [[r["evals"][i][metric] for r in runs] for i in range(len(steps))]
    return steps, [statistics.fmean(v) for v in per_step], [min(v) for v in per_step], [max(v) for v in per_step]


def plot_curves(results: dict[str, Any], path: Path) -> None:
    """Held-out accuracy and mean length against RL step, one line per method (band: min-max over seeds)."""
    warm = results["warmup"]
    ks = sorted(warm["by_k"], key=int)
    min_mean = sum(min_length(int(k)) * warm["by_k"][k]["n"] for k in ks) / warm["n"]
    fig = Figure(figsize=(10, 3.8), dpi=100)
    ax_acc, ax_len = fig.subplots(1, 2)
    for name in results["methods"]:
        runs = [r for r in results["runs"] if r["method"] == name]
        for ax, metric in ((ax_acc, "accuracy"), (ax_len, "length")):
            steps, mean, lo, hi = _curve(runs, metric)
            (line,) = ax.plot(steps, mean, marker="o", ms=3, label=name)
            if len(runs) > 1:
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2)
    ax_len.axhline(min_mean, color="grey", ls="--", lw=1, label="shortest complete traces")
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
    (first LEAD seed)."""
    run = next(r for r in results["runs"] if r["method"] == "lead")
    steps = [s["step"] for s in run["steps"]]
    fig = Figure(figsize=(10, 3.8), dpi=100)
    ax_w, ax_l = fig.subplots(1, 2)
    for key, label in (("w_corr", "λ_c (correctness)"), ("w_eff", "λ_e (efficiency)")):
        (line,) = ax_w.plot(steps, [s[f"lead/{key}"] for s in run["steps"]], label=label)
        ax_w.plot(steps, [s[f"lead/target_{key}"] for s in run["steps"]], color=line.get_color(), lw=0.8,
                  alpha=0.4, label=f"target τ{label[1:3]}")
    ax_w.set(xlabel="RL step", ylabel="weight", title="LEAD controller weights", ylim=(0, 1))
    ax_w.legend(loc="best", fontsize=8)
    ks = sorted({int(key[len("lab/lstar_k"):]) for s in run["steps"] for key in s if key.startswith("lab/lstar_k")})
    for k in ks:
        pts = [(s["step"], s[f"lab/lstar_k{k}"]) for s in run["steps"] if f"lab/lstar_k{k}" in s]
        (line,) = ax_l.plot([p[0] for p in pts], [p[1] for p in pts], lw=1, label=f"k={k}")
        ax_l.axhline(min_length(k), color=line.get_color(), ls="--", lw=0.8)
    ax_l.set(xlabel="RL step", ylabel="L* (tokens)",
             title="Target length L* per difficulty (dashed: 4k + 3)")
    ax_l.set_ylim(bottom=0)
    ax_l.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)

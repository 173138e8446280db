"""The claims suite's analysis (``lead lab --suite claims``): per-difficulty results with
intervals over seeds, the accuracy-length figure and one paragraph per claim of the paper,
each written from the numbers.

Intervals are 95% Student-t intervals over seeds: ``mean ± t(n-1) s / sqrt(n)`` for one arm, and
for a difference between two arms ``diff ± t(na + nb - 2) sqrt(sa²/na + sb²/nb)``. A difference
counts as shown only when its interval excludes 0; with one seed there is no interval, and no
comparison is called either way.

The claims (paper §1, §4, Tables 2-3):

* (a) per-problem targets beat one global budget when problems need very different lengths: a
  global budget either cuts the hard problems or leaves the easy ones long;
* (b) the PSI controller beats fixed correctness/efficiency weights: no static ratio matches it
  on both accuracy and length;
* (c) the symmetric efficiency reward (``max_sym``) avoids the over-compression that penalising
  only length above L* (``upper_only``) causes.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from lead.lab.config import CLAIMS_PRESETS

T_975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
"""Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (1.96 beyond)."""


def t_quantile(df: int) -> float:
    return T_975[df - 1] if df <= len(T_975) else 1.96


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and the half-width of its 95% interval (``None`` with one seed)."""

    mean: float
    half: float | None
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: list[float]) -> Estimate:
        n = len(values)
        half = t_quantile(n - 1) * statistics.stdev(values) / math.sqrt(n) if n > 1 else None
        return cls(statistics.fmean(values), half, tuple(values))

    def text(self, digits: int) -> str:
        body = f"{self.mean:.{digits}f}"
        return body if self.half is None else f"{body} ± {self.half:.{digits}f}"


@dataclass(frozen=True)
class Difference:
    """``a - b`` with its 95% interval; ``sign`` is +1 or -1 when the interval excludes 0, else 0
    (also with one seed on either side, when there is no interval)."""

    diff: float
    half: float | None

    @classmethod
    def of(cls, a: Estimate, b: Estimate) -> Difference:
        na, nb = len(a.values), len(b.values)
        if na < 2 or nb < 2:
            return cls(a.mean - b.mean, None)
        se = math.sqrt(statistics.variance(a.values) / na + statistics.variance(b.values) / nb)
        return cls(a.mean - b.mean, t_quantile(na + nb - 2) * se)

    @property
    def sign(self) -> int:
        if self.half is None or abs(self.diff) <= self.half:
            return 0
        return 1 if self.diff > 0 else -1

    def text(self, digits: int, scale: float = 1.0, unit: str = "") -> str:
        body = f"{scale * self.diff:+.{digits}f}{unit}"
        return body + (" (one seed: no interval)" if self.half is None else f" ± {scale * self.half:.{digits}f}{unit}")


def arm_metrics(results: dict[str, Any], arm: str) -> dict[str, Any]:
    """Per seed, from each run's final evaluation: overall accuracy and length, the mean over
    difficulties of length / necessary length, and per difficulty accuracy, length, that ratio
    and the share of direct answers; each as an :class:`Estimate` over seeds."""
    need = {k: float(v) for k, v in results["necessary_lengths"].items()}
    finals = [r["evals"][-1] for r in results["runs"] if r["arm"] == arm]
    return {
        "accuracy": Estimate.of([f["accuracy"] for f in finals]),
        "length": Estimate.of([f["length"] for f in finals]),
        "ratio": Estimate.of([statistics.fmean(f["by_k"][k]["length"] / need[k] for k in need) for f in finals]),
        "by_k": {
            k: {
                "accuracy": Estimate.of([f["by_k"][k]["accuracy"] for f in finals]),
                "length": Estimate.of([f["by_k"][k]["length"] for f in finals]),
                "ratio": Estimate.of([f["by_k"][k]["length"] / need[k] for f in finals]),
                "direct": Estimate.of([f["by_k"][k]["direct"] for f in finals]),
            }
            for k in need
        },
    }


def _ks(results: dict[str, Any]) -> list[str]:
    return sorted(results["necessary_lengths"], key=int)


def _arms(results: dict[str, Any], group: str) -> list[str]:
    return [a["label"] for a in results["arms"] if group in a["groups"]]


def _budget_text(results: dict[str, Any], arm: str) -> str:
    spec = next(a for a in results["arms"] if a["label"] == arm)
    return f"{results['budgets'][spec['budget']]:g} tokens"


def per_difficulty_table(results: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> list[str]:
    ks = _ks(results)
    need = results["necessary_lengths"]
    lines = [
        "| method | accuracy | mean length | length / necessary | "
        + " | ".join(f"k={k} ({need[k]})" for k in ks)
        + " |",
        "|---|---|---|---|" + "---|" * len(ks),
    ]
    for arm, m in metrics.items():
        cells = [
            f"{m['by_k'][k]['accuracy'].text(2)} / {m['by_k'][k]['length'].text(1)} / {m['by_k'][k]['ratio'].text(2)}x"
            for k in ks
        ]
        lines.append(
            f"| {arm} | {m['accuracy'].text(3)} | {m['length'].text(1)} | {m['ratio'].text(2)}x | "
            + " | ".join(cells)
            + " |"
        )
    return lines


ONE_SEED = (
    "**Not assessed**: with one seed there is no interval, so no comparison is called either way; the "
    "point estimates follow."
)


def _one_seed(metrics: dict[str, dict[str, Any]], arms: list[str]) -> bool:
    return any(len(metrics[arm]["accuracy"].values) < 2 for arm in ["lead", *arms])


def _verdict(shown: int, total: int, what: str) -> str:
    if total == 0:
        return f"**Not assessed**: no {what}."
    state = "Holds" if shown == total else "Partly holds" if shown else "Not shown"
    return f"**{state} here** ({shown} of {total} {what})."


def claim_a(results: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> list[str]:
    """Per-problem targets against one global budget, per global-budget arm: does it cut the
    hardest problems (lower accuracy on the hardest difficulty than LEAD) or leave the easiest
    long (higher length / necessary on the easiest difficulty), and where does LEAD lose."""
    ks = _ks(results)
    easy, hard = ks[0], ks[-1]
    lead = metrics["lead"]
    parts, shown, globals_ = [], 0, _arms(results, "global")
    for arm in globals_:
        m = metrics[arm]
        cut = Difference.of(lead["by_k"][hard]["accuracy"], m["by_k"][hard]["accuracy"])
        long_ = Difference.of(m["by_k"][easy]["ratio"], lead["by_k"][easy]["ratio"])
        acc = Difference.of(lead["accuracy"], m["accuracy"])
        length = Difference.of(lead["ratio"], m["ratio"])
        wins = [
            w
            for w, d in (("it cuts the hardest problems", cut), ("it leaves the easiest problems long", long_))
            if d.sign > 0
        ]
        # Being shorter by cutting answers below what they need is no win: LEAD's length loses
        # only where the other arm is not less accurate.
        losses = [
            w
            for w, lost in (
                ("LEAD is less accurate overall", acc.sign < 0),
                ("LEAD is longer overall at no gain in accuracy", length.sign > 0 and acc.sign <= 0),
            )
            if lost
        ]
        shown += bool(wins) and not losses
        parts.append(
            f"- {arm} ({_budget_text(results, arm)}): accuracy on k={hard} LEAD minus it {cut.text(2)}, length / "
            f"necessary on k={easy} it minus LEAD {long_.text(2)}; overall accuracy LEAD minus it {acc.text(3)}, "
            f"length / necessary LEAD minus it {length.text(2)}. "
            + ("Against LEAD " + " and ".join(wins) + "." if wins else "No cost of the global budget is shown.")
            + (" Where LEAD loses: " + "; ".join(losses) + "." if losses else "")
        )
    others = []
    for arm in _arms(results, "per_problem"):
        m = metrics[arm]
        acc, length = Difference.of(lead["accuracy"], m["accuracy"]), Difference.of(lead["ratio"], m["ratio"])
        others.append(f"{arm}: accuracy LEAD minus it {acc.text(3)}, length / necessary {length.text(2)}")
    what = (
        "global-budget arms cost accuracy on the hardest or length on the easiest problems, with LEAD not "
        "losing on overall accuracy or length"
    )
    verdict = ONE_SEED if _one_seed(metrics, globals_) else _verdict(shown, len(globals_), what)
    lines = [f"**(a) Per-problem targets against one global budget.** {verdict}", "", *parts]
    if others:
        lines.append("- The other per-problem length methods against LEAD: " + "; ".join(others) + ".")
    return lines


def claim_b(results: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> list[str]:
    """The controller against every static ratio: a static arm matches LEAD when it is neither
    less accurate nor longer (both differences' intervals include 0 or favour the static arm)."""
    lead = metrics["lead"]
    parts, beaten, losses, statics = [], 0, [], _arms(results, "static")
    for arm in statics:
        m = metrics[arm]
        acc, length = Difference.of(lead["accuracy"], m["accuracy"]), Difference.of(lead["ratio"], m["ratio"])
        lead_better = acc.sign > 0 or length.sign < 0
        lead_worse = acc.sign < 0 or length.sign > 0
        beaten += lead_better
        if lead_worse:
            losses.append(arm)
        state = (
            "LEAD better"
            if lead_better and not lead_worse
            else "mixed"
            if lead_better
            else "LEAD worse"
            if lead_worse
            else "no interval"
            if acc.half is None
            else "no difference shown"
        )
        parts.append(f"- {arm}: accuracy LEAD minus it {acc.text(3)}, length / necessary {length.text(2)}: {state}.")
    lines = [
        "**(b) The PSI controller against static weights.** "
        + (
            ONE_SEED
            if _one_seed(metrics, statics)
            else _verdict(beaten, len(statics), "static ratios lose to the controller on accuracy or length")
        ),
        "",
        *parts,
    ]
    if losses:
        lines.append("- Where LEAD loses: " + ", ".join(losses) + " beat it on accuracy or length.")
    return lines


def claim_c(results: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> list[str]:
    """``max_sym`` (LEAD) against ``upper_only``: over-compression is a mean length below the
    necessary one (length / necessary < 1, its interval below 1) together with lower accuracy
    than LEAD on that difficulty."""
    arms = _arms(results, "upper_only")
    if not arms:
        return ["**(c) The symmetric reward against upper_only.** **Not assessed**: no upper_only arm."]
    lead, m = metrics["lead"], metrics[arms[0]]
    parts, compressed = [], []
    for k in _ks(results):
        ratio, lead_ratio = m["by_k"][k]["ratio"], lead["by_k"][k]["ratio"]
        acc = Difference.of(lead["by_k"][k]["accuracy"], m["by_k"][k]["accuracy"])
        below = ratio.half is not None and ratio.mean + ratio.half < 1
        if below and acc.sign > 0:
            compressed.append(k)
        parts.append(
            f"- k={k}: length / necessary {ratio.text(2)} against LEAD's {lead_ratio.text(2)}, accuracy LEAD "
            f"minus it {acc.text(2)}, direct answers {m['by_k'][k]['direct'].text(2)} against "
            f"{lead['by_k'][k]['direct'].text(2)}."
        )
    acc, length = Difference.of(lead["accuracy"], m["accuracy"]), Difference.of(lead["ratio"], m["ratio"])
    verdict = (
        "**Holds here**: upper_only over-compresses on k = " + ", ".join(compressed) + "."
        if compressed
        else ONE_SEED
        if _one_seed(metrics, arms)
        else "**Not shown here**: upper_only's answers are not shown to be cut below the necessary length at "
        "a cost in accuracy on any difficulty."
    )
    lines = [
        f"**(c) The symmetric reward (max_sym) against upper_only.** {verdict}",
        "",
        f"- Overall: accuracy LEAD minus upper_only {acc.text(3)}, length / necessary {length.text(2)}.",
        *parts,
    ]
    if acc.sign < 0 or length.sign > 0:
        lines.append(
            "- Where LEAD loses: "
            + " and ".join(
                w
                for w, lost in (
                    ("upper_only is more accurate overall", acc.sign < 0),
                    ("upper_only is shorter overall", length.sign > 0),
                )
                if lost
            )
            + "."
        )
    return lines


def plot_pareto(results: dict[str, Any], metrics: dict[str, dict[str, Any]], path: Path) -> None:
    """Accuracy against mean length: the static-ratio arms as a curve (in ratio order), LEAD as a
    star, every other arm as a point; bars are the 95% intervals over seeds."""
    fig = Figure(figsize=(8, 5.5), dpi=100)
    ax = fig.subplots()
    warm = results["warmup"]
    ax.scatter([warm["length"]], [100 * warm["accuracy"]], color="grey", marker="s", s=40, label="warm-up model")

    def point(arm: str, **style: Any) -> tuple[float, float]:
        m = metrics[arm]
        x, y = m["length"], m["accuracy"]
        ax.errorbar(
            [x.mean],
            [100 * y.mean],
            xerr=None if x.half is None else [x.half],
            yerr=None if y.half is None else [100 * y.half],
            capsize=3,
            **style,
        )
        return x.mean, 100 * y.mean

    statics = _arms(results, "static")
    curve = [point(arm, fmt="o", color="C0", ms=5) for arm in statics]
    if curve:
        ax.plot(
            [p[0] for p in curve],
            [p[1] for p in curve],
            "-",
            color="C0",
            label="LEAD, static weights R = " + ", ".join(a.split("=")[1].split(" ")[0] for a in statics),
        )
        for arm, (x, y) in zip(statics, curve):
            ax.annotate(arm.split(" ")[1], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="C0")
    others = [a["label"] for a in results["arms"] if a["label"] not in statics and a["label"] != "lead"]
    # tab20 without its blues (the static curve) and reds (LEAD): one colour per arm.
    palette = [matplotlib.colormaps["tab20"](i) for i in range(20) if i not in (0, 1, 6, 7)]
    for i, arm in enumerate(others):
        point(arm, fmt="os^Dv"[i // len(palette) % 5], color=palette[i % len(palette)], ms=6, label=arm)
    if "lead" in metrics:
        point("lead", fmt="*", color="C3", ms=16, label="LEAD (controller)", zorder=5)
    need = results["necessary_lengths"]
    ax.axvline(statistics.fmean(need.values()), color="grey", ls=":", lw=1, label="mean necessary length")
    ax.set(
        xlabel="mean response tokens (held-out)",
        ylabel="held-out accuracy (%)",
        title="Accuracy against length after RL (bars: 95% intervals over seeds)",
    )
    ax.set_xlim(left=0)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def plot_by_difficulty(results: dict[str, Any], metrics: dict[str, dict[str, Any]], path: Path) -> None:
    """Accuracy and length / necessary length per difficulty for LEAD, GRPO, the global-budget arms
    and upper_only (bars: 95% intervals over seeds)."""
    ks = _ks(results)
    arms = [a for a in ["lead", "grpo", *_arms(results, "global"), *_arms(results, "upper_only")] if a in metrics]
    fig = Figure(figsize=(11, 4.2), dpi=100)
    ax_acc, ax_len = fig.subplots(1, 2)
    xs = list(range(len(ks)))
    colours = ["C3"] + [f"C{i}" for i in range(10) if i != 3]
    for i, arm in enumerate(arms):
        off = (i - (len(arms) - 1) / 2) * 0.06
        for ax, key, scale in ((ax_acc, "accuracy", 100.0), (ax_len, "ratio", 1.0)):
            est = [metrics[arm]["by_k"][k][key] for k in ks]
            ax.errorbar(
                [x + off for x in xs],
                [scale * e.mean for e in est],
                yerr=[0.0 if e.half is None else scale * e.half for e in est],
                fmt="o-",
                ms=4,
                lw=1,
                capsize=2,
                color=colours[i % len(colours)],
                label=arm,
            )
    ax_len.axhline(1.0, color="grey", ls="--", lw=1, label="necessary length")
    for ax in (ax_acc, ax_len):
        ax.set_xticks(xs, [f"k={k}\n({results['necessary_lengths'][k]})" for k in ks])
        ax.grid(alpha=0.3)
    ax_acc.set(ylabel="held-out accuracy (%)", title="Accuracy per difficulty", ylim=(0, 100))
    ax_len.set(ylabel="mean length / necessary length", title="Length over the necessary length")
    ax_len.set_ylim(bottom=0)
    ax_len.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


FIGURES = {"claims_pareto.png": plot_pareto, "by_difficulty.png": plot_by_difficulty}


def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """Every arm's :func:`arm_metrics`, as JSON (mean, half-width, per-seed values)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Estimate):
            return {"mean": value.mean, "half95": value.half, "seeds": list(value.values)}
        return {k: plain(v) for k, v in value.items()}

    return {arm: plain(arm_metrics(results, arm)) for arm in results["methods"]}


def size_note(results: dict[str, Any]) -> list[str]:
    """A warning, when the run is smaller than the suite's default preset, naming what differs."""
    # Through JSON both, so a run read back from results.json (lists for tuples) compares equal.
    ran, full = (json.loads(json.dumps(c)) for c in (results["config"], CLAIMS_PRESETS["default"].to_dict()))
    keys = (
        "seeds",
        "rl_steps",
        "sft_steps",
        "eval_per_k",
        "model",
        "task",
        "max_new_tokens",
        "prompts_per_step",
        "group_size",
    )
    differ = [key for key in keys if ran[key] != full[key]]
    if not differ:
        return []
    preset = results.get("preset") or "custom"
    return [
        f"**This run is not the claims suite at its default size**: preset `{preset}`, differing from the "
        "default preset in "
        + ", ".join(f"{key} ({_short(ran[key])} against {_short(full[key])})" for key in differ)
        + ". Read it as a check of the set-up, not as the suite's result.",
        "",
    ]


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """The claims section of ``results.md``: the per-difficulty table, the figures and one
    paragraph per claim."""
    metrics = {arm: arm_metrics(results, arm) for arm in results["methods"]}
    ks = _ks(results)
    need = results["necessary_lengths"]
    seeds = results["seeds"]
    lines = [
        "",
        "## The paper's claims",
        "",
        "Necessary lengths (shortest complete solution) per difficulty: "
        + ", ".join(f"k={k}: {need[k]}" for k in ks)
        + f" tokens ({need[ks[-1]] / need[ks[0]]:.1f}x apart).",
        "",
        (
            f"Final evaluation, mean ± the 95% interval over {seeds} seeds (Student t); per difficulty accuracy / mean "
            "length / length over the necessary length:"
            if seeds > 1
            else "Final evaluation of one seed (no interval: with one seed no comparison below is called either way); "
            "per difficulty accuracy / mean length / length over the necessary length:"
        ),
        "",
        *per_difficulty_table(results, metrics),
        "",
        "![accuracy against length, static ratios as a curve](claims_pareto.png)",
        "",
        "![accuracy and length over necessary per difficulty](by_difficulty.png)",
        "",
        (
            "What this run shows (written from the numbers above; a difference counts only when its 95% interval "
            "over seeds excludes 0; 'LEAD minus it' is LEAD's value minus the other arm's):"
        ),
        "",
        *claim_a(results, metrics),
        "",
        *claim_b(results, metrics),
        "",
        *claim_c(results, metrics),
    ]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path) -> list[str]:
    """Draw the claims figures into ``out``; returns their file names."""
    metrics = {arm: arm_metrics(results, arm) for arm in results["methods"]}
    for name, plot in FIGURES.items():
        plot(results, metrics, out / name)
    return list(FIGURES)

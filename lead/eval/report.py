"""`lead report`: paper-style tables and plots from `lead eval` run folders.

    lead report runs/base runs/lead runs/grpo --base runs/base --out report

prints markdown tables and writes them to ``report.md`` (their numbers to ``report.json``) with
the plots in ``--out``:

* the main table: one row per run, accuracy and mean tokens per benchmark, their averages over
  the benchmarks, AES against the base run and the problem counts; ``†`` marks a difference
  from the base whose 95% paired-bootstrap interval excludes zero; ``--ci`` adds each figure's
  interval;
* paired comparisons (each run against ``--base``, or the second run against the first when
  two runs and no base are given): differences on the shared problems and sample indices;
* details per run and benchmark: pass@n, maj@n, tokens of correct / incorrect responses,
  truncation, accuracy of completed responses, and per level / subject where the data has them;
* ``pareto.png`` (accuracy against mean tokens; one small point per run and benchmark, one large
  point per run for its benchmark average, and the Pareto front of those averages),
  ``lengths.png`` (the distribution of response lengths per benchmark, correct and incorrect
  apart, one line per run), and for sweep folders ``budget.png`` / ``steps.png`` (accuracy and
  tokens against the budget or the training step, the base run at step 0).

A sweep folder (written by ``lead eval --max-tokens A,B,...`` or for a training run folder)
stands for all its runs.

AES is reported both ways papers aggregate it, each labelled: ``AES (mean)`` is the mean of
the per-benchmark AES (O1-Pruner's AVERAGE column) and ``AES (avg)`` is the AES of the averaged
accuracy and length (InfoDensity). Both use only the benchmarks a run shares with the base.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lead.data.eval_sets import BENCHMARKS
from lead.eval.metrics import (
    BOOTSTRAP_SEED,
    AESWeights,
    ProblemTable,
    aes_aggregates,
    benchmark_seed,
    excludes_zero,
    paired_difference,
    percentile_interval,
)

DISPLAY = {
    "math500": "MATH-500",
    "aime24": "AIME24",
    "aime25": "AIME25",
    "amc23": "AMC23",
    "olympiadbench": "Olympiad",
    "minerva": "Minerva",
}
# Settings that make two runs' numbers incomparable when they differ.
_COMPARED = ("max_tokens", "temperature", "top_p", "top_k", "n", "prompt_template", "chat_template")


class ReportError(ValueError):
    pass


@dataclass
class Run:
    name: str
    path: Path
    summaries: dict[str, dict]
    sweep: dict[str, Any] | None = None
    """For a member of a sweep folder: ``{"kind": "budget" | "steps", "group": name, "x": value}``."""

    def point(self, benchmark: str) -> tuple[float, float]:
        m = self.summaries[benchmark]["metrics"]
        return m["accuracy"], m["mean_tokens"]

    def average(self, benchmarks: list[str]) -> tuple[float, float] | None:
        present = [b for b in benchmarks if b in self.summaries]
        if not present:
            return None
        pts = [self.point(b) for b in present]
        return sum(a for a, _ in pts) / len(pts), sum(t for _, t in pts) / len(pts)

    def table(self, benchmark: str) -> ProblemTable | None:
        """The per-problem samples of a benchmark (None for summaries written without them)."""
        data = self.summaries.get(benchmark, {}).get("per_problem")
        return None if data is None else ProblemTable.from_dict(data)

    def problem_ids(self, benchmark: str) -> set[str] | None:
        data = self.summaries.get(benchmark, {}).get("per_problem")
        return None if data is None else set(data["ids"])


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"run folder does not exist: {path}")
    summaries = {}
    for f in sorted(path.glob("*.summary.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        summaries[data["benchmark"]] = data
    if not summaries:
        raise ReportError(f"no evaluation summaries (*.summary.json) in {path}; run `lead eval --out {path}` first")
    run_file = path / "run.json"
    name = json.loads(run_file.read_text(encoding="utf-8")).get("name") if run_file.exists() else None
    return Run(name or path.name, path, summaries)


def load_runs(path: str | Path) -> list[Run]:
    """The run in ``path``, or every finished run of a sweep folder (one with ``sweep.json``)."""
    path = Path(path)
    sweep_file = path / "sweep.json"
    if not sweep_file.is_file():
        return [load_run(path)]
    sweep = json.loads(sweep_file.read_text(encoding="utf-8"))
    runs = []
    for member in sweep["members"]:
        folder = path / member["path"]
        if not any(folder.glob("*.summary.json")):
            continue
        run = load_run(folder)
        x = member["max_tokens"] if sweep["kind"] == "budget" else member["step"]
        run.name = f"{sweep['name']} @{x}" if sweep["kind"] == "budget" else f"{sweep['name']} step {x}"
        run.sweep = {"kind": sweep["kind"], "group": sweep["name"], "x": x}
        runs.append(run)
    if not runs:
        raise ReportError(f"sweep folder {path} has no finished run yet")
    return runs


def _pair(run: Run, base: Run, benchmark: str) -> dict[str, Any] | None:
    a, b = run.table(benchmark), base.table(benchmark)
    if a is None or b is None or not set(a.ids) & set(b.ids):
        return None
    return paired_difference(a, b, seed=benchmark_seed(BOOTSTRAP_SEED, benchmark), keep_replicates=True)


def _average_difference(pairs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The difference of the benchmark averages and its interval: each benchmark's problems are
    resampled on their own, with draws of its own (:func:`benchmark_seed`), and the per-benchmark
    differences averaged replicate by replicate."""
    if not pairs:
        return None
    out: dict[str, Any] = {"benchmarks": list(pairs)}
    for key in ("accuracy", "mean_tokens"):
        out[key] = float(np.mean([p[key] for p in pairs.values()]))
        reps = np.mean([p["replicates"][key] for p in pairs.values()], axis=0)
        out[f"{key}_ci"] = percentile_interval(reps)
    return out


def build_report(
    runs: list[Run],
    base: Run | None,
    benchmarks: list[str] | None = None,
    weights: AESWeights = AESWeights(),
    compare: tuple[Run, Run] | None = None,
) -> dict[str, Any]:
    """The numbers behind the tables: per run, per benchmark accuracy/tokens with intervals,
    averages, AES, paired differences from the base, and the problem-set warnings."""
    if benchmarks is None:
        present = {b for r in runs for b in r.summaries}
        benchmarks = [b for b in BENCHMARKS if b in present] + sorted(present - set(BENCHMARKS))
    rows = []
    for r in runs:
        is_base = base is not None and r.path.resolve() == base.path.resolve()
        cells = {}
        for b in benchmarks:
            if b not in r.summaries:
                continue
            m = r.summaries[b]["metrics"]
            cells[b] = {
                k: m.get(k)
                for k in (
                    "accuracy",
                    "accuracy_ci",
                    "accuracy_std",
                    "mean_tokens",
                    "mean_tokens_ci",
                    "mean_tokens_std",
                    "problems",
                    "samples_per_problem",
                )
            }
        row: dict[str, Any] = {
            "name": r.name,
            "path": str(r.path),
            "is_base": is_base,
            "benchmarks": cells,
            "missing": [b for b in benchmarks if b not in r.summaries],
            "sweep": r.sweep,
        }
        avg = r.average(benchmarks)
        row["average"] = None if avg is None else {"accuracy": avg[0], "mean_tokens": avg[1]}
        if base is not None and not is_base:
            mine = {b: r.point(b) for b in benchmarks if b in r.summaries}
            ref = {b: base.point(b) for b in benchmarks if b in base.summaries}
            row["aes"] = None
            if set(mine) & set(ref):
                try:
                    row["aes"] = aes_aggregates(mine, ref, weights)
                except ValueError as exc:
                    row["aes_error"] = str(exc)
            pairs = {b: p for b in benchmarks if b in mine and b in ref and (p := _pair(r, base, b)) is not None}
            row["vs_base"] = {b: _public(p) for b, p in pairs.items()}
            row["vs_base_average"] = _average_difference(pairs)
        rows.append(row)
    comparisons = []
    pairs_to_show = [(r, base) for r in runs if base is not None and r is not base] if compare is None else [compare]
    for a, b in pairs_to_show:
        diffs = {
            k: _public(p)
            for k in benchmarks
            if k in a.summaries and k in b.summaries and (p := _pair(a, b, k)) is not None
        }
        if diffs:
            comparisons.append({"a": a.name, "b": b.name, "benchmarks": diffs})
    return {
        "benchmarks": benchmarks,
        "weights": vars(weights),
        "base": None if base is None else base.name,
        "rows": rows,
        "comparisons": comparisons,
        "details": details(runs, benchmarks),
        "setting_differences": setting_differences(runs, benchmarks),
        "problem_set_differences": problem_set_differences(runs, benchmarks),
    }


def _public(pair: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pair.items() if k != "replicates"}


def details(runs: list[Run], benchmarks: list[str]) -> list[dict[str, Any]]:
    """Per run and benchmark: the figures that say where the tokens go."""
    out = []
    for r in runs:
        for b in benchmarks:
            if b not in r.summaries:
                continue
            m = r.summaries[b]["metrics"]
            n = str(m["samples_per_problem"])
            out.append(
                {
                    "run": r.name,
                    "benchmark": b,
                    "n": m["samples_per_problem"],
                    "accuracy": m["accuracy"],
                    "accuracy_ci": m.get("accuracy_ci"),
                    "pass_at_n": m["pass_at_k"][n],
                    "maj_at_n": m.get("maj_at_k", {}).get(n),
                    "mean_tokens": m["mean_tokens"],
                    "mean_tokens_correct": m["mean_tokens_correct"],
                    "mean_tokens_incorrect": m["mean_tokens_incorrect"],
                    "truncation_rate": m["truncation_rate"],
                    "completed_accuracy": m.get("completed", {}).get("accuracy"),
                    "breakdowns": {k[3:]: v for k, v in m.items() if k.startswith("by_")},
                }
            )
    return out


def setting_differences(runs: list[Run], benchmarks: list[str]) -> list[str]:
    """Human-readable notes on settings that differ between runs for the same benchmark.

    Budget sweeps differ in ``max_tokens`` by design; it is not reported among their members."""
    notes = []
    for b in benchmarks:
        for key in _COMPARED:
            values = {
                r.name: r.summaries[b]["settings"].get(key)
                for r in runs
                if b in r.summaries
                and not (key == "max_tokens" and r.sweep is not None and r.sweep["kind"] == "budget")
            }
            if len({json.dumps(v) for v in values.values()}) > 1:
                notes.append(f"{b}: {key} differs ({', '.join(f'{n}={v!r}' for n, v in values.items())})")
    return notes


def problem_set_differences(runs: list[Run], benchmarks: list[str]) -> list[str]:
    """Notes on benchmarks whose runs evaluated different problems (e.g. a --limit run)."""
    notes = []
    for b in benchmarks:
        having = [r for r in runs if b in r.summaries]
        ids = {r.name: r.problem_ids(b) for r in having}
        counts = {r.name: r.summaries[b]["metrics"]["problems"] for r in having}
        known = [v for v in ids.values() if v is not None]
        same = len(set(counts.values())) <= 1 and all(v == known[0] for v in known)
        if not same:
            shared = set.intersection(*known) if len(known) == len(ids) else None
            tail = "" if shared is None else f"; {len(shared)} shared, paired comparisons use only those"
            notes.append(
                f"{b}: runs evaluated different problems ({', '.join(f'{n}: {c}' for n, c in counts.items())}{tail})"
            )
    return notes


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def _interval(ci: list[float] | None, scale: float = 1.0, digits: int = 1) -> str:
    return "" if ci is None else f" [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def format_table(report: dict[str, Any], show_std: bool = False, show_ci: bool = False) -> str:
    benchmarks = report["benchmarks"]
    has_aes = report["base"] is not None
    head = ["Run"] + [f"{DISPLAY.get(b, b)} {c}" for b in benchmarks for c in ("Acc", "Tok")] + ["Avg Acc", "Avg Tok"]
    if has_aes:
        head += ["AES (mean)", "AES (avg)"]
    head.append("Problems")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    any_mark = False
    for row in report["rows"]:
        cells = [row["name"] + (" (base)" if row["is_base"] else "")]
        vs = row.get("vs_base") or {}
        for b in benchmarks:
            cell = row["benchmarks"].get(b)
            if cell is None:
                cells += ["–", "–"]
                continue
            std = cell["accuracy_std"]
            marks = {k: "†" if b in vs and excludes_zero(vs[b][f"{k}_ci"]) else "" for k in ("accuracy", "mean_tokens")}
            any_mark = any_mark or any(marks.values())
            acc = f"{100 * cell['accuracy']:.1f}" + (f" ± {100 * std:.1f}" if show_std and std is not None else "")
            acc += (_interval(cell.get("accuracy_ci"), 100) if show_ci else "") + marks["accuracy"]
            tok = f"{cell['mean_tokens']:.0f}" + (_interval(cell.get("mean_tokens_ci"), digits=0) if show_ci else "")
            cells += [acc, tok + marks["mean_tokens"]]
        avg = row["average"]
        mark = "*" if row["missing"] else ""
        if avg is None:
            cells += ["–", "–"]
        else:
            diff = row.get("vs_base_average") or {}
            sig = {k: "†" if excludes_zero(diff.get(f"{k}_ci")) else "" for k in ("accuracy", "mean_tokens")}
            any_mark = any_mark or any(sig.values())
            cells += [
                f"{100 * avg['accuracy']:.2f}{mark}{sig['accuracy']}",
                f"{avg['mean_tokens']:.0f}{mark}{sig['mean_tokens']}",
            ]
        if has_aes:
            a = row.get("aes")
            cells += ["–", "–"] if a is None else [f"{a['mean_of_benchmarks']:.3f}", f"{a['of_averages']:.3f}"]
        cells.append(
            " / ".join(str(row["benchmarks"][b]["problems"]) if b in row["benchmarks"] else "–" for b in benchmarks)
        )
        lines.append("| " + " | ".join(cells) + " |")
    w = report["weights"]
    notes = [
        "",
        "Acc: avg@n accuracy (%, pass@1 averaged over the n samples); Tok: mean generated tokens "
        "(truncated responses counted at the budget); averages are unweighted over the benchmarks; "
        "Problems: problems evaluated per benchmark, in column order.",
    ]
    if show_ci:
        notes.append("[lo, hi]: 95% bootstrap interval over problems (each problem's samples resampled together).")
    if any_mark:
        notes.append(
            f"†: differs from {report['base']} with a 95% paired-bootstrap interval that excludes zero "
            "(same problems and sample indices; see the paired comparison)."
        )
    if has_aes:
        notes.append(
            f"AES against {report['base']} with alpha={w['alpha']:g}, beta={w['beta']:g}, gamma={w['gamma']:g}: "
            "AES (mean) = mean of the per-benchmark AES; AES (avg) = AES of the averaged accuracy and "
            "length; both over the benchmarks shared with the base."
        )
    for row in report["rows"]:
        if row.get("aes_error"):
            notes.append(f"AES of {row['name']} is undefined: {row['aes_error']}")
    if any(row["missing"] for row in report["rows"]):
        notes.append(
            "* averaged over the benchmarks the run has: "
            + "; ".join(f"{r['name']} lacks {', '.join(r['missing'])}" for r in report["rows"] if r["missing"])
        )
    if report["problem_set_differences"]:
        notes.append(
            "Warning: runs were evaluated on different problems, their numbers are not directly comparable: "
            + "; ".join(report["problem_set_differences"])
        )
    if report["setting_differences"]:
        notes.append(
            "Warning: runs were evaluated with different settings, numbers are not directly comparable: "
            + "; ".join(report["setting_differences"])
        )
    return "\n".join(lines + notes)


def format_comparisons(report: dict[str, Any]) -> str:
    """One table per compared pair: run a minus run b on their shared problems and sample indices."""
    blocks = []
    for c in report["comparisons"]:
        lines = [
            f"Paired comparison: {c['a']} minus {c['b']} (same problems, same sample indices)",
            "",
            "| Benchmark | Problems | Samples | ΔAcc (pp) [95% CI] | ΔAcc std over samples | ΔTok [95% CI] "
            "| Problems better / worse / equal |",
            "|" + "---|" * 7,
        ]
        for b, d in c["benchmarks"].items():
            std = "–" if d["accuracy_std"] is None else f"{100 * d['accuracy_std']:.1f}"
            lines.append(
                f"| {DISPLAY.get(b, b)} | {d['problems']} | {d['samples']} | {100 * d['accuracy']:+.1f}"
                f"{_interval(d['accuracy_ci'], 100)} | {std} | {d['mean_tokens']:+.0f}"
                f"{_interval(d['mean_tokens_ci'], digits=0)} | {d['problems_a_better']} / "
                f"{d['problems_b_better']} / {d['problems_equal']} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_details(report: dict[str, Any]) -> str:
    rows = report["details"]
    if not rows:
        return ""
    lines = [
        "Details (%, tokens): where the tokens go",
        "",
        "| Run | Benchmark | n | avg@n [95% CI] | pass@n | maj@n | Tok correct | Tok incorrect | Truncated "
        "| Acc of completed |",
        "|" + "---|" * 10,
    ]
    for d in rows:
        tok_c = "–" if d["mean_tokens_correct"] is None else f"{d['mean_tokens_correct']:.0f}"
        tok_w = "–" if d["mean_tokens_incorrect"] is None else f"{d['mean_tokens_incorrect']:.0f}"
        lines.append(
            f"| {d['run']} | {DISPLAY.get(d['benchmark'], d['benchmark'])} | {d['n']} | "
            f"{_pct(d['accuracy'])}{_interval(d['accuracy_ci'], 100)} | {_pct(d['pass_at_n'])} | "
            f"{_pct(d['maj_at_n'])} | {tok_c} | {tok_w} | {_pct(d['truncation_rate'])} | "
            f"{_pct(d['completed_accuracy'])} |"
        )
    for key in ("level", "subject"):
        having = [d for d in rows if key in d["breakdowns"]]
        if not having:
            continue
        lines += ["", f"By {key}: accuracy % / mean tokens (problems)", ""]
        for bench in dict.fromkeys(d["benchmark"] for d in having):
            group = [d for d in having if d["benchmark"] == bench]
            values = sorted({v for d in group for v in d["breakdowns"][key]}, key=_natural)
            lines += ["| Run | Benchmark | " + " | ".join(values) + " |", "|" + "---|" * (len(values) + 2)]
            for d in group:
                parts = d["breakdowns"][key]
                cells = [
                    f"{_pct(parts[v]['accuracy'])} / {parts[v]['mean_tokens']:.0f} ({parts[v]['problems']})"
                    if v in parts
                    else "–"
                    for v in values
                ]
                lines.append(f"| {d['run']} | {DISPLAY.get(bench, bench)} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines).rstrip()


def _natural(value: str) -> tuple:
    return (0, float(value)) if value.replace(".", "", 1).isdigit() else (1, value)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lengths(runs: list[Run], benchmarks: list[str], path: Path) -> bool:
    """Empirical CDF of response tokens per benchmark, one colour per run, correct responses solid
    and incorrect dashed. False (nothing drawn) when no run has per-sample data."""
    shown = [b for b in benchmarks if any(r.table(b) is not None for r in runs)]
    if not shown:
        return False
    plt = _plt()
    cols = min(3, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, b in zip(axes.flat, shown):
        for i, r in enumerate(runs):
            t = r.table(b)
            if t is None:
                continue
            for ok, style in ((True, "-"), (False, "--")):
                x = np.sort(t.tokens[t.correct == ok].ravel())
                if x.size:
                    ax.step(
                        x,
                        np.arange(1, x.size + 1) / x.size,
                        where="post",
                        ls=style,
                        color=f"C{i % 10}",
                        label=f"{r.name} ({'correct' if ok else 'incorrect'}, {x.size})",
                    )
        ax.set_title(DISPLAY.get(b, b))
        ax.set_xlabel("response tokens")
        ax.set_ylabel("fraction of responses ≤ x")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle("Response length distribution (solid: correct, dashed: incorrect)")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return True


def plot_sweep(report: dict[str, Any], kind: str, path: Path, base_row: dict[str, Any] | None = None) -> bool:
    """Accuracy and mean tokens against the budget (``kind="budget"``) or the training step
    (``"steps"``; the base run, when given and the sweep has no step 0, is drawn at step 0),
    per benchmark and averaged, with 95% bootstrap intervals as error bars."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in report["rows"]:
        if row["sweep"] is not None and row["sweep"]["kind"] == kind:
            groups.setdefault(row["sweep"]["group"], []).append(row)
    if not groups:
        return False
    plt = _plt()
    fig, (acc_ax, tok_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for gi, (group, members) in enumerate(groups.items()):
        points = [(m["sweep"]["x"], m) for m in members]
        if kind == "steps" and base_row is not None and all(x != 0 for x, _ in points):
            points.append((0, base_row))
        points.sort(key=lambda p: p[0])
        for bi, b in enumerate(report["benchmarks"]):
            have = [(x, m["benchmarks"][b]) for x, m in points if b in m["benchmarks"]]
            if not have:
                continue
            label = f"{group}: {DISPLAY.get(b, b)}" if len(groups) > 1 else DISPLAY.get(b, b)
            for ax, key, scale in ((acc_ax, "accuracy", 100), (tok_ax, "mean_tokens", 1)):
                y = np.array([scale * c[key] for _, c in have])
                ci = [c.get(f"{key}_ci") for _, c in have]
                err = np.array(
                    [[v - scale * lo_hi[0], scale * lo_hi[1] - v] if lo_hi else [0, 0] for v, lo_hi in zip(y, ci)]
                ).T
                ax.errorbar(
                    [x for x, _ in have],
                    y,
                    yerr=err,
                    marker="os^vDPX"[bi % 7],
                    capsize=3,
                    lw=1,
                    alpha=0.8,
                    color=f"C{(gi * len(report['benchmarks']) + bi) % 10}",
                    label=label,
                )
        averages = [(x, m["average"]) for x, m in points if m["average"] is not None]
        if len(report["benchmarks"]) > 1 and averages:
            acc_ax.plot(
                [x for x, _ in averages],
                [100 * a["accuracy"] for _, a in averages],
                "k-",
                lw=2.2,
                label=f"{group}: average" if len(groups) > 1 else "average",
            )
            tok_ax.plot(
                [x for x, _ in averages],
                [a["mean_tokens"] for _, a in averages],
                "k-",
                lw=2.2,
                label=f"{group}: average" if len(groups) > 1 else "average",
            )
    xlabel = "generation budget (max tokens)" if kind == "budget" else "training step (0 = base model)"
    for ax, ylabel in ((acc_ax, "accuracy (avg@n, %)"), (tok_ax, "mean generated tokens")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if kind == "budget":
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted({x for m in groups.values() for x in (r["sweep"]["x"] for r in m)}))
            ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    acc_ax.legend(fontsize=7)
    fig.suptitle(
        "Accuracy and length against the "
        + ("budget" if kind == "budget" else "training step")
        + " (error bars: 95% bootstrap intervals)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return True


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (accuracy, tokens) points no other point beats on both (higher accuracy, fewer
    tokens), ordered by tokens."""
    front = [
        i
        for i, (a, t) in enumerate(points)
        if not any((a2 >= a and t2 <= t) and (a2 > a or t2 < t) for a2, t2 in points)
    ]
    return sorted(front, key=lambda i: points[i][1])


def plot_pareto(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    markers = dict(zip(report["benchmarks"], "os^vDPX"))
    averages, names = [], []
    for i, row in enumerate(report["rows"]):
        color = f"C{i % 10}"
        for b, cell in row["benchmarks"].items():
            ax.scatter(
                cell["mean_tokens"], 100 * cell["accuracy"], color=color, marker=markers.get(b, "o"), alpha=0.45, s=30
            )
        if row["average"] is not None:
            x, y = row["average"]["mean_tokens"], 100 * row["average"]["accuracy"]
            ax.scatter(
                x,
                y,
                color=color,
                marker="*",
                s=220,
                edgecolors="black",
                linewidths=0.6,
                label=row["name"] + (" (base)" if row["is_base"] else ""),
                zorder=3,
            )
            ax.annotate(row["name"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
            averages.append((y, x))
            names.append(row["name"])
    front = pareto_front(averages)
    if len(front) > 1:
        ax.plot(
            [averages[i][1] for i in front],
            [averages[i][0] for i in front],
            "k--",
            lw=1,
            drawstyle="steps-post",
            label="Pareto front",
        )
    for b, m in markers.items():
        ax.scatter([], [], color="gray", marker=m, alpha=0.6, label=DISPLAY.get(b, b))
    ax.set_xlabel("mean generated tokens")
    ax.set_ylabel("accuracy (avg@n, %)")
    ax.set_ylim(bottom=0)
    ax.set_title("Accuracy vs. length (stars: average over benchmarks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders written by `lead eval --out` (or sweep folders)")
    parser.add_argument(
        "--base",
        default=None,
        help="run folder to compare against: AES, † marks, paired comparisons (added to the table if not listed)",
    )
    parser.add_argument(
        "--benchmarks", default=None, help="comma-separated subset/order (default: every benchmark found)"
    )
    parser.add_argument(
        "--out", default="report", help="folder for report.md, report.json and the plots (default: %(default)s)"
    )
    parser.add_argument("--alpha", type=float, default=1.0, help="AES weight of relative length saved (default: 1)")
    parser.add_argument("--beta", type=float, default=3.0, help="AES weight of relative accuracy gained (default: 3)")
    parser.add_argument("--gamma", type=float, default=5.0, help="AES penalty of relative accuracy lost (default: 5)")
    parser.add_argument("--std", action="store_true", help="show accuracy ± std over sample indices")
    parser.add_argument("--ci", action="store_true", help="show 95%% bootstrap intervals in the main table")


def run(args: argparse.Namespace) -> int:
    try:
        weights = AESWeights(args.alpha, args.beta, args.gamma)
        runs = [r for p in args.runs for r in load_runs(p)]
        base = None
        if args.base:
            if (Path(args.base) / "sweep.json").is_file():
                raise ReportError(f"--base {args.base} is a sweep folder; pass one of its runs")
            base = load_run(args.base)
            same = [r for r in runs if r.path.resolve() == base.path.resolve()]
            if same:
                base = same[0]
            else:
                runs.insert(0, base)
        benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()] if args.benchmarks else None
        if benchmarks:
            unknown = [b for b in benchmarks if not any(b in r.summaries for r in runs)]
            if unknown:
                raise ReportError(f"no run has results for benchmark(s) {unknown}")
        compare = (runs[1], runs[0]) if base is None and len(runs) == 2 else None
        report = build_report(runs, base, benchmarks, weights, compare)
    except (ReportError, ValueError) as exc:
        print(f"lead report: error: {exc}", file=sys.stderr)
        return 2
    text = "\n\n".join(
        part
        for part in (
            format_table(report, show_std=args.std, show_ci=args.ci),
            format_comparisons(report),
            format_details(report),
        )
        if part
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text + "\n", encoding="utf-8")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    written = [out / "report.md", out / "report.json", out / "pareto.png"]
    plot_pareto(report, out / "pareto.png")
    if plot_lengths(runs, report["benchmarks"], out / "lengths.png"):
        written.append(out / "lengths.png")
    base_row = next((row for row in report["rows"] if row["is_base"]), None)
    for kind in ("budget", "steps"):
        if plot_sweep(report, kind, out / f"{kind}.png", base_row):
            written.append(out / f"{kind}.png")
    print(text)
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0

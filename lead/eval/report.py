"""`lead report`: a paper-style table and a Pareto plot from `lead eval` run folders.

    lead report runs/base runs/lead runs/grpo --base runs/base --out report

prints a markdown table (one row per run: accuracy and mean tokens per benchmark, their averages
over the benchmarks, and AES against the base run) and writes ``report.md``, ``report.json`` and
``pareto.png`` (accuracy against mean tokens; one small point per run and benchmark, one large
point per run for its benchmark average, and the Pareto front of those averages) into ``--out``.

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

from lead.data.eval_sets import BENCHMARKS
from lead.eval.metrics import AESWeights, aes_aggregates

DISPLAY = {"math500": "MATH-500", "aime24": "AIME24", "aime25": "AIME25", "amc23": "AMC23",
           "olympiadbench": "Olympiad", "minerva": "Minerva"}
# Settings that make two runs' numbers incomparable when they differ.
_COMPARED = ("max_tokens", "temperature", "top_p", "top_k", "n", "prompt_template", "chat_template")


class ReportError(ValueError):
    pass


@dataclass
class Run:
    name: str
    path: Path
    summaries: dict[str, dict]

    def point(self, benchmark: str) -> tuple[float, float]:
        m = self.summaries[benchmark]["metrics"]
        return m["accuracy"], m["mean_tokens"]

    def average(self, benchmarks: list[str]) -> tuple[float, float] | None:
        present = [b for b in benchmarks if b in self.summaries]
        if not present:
            return None
        pts = [self.point(b) for b in present]
        return sum(a for a, _ in pts) / len(pts), sum(t for _, t in pts) / len(pts)


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


def build_report(runs: list[Run], base: Run | None, benchmarks: list[str] | None = None,
                 weights: AESWeights = AESWeights()) -> dict[str, Any]:
    """The numbers behind the table: per run, per benchmark accuracy/tokens, averages and AES."""
    if benchmarks is None:
        present = {b for r in runs for b in r.summaries}
        benchmarks = [b for b in BENCHMARKS if b in present] + sorted(present - set(BENCHMARKS))
    rows = []
    for r in runs:
        is_base = base is not None and r.path.resolve() == base.path.resolve()
        row: dict[str, Any] = {"name": r.name, "path": str(r.path), "is_base": is_base,
                               "benchmarks": {b: {"accuracy": r.point(b)[0], "mean_tokens": r.point(b)[1],
                                                  "accuracy_std": r.summaries[b]["metrics"]["accuracy_std"]}
                                              for b in benchmarks if b in r.summaries},
                               "missing": [b for b in benchmarks if b not in r.summaries]}
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
        rows.append(row)
    return {"benchmarks": benchmarks, "weights": vars(weights), "base": None if base is None else base.name,
            "rows": rows, "setting_differences": setting_differences(runs, benchmarks)}


def setting_differences(runs: list[Run], benchmarks: list[str]) -> list[str]:
    """Human-readable notes on settings that differ between runs for the same benchmark."""
    notes = []
    for b in benchmarks:
        for key in _COMPARED:
            values = {r.name: r.summaries[b]["settings"].get(key) for r in runs if b in r.summaries}
            if len({json.dumps(v) for v in values.values()}) > 1:
                notes.append(f"{b}: {key} differs ({', '.join(f'{n}={v!r}' for n, v in values.items())})")
    return notes


def format_table(report: dict[str, Any], show_std: bool = False) -> str:
    benchmarks = report["benchmarks"]
    has_aes = report["base"] is not None
    head = ["Run"] + [f"{DISPLAY.get(b, b)} {c}" for b in benchmarks for c in ("Acc", "Tok")] + ["Avg Acc", "Avg Tok"]
    if has_aes:
        head += ["AES (mean)", "AES (avg)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        cells = [row["name"] + (" (base)" if row["is_base"] else "")]
        for b in benchmarks:
            cell = row["benchmarks"].get(b)
            if cell is None:
                cells += ["–", "–"]
                continue
            std = cell["accuracy_std"]
            acc = f"{100 * cell['accuracy']:.1f}" + (f" ± {100 * std:.1f}" if show_std and std is not None else "")
            cells += [acc, f"{cell['mean_tokens']:.0f}"]
        avg = row["average"]
        mark = "*" if row["missing"] else ""
        cells += ["–", "–"] if avg is None else [f"{100 * avg['accuracy']:.2f}{mark}", f"{avg['mean_tokens']:.0f}{mark}"]
        if has_aes:
            a = row.get("aes")
            cells += ["–", "–"] if a is None else [f"{a['mean_of_benchmarks']:.3f}", f"{a['of_averages']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    w = report["weights"]
    notes = ["", "Acc: avg@n accuracy (%, pass@1 averaged over the n samples); Tok: mean generated tokens "
                 "(truncated responses counted at the budget); averages are unweighted over the benchmarks."]
    if has_aes:
        notes.append(f"AES against {report['base']} with alpha={w['alpha']:g}, beta={w['beta']:g}, gamma={w['gamma']:g}: "
                     "AES (mean) = mean of the per-benchmark AES; AES (avg) = AES of the averaged accuracy and "
                     "length; both over the benchmarks shared with the base.")
    for row in report["rows"]:
        if row.get("aes_error"):
            notes.append(f"AES of {row['name']} is undefined: {row['aes_error']}")
    if any(row["missing"] for row in report["rows"]):
        notes.append("* averaged over the benchmarks the run has: "
                     + "; ".join(f"{r['name']} lacks {', '.join(r['missing'])}" for r in report["rows"] if r["missing"]))
    if report["setting_differences"]:
        notes.append("Warning: runs were evaluated with different settings, numbers are not directly comparable: "
                     + "; ".join(report["setting_differences"]))
    return "\n".join(lines + notes)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (accuracy, tokens) points no other point beats on both (higher accuracy, fewer
    tokens), ordered by tokens."""
    front = [i for i, (a, t) in enumerate(points)
             if not any((a2 >= a and t2 <= t) and (a2 > a or t2 < t) for a2, t2 in points)]
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
            ax.scatter(cell["mean_tokens"], 100 * cell["accuracy"], color=color, marker=markers.get(b, "o"),
                       alpha=0.45, s=30)
        if row["average"] is not None:
            x, y = row["average"]["mean_tokens"], 100 * row["average"]["accuracy"]
            ax.scatter(x, y, color=color, marker="*", s=220, edgecolors="black", linewidths=0.6,
                       label=row["name"] + (" (base)" if row["is_base"] else ""), zorder=3)
            ax.annotate(row["name"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
            averages.append((y, x))
            names.append(row["name"])
    front = pareto_front(averages)
    if len(front) > 1:
        ax.plot([averages[i][1] for i in front], [averages[i][0] for i in front], "k--", lw=1,
                drawstyle="steps-post", label="Pareto front")
    for b, m in markers.items():
        ax.scatter([], [], color="gray", marker=m, alpha=0.6, label=DISPLAY.get(b, b))
    ax.set_xlabel("mean generated tokens")
    ax.set_ylabel("accuracy (avg@n, %)")
    ax.set_title("Accuracy vs. length (stars: average over benchmarks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders written by `lead eval --out`")
    parser.add_argument("--base", default=None, help="run folder to compute AES against (added to the table if not listed)")
    parser.add_argument("--benchmarks", default=None, help="comma-separated subset/order (default: every benchmark found)")
    parser.add_argument("--out", default="report", help="folder for report.md, report.json and pareto.png (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=1.0, help="AES weight of relative length saved (default: 1)")
    parser.add_argument("--beta", type=float, default=3.0, help="AES weight of relative accuracy gained (default: 3)")
    parser.add_argument("--gamma", type=float, default=5.0, help="AES penalty of relative accuracy lost (default: 5)")
    parser.add_argument("--std", action="store_true", help="show accuracy ± std over samples")


def run(args: argparse.Namespace) -> int:
    try:
        weights = AESWeights(args.alpha, args.beta, args.gamma)
        runs = [load_run(p) for p in args.runs]
        base = load_run(args.base) if args.base else None
        if base is not None and all(r.path.resolve() != base.path.resolve() for r in runs):
            runs.insert(0, base)
        elif base is not None:
            base = next(r for r in runs if r.path.resolve() == base.path.resolve())
        benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()] if args.benchmarks else None
        if benchmarks:
            unknown = [b for b in benchmarks if not any(b in r.summaries for r in runs)]
            if unknown:
                raise ReportError(f"no run has results for benchmark(s) {unknown}")
        report = build_report(runs, base, benchmarks, weights)
    except (ReportError, ValueError) as exc:
        print(f"lead report: error: {exc}", file=sys.stderr)
        return 2
    table = format_table(report, show_std=args.std)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(table + "\n", encoding="utf-8")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_pareto(report, out / "pareto.png")
    print(table)
    print(f"\nwrote {out / 'report.md'}, {out / 'report.json'}, {out / 'pareto.png'}")
    return 0

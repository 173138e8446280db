"""A training run's metrics on disk (``<run>/metrics.jsonl``) and ``lead curves``, its first plots.

The trainer (:mod:`lead.verl_plugin.trainer`) writes one JSON line per step, ``{"step": N, ...}``
with every metric verl logs for that step (``lead/*``, ``critic/*``, ``val-core/*``, timings), whatever
``trainer.logger`` says, so a run without wandb still has its whole history. Step 0 holds the
validation before training. The file is appended to and survives a resume: a resumed run first drops
the lines after the step it resumes from (written by the attempt that was interrupted after that
checkpoint), and a step logged twice (validation at a resumed step) is merged into one line.

    lead curves checkpoints/math_lead_deepseek-r1-1.5b [more runs ...] --out curves/

draws reward and validation accuracy, mean response length, LEAD's weights (lambda_c, lambda_e)
and L* per step, one PNG each, the runs side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def _number(value: Any) -> float | int | None:
    """A metric as JSON holds it: numbers (numpy's included) stay numbers, NaN/inf become null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class MetricsFile:
    """``<run>/metrics.jsonl``: one line per step, appended as the run logs."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / METRICS_FILE
        self._last: dict[str, Any] | None = None
        self._last_offset = 0

    def _read_last(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        end = len(data.rstrip(b"\n"))
        start = data.rfind(b"\n", 0, end) + 1
        if end > start:
            self._last, self._last_offset = json.loads(data[start:end]), start

    def keep_until(self, step: int) -> int:
        """Drop every line after ``step`` (a resume from checkpoint ``step``); returns how many went."""
        self._last = None
        if not self.path.is_file():
            return 0
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line)["step"] <= step]
        if len(kept) != len(lines):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, self.path)
        return len(lines) - len(kept)

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Append step ``step``'s metrics, merged into the last line when that is the same step."""
        if self._last is None:
            self._read_last()
        record = {"step": int(step), **{str(k): _number(v) for k, v in metrics.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("r+b" if self.path.is_file() else "wb") as out:
            if self._last is not None and self._last["step"] == record["step"]:
                record = {**self._last, **record}
                out.seek(self._last_offset)
                out.truncate()
            else:
                out.seek(0, os.SEEK_END)
                self._last_offset = out.tell()
            out.write((json.dumps(record) + "\n").encode())
            out.flush()
            os.fsync(out.fileno())
        self._last = record


def read_metrics(run: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """``{step: metrics}`` of a run folder's (or a metrics file's) lines; a later line of a step wins."""
    path = Path(run)
    if path.suffix != ".jsonl":
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: is {run} a training run folder (lead-train's trainer.default_local_dir)?"
        )
    steps: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            step = int(record.pop("step"))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a metrics line ({err})") from None
        steps[step] = {**steps.get(step, {}), **record}
    return steps


def validation_keys(steps: Mapping[int, Mapping[str, Any]]) -> list[str]:
    """verl's headline validation metrics (``val-core/<data source>/<metric>``), sorted."""
    return sorted({k for m in steps.values() for k in m if k.startswith("val-core/")})


def validation_change(steps: Mapping[int, Mapping[str, Any]]) -> list[str]:
    """``key: before -> after (step N)`` for each headline validation metric logged more than once."""
    lines = []
    for key in validation_keys(steps):
        points = [(s, m[key]) for s, m in sorted(steps.items()) if m.get(key) is not None]
        if len(points) > 1:
            (first, before), (last, after) = points[0], points[-1]
            lines.append(f"{key}: {before:.4g} (step {first}) -> {after:.4g} (step {last})")
        elif points:
            lines.append(f"{key}: {points[0][1]:.4g} (step {points[0][0]})")
    return lines


# (file, title, [(metric key, label)]): the curves a researcher looks at first.
PANELS = (
    ("reward.png", "reward (training batch mean)", [("critic/score/mean", "reward")]),
    ("accuracy.png", "accuracy", [("lead/accuracy_batch", "training batch"), ("val-core/*", "validation")]),
    ("response_length.png", "mean response length (tokens)", [("response_length/mean", "response length")]),
    ("lead_weights.png", "LEAD weights", [("lead/w_corr", "λ_c"), ("lead/w_eff", "λ_e")]),
    ("lstar.png", "L* (mean over prompts, tokens)", [("lead/lstar_mean", "L*")]),
)


def _series(steps: Mapping[int, Mapping[str, Any]], key: str) -> list[tuple[str, list[int], list[float]]]:
    keys = [k for k in validation_keys(steps) if "/acc/" in k] if key == "val-core/*" else [key]
    out = []
    for k in keys:
        points = [(s, float(m[k])) for s, m in sorted(steps.items()) if m.get(k) is not None]
        if points:
            out.append((k, [p[0] for p in points], [p[1] for p in points]))
    return out


def draw_curves(runs: Iterable[str | os.PathLike], out: str | os.PathLike) -> list[Path]:
    """One PNG per panel of :data:`PANELS` that any run has data for; returns the files written."""
    from matplotlib.figure import Figure

    loaded = [(Path(r).resolve().name, read_metrics(r)) for r in runs]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, title, curves in PANELS:
        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
        drawn = 0
        for name, steps in loaded:
            for key, label in curves:
                for full_key, xs, ys in _series(steps, key):
                    tail = f" {full_key.split('/')[1]}" if key == "val-core/*" else ""
                    text = f"{name}: {label}{tail}" if len(loaded) > 1 or len(curves) > 1 else name
                    ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=text)
                    drawn += 1
        if not drawn:
            continue
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.savefig(folder / filename, dpi=110)
        written.append(folder / filename)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"plot training curves (reward, accuracy, response length, LEAD's weights and L*) from runs' {METRICS_FILE}"
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help=f"training run folders (trainer.default_local_dir, holding {METRICS_FILE})",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")


def run(args: argparse.Namespace) -> int:
    try:
        written = draw_curves(args.runs, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"lead curves: error: {err}", file=sys.stderr)
        return 2
    if not written:
        print(f"lead curves: error: no step in {', '.join(args.runs)} has any of the plotted metrics", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0

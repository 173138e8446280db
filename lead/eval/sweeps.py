"""Sweeps: one model at several generation budgets, or every checkpoint of a training run.

A sweep folder (``--out``) holds ``sweep.json`` and one ordinary run folder per point, so each
point can be resumed, inspected and reported on its own; ``lead report SWEEP`` reads them all and
draws accuracy and tokens against the budget or the step.

* Budget sweep (``--max-tokens 4096,8192,...``): points ``max_tokens_<B>``, evaluated from the
  largest budget down. A response that finished within a smaller budget B is exactly the sample
  a run at budget B draws (same prompt, same per-sample seed, and the budget only decides where
  drawing stops), so it is copied into the smaller run instead of drawn again. A response is
  reused only when it ended with a stop token after at most B generated ids (the stop token
  included); every other sample of the smaller budget is generated, by the same loaded vLLM or
  transformers model (it loads once, for the largest budget).
* Checkpoint sweep (``--model OUTPUT_ROOT/<run>``, a training run folder): points ``step_<N>``
  for every ``global_step_N`` checkpoint (or those in ``--steps``), each merged once by verl's
  merger and the merge reused afterwards; ``--base-model`` adds the starting model as step 0.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lead.eval.runner import EvalError, EvalOptions, append_records, evaluate, read_records, write_json

_STEP_DIR = re.compile(r"^global_step_(\d+)$")


def parse_int_list(text: str | None, option: str) -> list[int] | None:
    """``"4096,8192"`` -> [4096, 8192]; None stays None."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EvalError(f"{option} {text!r} is invalid: expected an integer or a comma-separated list") from None
    if not values or any(v < 1 for v in values):
        raise EvalError(f"{option} {text!r} is invalid: expected integers >= 1")
    if len(set(values)) != len(values):
        raise EvalError(f"{option} {text!r} lists a value twice")
    return values


def checkpoint_steps(run_dir: Path) -> dict[int, Path]:
    """``{N: run_dir/global_step_N}`` for the checkpoints verl saved in a training run folder."""
    if not run_dir.is_dir():
        return {}
    found = {int(m.group(1)): p for p in run_dir.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))}
    return dict(sorted(found.items()))


def is_training_run(path: Path) -> bool:
    """A folder of ``global_step_N`` checkpoints that is not itself a model or a checkpoint."""
    return (
        path.is_dir()
        and not (path / "config.json").is_file()
        and not _STEP_DIR.match(path.name)
        and bool(checkpoint_steps(path))
    )


def _write_sweep(out_dir: Path, kind: str, name: str, members: list[dict[str, Any]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "sweep.json"
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("kind") != kind:
            raise EvalError(f"{out_dir} holds a {old.get('kind')} sweep; use another --out, or --fresh")
        known = {m["path"]: m for m in old["members"]}
        members = sorted(
            {**known, **{m["path"]: m for m in members}}.values(),
            key=lambda m: m["max_tokens" if kind == "budget" else "step"],
        )
    write_json(path, {"kind": kind, "name": name, "members": members})


def _clear(out_dir: Path, folders: Sequence[str]) -> None:
    for folder in folders:
        shutil.rmtree(out_dir / folder, ignore_errors=True)
    (out_dir / "sweep.json").unlink(missing_ok=True)


def reuse_completed(source: Path, target: Path, budget: int, benchmarks: Sequence[str]) -> int:
    """Copy into ``target`` the samples of the run in ``source`` (a larger budget) that finished
    within ``budget``; returns how many were copied. Samples ``target`` already has are kept."""
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for b in benchmarks:
        src = read_records(source / f"{b}.jsonl")
        dst_path = target / f"{b}.jsonl"
        have = {(r["id"], r["sample"]) for r in read_records(dst_path)}
        fits = []
        for r in src:
            generated = r.get("generated_ids", r["tokens"] + 1)
            if r["finish_reason"] == "stop" and generated <= budget and (r["id"], r["sample"]) not in have:
                fits.append(
                    {
                        **{k: v for k, v in r.items() if k != "vote"},
                        "max_tokens": budget,
                        "reused_from": r.get("reused_from", r["max_tokens"]),
                    }
                )
        append_records(dst_path, fits)
        copied += len(fits)
    return copied


def evaluate_budget_sweep(opts: EvalOptions, budgets: Sequence[int]) -> dict[int, dict[str, dict]]:
    """Evaluate ``opts`` at every budget, largest first, reusing finished responses downwards."""
    out_dir = Path(opts.out_dir)
    name = opts.name or out_dir.name
    order = sorted(budgets, reverse=True)
    folders = [f"max_tokens_{b}" for b in order]
    if opts.fresh:
        _clear(out_dir, folders)
    _write_sweep(out_dir, "budget", name, [{"path": f, "max_tokens": b} for f, b in zip(folders, order)][::-1])
    results: dict[int, dict[str, dict]] = {}
    backends: dict[str, object] = {}
    for i, (folder, budget) in enumerate(zip(folders, order)):
        member = replace(opts, max_tokens=budget, out_dir=out_dir / folder, name=f"{name} @{budget}", fresh=False)
        if i > 0:
            reused = reuse_completed(out_dir / folders[i - 1], member.out_dir, budget, opts.benchmarks)
            print(f"budget {budget}: {reused} finished response(s) reused from budget {order[i - 1]}", file=sys.stderr)
        results[budget] = evaluate(member, backends)
    return results


def evaluate_checkpoint_sweep(
    opts: EvalOptions, steps: Sequence[int] | None = None, base_model: str | None = None
) -> dict[int, dict[str, dict]]:
    """Evaluate every ``global_step_N`` of the training run folder ``opts.model`` (or ``steps``),
    plus ``base_model`` as step 0."""
    run_dir = Path(opts.model).expanduser()
    found = checkpoint_steps(run_dir)
    if steps is not None:
        missing = [s for s in steps if s not in found]
        if missing:
            raise EvalError(f"{run_dir} has no checkpoint for step(s) {missing}; it has {sorted(found) or 'none'}")
        found = {s: found[s] for s in sorted(steps)}
    if 0 in found and base_model is not None:
        raise EvalError(f"{run_dir} has a global_step_0 checkpoint; it is step 0, drop --base-model")
    points: dict[int, str] = {
        **({0: base_model} if base_model is not None else {}),
        **{s: str(p) for s, p in found.items()},
    }
    out_dir = Path(opts.out_dir)
    name = opts.name or out_dir.name
    folders = {s: f"step_{s}" for s in points}
    if opts.fresh:
        _clear(out_dir, list(folders.values()))
    _write_sweep(out_dir, "steps", name, [{"path": folders[s], "step": s, "model": m} for s, m in points.items()])
    results = {}
    for step, model in points.items():
        merged = None if opts.merged_dir is None or step == 0 else str(Path(opts.merged_dir) / folders[step])
        member = replace(
            opts,
            model=model,
            out_dir=out_dir / folders[step],
            name=f"{name} step {step}",
            merged_dir=merged,
            fresh=False,
        )
        results[step] = evaluate(member)
    return results

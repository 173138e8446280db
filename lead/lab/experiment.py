"""One lab run: warm up a model, train it with every chosen method and seed, write the results.

Output folder::

    results.md, results.json   the table (per method: final accuracy and length, change against
                               the warm-up model, per difficulty) and, in the JSON, every curve
    curves.png                 held-out accuracy and length against RL step, every method
    lead_controller.png        LEAD's correctness/efficiency weights and its targets L* per difficulty
    warmup_model/              the warm-up model (tokenizer included)
    models/<method>-seed<s>/   each trained model
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lead.core.registry import build_method
from lead.lab import report
from lead.lab.config import LabConfig
from lead.lab.model import build_model, build_tokenizer, load, save
from lead.lab.task import heldout_problems
from lead.lab.train import Log, evaluate, train_rl, warmup

EVAL_SEED_OFFSET = 10_000
"""Evaluation sampling seed = run seed + this, away from the training seeds."""


def model_summary(model: torch.nn.Module) -> str:
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    return f"{n / 1e6:.2f}M-parameter Llama (hidden {c.hidden_size}, {c.num_hidden_layers} layers)"


def run_lab(cfg: LabConfig, methods: list[str], method_configs: dict[str, dict[str, Any]], out: str | Path,
            warmup_from: str | Path | None = None, log: Log = print) -> dict[str, Any]:
    """Run the experiment and write the output folder; returns what ``results.json`` holds.

    Every method and seed starts from the same warm-up model; RL seeds are
    ``cfg.seed .. cfg.seed + cfg.seeds - 1``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    heldout = heldout_problems(cfg.task, cfg.eval_per_k, cfg.seed)
    exclude = {p.key for p in heldout}
    timings: dict[str, float] = {}

    def eval_fn(model: torch.nn.Module) -> dict[str, Any]:
        return evaluate(model, tokenizer, heldout, cfg.max_new_tokens, cfg.seed + EVAL_SEED_OFFSET)

    start = time.perf_counter()
    if warmup_from is not None:
        log(f"warm-up model: loading {warmup_from}")
        model, tokenizer = load(warmup_from)
        if tokenizer.get_vocab() != build_tokenizer(cfg.task).get_vocab():
            raise ValueError(f"{warmup_from} was trained on a different task vocabulary than {cfg.task}")
    else:
        tokenizer = build_tokenizer(cfg.task)
        model = build_model(tokenizer, cfg.model, cfg.seed)
        log(f"warm-up: {model_summary(model)}, {cfg.sft_steps} supervised steps")
        warmup(model, tokenizer, cfg, exclude, log)
    save(model, tokenizer, out / "warmup_model")
    timings["warmup_s"] = time.perf_counter() - start
    warm_eval = eval_fn(model)
    log(f"warm-up model: held-out accuracy {warm_eval['accuracy']:.3f}, mean length {warm_eval['length']:.1f}")

    runs = []
    for name in methods:
        for s in range(cfg.seeds):
            seed = cfg.seed + s
            log(f"RL: {name}, seed {seed}, {cfg.rl_steps} steps of {cfg.prompts_per_step} prompts x {cfg.group_size}")
            method = build_method(name, method_configs[name])
            policy = copy.deepcopy(model)
            t0 = time.perf_counter()
            history = train_rl(policy, tokenizer, method, cfg, seed, exclude, eval_fn, log)
            timings[f"rl_{name}_seed{seed}_s"] = time.perf_counter() - t0
            save(policy, tokenizer, out / "models" / f"{name}-seed{seed}")
            runs.append({"method": name, "seed": seed, "method_config": asdict(method.config), **history})
    timings["total_s"] = time.perf_counter() - start

    results = {
        "config": cfg.to_dict(), "model": model_summary(model),
        "warmup_from": None if warmup_from is None else str(warmup_from),
        "methods": methods, "method_settings": method_configs, "seeds": cfg.seeds,
        "warmup": warm_eval, "runs": runs, "timings": timings,
        "summary": report.summarise(warm_eval, runs, methods),
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = report.markdown_table(results)
    (out / "results.md").write_text(table)
    report.plot_curves(results, out / "curves.png")
    if "lead" in methods:
        report.plot_lead(results, out / "lead_controller.png")
    log("")
    log(table)
    log(f"wrote {out}/ (results.md, results.json, plots, models) in {timings['total_s']:.0f} s")
    return results

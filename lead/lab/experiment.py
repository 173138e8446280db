"""One lab run: warm up a model, train it with every arm (a method and its knobs) and seed,
write the results.

Output folder::

    results.md, results.json   the tables (per arm: final accuracy and length, change against the
                               warm-up model, per difficulty) and, in the JSON, every curve
    pareto.png                 accuracy against mean length, one point per arm (bars: seed spread)
    curves.png                 held-out accuracy and length against RL step, every arm
    lead_controller.png        LEAD's correctness/efficiency weights and its targets L* per difficulty
    ablation.png               (``--ablation`` only) accuracy against length per ablation panel
    claims_pareto.png          (``--suite claims`` only) accuracy against length, static ratios as a curve
    by_difficulty.png          (``--suite claims`` only) accuracy and length over necessary per difficulty
    warmup_model/              the warm-up model (tokenizer included)
    models/<arm>-seed<s>/      each trained model
    verl/<arm>-seed<s>/        (arms trained through verl) the run's inputs, console, checkpoints
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lead.core.methods import build_method
from lead.lab import claims, report
from lead.lab.config import STATIC_BUDGET_KNOBS, Arm, LabConfig, check_arms, named_budgets
from lead.lab.model import build_model, build_tokenizer, load, save
from lead.lab.task import heldout_problems, min_length
from lead.lab.train import Log, evaluate, median_correct_length, train_rl, warmup, weights_digest
from lead.lab.verl_loop import train_verl

EVAL_SEED_OFFSET = 10_000
"""Evaluation sampling seed = run seed + this, away from the training seeds."""

TRAINERS: dict[str, Callable[..., dict[str, Any]]] = {"local": train_rl, "verl": train_verl}
"""RL loops by name (an arm's ``trainer``), all with :func:`lead.lab.train.train_rl`'s signature
and return value: ``local`` is the in-process loop, ``verl`` verl's real loop on the CPU
(:mod:`lead.lab.verl_loop`, which also takes the ``workdir`` of its run)."""


def model_summary(model: torch.nn.Module) -> str:
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    return f"{n / 1e6:.2f}M-parameter Llama (hidden {c.hidden_size}, {c.num_hidden_layers} layers)"


def run_lab(
    cfg: LabConfig,
    arms: list[Arm],
    overrides: dict[str, dict[str, Any]],
    out: str | Path,
    warmup_from: str | Path | None = None,
    budget: float | None = None,
    ablation: str | None = None,
    log: Log = print,
    suite: str = "default",
    preset: str | None = None,
) -> dict[str, Any]:
    """Run the experiment and write the output folder; returns what ``results.json`` holds.

    Every arm and seed starts from the same warm-up model; RL seeds are
    ``cfg.seed .. cfg.seed + cfg.seeds - 1``. The static-budget methods' budget is ``budget``,
    or else the warm-up model's median correct length (:func:`median_correct_length`); an arm
    naming a budget gets that one of :func:`lead.lab.config.named_budgets`. ``suite`` names the
    comparison (``claims`` adds its analysis, :mod:`lead.lab.claims`, to the output); ``preset``
    names the preset ``cfg`` came from, for the record.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    heldout = heldout_problems(cfg.task, cfg.eval_per_k, cfg.seed)
    exclude = {p.key for p in heldout}
    timings: dict[str, float] = {}
    evaluated: dict[str, dict[str, Any]] = {}

    def eval_fn(model: torch.nn.Module) -> dict[str, Any]:
        # Evaluation is seeded, so identical weights give identical results: every arm's step-0
        # evaluation is the warm-up model's, computed once.
        digest = weights_digest(model)
        if digest not in evaluated:
            evaluated[digest] = evaluate(model, tokenizer, heldout, cfg.max_new_tokens, cfg.seed + EVAL_SEED_OFFSET)
        return copy.deepcopy(evaluated[digest])

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
    warm_digest = weights_digest(model)
    log(f"warm-up model: held-out accuracy {warm_eval['accuracy']:.3f}, mean length {warm_eval['length']:.1f}")
    measured = median_correct_length(model, tokenizer, cfg, exclude)
    static_budget = measured if budget is None else float(budget)
    log(
        f"static length budget: {static_budget:g} tokens ("
        + ("the warm-up model's median correct length" if budget is None else f"--budget; measured {measured:g}")
        + ")"
    )
    budgets = named_budgets(cfg.task, measured)
    method_configs = check_arms(arms, cfg, overrides, static_budget, budgets)

    runs = []
    for arm in arms:
        for s in range(cfg.seeds):
            seed = cfg.seed + s
            log(
                f"RL: {arm.label}, seed {seed}, {cfg.rl_steps} steps of {cfg.prompts_per_step} prompts x "
                f"{cfg.group_size}" + ("" if arm.trainer == "local" else f", {arm.trainer} loop")
            )
            method = build_method(arm.method, method_configs[arm.label])
            knob = STATIC_BUDGET_KNOBS.get(arm.method)
            policy = copy.deepcopy(model)
            start_digest = weights_digest(policy)
            t0 = time.perf_counter()
            extra = {} if arm.trainer == "local" else {"workdir": out / arm.trainer / f"{arm.slug}-seed{seed}"}
            history = TRAINERS[arm.trainer](
                policy,
                tokenizer,
                method,
                cfg,
                seed,
                exclude,
                eval_fn,
                log,
                cap=None if knob is None else float(getattr(method.config, knob)),
                **extra,
            )
            timings[f"rl_{arm.slug}_seed{seed}_s"] = time.perf_counter() - t0
            save(policy, tokenizer, out / "models" / f"{arm.slug}-seed{seed}")
            runs.append(
                {
                    "arm": arm.label,
                    "method": arm.method,
                    "trainer": arm.trainer,
                    "seed": seed,
                    "start_weights": start_digest,
                    "model_dir": f"models/{arm.slug}-seed{seed}",
                    "method_config": asdict(method.config),
                    **history,
                }
            )
    timings["total_s"] = time.perf_counter() - start

    results = {
        "config": cfg.to_dict(),
        "model": model_summary(model),
        "trainers": sorted({a.trainer for a in arms}),
        "ablation": ablation,
        "warmup_from": None if warmup_from is None else str(warmup_from),
        "warmup_weights": warm_digest,
        "static_budget": {
            "tokens": static_budget,
            "measured_median_correct": measured,
            "source": "measured" if budget is None else "--budget",
        },
        "suite": suite,
        "preset": preset,
        "necessary_lengths": {str(k): min_length(k) for k in cfg.task.difficulties},
        **({"budgets": budgets} if any(a.budget for a in arms) else {}),
        "arms": [asdict(a) for a in arms],
        "methods": [a.label for a in arms],
        "method_settings": {label: values for label, values in method_configs.items()},
        "seeds": cfg.seeds,
        "warmup": warm_eval,
        "runs": runs,
        "timings": timings,
        "summary": report.summarise(warm_eval, runs, [a.label for a in arms]),
    }
    if suite == "claims":
        results["claims"] = claims.analyse(results)
    results["files"] = report.write_outputs(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    log("")
    log((out / "results.md").read_text())
    log(f"wrote {out}/ ({', '.join(results['files'])}, models) in {timings['total_s']:.0f} s")
    return results

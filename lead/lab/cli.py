"""`lead lab`: train a tiny model with LEAD and the baselines on a CPU in minutes.

Examples::

    lead lab                              # ~10 min on 2 cores: LEAD, GRPO, truncation, LASER, GDPO-static
    lead lab --quick                      # ~2 min
    lead lab --methods lead,grpo --seeds 3
    lead lab --ablation controller --warmup-from lead-lab/warmup_model
    lead lab --set lead.beta=0.9 --budget 20
    lead lab --trainer verl               # LEAD and GRPO in-process and through verl's real loop (quick preset)
    lead lab --suite claims               # the paper's claims: 17 arms x 3 seeds, lengths 8x apart (~70 min)
"""

from __future__ import annotations

import argparse
import os

from lead.lab.config import (
    ABLATIONS,
    CLAIMS_PRESETS,
    DEFAULT_METHODS,
    PRESETS,
    SUITES,
    TRAINER_NAMES,
    VERL_METHODS,
    ablation_arms,
    check_arms,
    claims_arms,
    method_arms,
    parse_method_overrides,
    parse_methods,
    with_overrides,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the ~2-minute configuration (same as --preset quick)")
    parser.add_argument(
        "--preset",
        choices=sorted(set(PRESETS) | set(CLAIMS_PRESETS)),
        default=None,
        help="size and schedule: default (~10 min on 2 cores), quick (~2 min), test (CI); "
        "with --suite claims: default, quick or test",
    )
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="default",
        help="claims: the arms that test the paper's claims (LEAD, GRPO, truncation and LASER at "
        "two global budgets, four per-problem length methods, six static weight ratios, "
        "upper_only) on a task whose problems need 7-59 tokens",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated registered advantage methods (default: {','.join(DEFAULT_METHODS)})",
    )
    parser.add_argument(
        "--ablation",
        choices=ABLATIONS,
        default=None,
        help="train LEAD variants instead of --methods: L* aggregators, static weight ratios "
        "against the controller, or the controller's alpha/beta/lambda_min",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="TOKENS",
        help="the static-budget methods' cap/target (default: the warm-up model's median correct length)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="RL seeds per method (default preset: 2, others: 1); the table shows mean ± std",
    )
    parser.add_argument("--seed", type=int, default=None, help="base seed (data, warm-up, first RL seed); default 0")
    parser.add_argument("--out", default="lead-lab", help="output folder (default: ./lead-lab)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="override a method knob, e.g. lead.beta=0.9 (repeatable; value parsed as JSON); "
        "an ablation's own knobs win",
    )
    parser.add_argument(
        "--warmup-from",
        default=None,
        metavar="DIR",
        help="start from a saved warm-up model (e.g. <out>/warmup_model) instead of training one",
    )
    parser.add_argument("--sft-steps", type=int, default=None, help="override the warm-up steps")
    parser.add_argument("--rl-steps", type=int, default=None, help="override the RL steps per method")
    parser.add_argument("--eval-every", type=int, default=None, help="override the evaluation interval (RL steps)")
    parser.add_argument("--eval-per-k", type=int, default=None, help="override the held-out problems per difficulty")
    parser.add_argument(
        "--trainer",
        choices=TRAINER_NAMES,
        default="local",
        help="verl: also train every method through verl's real loop on the CPU (lead-train "
        "device=cpu) from the same warm-up model, next to the in-process loop; default "
        f"methods {','.join(VERL_METHODS)}, preset quick",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 2)")


def run(args: argparse.Namespace) -> int:
    if args.quick and args.preset not in (None, "quick"):
        raise SystemExit(f"lead lab: --quick conflicts with --preset {args.preset}")
    preset = "quick" if args.quick else (args.preset or ("quick" if args.trainer == "verl" else "default"))
    try:
        if args.suite == "claims":
            given = [
                flag
                for flag, value in (
                    ("--methods", args.methods),
                    ("--ablation", args.ablation),
                    ("--budget", args.budget),
                )
                if value is not None
            ]
            given += [f"--trainer {args.trainer}"] if args.trainer != "local" else []
            if given:
                raise ValueError(f"--suite claims trains its own arms and budgets in-process; drop {', '.join(given)}")
        presets = CLAIMS_PRESETS if args.suite == "claims" else PRESETS
        cfg = with_overrides(
            presets[preset],
            seed=args.seed,
            seeds=args.seeds,
            sft_steps=args.sft_steps,
            rl_steps=args.rl_steps,
            eval_every=args.eval_every,
            eval_per_k=args.eval_per_k,
            threads=args.threads,
        )
        if args.ablation is not None and args.methods is not None:
            raise ValueError(f"--ablation {args.ablation} trains its own LEAD variants; drop --methods")
        if args.budget is not None and not args.budget > 0:
            raise ValueError(f"--budget {args.budget:g} is invalid: expected a length > 0 (tokens)")
        if args.ablation is not None and args.trainer != "local":
            raise ValueError(f"--ablation {args.ablation} runs in-process only; drop --trainer {args.trainer}")
        if args.trainer == "verl" and cfg.rl_steps < 1:
            raise ValueError(f"--rl-steps {cfg.rl_steps}: verl's loop needs at least one step")
        if args.suite == "claims":
            arms = claims_arms()
        elif args.ablation is not None:
            arms = ablation_arms(args.ablation)
        else:
            default = VERL_METHODS if args.trainer == "verl" else DEFAULT_METHODS
            arms = method_arms(parse_methods(args.methods or ",".join(default)), args.trainer)
        overrides = parse_method_overrides(args.overrides, sorted({a.method for a in arms}))
        check_arms(arms, cfg, overrides, args.budget)
        if args.warmup_from is not None and not os.path.isfile(os.path.join(args.warmup_from, "config.json")):
            raise ValueError(f"--warmup-from {args.warmup_from!r} is not a saved lab model (no config.json)")
    except ValueError as err:
        raise SystemExit(f"lead lab: {err}") from None

    # Quiet the Hugging Face progress bars and generation notices; the lab prints its own progress.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    from lead.lab.experiment import run_lab

    what = (
        f"ablation {args.ablation}"
        if args.ablation
        else f"suite {args.suite}"
        if args.suite != "default"
        else "methods"
    )
    print(
        f"lead lab ({preset}): {what} {', '.join(a.label for a in arms)}; {cfg.seeds} seed(s); output {args.out}/",
        flush=True,
    )
    run_lab(
        cfg,
        arms,
        overrides,
        args.out,
        warmup_from=args.warmup_from,
        budget=args.budget,
        ablation=args.ablation,
        log=lambda line: print(line, flush=True),
        suite=args.suite,
        preset=preset,
    )
    return 0

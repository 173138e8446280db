"""`lead eval`: evaluate a model or a verl checkpoint on math benchmarks.

    lead eval --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --out runs/base --max-tokens 4096
    lead eval --model checkpoints/lead/global_step_462/actor --out runs/lead --max-tokens 4096
    lead eval --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --out runs/base-budgets --max-tokens 4096,8192,16384
    lead eval --model checkpoints/lead --steps 100,200,462 --base-model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B

Rerunning the same command resumes an interrupted run; see :mod:`lead.eval.runner` for the files
written and :mod:`lead.eval.sweeps` for budget and checkpoint sweeps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lead.data.eval_sets import BENCHMARKS
from lead.eval.presets import PRESETS, parse_n

# The five benchmarks of the LEAD paper's Table 1; Minerva is opt-in.
DEFAULT_BENCHMARKS = "math500,aime24,aime25,amc23,olympiadbench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="Hugging Face id, local model folder, verl checkpoint (global_step_N or its actor/), "
        "or a training run folder of global_step_N checkpoints (a checkpoint sweep)",
    )
    parser.add_argument(
        "--benchmarks",
        default=DEFAULT_BENCHMARKS,
        help=f"comma-separated, or 'all' for {','.join(BENCHMARKS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        default="data/eval",
        help="folder with <benchmark>.jsonl from `lead data eval --out DIR` (default: %(default)s)",
    )
    parser.add_argument("--out", default=None, help="run folder (default: runs/<model name>)")
    parser.add_argument("--name", default=None, help="run name shown by `lead report` (default: the --out folder name)")
    s = parser.add_argument_group("sampling (a preset, each value overridable)")
    s.add_argument(
        "--preset",
        default="sober",
        choices=sorted(PRESETS),
        help="sober: T=0.8, top-p 0.9, n=3 (MATH-500, OlympiadBench, Minerva) / 10 (AIME, AMC); "
        "deepseek: T=0.6, top-p 0.95, n=4/64; laser: T=0.6, top-p 0.95, n=16 (default: %(default)s)",
    )
    s.add_argument("--n", default=None, help="samples per problem: N for all, or math500=3,aime24=10")
    s.add_argument("--temperature", type=float, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--top-k", type=int, default=None, help="0 disables (the presets' choice)")
    s.add_argument(
        "--max-tokens",
        default=None,
        help="generation budget (presets: 32768); a comma-separated list runs a budget sweep",
    )
    s.add_argument("--seed", type=int, default=0, help="base seed; each sample's seed derives from it")
    p = parser.add_argument_group("prompt")
    p.add_argument(
        "--prompt-template",
        default=None,
        help="user message with a {problem} placeholder (default: the training prompt, "
        'problem + " Let\'s think step by step and output the final answer within \\boxed{}.")',
    )
    p.add_argument("--system-prompt", default=None)
    p.add_argument("--no-chat-template", action="store_true", help="feed the plain prompt instead of the chat template")
    g = parser.add_argument_group("generation")
    g.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "vllm", "hf", "openai"),
        help="auto: vLLM when installed and a GPU is present, else transformers; openai: a running "
        "OpenAI-compatible server at --base-url (default: %(default)s)",
    )
    g.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float16", "float32"))
    g.add_argument("--device", default=None, help="transformers backend device (default: cuda if available, else cpu)")
    g.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="samples generated and saved per step (default: 8 for hf, 1024 for vllm)",
    )
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="vLLM")
    g.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM")
    g.add_argument("--max-model-len", type=int, default=None, help="vLLM (default: longest prompt + budget)")
    g.add_argument("--trust-remote-code", action="store_true")
    o = parser.add_argument_group("server backend (--backend openai; --model names the tokenizer)")
    o.add_argument(
        "--base-url",
        default=None,
        help="the server's API root, e.g. http://gpu-node:8000/v1 (an API key is read from OPENAI_API_KEY)",
    )
    o.add_argument("--served-model-name", default=None, help="model name on the server (default: the one it serves)")
    o.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: %(default)s)")
    o.add_argument(
        "--max-retries",
        type=int,
        default=3,
        help="retries of a request that timed out, lost its connection or got HTTP 429/5xx (default: %(default)s)",
    )
    o.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (default: %(default)s)")
    g.add_argument(
        "--merged-dir",
        default=None,
        help="where a verl checkpoint is merged to (default: <actor>/merged_hf, reused when present; "
        "in a checkpoint sweep, a parent folder for step_N merges)",
    )
    c = parser.add_argument_group("checkpoint sweep (--model is a training run folder)")
    c.add_argument("--steps", default=None, help="comma-separated steps to evaluate (default: every global_step_N)")
    c.add_argument("--base-model", default=None, help="the model training started from, evaluated as step 0")
    r = parser.add_argument_group("run control")
    r.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    r.add_argument("--fresh", action="store_true", help="discard earlier results in --out and start over")
    r.add_argument("--rescore", action="store_true", help="grade existing samples again")
    r.add_argument(
        "--grade-truncated",
        action="store_true",
        help="also grade responses that hit the budget (default: they count as wrong)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_benchmarks(text: str) -> list[str]:
    if text.strip() == "all":
        return list(BENCHMARKS)
    return [b.strip() for b in text.split(",") if b.strip()]


def format_summaries(summaries: dict[str, dict]) -> str:
    head = (
        "| benchmark | n | accuracy % (± std) | 95% CI | pass@n % | maj@n % | tokens | 95% CI | tokens (correct) "
        "| truncated % |"
    )
    rows = [head, "|" + "---|" * 10]

    def interval(ci, scale=1.0, digits=1):
        return "–" if ci is None else f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"

    for b, s in summaries.items():
        m = s["metrics"]
        n = m["samples_per_problem"]
        std = "" if m["accuracy_std"] is None else f" ± {100 * m['accuracy_std']:.1f}"
        correct = "–" if m["mean_tokens_correct"] is None else f"{m['mean_tokens_correct']:.0f}"
        maj = m.get("maj_at_k", {}).get(str(n))
        rows.append(
            f"| {b} | {n} | {100 * m['accuracy']:.1f}{std} | {interval(m.get('accuracy_ci'), 100)} "
            f"| {100 * m['pass_at_k'][str(n)]:.1f} | {'–' if maj is None else f'{100 * maj:.1f}'} "
            f"| {m['mean_tokens']:.0f} | {interval(m.get('mean_tokens_ci'), digits=0)} | {correct} "
            f"| {100 * m['truncation_rate']:.1f} |"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from lead.eval.backends import BackendError
    from lead.eval.models import ModelError, model_slug
    from lead.eval.runner import EvalError, EvalOptions, evaluate
    from lead.eval.sweeps import evaluate_budget_sweep, evaluate_checkpoint_sweep, is_training_run, parse_int_list

    out_dir = Path(args.out) if args.out else Path("runs") / model_slug(args.model)
    try:
        budgets = parse_int_list(args.max_tokens, "--max-tokens")
        steps = parse_int_list(args.steps, "--steps")
        sweep_steps = is_training_run(Path(args.model).expanduser())
        if (steps is not None or args.base_model is not None) and not sweep_steps:
            raise EvalError(
                f"--steps and --base-model need --model to be a training run folder with global_step_N "
                f"checkpoints; {args.model} is not one"
            )
        if sweep_steps and budgets is not None and len(budgets) > 1:
            raise EvalError("a checkpoint sweep takes one --max-tokens value; sweep budgets per checkpoint instead")
        options = EvalOptions(
            model=args.model,
            benchmarks=parse_benchmarks(args.benchmarks),
            out_dir=out_dir,
            data_dir=Path(args.data_dir),
            preset=args.preset,
            n=parse_n(args.n),
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            max_tokens=budgets[0] if budgets else None,
            seed=args.seed,
            backend=args.backend,
            dtype=args.dtype,
            device=args.device,
            chunk_size=args.chunk_size,
            limit=args.limit,
            chat_template=not args.no_chat_template,
            system_prompt=args.system_prompt,
            prompt_template=args.prompt_template,
            merged_dir=args.merged_dir,
            fresh=args.fresh,
            rescore=args.rescore,
            grade_truncated=args.grade_truncated,
            progress=not args.no_progress,
            name=args.name,
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            max_model_len=args.max_model_len,
            trust_remote_code=args.trust_remote_code,
            base_url=args.base_url,
            served_model_name=args.served_model_name,
            concurrency=args.concurrency,
            max_retries=args.max_retries,
            request_timeout=args.request_timeout,
        )
        print(f"results go to {out_dir}", file=sys.stderr)
        if sweep_steps:
            tables = {f"step {k}": v for k, v in evaluate_checkpoint_sweep(options, steps, args.base_model).items()}
        elif budgets is not None and len(budgets) > 1:
            tables = {f"max tokens {k}": v for k, v in sorted(evaluate_budget_sweep(options, budgets).items())}
        else:
            tables = {"": evaluate(options)}
    except (EvalError, ModelError, BackendError, FileNotFoundError, ValueError) as exc:
        print(f"lead eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\nlead eval: interrupted; finished samples are saved in {out_dir}, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(
        "\n\n".join(
            (f"{title}\n\n" if title else "") + format_summaries(summaries) for title, summaries in tables.items()
        )
    )
    print(f"\nresults: {out_dir}")
    return 0

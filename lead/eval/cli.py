"""`lead eval`: evaluate a model or a verl checkpoint on math benchmarks.

    lead eval --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --out runs/base --max-tokens 4096
    lead eval --model checkpoints/lead/global_step_462/actor --out runs/lead --max-tokens 4096

Rerunning the same command resumes an interrupted run; see :mod:`lead.eval.runner` for the files written.
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
    parser.add_argument("--model", required=True,
                        help="Hugging Face id, local model folder, or verl checkpoint (global_step_N or its actor/)")
    parser.add_argument("--benchmarks", default=DEFAULT_BENCHMARKS,
                        help=f"comma-separated, or 'all' for {','.join(BENCHMARKS)} (default: %(default)s)")
    parser.add_argument("--data-dir", default="data/eval",
                        help="folder with <benchmark>.jsonl from `lead data eval --out DIR` (default: %(default)s)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<model name>)")
    parser.add_argument("--name", default=None, help="run name shown by `lead report` (default: the --out folder name)")
    s = parser.add_argument_group("sampling (a preset, each value overridable)")
    s.add_argument("--preset", default="sober", choices=sorted(PRESETS),
                   help="sober: T=0.8, top-p 0.9, n=3 (MATH-500, OlympiadBench, Minerva) / 10 (AIME, AMC); "
                        "deepseek: T=0.6, top-p 0.95, n=4/64; laser: T=0.6, top-p 0.95, n=16 (default: %(default)s)")
    s.add_argument("--n", default=None, help="samples per problem: N for all, or math500=3,aime24=10")
    s.add_argument("--temperature", type=float, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--top-k", type=int, default=None, help="0 disables (the presets' choice)")
    s.add_argument("--max-tokens", type=int, default=None, help="generation budget (presets: 32768)")
    s.add_argument("--seed", type=int, default=0, help="base seed; each sample's seed derives from it")
    p = parser.add_argument_group("prompt")
    p.add_argument("--prompt-template", default=None,
                   help="user message with a {problem} placeholder (default: the training prompt, "
                        "problem + \" Let's think step by step and output the final answer within \\boxed{}.\")")
    p.add_argument("--system-prompt", default=None)
    p.add_argument("--no-chat-template", action="store_true", help="feed the plain prompt instead of the chat template")
    g = parser.add_argument_group("generation")
    g.add_argument("--backend", default="auto", choices=("auto", "vllm", "hf"),
                   help="auto: vLLM when installed and a GPU is present, else transformers (default: %(default)s)")
    g.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float16", "float32"))
    g.add_argument("--device", default=None, help="transformers backend device (default: cuda if available, else cpu)")
    g.add_argument("--chunk-size", type=int, default=None,
                   help="samples generated and saved per step (default: 8 for hf, 1024 for vllm)")
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="vLLM")
    g.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM")
    g.add_argument("--max-model-len", type=int, default=None, help="vLLM (default: longest prompt + budget)")
    g.add_argument("--trust-remote-code", action="store_true")
    g.add_argument("--merged-dir", default=None,
                   help="where a verl checkpoint is merged to (default: <actor>/merged_hf, reused when present)")
    r = parser.add_argument_group("run control")
    r.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    r.add_argument("--fresh", action="store_true", help="discard earlier results in --out and start over")
    r.add_argument("--rescore", action="store_true", help="grade existing samples again")
    r.add_argument("--grade-truncated", action="store_true",
                   help="also grade responses that hit the budget (default: they count as wrong)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def parse_benchmarks(text: str) -> list[str]:
    if text.strip() == "all":
        return list(BENCHMARKS)
    return [b.strip() for b in text.split(",") if b.strip()]


def format_summaries(summaries: dict[str, dict]) -> str:
    head = "| benchmark | n | accuracy % (± std) | pass@n % | tokens | tokens (correct) | truncated % |"
    rows = [head, "|" + "---|" * 7]
    for b, s in summaries.items():
        m = s["metrics"]
        n = m["samples_per_problem"]
        std = "" if m["accuracy_std"] is None else f" ± {100 * m['accuracy_std']:.1f}"
        correct = "–" if m["mean_tokens_correct"] is None else f"{m['mean_tokens_correct']:.0f}"
        rows.append(f"| {b} | {n} | {100 * m['accuracy']:.1f}{std} | {100 * m['pass_at_k'][str(n)]:.1f} "
                    f"| {m['mean_tokens']:.0f} | {correct} | {100 * m['truncation_rate']:.1f} |")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from lead.eval.backends import BackendError
    from lead.eval.models import ModelError, model_slug
    from lead.eval.runner import EvalError, EvalOptions, evaluate

    out_dir = Path(args.out) if args.out else Path("runs") / model_slug(args.model)
    try:
        options = EvalOptions(
            model=args.model, benchmarks=parse_benchmarks(args.benchmarks),
            out_dir=out_dir,
            data_dir=Path(args.data_dir), preset=args.preset, n=parse_n(args.n), temperature=args.temperature,
            top_p=args.top_p, top_k=args.top_k, max_tokens=args.max_tokens, seed=args.seed, backend=args.backend,
            dtype=args.dtype, device=args.device, chunk_size=args.chunk_size, limit=args.limit,
            chat_template=not args.no_chat_template, system_prompt=args.system_prompt,
            prompt_template=args.prompt_template, merged_dir=args.merged_dir, fresh=args.fresh, rescore=args.rescore,
            grade_truncated=args.grade_truncated, progress=not args.no_progress, name=args.name,
            tensor_parallel_size=args.tensor_parallel_size, gpu_memory_utilization=args.gpu_memory_utilization,
            max_model_len=args.max_model_len, trust_remote_code=args.trust_remote_code,
        )
        print(f"results go to {out_dir}", file=sys.stderr)
        summaries = evaluate(options)
    except (EvalError, ModelError, BackendError, FileNotFoundError, ValueError) as exc:
        print(f"lead eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nlead eval: interrupted; finished samples are saved in {out_dir}, "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    print(format_summaries(summaries))
    print(f"\nresults: {out_dir}")
    return 0

"""Rebuild the evaluation example of docs/eval on a CPU in a few minutes.

Two synthetic one-layer Llama models, whose weights are set by hand so that their output
distribution is known exactly, are evaluated on real MATH-500 and AMC 2023 problems:

* ``short`` "thinks" by repeating the token `` So`` (after each one it goes on with probability
  0.85: 6.7 of them on average), writes ``</think>``, then guesses a digit uniformly:
  ``\\boxed{d}``, 8.7 tokens in all on average;
* ``long`` goes on with probability 0.96 (25 `` So``, 27 tokens on average) and guesses the digit
  from the frequencies of single-digit answers in the MATH training set.

The models cannot read the problem (attention and MLP outputs are zero), so every accuracy
comes from guessing single-digit answers; the point is the harness, not the models.

    PYTHONPATH=. python docs/eval/demo.py --source ../shared/data --work /tmp/lead-eval-demo

runs ``lead data eval``, ``lead eval`` (``long`` as a budget sweep) and ``lead report`` and
writes report.md and the plots into docs/eval.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import torch

from lead.cli import main as lead

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>{% endif %}"
)
THINK, SO, END = "<think>", " So", "</think>"
BOXES = [f"\\boxed{{{d}}}" for d in range(10)]
BASE_LOGIT = 20.0  # tokens outside the script get logit 0: probability below 1e-6


def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [
        "Let's think step by step and output the final answer within \\boxed{}.",
        "Compute the sum of all integers x such that x^2 < 10. The answer is 42.",
    ] * 4
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        show_progress=False,
        special_tokens=["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )
    fast.add_tokens([THINK, SO, END, *BOXES])
    return fast


def scripted_model(tok, transitions: dict[str, dict[str, float]]):
    """A model whose next-token distribution after each script token is ``transitions[token]``.

    With zero attention and MLP outputs the last hidden state is RMSNorm(embedding of the current
    token). Script tokens get one-hot embeddings (scaled so RMSNorm keeps them), and the output
    head maps each to ``BASE_LOGIT + log p`` for its successors.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden = 64
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    scale = math.sqrt(hidden)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros_like(model.lm_head.weight)
        for dim, (current, successors) in enumerate(transitions.items()):
            cur = tok.convert_tokens_to_ids(current)
            model.model.embed_tokens.weight[cur] = 0.0
            model.model.embed_tokens.weight[cur, dim] = scale
            for nxt, p in successors.items():
                head[tok.convert_tokens_to_ids(nxt), dim] = (BASE_LOGIT + math.log(p)) / scale
        model.lm_head.weight.copy_(head)
    return model


def digit_prior(source: Path) -> list[float]:
    """Frequencies of the single-digit answers among the MATH training answers."""
    import pyarrow.parquet as pq

    table = pq.read_table(source / "train" / "math_l3to5_train.parquet", columns=["reward_model"]).to_pylist()
    counts = Counter(str(r["reward_model"]["ground_truth"]).strip() for r in table)
    freq = [counts.get(str(d), 0) + 1 for d in range(10)]
    return [f / sum(freq) for f in freq]


def build(work: Path, source: Path) -> dict[str, Path]:
    tok = tokenizer()
    prior = digit_prior(source)
    specs = {"short": (0.85, [0.1] * 10), "long": (0.96, prior)}
    paths = {}
    for name, (stay, digits) in specs.items():
        transitions = {
            THINK: {SO: 1.0},
            SO: {SO: stay, END: 1 - stay},
            END: dict(zip(BOXES, digits)),
            **{box: {tok.eos_token: 1.0} for box in BOXES},
        }
        paths[name] = work / "models" / name
        tok.save_pretrained(paths[name])
        scripted_model(tok, transitions).save_pretrained(paths[name])
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("../shared/data"),
        help="folder with eval/*.jsonl and train/math_l3to5_train.parquet",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/lead-eval-demo"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    paths = build(args.work, args.source)
    data = args.work / "data"
    assert (
        lead(
            ["data", "eval", "--source", str(args.source / "eval"), "--out", str(data), "--benchmarks", "math500,amc23"]
        )
        == 0
    )
    common = [
        "--benchmarks",
        "math500,amc23",
        "--data-dir",
        str(data),
        "--limit",
        "200",
        "--n",
        "4",
        "--temperature",
        "1.0",
        "--top-p",
        "1.0",
        "--chunk-size",
        "64",
        "--no-progress",
    ]
    runs = args.work / "runs"
    assert (
        lead(["eval", "--model", str(paths["short"]), "--out", str(runs / "short"), "--max-tokens", "64", *common]) == 0
    )
    assert (
        lead(["eval", "--model", str(paths["long"]), "--out", str(runs / "long"), "--max-tokens", "16,32,64", *common])
        == 0
    )
    report = args.work / "report"
    assert (
        lead(
            [
                "report",
                str(runs / "short"),
                str(runs / "long"),
                "--base",
                str(runs / "short"),
                "--ci",
                "--out",
                str(report),
            ]
        )
        == 0
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "lengths.png", "budget.png", "pareto.png"):
        (args.out / name).write_bytes((report / name).read_bytes())
    settings = json.loads((runs / "short" / "run.json").read_text())["provenance"]
    print(json.dumps({b: {k: v for k, v in s.items() if k != "file"} for b, s in settings["benchmarks"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

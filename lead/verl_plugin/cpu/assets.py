r"""The CPU mode's default model and data, built offline once and reused.

* :func:`ensure_model`: a byte-level tokenizer (every UTF-8 text encodes; special tokens for the
  chat roles and end of turn, and a chat template) and a ~0.4M-parameter random Llama, briefly
  warmed up to answer in the format the reward reads (a few filler words, then
  ``\boxed{<digit>}`` and end of turn), so that rollouts differ in length and sometimes in
  correctness from the first step: the advantages of every estimator are then non-trivial.
* :func:`ensure_data`: one-digit arithmetic problems ("What is 3 + 4?") in the project's training
  parquet schema (:mod:`lead.data.prepare`), graded by :mod:`lead.rewards.math`.

Both live under ``$LEAD_CACHE`` (default ``~/.cache/lead``), in folders named with a version
that changes whenever what is built changes, and are written atomically (built in a temporary
folder, then renamed), so concurrent runs and interrupted builds never see a partial folder.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

MODEL_VERSION = "cpu-model-v2"
DATA_VERSION = "cpu-data-v1"
CACHE_ENV = "LEAD_CACHE"
DATA_SOURCE = "cpu_arithmetic"

BOS, EOS, PAD = "<|bos|>", "<|end|>", "<|pad|>"
ROLES = ("system", "user", "assistant")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
FILLERS = ("so", "then", "ok", "hmm", "well", "next")
MAX_POSITIONS = 4096
WARMUP_STEPS = 300
WARMUP_BATCH = 16
SEED = 0


def model_shape():
    """The tiny Llama's shape. Heads of 32 dimensions: vLLM's CPU attention takes head sizes 32, 64,
    80, 96, 112, 128, 160, 192, 224, 256 and 512 only, and both rollouts (hfcpu, vllm) load this model."""
    from lead.lab.model import ModelConfig

    return ModelConfig(hidden=128, layers=2, heads=4, ffn=256, max_positions=MAX_POSITIONS)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "lead").expanduser()


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_tokenizer():
    """Byte-level BPE without merges (one token per byte) plus the chat's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, padding_side="left"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [f"<|{role}|>" for role in ROLES]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def problems(seed: int = SEED) -> list[tuple[str, str]]:
    """Every one-digit problem ``(text, answer)``: sums, differences and products in 0..9, shuffled."""
    items = []
    for a in range(10):
        for b in range(10):
            if a + b <= 9:
                items.append((f"What is {a} + {b}?", str(a + b)))
            if a >= b:
                items.append((f"What is {a} - {b}?", str(a - b)))
            if a * b <= 9 and a > 1 and b > 1:
                items.append((f"What is {a} * {b}?", str(a * b)))
    random.Random(seed).shuffle(items)
    return items


def warmup_response(rng: random.Random, answer: str) -> str:
    words = [rng.choice(FILLERS) for _ in range(rng.randint(0, 4))]
    return " ".join(words + [f"\\boxed{{{answer}}}"])


def _warm_up(model, tokenizer, steps: int, seed: int) -> list[float]:
    """Supervised steps on chat-formatted problems, loss on the response and end of turn only."""
    import torch

    from lead.data.eval_sets import build_prompt

    rng = random.Random(f"cpu-warmup-{seed}")
    pool = problems(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        rows, labels = [], []
        for text, answer in rng.sample(pool, WARMUP_BATCH):
            prompt = tokenizer.apply_chat_template(
                [{"role": "user", "content": build_prompt(text)}], add_generation_prompt=True, tokenize=False
            )
            p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            r_ids = tokenizer(warmup_response(rng, answer) + EOS, add_special_tokens=False)["input_ids"]
            rows.append(p_ids + r_ids)
            labels.append([-100] * len(p_ids) + r_ids)
        width = max(map(len, rows))
        ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
        lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
        mask = (torch.arange(width)[None, :] < torch.tensor([len(r) for r in rows])[:, None]).long()
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def ensure_model(cache: str | Path | None = None, warmup_steps: int = WARMUP_STEPS) -> Path:
    """The folder of the CPU mode's model and tokenizer, built on first use (~20 s on 2 busy cores)."""
    target = Path(cache) if cache is not None else cache_dir() / MODEL_VERSION

    def build(folder: Path) -> None:
        import torch

        from lead.lab.model import build_model, save

        tokenizer = build_tokenizer()
        threads = torch.get_num_threads()
        # One thread: on a busy 2-core machine more threads made the warm-up 14x slower.
        torch.set_num_threads(1)
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            model = build_model(tokenizer, model_shape(), seed=SEED)
            try:
                _warm_up(model, tokenizer, warmup_steps, SEED)
            finally:
                torch.set_num_threads(threads)
        save(model, tokenizer, folder)

    return _build_once(target, build)


def ensure_data(cache: str | Path | None = None, n_train: int = 64, n_val: int = 16) -> Path:
    """A folder with ``train.parquet`` and ``test.parquet`` of disjoint one-digit problems."""
    from lead.data.prepare import Problem, verl_row, write_parquet

    pool = problems(SEED)
    if n_train < 1 or n_val < 1 or n_train + n_val > len(pool):
        raise ValueError(f"n_train={n_train}, n_val={n_val}: both must be >= 1 and together at most {len(pool)}")
    target = Path(cache) if cache is not None else cache_dir() / f"{DATA_VERSION}-{n_train}-{n_val}"

    def rows(items: list[tuple[str, str]], split: str) -> list[dict]:
        return [
            verl_row(
                Problem(
                    index=i,
                    problem=text,
                    answers=[answer],
                    level=None,
                    subject="arithmetic",
                    uid=f"{split}-{i}",
                    unique_id=None,
                ),
                split,
                DATA_SOURCE,
            )
            for i, (text, answer) in enumerate(items)
        ]

    def build(folder: Path) -> None:
        write_parquet(rows(pool[:n_train], "train"), folder / "train.parquet")
        write_parquet(rows(pool[n_train : n_train + n_val], "test"), folder / "test.parquet")

    return _build_once(target, build)

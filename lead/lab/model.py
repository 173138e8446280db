"""The lab's language model, built offline: a word-level tokenizer and a small random Llama.

Both are ordinary Hugging Face objects, saved with ``save_pretrained`` and reloaded with
``AutoTokenizer`` / ``AutoModelForCausalLM``, so the trained folder can be used like any model.
The config is a ``LlamaConfig`` on purpose: for some model types (``qwen2`` among them)
``AutoTokenizer`` replaces the saved tokenizer with the model family's own byte-level BPE and
silently corrupts a custom vocabulary; for ``llama`` it loads the saved tokenizer as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from lead.lab.task import BOS, EOS, PAD, UNK, TaskConfig


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 96
    layers: int = 3
    heads: int = 4
    ffn: int = 256
    max_positions: int = 160
    """Must cover the longest prompt plus the response budget."""

    def __post_init__(self) -> None:
        for key in ("hidden", "layers", "heads", "ffn", "max_positions"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{key}={value!r} is invalid: expected a positive integer")
        if self.hidden % self.heads:
            raise ValueError(f"model.hidden={self.hidden} is not divisible by model.heads={self.heads}")


def build_tokenizer(task: TaskConfig) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over the task's vocabulary; text is split on whitespace."""
    vocab = {word: i for i, word in enumerate(task.vocab)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # With no decoder set, decode() joins tokens with single spaces, which inverts encode().
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK, padding_side="left"
    )


def build_model(tokenizer: PreTrainedTokenizerFast, cfg: ModelConfig, seed: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        intermediate_size=cfg.ffn,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    set_sampling_defaults(model)
    return model


def set_sampling_defaults(model: LlamaForCausalLM) -> None:
    """Plain sampling from the model's distribution (no top-k/top-p), which is what the policy
    gradient assumes; stored in the saved folder so a reload samples the same way."""
    gen = model.generation_config
    gen.do_sample, gen.temperature, gen.top_k, gen.top_p = True, 1.0, 0, 1.0
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = (
        model.config.bos_token_id,
        model.config.eos_token_id,
        model.config.pad_token_id,
    )


def save(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, path: str | Path) -> Path:
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def load(path: str | Path) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Reload a saved lab model offline with the Auto classes, as a user would."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a saved lab model (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    return model, tokenizer

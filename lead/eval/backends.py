"""Generation backends: vLLM (GPU, the default for real runs) and Hugging Face transformers (any device).

Both take token-id prompts and one seed per request and return the generated token ids with a
finish reason, so the rest of the harness (token counting, truncation, grading) is shared:

* ``finish_reason == "stop"``: the model emitted one of the stop tokens (the tokenizer's EOS and
  every EOS id in the model's ``generation_config.json``); the stop token is the last id returned.
* ``finish_reason == "length"``: the budget ran out; the response is truncated.
* ``finish_reason == "error"``: the backend gave up on the request (vLLM's ``abort`` or
  ``error``, a failed HTTP request); ``error`` says why. The sample is not a result: it is
  listed as failed and drawn again on the next run.

Sampling follows the usual order: temperature, then top-k, then top-p (nucleus: the smallest
set of most likely tokens whose probability mass reaches ``top_p``), then a draw. Each request
draws from its own random generator seeded with its seed, so a sample does not depend on which
other requests share its batch: vLLM does this with ``SamplingParams.seed``; the transformers
backend does it with a logits processor that draws per row (:class:`SeededSampler`).
Temperature 0 means greedy decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lead.eval.presets import Sampling


class BackendError(RuntimeError):
    """A backend cannot be built or used."""


@dataclass(frozen=True)
class Generation:
    token_ids: list[int]
    finish_reason: str
    error: str | None = None


def finish_from_vllm(reason: str | None) -> tuple[str, str | None]:
    """``(finish_reason, error)`` for a vLLM finish reason: ``stop`` and ``length`` are results;
    ``abort``, ``error`` and anything else (a reason this harness does not know) are errors."""
    if reason in ("stop", "length"):
        return reason, None
    return "error", f"vLLM finish reason {reason!r}"


# vLLM's SamplingParams limits (vllm/sampling_params.py, _verify_args): temperature in [0, 2],
# values in (0, 0.01) silently raised to 0.01; top_k 0/-1 (off) or 1..vocabulary size.
VLLM_MAX_TEMPERATURE = 2.0
VLLM_MIN_POSITIVE_TEMPERATURE = 1e-2


def check_vllm_sampling(samplings: Iterable[Sampling], vocab_size: int, longest_prompt: int,
                        max_model_len: int | None) -> None:
    """Refuse, before vLLM loads a model, sampling values vLLM would reject or change."""
    for s in samplings:
        if s.temperature > VLLM_MAX_TEMPERATURE:
            raise BackendError(f"temperature={s.temperature} is above vLLM's limit of {VLLM_MAX_TEMPERATURE:g}; "
                               "use a value in [0, 2] or --backend hf")
        if 0 < s.temperature < VLLM_MIN_POSITIVE_TEMPERATURE:
            raise BackendError(f"temperature={s.temperature} would be raised to {VLLM_MIN_POSITIVE_TEMPERATURE:g} "
                               "by vLLM; use 0 (greedy) or at least 0.01")
        if s.top_k > vocab_size:
            raise BackendError(f"top_k={s.top_k} exceeds the vocabulary size {vocab_size}; vLLM rejects it")
        if max_model_len is not None and longest_prompt + s.max_tokens > max_model_len:
            raise BackendError(f"--max-model-len {max_model_len} is shorter than the longest prompt "
                               f"({longest_prompt} tokens) plus the budget ({s.max_tokens}); vLLM would cut "
                               "responses short of the budget. Raise --max-model-len or leave it unset")


def stop_token_ids(model_path: str, tokenizer: Any) -> list[int]:
    """EOS ids the model may end a response with: the tokenizer's plus those of its generation config."""
    from transformers import GenerationConfig

    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    try:
        eos = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:
        eos = None
    for i in [eos] if isinstance(eos, int) else (eos or []):
        if int(i) not in ids:
            ids.append(int(i))
    if not ids:
        raise BackendError(f"{model_path}: neither the tokenizer nor generation_config.json defines an EOS token; "
                           "responses could never finish")
    return ids


class SeededSampler:
    """A transformers logits processor that samples each row with its own ``torch.Generator``.

    It returns scores that are ``-inf`` everywhere but the drawn token, so ``generate`` run in
    greedy mode picks exactly that token. ``on_step`` (optional) is called once per decoding step.
    """

    def __init__(self, sampling: Sampling, seeds: Sequence[int], device: Any,
                 on_step: Callable[..., Any] | None = None):
        import torch

        self.sampling = sampling
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.on_step = on_step

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.on_step is not None:
            self.on_step()
        if self.sampling.temperature == 0:
            return scores
        logits = scores.float() / self.sampling.temperature
        if self.sampling.top_k > 0 and self.sampling.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.sampling.top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.sampling.top_p < 1:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
            probs = sorted_logits.softmax(-1)
            mass_before = probs.cumsum(-1) - probs
            drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, mass_before >= self.sampling.top_p)
            logits = logits.masked_fill(drop, float("-inf"))
        probs = logits.softmax(-1)
        chosen = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, chosen[:, None], 0.0)


def _torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        # On CPU, half precision is slow and poorly supported; on accelerators keep the checkpoint's dtype.
        return torch.float32 if device == "cpu" else "auto"
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    except KeyError:
        raise BackendError(f"unknown dtype {dtype!r}; expected auto, bfloat16, float16 or float32") from None


class HFBackend:
    """``transformers`` generation with left padding, batched by the caller's chunks."""

    name = "hf"

    def __init__(self, model_path: str, tokenizer: Any, stop_ids: Sequence[int], *, dtype: str = "auto",
                 device: str | None = None, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype=_torch_dtype(dtype, self.device), trust_remote_code=trust_remote_code
        ).to(self.device).eval()
        self.stop_ids = list(stop_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        # generate() fills unset options from model.generation_config (e.g. a checkpoint's
        # repetition_penalty or top_k); a bare config keeps the recorded settings the only ones applied.
        self.model.generation_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad_id)

    def generate(self, prompts: Sequence[Sequence[int]], sampling: Sampling, seeds: Sequence[int],
                 progress: bool = False) -> list[Generation]:
        import torch
        from tqdm.auto import tqdm
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            input_ids[row, width - len(p):] = torch.tensor(p, dtype=torch.long)
            attention[row, width - len(p):] = 1
        config = GenerationConfig(do_sample=False, max_new_tokens=sampling.max_tokens, eos_token_id=self.stop_ids,
                                  pad_token_id=self.pad_id)
        with tqdm(total=sampling.max_tokens, desc="tokens", unit="tok", leave=False, disable=not progress) as bar:
            sampler = SeededSampler(sampling, seeds, self.device, bar.update)
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids.to(self.device),
                                          attention_mask=attention.to(self.device), generation_config=config,
                                          logits_processor=LogitsProcessorList([sampler]))
        new = out[:, width:].tolist()
        stops = set(self.stop_ids)
        results = []
        for ids in new:
            end = next((i for i, t in enumerate(ids) if t in stops), None)
            if end is None:
                results.append(Generation(ids[: sampling.max_tokens], "length"))
            else:
                results.append(Generation(ids[: end + 1], "stop"))
        return results


class VLLMBackend:
    """vLLM offline inference (``vllm.LLM``); install with ``pip install lead-reasoning[gpu]``.

    The model's own ``generation_config.json`` defaults are not applied (``generation_config="vllm"``):
    every sampling value comes from the resolved preset, as recorded in the results.
    """

    name = "vllm"

    def __init__(self, model_path: str, stop_ids: Sequence[int], *, dtype: str = "auto",
                 tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, seed: int = 0, trust_remote_code: bool = False):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise BackendError("the vLLM backend needs vllm (GPU): `pip install lead-reasoning[gpu]`, "
                               "or use --backend hf") from exc
        self.stop_ids = list(stop_ids)
        self.llm = LLM(model=model_path, tokenizer=model_path, dtype=dtype, seed=seed,
                       tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
                       max_model_len=max_model_len, enable_prefix_caching=True, generation_config="vllm",
                       trust_remote_code=trust_remote_code)

    def generate(self, prompts: Sequence[Sequence[int]], sampling: Sampling, seeds: Sequence[int],
                 progress: bool = False) -> list[Generation]:
        from vllm import SamplingParams

        params = [SamplingParams(n=1, temperature=sampling.temperature, top_p=sampling.top_p,
                                 top_k=sampling.top_k if sampling.top_k > 0 else -1, max_tokens=sampling.max_tokens,
                                 seed=int(s), stop_token_ids=self.stop_ids, detokenize=False) for s in seeds]
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params,
                                    use_tqdm=progress)
        results = []
        for out in outputs:
            completion = out.outputs[0]
            reason, error = finish_from_vllm(completion.finish_reason)
            results.append(Generation(list(completion.token_ids), reason, error))
        return results


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    import torch

    return torch.cuda.is_available()

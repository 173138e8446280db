"""Time LEAD's verl estimator against verl's built-in GRPO estimators on CPU batches.

    python benchmarks/bench_estimators.py [--sizes 1024,16384,65536] [--length 4096,1024,1024] [--repeats 5]

Every estimator gets the same inputs verl hands it: token-level rewards ``[N, L]`` (the outcome
score on the last valid token), the ``int64`` response mask, uid strings (``n`` rollouts per
prompt, rows shuffled) and the algorithm config. ``--length`` is one response length for every
size or one per size. Prints the median wall time of each, the ratio of LEAD to
``grpo_vectorized``, and the *floor*: the token-level passes LEAD cannot avoid, timed alone
(row sum of the rewards, row sum of the mask, the broadcast write of an ``[N]`` vector over the
mask). LEAD does strictly more work than GRPO (target lengths, efficiency rewards, two
normalisations, PSI statistics, whitening), but all of it on ``[N]`` per-sequence vectors; its
``[N, L]`` passes are the reduction and broadcast GRPO makes plus the sum over the mask for the
lengths. The load average before and after is printed: on a shared machine it decides the timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch


def make_inputs(num: int, length: int, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (num,), generator=g)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    rewards = torch.zeros(num, length)
    rewards[torch.arange(num), lengths - 1] = (torch.rand(num, generator=g) < 0.5).float()
    uids = np.array([f"prompt-{i // n}" for i in torch.randperm(num, generator=g).tolist()], dtype=object)
    return rewards, mask, uids


def token_passes(token_level_rewards: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The floor: every ``[N, L]`` pass of LEAD's estimator and nothing else."""
    scores, lengths = token_level_rewards.sum(-1), response_mask.sum(-1)
    return (scores + lengths).unsqueeze(-1) * response_mask


def time_round_robin(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function. The functions take turns within every repeat, so a
    change in the machine's load hits all of them alike instead of the one running at the time."""
    for fn in fns.values():
        fn()  # warm-up: allocator, lazy imports
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,16384,65536")
    parser.add_argument("--length", default="4096,1024,1024", help="one response length, or one per size")
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    lengths = [int(x) for x in args.length.split(",")]
    if len(lengths) == 1:
        lengths *= len(sizes)
    if len(lengths) != len(sizes):
        parser.error(f"--length gives {len(lengths)} lengths for {len(sizes)} sizes")

    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    from lead.core.knobs import LeadConfig
    from lead.verl_plugin.estimators import STORE, register_estimators

    register_estimators()
    names = ["grpo", "grpo_vectorized", "lead"]
    print(
        f"CPU, {args.threads} threads, {args.rollouts} rollouts per prompt, "
        f"median of {args.repeats} taking turns (seconds); "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| N x L | floor | " + " | ".join(names) + " | lead / grpo_vectorized | lead / grpo | lead / floor |")
    print("|---:|---:|" + "---:|" * len(names) + "---:|---:|---:|")
    for num, length in zip(sizes, lengths):
        config = OmegaConf.create({"lead": LeadConfig(bmax=float(length)).to_dict(), "use_kl_in_reward": False})
        rewards, mask, uids = make_inputs(num, length, args.rollouts)
        STORE.reset()
        fns = {"floor": partial(token_passes, rewards, mask)}
        for name in names:
            fns[name] = partial(
                get_adv_estimator_fn(name), token_level_rewards=rewards, response_mask=mask, index=uids, config=config
            )
        results = time_round_robin(fns, args.repeats)
        row = " | ".join(f"{results[n]:.4f}" for n in ["floor", *names])
        print(
            f"| {num:,} x {length:,} | {row} | {results['lead'] / results['grpo_vectorized']:.2f}x | "
            f"{results['lead'] / results['grpo']:.2f}x | {results['lead'] / results['floor']:.2f}x |",
            flush=True,
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

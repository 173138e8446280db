"""Time LEAD's verl estimator against verl's built-in GRPO estimators on CPU batches.

    python benchmarks/bench_estimators.py [--sizes 1024,16384,65536] [--length 4096] [--repeats 5]

Every estimator gets the same inputs verl hands it: token-level rewards ``[N, L]`` (the outcome
score on the last valid token), the ``int64`` response mask, uid strings (``n`` rollouts per
prompt, rows shuffled) and the algorithm config. Prints the median wall time of each and the
ratio of LEAD to ``grpo_vectorized``. LEAD does strictly more work than GRPO (target lengths,
efficiency rewards, two normalisations, PSI statistics, whitening), but all of it on ``[N]``
per-sequence vectors; the ``[N, L]`` passes are the same reductions and broadcast GRPO makes,
plus one sum over the mask for the lengths.
"""

from __future__ import annotations

import argparse
import statistics
import time

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


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,16384,65536")
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    from lead.core.lead import LeadConfig
    from lead.verl_plugin.estimators import STORE, register_estimators

    register_estimators()
    config = OmegaConf.create({"lead": {**LeadConfig(bmax=float(args.length)).to_dict()}, "use_kl_in_reward": False})
    names = ["grpo", "grpo_vectorized", "lead"]
    print(f"CPU, {args.threads} threads, response length {args.length}, {args.rollouts} rollouts per prompt, "
          f"median of {args.repeats} (seconds)\n")
    print("| N | " + " | ".join(names) + " | lead / grpo_vectorized | lead / grpo |")
    print("|---:|" + "---:|" * len(names) + "---:|---:|")
    for num in (int(s) for s in args.sizes.split(",")):
        rewards, mask, uids = make_inputs(num, args.length, args.rollouts)
        results = {}
        for name in names:
            fn = get_adv_estimator_fn(name)
            STORE.reset()
            results[name] = time_call(lambda: fn(token_level_rewards=rewards, response_mask=mask, index=uids,
                                                 config=config), args.repeats)
        row = " | ".join(f"{results[n]:.4f}" for n in names)
        print(f"| {num:,} | {row} | {results['lead'] / results['grpo_vectorized']:.2f}x | "
              f"{results['lead'] / results['grpo']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

"""verl 0.9.1's real training loop on the CPU, through the launch scripts and ``lead-train``.

Each test runs ``DEVICE=cpu bash <launch script>`` (or ``DEVICE=cpu lead-train``) in its own process
(Ray, TaskRunnerV1, TransferQueue, FSDP2 on gloo, reference model with the KL loss, agent loop, reward
loop with ``lead.rewards.math``, weight sync, checkpoints) on the tiny offline model and generated data,
then checks what the run printed and wrote. Every run has a timeout, and no process of its Ray cluster
may outlive it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from lead.launch.runner import Run
from lead.launch.runner import run_cpu as run_subprocess

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 600
# A test makes at most two runs, each followed by up to 30 s of waiting for its Ray processes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2 * (RUN_TIMEOUT_S + 60))]
RESTORED_LINE = re.compile(r"lead: restored estimator state from (\S+): (.*)$")


def lead_train(cache: Path, workdir: Path, *overrides: str, **env: str) -> Run:
    """``DEVICE=cpu lead-train <overrides>``."""
    return run_cpu(cache, workdir, [sys.executable, "-m", "lead.verl_plugin.main", *overrides], **env)


def launch_script(cache: Path, workdir: Path, script: str, *overrides: str, **env: str) -> Run:
    """``DEVICE=cpu bash <script> <overrides>`` with its runs under ``workdir/out``."""
    empty = workdir / "empty.env"
    empty.write_text("")
    return run_cpu(
        cache,
        workdir,
        ["bash", str(REPO / script), *overrides],
        OUTPUT_ROOT=str(workdir / "out"),
        PYTHON=sys.executable,
        ENV_FILE=str(empty),
        **env,
    )


def run_cpu(cache: Path, workdir: Path, command: list[str], **env: str) -> Run:
    """Run ``command`` in CPU mode; fails the test if it times out or any of its processes outlive it."""
    run = run_subprocess(
        command,
        {"LEAD_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), **env},
        workdir,
        RUN_TIMEOUT_S,
    )
    assert not run.stray_pids, f"processes of the run outlived it: {run.stray_pids}"
    assert not run.timed_out, f"{command} did not finish within {RUN_TIMEOUT_S} s:\n{run.output[-5000:]}"
    print(
        f"\n{' '.join(command[-6:])}: exit {run.returncode}, wall {run.wall_s} s, "
        f"s/step {run.seconds_per_step()}, peak RSS driver {run.peak_driver_rss_gib} GiB, "
        f"process tree {run.peak_tree_rss_gib} GiB"
    )
    return run


def assert_trained(run: Run, steps: list[int], nonzero_every_step: bool = True) -> None:
    """The run trained ``steps`` with finite advantages, non-zero at every step (or, for a method
    whose advantages vanish when every group is all right or all wrong, at some step)."""
    assert run.returncode == 0, run.output[-8000:]
    assert sorted(run.steps) == steps
    spans = {step: (m["critic/advantages/max"], m["critic/advantages/min"]) for step, m in run.steps.items()}
    assert all(math.isfinite(a) for adv in spans.values() for a in adv), spans
    nonzero = [max(abs(a) for a in adv) > 0 for adv in spans.values()]
    assert all(nonzero) if nonzero_every_step else any(nonzero), spans
    # The rollout server got the trained weights after every update: a new version and checksum.
    versions = [int(s["version"]) for s in run.syncs]
    assert versions == list(range(1, len(steps) + 2)), run.syncs
    checksums = [s["checksum"] for s in run.syncs]
    assert all(a != b for a, b in zip(checksums, checksums[1:])), checksums
    assert [int(s["global_steps"]) for s in run.syncs[1:]] == steps
    # Batched generation: the server never produced one rollout at a time.
    assert all(s["largest_batch"] > 1 for s in run.syncs[1:]), run.syncs


LEAD_SCRIPT = "train_math_lead_deepseek-r1-1.5b.sh"
# Prompts per step of the runs that need some prompt's rollouts to differ in correctness.
PROMPTS_PER_STEP = 8


def test_lead_script_trains_checkpoints_every_step_and_resumes(cpu_cache, tmp_path):
    ckpt = tmp_path / "out" / "math_lead_deepseek-r1-1.5b-cpu-tiny"  # where the script puts its run on a GPU node too
    first = launch_script(cpu_cache, tmp_path, LEAD_SCRIPT, "trainer.total_training_steps=2")
    assert_trained(first, [1, 2])
    assert "[ok] math_lead_deepseek-r1-1.5b-cpu-tiny: new, 2 steps" in first.output
    assert "CPU mode (DEVICE=cpu)" in first.output and "actor_rollout_ref.rollout.name = hfcpu" in first.output
    # Greedy validation before training, scored by lead.rewards.math in verl's reward loop.
    assert 0 <= first.validations[0]["val-core/cpu_arithmetic/acc/mean@1"] <= 1
    for step, metrics in first.steps.items():
        assert metrics["lead/step"] == step and 0 < metrics["lead/w_corr"] < 1
        assert {"lead/accuracy_batch", "lead/lstar_mean", "lead/w_eff"} <= set(metrics)
    for step in (1, 2):
        assert (ckpt / f"global_step_{step}" / "lead_state.json").is_file()
        assert (ckpt / f"global_step_{step}" / "actor").is_dir()
    assert (ckpt / "lead_config.yaml").is_file() and "math_lead_deepseek-r1-1.5b-cpu-tiny" in (
        ckpt / "train.log"
    ).read_text()
    saved = json.loads((ckpt / "global_step_2" / "lead_state.json").read_text())

    # The same command, run longer: the launcher and verl resume the checkpointed run.
    second = launch_script(cpu_cache, tmp_path, LEAD_SCRIPT, "trainer.total_training_steps=4")
    assert "[ok] math_lead_deepseek-r1-1.5b-cpu-tiny: resume from step 2 of 4" in second.output
    assert_trained(second, [3, 4])
    assert [m["lead/step"] for _, m in sorted(second.steps.items())] == [3, 4]
    restored = [RESTORED_LINE.search(line) for line in second.output.splitlines()]
    restored = [m for m in restored if m]
    assert len(restored) == 1 and restored[0].group(1).endswith("global_step_2/lead_state.json")
    assert json.loads(restored[0].group(2)) == saved["methods"]
    # The server started from the checkpointed weights: those the first run's server ended with.
    assert second.syncs[0]["checksum"] == first.syncs[-1]["checksum"]
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "4"


def test_hapo_baseline_reads_prompt_ids_from_transfer_queue(cpu_cache, tmp_path):
    import pyarrow.parquet as pq

    from lead.verl_plugin.cpu import assets

    # No steps or save_freq given: the CPU group runs 2 steps and checkpoints every step. hapo's
    # advantages are 0 on groups whose rollouts are all right or all wrong: with the tiny model
    # right about 1 time in 10, 8 prompts x 8 rollouts make two such steps in a row unlikely
    # (about 1 run in 30,000; 4 prompts x 8 rollouts: 1 in 200).
    run = launch_script(
        cpu_cache,
        tmp_path,
        "baselines/train_hapo_deepseek-r1-1.5b.sh",
        f"data.train_batch_size={PROMPTS_PER_STEP}",
        "actor_rollout_ref.rollout.n=8",
    )
    assert_trained(run, [1, 2], nonzero_every_step=False)
    assert all(any(k.startswith("hapo/") for k in m) for m in run.steps.values())
    ckpt = tmp_path / "out" / "math_hapo_deepseek-r1-1.5b-cpu-tiny"
    keys = json.loads((ckpt / "global_step_2" / "lead_state.json").read_text())["methods"]["hapo"]["keys"]
    train = pq.read_table(assets.ensure_data() / "train.parquet").to_pylist()
    # The history holds the prompts solved at least once, keyed by the dataset's stable ids.
    assert set(keys) <= {str(r["extra_info"]["index"]) for r in train}
    solved = any(m["critic/score/max"] > 0 for m in run.steps.values())
    assert 1 <= len(keys) <= 2 * PROMPTS_PER_STEP if solved else keys == []


def test_grpo_script_trains(cpu_cache, tmp_path):
    # As for hapo: a step whose groups are all uniform has zero advantages.
    run = launch_script(
        cpu_cache,
        tmp_path,
        "train_math_grpo_deepseek-r1-1.5b.sh",
        f"data.train_batch_size={PROMPTS_PER_STEP}",
        "actor_rollout_ref.rollout.n=8",
    )
    assert_trained(run, [1, 2], nonzero_every_step=False)
    assert all(any(k.startswith("grpo_len_threshold/") for k in m) for m in run.steps.values())
    assert not any(k.startswith("lead/") for m in run.steps.values() for k in m)


def test_an_ablation_sweep_runs_its_planned_run(cpu_cache, tmp_path):
    # max_asym gives every rollout of an unsolved prompt an efficiency reward of 0 (no rollout is
    # longer than bmax), so a step where no rollout is right has zero advantages. The tiny model is
    # right about 1 time in 10: CPU mode's 16 rollouts are all wrong in about 1 step of 4, and
    # 16 prompts x 8 rollouts in about 1 of 50,000.
    run = launch_script(
        cpu_cache,
        tmp_path,
        "ablations/mode_sweep.sh",
        "trainer.total_training_steps=1",
        "data.train_batch_size=16",
        "actor_rollout_ref.rollout.n=8",
        MODES="max_asym",
    )
    assert_trained(run, [1])
    assert (
        "Planned runs (1)" in run.output
        and "== math_lead_mode_max_asym_deepseek-r1-1.5b-cpu-tiny: finished" in run.output
    )
    assert run.steps[1]["lead/lstar_mode"] == 0  # max_asym


def test_failing_reward_exits_with_the_error(cpu_cache, tmp_path):
    bad = tmp_path / "bad_reward.py"
    bad.write_text(
        "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n"
        "    raise RuntimeError('cpu-test: reward failed on purpose')\n"
    )
    run = lead_train(
        cpu_cache, tmp_path, f"reward.custom_reward_function.path={bad}", f"trainer.default_local_dir={tmp_path}"
    )
    assert run.returncode != 0 and not run.steps
    assert "cpu-test: reward failed on purpose" in run.output


def test_failing_estimator_exits_with_the_error(cpu_cache, tmp_path):
    # tests/cpu_failing_estimator.py registers it in every process of the run.
    run = lead_train(
        cpu_cache,
        tmp_path,
        "algorithm.adv_estimator=cpu_test_failing",
        f"trainer.default_local_dir={tmp_path}",
        VERL_USE_EXTERNAL_MODULES="tests.cpu_failing_estimator",
    )
    assert run.returncode != 0 and not run.steps
    assert "cpu-test: estimator failed on purpose" in run.output

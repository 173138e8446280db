"""What a training run shows and leaves: the console, metrics.jsonl across a resume, `lead curves`,
the lines after a run, the GPU cost before it, and a stop signal stopping every process of the run.

The launcher tests replace ``lead-train`` with a small fake trainer (no verl in the run); the real
loop, interrupted and resumed, is in :func:`test_interrupted_cpu_run_stops_everything_and_resumes`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from omegaconf import OmegaConf

from lead import cli as lead_cli
from lead.launch import check as C
from lead.launch import cli, cost, execute
from lead.launch import plan as P
from lead.metrics import MetricsFile, read_metrics, validation_change
from tests.test_launch import REPO, clean_env, launch_args, small_run, write_parquet  # noqa: F401 - a fixture
from tests.test_verl_cpu_e2e import RUN_TIMEOUT_S

LEAD_SCRIPT = "train_math_lead_deepseek-r1-1.5b.sh"


# --- metrics.jsonl ----------------------------------------------------------------------------


def lines_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_metrics_file_keeps_one_line_per_step_across_a_resume(tmp_path):
    first = MetricsFile(tmp_path)
    first.log(0, {"val-core/math/acc/mean@1": np.float64(0.25)})
    for step in (1, 2, 3):
        first.log(
            step,
            {
                "critic/score/mean": np.float32(step / 10),
                "lead/w_corr": 0.5,
                "lead/step": np.int64(step),
                "actor/grad_norm": float("nan"),
            },
        )
    first.log(3, {"val-core/math/acc/mean@1": 0.5})  # validation of the last step, logged on its own
    assert [r["step"] for r in lines_of(tmp_path)] == [0, 1, 2, 3]
    assert lines_of(tmp_path)[3]["critic/score/mean"] == pytest.approx(0.3)
    assert lines_of(tmp_path)[3]["val-core/math/acc/mean@1"] == 0.5
    assert lines_of(tmp_path)[1]["actor/grad_norm"] is None and lines_of(tmp_path)[1]["lead/step"] == 1

    # Interrupted after step 3, checkpointed at step 2: the resumed attempt drops step 3, validates
    # at step 2 again and trains step 3 anew.
    resumed = MetricsFile(tmp_path)
    assert resumed.keep_until(2) == 1
    resumed.log(2, {"val-core/math/acc/mean@1": 0.75})
    resumed.log(3, {"critic/score/mean": 0.9})
    resumed.log(4, {"critic/score/mean": 1.0})
    records = lines_of(tmp_path)
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    assert records[2]["val-core/math/acc/mean@1"] == 0.75 and records[2]["lead/w_corr"] == 0.5
    assert records[3] == {"step": 3, "critic/score/mean": 0.9}
    steps = read_metrics(tmp_path)
    assert sorted(steps) == [0, 1, 2, 3, 4]
    assert validation_change(steps) == ["val-core/math/acc/mean@1: 0.25 (step 0) -> 0.75 (step 2)"]
    # A fresh start (no checkpoint) keeps only the validation before training.
    assert MetricsFile(tmp_path).keep_until(0) == 4 and [r["step"] for r in lines_of(tmp_path)] == [0]


def test_trainer_records_every_logged_step_and_drops_steps_after_the_resumed_checkpoint(tmp_path, monkeypatch):
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    from lead.verl_plugin.trainer import LeadTrainerSync

    class Tracking:
        def __init__(self):
            self.logged, self.finished = [], None

        def log(self, data, step, backend=None):
            self.logged.append((step, dict(data)))

        def finish(self, exit_code=0):
            self.finished = exit_code

    trainer = LeadTrainerSync.__new__(LeadTrainerSync)
    trainer.config = OmegaConf.create(
        {"algorithm": {"adv_estimator": "grpo"}, "trainer": {"default_local_dir": str(tmp_path)}}
    )
    assert trainer.logger is None
    tracking = Tracking()
    trainer.logger = tracking  # what verl's fit() does
    for step in (0, 1, 2, 3):
        trainer.logger.log(data={"lead/w_corr": 0.5 + step / 100}, step=step)
    trainer.logger.finish(exit_code=1)
    assert [s for s, _ in tracking.logged] == [0, 1, 2, 3] and tracking.finished == 1
    assert [r["step"] for r in lines_of(tmp_path)] == [0, 1, 2, 3]

    def load(self):
        self.global_steps = 2

    monkeypatch.setattr(PPOTrainerSync, "_load_checkpoint", load, raising=False)
    trainer._load_checkpoint()
    assert [r["step"] for r in lines_of(tmp_path)] == [0, 1, 2]


# --- lead curves ------------------------------------------------------------------------------


def test_lead_curves_draws_each_runs_curves_side_by_side(tmp_path, capsys):
    lead_run, grpo_run = tmp_path / "math_lead", tmp_path / "math_grpo"
    for step in range(4):
        MetricsFile(lead_run).log(
            step,
            {
                "critic/score/mean": step / 4,
                "response_length/mean": 100 - step,
                "lead/w_corr": 0.5 + step / 20,
                "lead/w_eff": 0.5 - step / 20,
                "lead/lstar_mean": 80.0,
                "lead/accuracy_batch": step / 4,
                **({"val-core/math/acc/mean@1": 0.4} if step in (0, 3) else {}),
            },
        )
        MetricsFile(grpo_run).log(step, {"critic/score/mean": step / 5, "response_length/mean": 120 + step})
    out = tmp_path / "curves"
    assert lead_cli.main(["curves", str(lead_run), str(grpo_run), "--out", str(out)]) == 0
    names = {"reward.png", "accuracy.png", "response_length.png", "lead_weights.png", "lstar.png"}
    assert {p.name for p in out.iterdir()} == names
    assert all((out / n).read_bytes().startswith(b"\x89PNG") for n in names)
    assert set(capsys.readouterr().out.split()) == {str(out / n) for n in names}
    # A run without LEAD's metrics gets no LEAD panels.
    assert lead_cli.main(["curves", str(grpo_run), "--out", str(tmp_path / "grpo")]) == 0
    assert {p.name for p in (tmp_path / "grpo").iterdir()} == {"reward.png", "response_length.png"}
    assert lead_cli.main(["curves", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert f"{tmp_path / 'nothing' / 'metrics.jsonl'} does not exist" in capsys.readouterr().err


# --- the console ------------------------------------------------------------------------------

CONFIG_DUMP = [
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m {'actor_rollout_ref': {'actor': {'_target_': 'x',\n",
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m                                  'clip_ratio': 0.2,\n",
    "\x1b[36m(WorkerDict pid=7147)\x1b[0m LlamaForCausalLM contains 99.01K parameters\n",  # another actor, between
    # Ray cuts a long output anywhere: pieces without pprint's indentation, a string holding "}".
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m                        'rollout': \n",
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m {\n",
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m 'name': 'a}b',\n",
    "\x1b[36m(TaskRunnerV1 pid=6750)\x1b[0m                        'trainer': {'total_epochs': 1}}}}\n",
]
ENGINE = [
    "/v/verl/workers/engine/__init__.py:32: UserWarning: torchtitan engine is not available: "
    "ModuleNotFoundError(\"No module named 'torchtitan'\")\n",
    '  warnings.warn(f"torchtitan engine is not available: {e!r}", stacklevel=1)\n',
]
TOKEN_BUILDER = (
    "(AgentLoopWorkerTQ pid=7344) WARNING:2026-12-06 07:12:23,700:No model-specific Continuous Token "
    "builder is registered for config.json model_type='llama'; falling back to default.\n"
)
KEPT = [
    "(TaskRunnerV1 pid=6750) step:1 - critic/score/mean:0.25 - lead/w_corr:0.5\n",
    "(WorkerDict pid=7147) LlamaForCausalLM contains 99.01K parameters\n",
    # The same warning for another reason than a missing optional package matters.
    "/v/verl/workers/engine/__init__.py:69: UserWarning: megatron engine is not available: ImportError('libcuda')\n",
    '  warnings.warn(f"megatron engine is not available: {e!r}", stacklevel=1)\n',
    "(TaskRunnerV1 pid=6750) /v/x.py:3: UserWarning: reward function returned NaN\n",
    "(TaskRunnerV1 pid=6750)   score = compute()\n",
]


def test_console_leaves_out_verls_configuration_and_known_warnings_only():
    lines = [*CONFIG_DUMP, *ENGINE, TOKEN_BUILDER, *KEPT]
    console = execute.ConsoleFilter()
    shown = [line for line in lines if console.keep(line)]
    assert shown == [CONFIG_DUMP[2], *KEPT]  # the dump ended where its brackets closed
    assert console.hidden == len(lines) - len(shown)
    everything = execute.ConsoleFilter(verbose=True)
    assert [line for line in lines if everything.keep(line)] == lines


# --- the launcher: what a run ends with, stop signals -------------------------------------------

# Started as lead-train is (``--config <run>/lead_config.yaml``), it trains in the recorded run folder.
FAKE_TRAINER = """import json, os, subprocess, sys, time
from pathlib import Path
import yaml
assert sys.argv[1] == "--config" and len(sys.argv) == 3, sys.argv
folder = Path(yaml.safe_load(open(sys.argv[2]))["trainer"]["default_local_dir"])
assert folder == Path(sys.argv[2]).parent, folder
mode = os.environ["FAKE_MODE"]
# A process in a session of its own that ignores SIGTERM, as a stubborn Ray worker might.
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
helper = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
(folder / "pids").write_text(f"{os.getpid()} {helper.pid}")
print("(TaskRunnerV1 pid=1) {'actor_rollout_ref': {'actor': {'clip_ratio': 0.2,", flush=True)
print("(TaskRunnerV1 pid=1)                        'trainer': {}}}", flush=True)
with open(folder / "metrics.jsonl", "a") as metrics:
    metrics.write(json.dumps({"step": 0, "val-core/math/acc/mean@1": 0.25}) + "\\n")
    for step in range(1, 200 if mode == "forever" else 3):
        time.sleep(0.3)
        (folder / f"global_step_{step}").mkdir()
        (folder / "latest_checkpointed_iteration.txt").write_text(str(step))
        metrics.write(json.dumps({"step": step, "val-core/math/acc/mean@1": 0.25 + step / 4}) + "\\n")
        metrics.flush()
        print(f"step:{step} - critic/score/mean:0.5", flush=True)
helper.kill()
"""


@pytest.fixture
def fake_launch(clean_env, tmp_path, monkeypatch):  # noqa: F811 - the imported fixture
    """``lead launch`` of the 1.5B script (a GPU run, 2 steps), its trainer replaced by FAKE_TRAINER."""
    data = tmp_path / "data"
    write_parquet(data / "train.parquet", 256)
    write_parquet(data / "test.parquet", 10)
    trainer = tmp_path / "fake_trainer.py"
    trainer.write_text(FAKE_TRAINER)
    lead_train = execute.train_command
    monkeypatch.setattr(
        execute,
        "train_command",
        lambda config, python=sys.executable: [python, str(trainer), *lead_train(config, python)[3:]],
    )
    for key, value in {**clean_env, "DATA_DIR": str(data), "WANDB_MODE": "offline"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)

    def launch(mode: str, *overrides: str, **env: str) -> int:
        monkeypatch.setenv("FAKE_MODE", mode)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return cli.run(
            launch_args(
                "--experiment",
                "math_1p5b",
                "--method",
                "lead",
                "--root",
                str(REPO),
                "--script",
                str(REPO / LEAD_SCRIPT),
                "trainer.total_training_steps=2",
                *overrides,
            )
        )

    return launch, Path(clean_env["OUTPUT_ROOT"]) / f"math_lead_{'deepseek-r1-1.5b'}"


def test_a_finished_run_ends_with_its_checkpoint_scores_and_next_commands(fake_launch, capsys):
    launch, run = fake_launch
    assert launch("finish", LEAD_RERUN="make train") == 0
    out = capsys.readouterr().out
    tail = out[out.index("== math_lead_deepseek-r1-1.5b: finished") :].splitlines()
    assert tail[1] == f"   checkpoint: {run}/global_step_2"
    assert "   validation val-core/math/acc/mean@1: 0.25 (step 0) -> 0.75 (step 2)" in tail
    assert any(
        re.search(rf"lead eval --model {run}/global_step_2 --out runs/math_lead_deepseek-r1-1.5b$", t) for t in tail
    ), tail
    assert any(f"lead curves {run} --out {run}/curves" in t for t in tail)
    assert any('train longer: make train ARGS="trainer.total_training_steps=4"' in t for t in tail)
    assert "'actor_rollout_ref'" not in out  # verl's configuration stays in train.log
    assert "'actor_rollout_ref'" in (run / "train.log").read_text()
    assert "2 lines of verl's configuration and known warnings left out" in out

    # The same command again: nothing to train; it says how to go on.
    assert launch("finish", LEAD_RERUN="") == 0
    out = capsys.readouterr().out
    assert (
        "== math_lead_deepseek-r1-1.5b: finished, skipped (final step 2 checkpointed); to train longer: "
        f"bash {LEAD_SCRIPT} trainer.total_training_steps=4   (2 -> 4 steps)"
    ) in out


def test_sigint_to_the_launcher_stops_every_process_of_the_run(fake_launch, capsys):
    launch, run = fake_launch
    sent = {}

    def interrupt_after_step_one():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = run / "train.log"
            if log.is_file() and "step:1 -" in log.read_text():
                sent["at"] = time.time()
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    threading.Thread(target=interrupt_after_step_one, daemon=True).start()
    code = launch("forever", "trainer.save_freq=1")
    stopped = time.time()
    captured = capsys.readouterr()
    assert code == 128 + signal.SIGINT
    assert stopped - sent["at"] < execute.STOP_GRACE_S + 5
    trainer_pid, helper_pid = map(int, (run / "pids").read_text().split())
    for pid in (trainer_pid, helper_pid):  # the helper ignored SIGTERM: it got SIGKILL
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # Nothing was checkpointed after the signal.
    last = max(p.stat().st_mtime for p in run.glob("global_step_*"))
    assert last <= sent["at"] + 0.5
    assert "finished" not in captured.out
    interrupted = [line for line in captured.err.splitlines() if "interrupted" in line]
    step = int((run / "latest_checkpointed_iteration.txt").read_text())
    assert interrupted == [
        f"== math_lead_deepseek-r1-1.5b: interrupted (SIGINT); every process of the run stopped, "
        f"the last checkpoint is step {step}; resume with: bash {LEAD_SCRIPT} "
        "trainer.total_training_steps=2 trainer.save_freq=1"
    ]
    assert "Traceback" not in captured.err


def test_sigterm_to_the_launcher_process_alone_stops_the_run(clean_env, tmp_path):  # noqa: F811
    """`timeout -s TERM` or a scheduler signals the launcher only: the trainer, in its own session,
    must not go on training."""
    data = tmp_path / "data"
    write_parquet(data / "train.parquet", 256)
    write_parquet(data / "test.parquet", 10)
    trainer = tmp_path / "fake_trainer.py"
    trainer.write_text(FAKE_TRAINER)
    driver = tmp_path / "driver.py"
    driver.write_text(f"""import sys
from lead.launch import cli, execute
lead_train = execute.train_command
execute.train_command = lambda config, python=sys.executable: [python, {str(trainer)!r},
                                                               *lead_train(config, python)[3:]]
sys.argv = ["lead launch", *sys.argv[1:]]
exec(open({str(REPO / "lead" / "launch" / "__main__.py")!r}).read())
""")
    env = {**clean_env, "DATA_DIR": str(data), "WANDB_MODE": "offline", "FAKE_MODE": "forever", "PYTHONPATH": str(REPO)}
    launcher = subprocess.Popen(
        [
            sys.executable,
            str(driver),
            "--experiment",
            "math_1p5b",
            "--root",
            str(REPO),
            "--script",
            str(REPO / LEAD_SCRIPT),
            "trainer.total_training_steps=2",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Path(clean_env["OUTPUT_ROOT"]) / "math_lead_deepseek-r1-1.5b"
    deadline = time.monotonic() + 120
    while not ((run / "train.log").is_file() and "step:1 -" in (run / "train.log").read_text()):
        assert time.monotonic() < deadline and launcher.poll() is None, launcher.communicate()
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)
    out, err = launcher.communicate(timeout=execute.STOP_GRACE_S + 10)
    assert launcher.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM)" in err and "finished" not in out
    for pid in map(int, (run / "pids").read_text().split()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_cpu_runs_log_opens_with_the_cpu_groups_settings(tmp_path):
    """lead-train trains a recorded configuration, which no longer says what the run's overrides were:
    the launcher writes the CPU group's settings, those of the overrides apart, before its output."""
    from hydra import initialize_config_module

    overrides = [*small_run(tmp_path), "device=cpu", "trainer.total_training_steps=3"]
    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        config = C.compose_run(overrides)
    report = C.RunReport(P.PlannedRun("r", overrides, device="cpu"), config=config)
    lines = execute.opening_lines(report)
    assert lines[0].startswith("CPU mode (DEVICE=cpu): verl's real loop on the CPU backend")
    kept = lines.index("kept from your overrides:\n")
    assert "  actor_rollout_ref.rollout.name = hfcpu\n" in lines[:kept]
    assert "  trainer.total_training_steps = 3\n" in lines[kept:]
    assert execute.opening_lines(C.RunReport(P.PlannedRun("r", overrides), config=config)) == []


# --- cost ---------------------------------------------------------------------------------------


def test_gpu_cost_comes_from_the_recipe_scaled_to_steps_and_runs(tmp_path):
    assert cost.help_cost_line("math_1p5b", 1) == (
        "GPU cost: about 30 h on 4 x NVIDIA L40S for 462 steps (the release's figure for its 1.5B LEAD run "
        "(8,000-token cap); not measured here)."
    )
    assert cost.help_cost_line("ablation_1p5b", 12).startswith(
        "GPU cost: about 360 h on 4 x NVIDIA L40S for 12 runs of 462 steps, one after another (1,440 h GPU time;"
    )
    assert "time unknown" in cost.help_cost_line("math_7b", 1) and "8 x NVIDIA RTX A6000" in cost.help_cost_line(
        "math_7b", 1
    )
    done = subprocess.run(
        ["bash", str(REPO / "ablations" / "ratio_sweep.sh"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, "METHODS": "lead"},
        timeout=60,
    )
    assert "GPU cost: about 180 h on 4 x NVIDIA L40S for 6 runs of 462 steps" in done.stdout, done.stderr

    from hydra import initialize_config_module

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        config = C.compose_run(["experiment=math_1p5b", *small_run(tmp_path)])
    report = C.RunReport(P.PlannedRun("r", []), config=config, state="resume", step=31, final_step=262)
    assert cost.run_cost_line(report).startswith("GPU cost: about 15 h on 4 x NVIDIA L40S for 231 steps")
    cpu = C.RunReport(P.PlannedRun("r", [], device="cpu"), config=config, state="new", final_step=2)
    assert cost.run_cost_line(cpu) is None
    assert cost.plan_cost_line([report, report]).startswith("GPU cost of the 2 runs: about 30 h on 4 x NVIDIA L40S")


# --- the real loop on the CPU, interrupted and resumed ----------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(2 * (RUN_TIMEOUT_S + 60))
def test_interrupted_cpu_run_stops_everything_and_resumes(cpu_cache, tmp_path):
    """SIGINT to the launcher alone after step 3 of 4 (checkpoints every 2 steps), then the same
    command again: the run resumes from step 2 and metrics.jsonl ends with one line per step."""
    run = tmp_path / "out" / "math_lead_deepseek-r1-1.5b-cpu-tiny"
    args = ("trainer.total_training_steps=4", "trainer.save_freq=2")
    first = launch(cpu_cache, tmp_path, *args, signal_after=r"step:3 - ")
    assert first.signal_sent_at_s is not None and first.returncode == 128 + signal.SIGINT, first.output[-5000:]
    assert first.wall_s - first.signal_sent_at_s < 2 * execute.STOP_GRACE_S + 6
    assert first.left_at_exit == [], "processes of the run outlived the launcher"
    assert (run / C.TRACKER_FILE).read_text().strip() == "2"
    assert sorted(p.name for p in run.glob("global_step_*")) == ["global_step_2"]
    assert [r["step"] for r in lines_of(run)] == [0, 1, 2, 3]
    out = first.output
    assert ": finished" not in out and "Traceback" not in out and "KeyboardInterrupt" not in out
    assert [line for line in out.splitlines() if ": interrupted (" in line] == [
        "== math_lead_deepseek-r1-1.5b-cpu-tiny: interrupted (SIGINT); every process of the run stopped, the last "
        f"checkpoint is step 2; resume with: bash {REPO / LEAD_SCRIPT} {' '.join(args)}"
    ]

    second = launch(cpu_cache, tmp_path, *args)
    assert second.returncode == 0, second.output[-5000:]
    assert sorted(second.steps) == [3, 4]
    assert f"lead: {run / 'metrics.jsonl'}: dropped 1 step(s) after step 2" in second.output
    records = lines_of(run)
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    for step in (3, 4):  # the second attempt's steps, not the interrupted one's
        assert records[step]["timing_s/step"] == pytest.approx(second.steps[step]["timing_s/step"])
        assert records[step]["lead/step"] == step and 0 < records[step]["lead/w_corr"] < 1
    assert "val-core/cpu_arithmetic/acc/mean@1" in records[0] and "val-core/cpu_arithmetic/acc/mean@1" in records[4]
    # The console: the summary and the step lines, not verl's configuration or the known warnings.
    console = second.output.splitlines()
    assert len(console) <= 300, len(console)
    noise = [
        line
        for line in console
        if "{'actor_rollout_ref': " in line or "engine is not available" in line or "Continuous Token builder" in line
    ]
    assert not noise, noise
    log = (run / "train.log").read_text()
    assert "'actor_rollout_ref'" in log and "engine is not available" in log
    assert f"   checkpoint: {run}/global_step_4" in console
    assert any(
        line.startswith("   validation val-core/cpu_arithmetic/acc/mean@1: ") and line.endswith("(step 4)")
        for line in console
    )
    assert any(
        f"eval --model {run}/global_step_4 --out runs/math_lead_deepseek-r1-1.5b-cpu-tiny --max-tokens 32" in line
        for line in console
    )
    assert any(
        f"train longer: bash {REPO / LEAD_SCRIPT} trainer.save_freq=2 trainer.total_training_steps=8" in line
        for line in console
    )
    assert lead_cli.main(["curves", str(run), "--out", str(tmp_path / "curves")]) == 0
    assert (tmp_path / "curves" / "lead_weights.png").is_file()


def launch(cache: Path, workdir: Path, *overrides: str, signal_after: str | None = None):
    """``DEVICE=cpu bash <the 1.5B script> <overrides>`` as tests/test_verl_cpu_e2e.py runs it, with
    SIGINT to the launcher process alone once a line matches ``signal_after``."""
    from lead.launch.runner import run_cpu

    empty = workdir / "empty.env"
    empty.write_text("")
    run = run_cpu(
        ["bash", str(REPO / LEAD_SCRIPT), *overrides],
        {
            "LEAD_CACHE": str(cache),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
            "OUTPUT_ROOT": str(workdir / "out"),
            "PYTHON": sys.executable,
            "ENV_FILE": str(empty),
        },
        workdir,
        RUN_TIMEOUT_S,
        signal_after=signal_after,
    )
    assert not run.stray_pids, f"processes of the run outlived it: {run.stray_pids}"
    assert not run.timed_out, run.output[-5000:]
    return run

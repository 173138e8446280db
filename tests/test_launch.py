"""Launch scripts, baselines and ablation sweeps through ``lead launch``: plans, checks, resume, skip.

Every script runs once with ``PLAN_FILE`` set, which makes ``lead launch`` write its planned runs and
stop before importing verl; all plans are then checked together in this process by
:mod:`lead.launch.check` (what each script's ``DRY_RUN`` does, paying verl's import once). One script
also runs as a subprocess in ``DRY_RUN=1`` mode, and one sweep is launched for real in-process on a
fake output tree, with the training process replaced by a recorder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from lead.core.knobs import cap_knob
from lead.core.methods import load_methods
from lead.launch import check as C
from lead.launch import cli, execute
from lead.launch import environment as E
from lead.launch import plan as P

REPO = Path(__file__).resolve().parents[1]
SHARED_TRAIN = REPO.parent / "shared" / "data" / "train" / "math_l3to5_train.parquet"
LAUNCH = [
    "train_math_lead_deepseek-r1-1.5b.sh",
    "train_math_grpo_deepseek-r1-1.5b.sh",
    "train_math_lead_deepseek-r1-7b.sh",
]
SWEEPS = sorted(p.name for p in (REPO / "ablations").glob("*.sh"))
BASELINES = sorted(p.name for p in (REPO / "baselines").glob("*.sh"))
SCRIPTS = LAUNCH + [f"baselines/{b}" for b in BASELINES] + [f"ablations/{s}" for s in SWEEPS]
PAPER_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
TAG = "deepseek-r1-1.5b"


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def clean_env(tmp_path):
    """A controlled environment: none of the caller's launch variables, no .env of the checkout."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PYTHON": sys.executable,
        "ENV_FILE": str(empty),
        "TMPDIR": str(tmp_path),
        "OUTPUT_ROOT": str(tmp_path / "out"),
    }


def run_script(script: str | Path, env: dict, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO, check=False
    )


def plan_of(script: str, env: dict, tmp_path: Path, *args: str) -> list[P.PlannedRun]:
    """The runs ``script`` plans (run once, with PLAN_FILE)."""
    plan = tmp_path / f"{Path(script).name}.plan"
    plan.unlink(missing_ok=True)
    done = run_script(REPO / script, {**env, "PLAN_FILE": str(plan)}, *args)
    assert done.returncode == 0, done.stderr
    return P.read_plan(plan)


def items(run: P.PlannedRun) -> dict[str, str]:
    return dict(o.split("=", 1) for o in run.overrides if "=" in o)


def verl_rows(rows: int) -> dict[str, list]:
    """Columns of ``rows`` rows in the form verl's dataset and reward read (as ``lead data math`` writes)."""
    return {
        "data_source": ["math"] * rows,
        "prompt": [[{"role": "user", "content": f"problem {i}"}] for i in range(rows)],
        "reward_model": [{"ground_truth": str(i), "style": "rule"} for i in range(rows)],
        "extra_info": [{"index": i} for i in range(rows)],
    }


def write_parquet(path: Path, rows: int, **columns: list) -> Path:
    """A data file of ``rows`` rows; ``columns`` replace columns (None drops one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = {k: v for k, v in {**verl_rows(rows), **columns}.items() if v is not None}
    pq.write_table(pa.table(table), path)
    return path


def fake_checkpoint(folder: Path, step: int) -> None:
    (folder / f"global_step_{step}" / "actor").mkdir(parents=True)
    (folder / C.TRACKER_FILE).write_text(str(step))


def launch_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def offline_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")


# --- every script, planned and checked --------------------------------------------------------


@pytest.fixture(scope="module")
def all_plans(tmp_path_factory):
    """{script: [PlannedRun]} for every launch, baseline and sweep script, and their reports."""
    tmp = tmp_path_factory.mktemp("plans")
    empty = tmp / "empty.env"
    empty.write_text("")
    data = tmp / "data"
    write_parquet(data / "train.parquet", 8521)
    write_parquet(data / "test.parquet", 500)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "PYTHON": sys.executable,
        "ENV_FILE": str(empty),
        "TMPDIR": str(tmp),
        "OUTPUT_ROOT": str(tmp / "out"),
        "DATA_DIR": str(data),
    }
    plans = {script: plan_of(script, env, tmp) for script in SCRIPTS}
    runs = [run for plan in plans.values() for run in plan]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        reports = {r.run.name: r for r in C.check_plan(runs)}
    return plans, reports


def test_every_planned_run_of_every_script_is_valid(all_plans):
    plans, reports = all_plans
    assert len(reports) == sum(len(p) for p in plans.values())  # run names are unique across scripts
    bad = {name: r.error for name, r in reports.items() if not r.ok}
    assert not bad
    grpo_row = f"math_grpo_{TAG}"
    for report in reports.values():
        assert report.state == "new"  # OUTPUT_ROOT is empty
        if report.run.name != grpo_row:
            assert report.warnings == []  # e.g. no bmax below the response cap
    # The release's GRPO row: its threshold equals its cap, so the length term does nothing; the
    # script's header promises a warning.
    assert reports[grpo_row].warnings == [
        "algorithm.grpo_len_threshold.threshold=2000 is not below the response cap data.max_response_length=2000: "
        "every response is within it, so grpo_len_threshold rewards no response for being shorter (its advantage is "
        "correctness alone); set algorithm.grpo_len_threshold.threshold below 2000, or raise the cap (BUDGET in the "
        "launch scripts)"
    ]


def test_paper_settings_shared_by_every_run(all_plans):
    _, reports = all_plans
    for report in reports.values():
        cfg = report.config
        actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
        assert cfg.data.train_batch_size == 128 and rollout.n == 8 and rollout.name == "vllm"
        assert actor.ppo_mini_batch_size == 16 and actor.use_dynamic_bsz
        assert actor.use_kl_loss and actor.kl_loss_type == "mse" and actor.kl_loss_coef == 5e-4
        assert actor.entropy_coeff == 0.001 and not cfg.algorithm.use_kl_in_reward
        assert cfg.actor_rollout_ref.actor.optim.lr_warmup_steps_ratio == 0.0
        assert cfg.trainer.total_epochs == 7 and cfg.trainer.test_freq == 20 and cfg.trainer.val_before_train
        assert list(cfg.trainer.logger) == ["console", "wandb"] and cfg.trainer.resume_mode == "auto"
        assert rollout.val_kwargs.do_sample is False and rollout.val_kwargs.n == 1
        assert cfg.reward.custom_reward_function.path == "pkg://lead.rewards.math"
        assert cfg.reward.custom_reward_function.name == "compute_score"
        assert cfg.data.train_files.endswith("data/train.parquet")
        assert cfg.data.val_files.endswith("data/test.parquet")
        assert cfg.trainer.experiment_name == report.run.name
        assert Path(cfg.trainer.default_local_dir).name == report.run.name
        assert report.final_step == 66 * 7  # 8,521 rows // 128 = 66 steps per epoch


def test_budget_sets_every_cap_together(all_plans):
    """The response cap, the rollout caps and every method's cap knob follow data.max_response_length."""
    _, reports = all_plans
    caps = {name: cap_knob(name) for name in load_methods()}
    assert caps["lead"] == "bmax" and caps["dler"] == "max_length" and caps["grpo"] is None
    for report in reports.values():
        cfg = report.config
        budget = cfg.data.max_response_length
        rollout = cfg.actor_rollout_ref.rollout
        assert rollout.response_length == budget and rollout.max_model_len == budget + 1024
        assert cfg.actor_rollout_ref.actor.ppo_max_token_len_per_gpu == max(16384, budget + 1024)
        for name, knob in caps.items():
            if knob is not None:
                assert cfg.algorithm[name][knob] == budget, (report.run.name, name)


def test_budget_and_gpus_from_the_environment(clean_env, tmp_path, offline_wandb):
    env = {**clean_env, "BUDGET": "6000", "CUDA_VISIBLE_DEVICES": "0,1", "DATA_DIR": str(tmp_path / "d")}
    write_parquet(tmp_path / "d" / "train.parquet", 300)
    write_parquet(tmp_path / "d" / "test.parquet", 10)
    (run,) = plan_of("baselines/train_truncation_deepseek-r1-1.5b.sh", env, tmp_path)
    (report,) = C.check_plan([run])
    assert report.ok, report.error
    cfg = report.config
    assert cfg.data.max_response_length == cfg.algorithm.truncation.max_length == 6000
    assert cfg.actor_rollout_ref.rollout.max_model_len == 7024 and cfg.trainer.n_gpus_per_node == 2
    assert [list(s) for s in cfg.algorithm.truncation.schedule] == [[180, 4500], [360, 3000]]


def test_launch_scripts_reproduce_the_paper_rows(all_plans):
    plans, reports = all_plans
    (lead,) = plans["train_math_lead_deepseek-r1-1.5b.sh"]
    cfg = reports[lead.name].config
    assert lead.name == f"math_lead_{TAG}" and cfg.algorithm.adv_estimator == "lead"
    assert cfg.data.max_response_length == 8000 and cfg.actor_rollout_ref.actor.optim.lr == 2e-6
    assert cfg.actor_rollout_ref.actor.clip_ratio_high == 0.2 and cfg.trainer.save_freq == 50
    lead_knobs = cfg.algorithm.lead
    assert (lead_knobs.alpha, lead_knobs.beta, lead_knobs.lambda_min) == (1.0, 0.95, 0.3)
    assert (lead_knobs.lstar_mode, lead_knobs.aggregator) == ("max_sym", "mean_correct")
    (grpo,) = plans["train_math_grpo_deepseek-r1-1.5b.sh"]
    cfg = reports[grpo.name].config
    assert grpo.name == f"math_grpo_{TAG}" and cfg.algorithm.adv_estimator == "grpo_len_threshold"
    assert cfg.data.max_response_length == 2000 and cfg.actor_rollout_ref.actor.optim.lr == 1e-6
    assert cfg.actor_rollout_ref.actor.clip_ratio_high == 0.28 and cfg.trainer.save_freq == 20
    assert cfg.algorithm.grpo_len_threshold.threshold == 2000
    (big,) = plans["train_math_lead_deepseek-r1-7b.sh"]
    cfg = reports[big.name].config
    assert big.name == "math_lead_deepseek-r1-7b" and cfg.trainer.n_gpus_per_node == 8
    assert cfg.actor_rollout_ref.rollout.tensor_model_parallel_size == 2
    assert cfg.actor_rollout_ref.model.path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"


def test_one_baseline_per_method_and_only_the_method_differs(all_plans):
    plans, reports = all_plans
    methods = {reports[plans[f"baselines/{b}"][0].name].config.algorithm.adv_estimator for b in BASELINES}
    assert methods == set(load_methods()) - {"lead"}  # every other registered method has its script
    base = C.flat_settings(reports[f"math_lead_{TAG}"].config)
    for b in BASELINES:
        (run,) = plans[f"baselines/{b}"]
        cfg = C.flat_settings(reports[run.name].config)
        differ = {k for k in base.keys() | cfg.keys() if base.get(k) != cfg.get(k)}
        allowed = {
            "algorithm.adv_estimator",
            "trainer.experiment_name",
            "trainer.default_local_dir",
            "actor_rollout_ref.rollout.trace.experiment_name",
            "algorithm.filter_groups.enable",
        }
        assert differ <= allowed, (b, differ - allowed)


def test_sweeps_plan_the_paper_tables(all_plans):
    plans, reports = all_plans
    ratio = plans["ablations/ratio_sweep.sh"]
    assert len(ratio) == 12
    for run in ratio:
        cfg = reports[run.name].config
        assert cfg.data.max_response_length == 4000 and cfg.actor_rollout_ref.actor.optim.lr == 1e-6
        assert cfg.trainer.max_actor_ckpt_to_keep == 2
    lead_ratio2 = reports[f"math_lead_ratio2_{TAG}"].config.algorithm.lead
    assert lead_ratio2.static_lambda_corr == pytest.approx(1 / 3)
    grpo_ratio0p25 = reports[f"math_grpo_ratio0p25_{TAG}"].config.algorithm.grpo_len_threshold
    assert (grpo_ratio0p25.lambda1, grpo_ratio0p25.lambda2) == (pytest.approx(0.8), pytest.approx(0.2))
    assert grpo_ratio0p25.mode == "classic" and grpo_ratio0p25.threshold == 2000
    assert {reports[r.name].config.algorithm.lead.aggregator for r in plans["ablations/aggregator_sweep.sh"]} == {
        "mean_correct",
        "min_correct",
        "median_correct",
        "mean_all",
    }
    assert {reports[r.name].config.algorithm.lead.lstar_mode for r in plans["ablations/mode_sweep.sh"]} == {
        "max_sym",
        "max_asym",
        "upper_only",
    }
    points = {
        (c.alpha, c.beta, c.lambda_min)
        for c in (reports[r.name].config.algorithm.lead for r in plans["ablations/controller_sweep.sh"])
    }
    # One run at the paper's point, every other run changing exactly one knob.
    assert points == {
        (1, 0.95, 0.3),
        (0.5, 0.95, 0.3),
        (2, 0.95, 0.3),
        (1, 0.9, 0.3),
        (1, 0.99, 0.3),
        (1, 0.95, 0.1),
        (1, 0.95, 0.5),
    }


# --- planning (no verl) -------------------------------------------------------------------------


def test_subsets_and_overrides_from_the_environment(clean_env, tmp_path):
    env = {**clean_env, "METHODS": "lead", "RATIOS": "0.5,2", "BUDGET": "6000", "CUDA_VISIBLE_DEVICES": "0,1"}
    runs = plan_of("ablations/ratio_sweep.sh", env, tmp_path, "trainer.total_epochs=1")
    assert [r.name for r in runs] == [f"math_lead_ratio0p5_{TAG}", f"math_lead_ratio2_{TAG}"]
    for run, w in zip(runs, ("0.6666666666666666", "0.3333333333333333")):
        got = items(run)
        assert got["algorithm.lead.static_lambda_corr"] == w
        assert got["data.max_response_length"] == "6000" and got["trainer.n_gpus_per_node"] == "2"
        assert run.overrides[0] == "experiment=ablation_1p5b"
        assert run.overrides[-1] == "trainer.total_epochs=1"  # the user's arguments come last, so they win
    knobs = plan_of("ablations/controller_sweep.sh", {**clean_env, "KNOBS": "beta", "BETAS": "0.5 0.95"}, tmp_path)
    assert [r.name for r in knobs] == [f"math_lead_a1_b0p5_lm0p3_{TAG}", f"math_lead_a1_b0p95_lm0p3_{TAG}"]
    (named,) = plan_of(
        "train_math_lead_deepseek-r1-1.5b.sh", {**clean_env, "RUN_NAME": "mine", "NNODES": "2", "N_GPUS": "4"}, tmp_path
    )
    assert named.name == "mine" and items(named)["trainer.nnodes"] == "2"
    assert items(named)["trainer.default_local_dir"] == f"{clean_env['OUTPUT_ROOT']}/mine"
    (threshold,) = plan_of("train_math_grpo_deepseek-r1-1.5b.sh", {**clean_env, "LENGTH_THRESHOLD": "1500"}, tmp_path)
    assert items(threshold)["algorithm.grpo_len_threshold.threshold"] == "1500"


def test_budget_owns_every_declared_cap_knob():
    assert cli._cap_keys() == {
        f"algorithm.{name}.{knob}": "BUDGET"
        for name, knob in (
            ("lead", "bmax"),
            ("gdpo_static", "bmax"),
            ("truncation", "max_length"),
            ("dler", "max_length"),
            ("laser_d", "max_length"),
        )
    }
    with pytest.raises(E.LaunchError, match=r"algorithm\.gdpo_static\.bmax.*set BUDGET instead"):
        E.check_user_overrides(["algorithm.gdpo_static.bmax=4000"], cli._cap_keys())


@pytest.mark.parametrize(
    "env,args,message",
    [
        ({"BUDGET": "4k"}, [], "BUDGET='4k' is not a number of tokens"),
        ({"BUDGET": "0"}, [], "BUDGET='0' is not a number of tokens"),
        ({"N_GPUS": "4", "CUDA_VISIBLE_DEVICES": "0,1"}, [], "N_GPUS=4 but CUDA_VISIBLE_DEVICES=0,1 lists 2 GPU(s)"),
        ({"N_GPUS": "four"}, [], "N_GPUS='four' is not a positive integer"),
        ({"NNODES": "0"}, [], "NNODES='0' is not a positive integer"),
        ({"DEVICE": "tpu"}, [], "DEVICE='tpu' is not one of cuda, cpu"),
        ({"DEVICE": "cpu", "N_GPUS": "2"}, [], "DEVICE=cpu runs one process on this machine"),
        ({"KEEP_CHECKPOINTS": "some"}, [], "KEEP_CHECKPOINTS='some' is not a positive integer or 'all'"),
        ({}, ["trainer.total_epochs"], "argument 'trainer.total_epochs' is not a Hydra override"),
        ({}, ["data.max_response_length=4000"], "set BUDGET instead"),
        ({}, ["algorithm.lead.bmax=4000"], "set BUDGET instead"),
        ({}, ["algorithm.laser_d.max_length=4000"], "set BUDGET instead"),
        ({}, ["trainer.default_local_dir=/tmp/x"], "set OUTPUT_ROOT"),
        ({}, ["trainer.n_gpus_per_node=2"], "set N_GPUS"),
        ({"LENGTH_THRESHOLD": "short"}, [], "LENGTH_THRESHOLD='short' is not a number of tokens"),
    ],
)
def test_bad_settings_fail_before_verl_with_a_clear_message(clean_env, env, args, message):
    script = REPO / (
        "train_math_grpo_deepseek-r1-1.5b.sh" if "LENGTH_THRESHOLD" in env else "train_math_lead_deepseek-r1-1.5b.sh"
    )
    done = run_script(script, {**clean_env, "DRY_RUN": "1", **env}, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Planned runs" not in done.stdout


@pytest.mark.parametrize(
    "script,env,message",
    [
        ("ablations/ratio_sweep.sh", {"METHODS": "lead ppo"}, "METHODS: unknown method 'ppo'"),
        ("ablations/ratio_sweep.sh", {"RATIOS": "0.5 big"}, "RATIOS: 'big' is not a ratio"),
        ("ablations/controller_sweep.sh", {"KNOBS": "gamma"}, "KNOBS: unknown knob 'gamma'"),
        ("ablations/mode_sweep.sh", {"MODES": " , "}, "no runs planned"),
        ("ablations/mode_sweep.sh", {"RUN_NAME": "x"}, "RUN_NAME='x' names a single run"),
    ],
)
def test_bad_sweep_subsets_are_refused(clean_env, script, env, message):
    done = run_script(REPO / script, {**clean_env, "DRY_RUN": "1", **env})
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_dotenv_is_loaded_and_the_callers_values_win(tmp_path):
    (tmp_path / ".env").write_text(
        "# comment\nexport BUDGET=3000\nN_GPUS=2\nDATA_DIR=prepared/math\n"
        "BASE_MODEL='/models/my model'  # quoted\nMODEL_TAG=mine\n"
    )
    launch = E.read_launch_env({"N_GPUS": "8"}, tmp_path)
    assert launch.env_file == tmp_path / ".env"
    assert launch.overrides["data.max_response_length"] == "3000"
    assert launch.overrides["trainer.n_gpus_per_node"] == "8"  # the caller's N_GPUS beats the file's
    assert launch.overrides["data.train_files"] == f"{tmp_path}/prepared/math/train.parquet"  # from the root
    assert launch.overrides["actor_rollout_ref.model.path"] == "/models/my model"
    assert launch.model_tag(PAPER_MODEL) == "mine"
    with pytest.raises(E.LaunchError, match="ENV_FILE=.*nope.env does not exist"):
        E.read_launch_env({"ENV_FILE": str(tmp_path / "nope.env")}, tmp_path)
    (tmp_path / "bad.env").write_text("BUDGET 3000\n")
    with pytest.raises(E.LaunchError, match=r"bad.env:1: expected KEY=VALUE, found 'BUDGET 3000'"):
        E.read_launch_env({"ENV_FILE": str(tmp_path / "bad.env")}, tmp_path)


def test_model_tags_name_runs():
    assert E.model_tag(PAPER_MODEL) == TAG
    assert E.model_tag("Qwen/Qwen2.5-Math-1.5B") == "qwen2.5-math-1.5b"
    assert E.model_tag("/models/My-Model/") == "my-model"
    launch = E.LaunchEnv(root=Path("."), env={"MODEL_TAG": "bad tag"}, env_file=None)
    with pytest.raises(E.LaunchError, match="MODEL_TAG='bad tag' may only hold"):
        launch.model_tag(PAPER_MODEL)


def test_sweep_points_and_names():
    assert P.name_number(0.25) == "0p25" and P.name_number(1.0) == "1" and P.name_number(4) == "4"
    assert [p.stem for p in P.mode_sweep({"MODES": "max_asym"})] == ["math_lead_mode_max_asym"]
    controller = P.controller_sweep({"KNOBS": "alpha lambda_min", "ALPHAS": "1 2", "LAMBDA_MINS": "0.3"})
    # The paper's point (LEAD's defaults) appears in both axes but is planned once.
    assert P.PAPER_CONTROLLER == {"alpha": 1.0, "beta": 0.95, "lambda_min": 0.3}
    assert [p.stem for p in controller] == ["math_lead_a1_b0p95_lm0p3", "math_lead_a2_b0p95_lm0p3"]
    with pytest.raises(E.LaunchError, match="RATIOS: '-1' is not a ratio >= 0"):
        P.ratio_sweep({"RATIOS": "-1"})


def test_sweep_values_are_exact_in_overrides_and_names():
    betas = P.controller_sweep({"KNOBS": "beta", "BETAS": "0.9999999 0.99999991 1e-7"})
    assert [p.stem for p in betas] == [
        "math_lead_a1_b0p9999999_lm0p3",
        "math_lead_a1_b0p99999991_lm0p3",
        "math_lead_a1_b1e-07_lm0p3",
    ]
    assert [[o for o in p.overrides if ".beta=" in o] for p in betas] == [
        ["algorithm.lead.beta=0.9999999"],
        ["algorithm.lead.beta=0.99999991"],
        ["algorithm.lead.beta=1e-07"],
    ]
    cfg = compose(*betas[1].overrides)
    assert cfg.algorithm.lead.beta == 0.99999991 and cfg.algorithm.lead.alpha == 1
    ratios = P.ratio_sweep({"METHODS": "lead", "RATIOS": "0.2500001 0.25"})
    assert [p.stem for p in ratios] == ["math_lead_ratio0p2500001", "math_lead_ratio0p25"]
    assert ratios[1].overrides[-1] == "algorithm.lead.static_lambda_corr=0.8"


def test_ratio_sweep_threshold_scales_in_cpu_mode_like_every_token_knob():
    (grpo,) = P.ratio_sweep({"METHODS": "grpo", "RATIOS": "1"})
    assert not any(o.startswith("algorithm.grpo_len_threshold.threshold=") for o in grpo.overrides)
    gpu = compose("experiment=ablation_1p5b", *grpo.overrides).algorithm.grpo_len_threshold.threshold
    cpu = compose("experiment=ablation_1p5b", "device=cpu", *grpo.overrides)
    assert gpu == 2000 and cpu.algorithm.grpo_len_threshold.threshold == 2000 * 32 / 8000
    assert cpu.algorithm.grpo_len_threshold.threshold < cpu.data.max_response_length
    (chosen,) = P.ratio_sweep({"METHODS": "grpo", "RATIOS": "1", "LENGTH_THRESHOLD": "1500"})
    assert chosen.overrides[-1] == "algorithm.grpo_len_threshold.threshold=1500"


def test_plan_files_round_trip_and_refuse_bad_lines(tmp_path):
    runs = [P.PlannedRun("a", ["x=1", "y=2"]), P.PlannedRun("b", ["z=[1,2]"], device="cpu")]
    P.append_plan(runs, tmp_path / "plan")
    assert P.read_plan(tmp_path / "plan") == runs
    P.append_plan(runs[:1], tmp_path / "plan")
    with pytest.raises(E.LaunchError, match="plan:3: run 'a' is planned twice"):
        P.read_plan(tmp_path / "plan")
    (tmp_path / "bad").write_text("a\tx=1\n")
    with pytest.raises(E.LaunchError, match="bad:1: not a planned run"):
        P.read_plan(tmp_path / "bad")


def test_scripts_are_thin_and_name_no_interpreter_or_home_path():
    for script in [*SCRIPTS, "scripts/launch.sh"]:
        text = (REPO / script).read_text()
        assert "/home/" not in text and "miniconda" not in text and "/usr/bin/python" not in text, script
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert os.access(REPO / script, os.X_OK), script
        code = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        assert len(code) <= (20 if script == "scripts/launch.sh" else 3), script


def test_shellcheck_finds_nothing():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(
        [
            shellcheck,
            "-x",
            *SCRIPTS,
            "scripts/launch.sh",
            "scripts/gpu_smoke.sh",
            "scripts/verl_cpu_all.sh",
            "scripts/slurm/lead.sbatch",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_scripts_find_the_projects_interpreter_or_say_how(clean_env, tmp_path):
    # A copy of the kit without .venv and a PATH whose python3 cannot import the project.
    kit = tmp_path / "kit"
    (kit / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "launch.sh", kit / "scripts")
    shutil.copy(REPO / "train_math_lead_deepseek-r1-1.5b.sh", kit)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    env = {k: v for k, v in clean_env.items() if k != "PYTHON"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    env["PYTHONNOUSERSITE"] = "1"
    done = run_script(kit / "train_math_lead_deepseek-r1-1.5b.sh", {**env, "DRY_RUN": "1"})
    assert done.returncode == 2, done.stderr
    assert "cannot import the project: run `make setup`" in done.stderr and "set PYTHON" in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
    # With the project's .venv present, the kit uses it without PYTHON.
    (kit / ".venv" / "bin").mkdir(parents=True)
    venv_python = kit / ".venv" / "bin" / "python"
    venv_python.write_text(f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
    venv_python.chmod(0o755)
    assert (
        run_script(kit / "train_math_lead_deepseek-r1-1.5b.sh", {**env, "PLAN_FILE": str(tmp_path / "p")}).returncode
        == 0
    )


def test_help_on_every_script_and_on_lead_launch(clean_env):
    for script in SCRIPTS:
        done = run_script(REPO / script, clean_env, "--help")
        assert done.returncode == 0, (script, done.stderr)
        assert "Usage:" in done.stdout and "BUDGET" in done.stdout and "NNODES" in done.stdout, script
        header = (REPO / script).read_text().splitlines()[1][2:]
        assert header in done.stdout, script
    done = subprocess.run(
        [sys.executable, "-m", "lead", "launch", "--help"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0 and "--experiment" in done.stdout and "RAY_ADDRESS" in done.stdout


# --- checking (in-process, one verl import) -------------------------------------------------------


def test_checkpoint_marker_states(tmp_path):
    assert C.checkpoint_step(tmp_path) is None
    fake_checkpoint(tmp_path, 40)
    assert C.checkpoint_step(tmp_path) == 40
    (tmp_path / C.TRACKER_FILE).write_text("50")
    with pytest.raises(ValueError, match="names step 50 but .*global_step_50 is missing"):
        C.checkpoint_step(tmp_path)
    (tmp_path / C.TRACKER_FILE).write_text("fifty")
    with pytest.raises(ValueError, match="should hold a step number, found 'fifty'"):
        C.checkpoint_step(tmp_path)


def compose(*overrides: str):
    from hydra import initialize_config_module

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return C.compose_run(list(overrides))


def test_method_changes_name_the_knobs_off_their_defaults():
    assert C.method_changes(compose("algorithm.adv_estimator=lead", "algorithm.lead.beta=0.9")) == ["beta=0.9"]
    assert C.method_changes(compose("algorithm.adv_estimator=lead")) == []
    # verl's built-in GRPO has no block of ours (the plain GRPO baseline script).
    assert C.method_changes(compose("algorithm.adv_estimator=grpo")) == []


def test_final_step_follows_verl_step_accounting(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", 300)
    cfg = compose(f"data.train_files={train}", "data.train_batch_size=128", "trainer.total_epochs=7")
    assert C.final_step(cfg) == (2 * 7, "")  # 300 // 128 = 2 full batches per epoch; the last is dropped
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("{}\n" * 100)
    cfg = compose(f"data.train_files=[{train},{jsonl}]", "data.train_batch_size=100", "trainer.total_epochs=2")
    assert C.final_step(cfg) == (8, "")
    assert (
        C.final_step(compose(f"data.train_files={train}", "data.train_max_samples=128", "data.train_batch_size=64"))[0]
        == 2 * 30
    )
    assert C.final_step(
        compose(f"data.train_files={train}", "data.train_batch_size=128", "trainer.total_training_steps=5")
    ) == (5, "")
    unknown, note = C.final_step(compose(f"data.train_files={train}", "data.filter_overlong_prompts=true"))
    assert unknown is None and "filter_overlong_prompts" in note
    assert C.final_step(compose(f"data.train_files={tmp_path / 'absent.parquet'}"))[0] is None
    unknown, note = C.final_step(
        compose(f"data.train_files={tmp_path / 'absent.parquet'}", "trainer.total_training_steps=5")
    )
    assert unknown is None and "at most trainer.total_training_steps=5" in note


def test_steps_beyond_the_datas_epochs_are_planned_as_verl_runs_them(tmp_path):
    """verl's loop ends with the last epoch whatever total_training_steps says, and checkpoints its
    last step only at total_training_steps: 300 rows, batch 128, 1 epoch, 10 steps asked, 2 run."""
    long_run = small_run(
        tmp_path, "data.train_batch_size=128", "trainer.total_epochs=1", "trainer.total_training_steps=10"
    )
    cfg = compose(*long_run)
    final, note = C.final_step(cfg)
    assert final == 2
    assert note.startswith(
        "trainer.total_training_steps=10 is more than the data gives (300 rows // "
        "data.train_batch_size=128 = 2 steps per epoch x trainer.total_epochs=1)"
    )
    run = P.PlannedRun("long", long_run)
    (report,) = C.check_plan([run])
    assert report.ok, report.error
    assert report.state == "new" and report.final_step == 2 and note in report.warnings
    # The run is told to stop at step 2, so verl checkpoints it and the next launch finds it done.
    assert report.run.overrides[-1] == "trainer.total_training_steps=2"
    assert report.config.trainer.total_training_steps == 2
    fake_checkpoint(tmp_path / "out", 2)
    (again,) = C.check_plan([run])
    assert again.state == "done", describe(again)


def describe(report: C.RunReport) -> str:
    return report.error or C.describe_state(report)


@pytest.mark.parametrize("save_freq", [0, -1])
def test_a_run_that_never_checkpoints_is_refused(tmp_path, save_freq):
    (report,) = C.check_plan([P.PlannedRun("nosave", small_run(tmp_path, f"trainer.save_freq={save_freq}"))])
    assert report.error == (
        f"trainer.save_freq={save_freq}: verl then writes no checkpoint, so the run can neither "
        "resume nor be seen as finished; set trainer.save_freq to a number of steps (the recipes: "
        "50)"
    )


def test_run_state_resumes_a_partial_run_and_skips_only_the_final_step(tmp_path):
    out = tmp_path / "run"
    train = write_parquet(tmp_path / "train.parquet", 300)
    cfg = compose(
        f"data.train_files={train}",
        "data.train_batch_size=128",
        "trainer.total_epochs=7",
        f"trainer.default_local_dir={out}",
    )
    assert C.run_state(cfg) == ("new", None, 14, "")
    fake_checkpoint(out, 10)
    assert C.run_state(cfg) == ("resume", 10, 14, "")
    fake_checkpoint(out, 14)
    assert C.run_state(cfg) == ("done", 14, 14, "")
    fake_checkpoint(out, 20)
    with pytest.raises(ValueError, match="holds step 20, beyond this run's final step 14"):
        C.run_state(cfg)


@pytest.mark.skipif(not SHARED_TRAIN.exists(), reason="real data folder ../shared/data not present")
def test_the_paper_run_ends_at_step_462_not_at_the_release_450(tmp_path):
    """8,521 training rows // 128 = 66 steps per epoch, x 7 epochs = 462 steps. verl 0.9.1 saves
    the last step whatever a positive save_freq; the release's sweep called a run finished at step 450."""
    out = tmp_path / "run"
    cfg = compose("experiment=math_1p5b", f"data.train_files={SHARED_TRAIN}", f"trainer.default_local_dir={out}")
    assert C.final_step(cfg) == (462, "")
    fake_checkpoint(out, 450)
    assert C.run_state(cfg)[0] == "resume"
    fake_checkpoint(out, 462)
    assert C.run_state(cfg)[0] == "done"


def test_the_data_files_are_opened_and_checked_for_what_verl_and_the_reward_read(tmp_path):
    def problems(*extra: str, **columns: list) -> str:
        train = write_parquet(tmp_path / "bad" / "train.parquet", 300, **columns)
        (report,) = C.check_plan([P.PlannedRun("data", small_run(tmp_path, f"data.train_files={train}", *extra))])
        return report.error or ""

    assert problems() == ""
    where = f"data.train_files: {tmp_path / 'bad' / 'train.parquet'}"
    assert problems(prompt=None) == (
        f"{where} lacks the column(s) prompt (the prompt, as chat messages); it has data_source, reward_model, "
        f"extra_info (`lead data math --out DIR` writes files of this form)"
    )
    assert problems(reward_model=None).startswith(
        f"{where} lacks the column(s) reward_model (reward_model.ground_truth, the answer the reward checks)"
    )
    assert problems(prompt=[f"problem {i}" for i in range(300)]).startswith(
        f"{where}: column prompt holds plain text; verl needs chat messages, a list of {{role, content}}"
    )
    assert problems(prompt=[[{"role": "user"}]] * 300).startswith(
        f"{where}: column prompt holds {{'role': 'user'}} where a message {{'role': ..., 'content': ...}} belongs"
    )
    assert problems(prompt=[[]] * 300).startswith(f"{where}: column prompt is empty; verl needs chat messages")
    assert problems(reward_model=[{"style": "rule"}] * 300).startswith(
        f"{where}: reward_model of the first row is {{'style': 'rule'}}; the reward reads reward_model.ground_truth"
    )
    assert problems("data.prompt_key=question").startswith(f"{where} lacks the column(s) question (the prompt")
    assert "lacks the column(s) extra_info (extra_info.index, the stable prompt id hapo remembers prompts by)" in (
        problems("algorithm.adv_estimator=hapo", extra_info=None)
    )
    assert problems("algorithm.adv_estimator=hapo", extra_info=[{"level": "1"}] * 300).startswith(
        f"{where}: extra_info has no index, the stable prompt id hapo remembers prompts by"
    )
    assert problems("data.train_batch_size=512", "actor_rollout_ref.actor.ppo_mini_batch_size=16") == (
        "data.train_files: 300 training rows are fewer than data.train_batch_size=512, and verl trains on full "
        "batches only: use more data or a data.train_batch_size of at most 300"
    )

    empty = write_parquet(tmp_path / "empty" / "test.parquet", 0)
    (report,) = C.check_plan([P.PlannedRun("empty", small_run(tmp_path, f"data.val_files={empty}"))])
    assert report.error == (
        f"data.val_files: {empty} has no rows; point DATA_DIR at the prepared data "
        f"(`lead data math --out DIR` writes files of this form)"
    )
    text = tmp_path / "notes.csv"
    text.write_text("a,b\n")
    (report,) = C.check_plan([P.PlannedRun("csv", small_run(tmp_path, f"data.val_files={text}"))])
    assert report.error.startswith(f"data.val_files: {text} is not a data file verl reads (.parquet, .json, .jsonl)")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    (report,) = C.check_plan([P.PlannedRun("broken", small_run(tmp_path, f"data.val_files={broken}"))])
    assert report.error.startswith(f"data.val_files: {broken} cannot be read (")
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"data_source": "m", "prompt": "2+2?", "reward_model": {"ground_truth": "4"}}\n')
    (report,) = C.check_plan([P.PlannedRun("jsonl", small_run(tmp_path, f"data.val_files={lines}"))])
    assert report.error.startswith(f"data.val_files: {lines}: column prompt holds plain text")


def test_a_failed_run_gets_resume_advice_only_when_it_checkpointed(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    report = C.RunReport(P.PlannedRun("r", []), state="new", output_dir=str(folder))
    assert execute.after_failure(report) == (
        "it wrote no checkpoint, so a rerun would start from step 1 again: fix the cause in the log first"
    )
    fake_checkpoint(folder, 20)
    assert execute.after_failure(report) == "rerun to resume it from step 20"
    report.step = 20
    assert execute.after_failure(report).startswith(
        "it wrote no checkpoint, so a rerun would resume from step 20 again"
    )


def test_release_knob_names_are_refused_with_the_new_key(tmp_path):
    """Every release name of the table in docs/methods.md, with or without Hydra's ``+``."""
    table = (REPO / "docs" / "methods.md").read_text().split("### Release names")[1].split("\n\n")[2]
    release = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in row.strip("|").split("|")]
        if cells[0].startswith("algorithm.lead_"):
            release[cells[0]] = cells[1]
    assert len(release) == 8
    for name, knob in release.items():
        for plus in ("", "+"):
            want = (
                f"{name} is the paper release's name of a LEAD knob, which this package does not read: "
                f"use algorithm.lead.{knob}=2"
            )
            with pytest.raises(E.LaunchError) as err:
                E.check_user_overrides([f"{plus}{name}=2"], {})
            assert str(err.value) == want
            (report,) = C.check_plan([P.PlannedRun("release", small_run(tmp_path, f"{plus}{name}=2"))])
            assert report.error == want
    # Hydra's own unknown-key error gives the same hint.
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from lead.verl_plugin.overrides import explain_override_error

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        with pytest.raises(Exception) as err:
            hydra_compose("lead_trainer", overrides=["algorithm.lead_alpha=2.0"])
        explained = explain_override_error(err.value, ["algorithm.lead_alpha=2.0"])
    assert str(explained).endswith("use algorithm.lead.alpha=2.0")


def test_a_length_knob_no_response_can_reach_is_reported_in_the_dry_run(clean_env, tmp_path):
    """LASER's target_length 4096 at BUDGET=4000: every correct answer gets the bonus."""
    data = tmp_path / "d"
    write_parquet(data / "train.parquet", 300)
    write_parquet(data / "test.parquet", 10)
    env = {**clean_env, "DATA_DIR": str(data), "BUDGET": "4000", "WANDB_MODE": "offline"}
    (run,) = plan_of("baselines/train_laser_deepseek-r1-1.5b.sh", env, tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        (report,) = C.check_plan([run])
        (fits,) = C.check_plan([P.PlannedRun("fits", [*run.overrides, "algorithm.laser.target_length=3000"])])
    assert report.ok, report.error
    assert report.warnings == [
        "algorithm.laser.target_length=4096 is not below the response cap data.max_response_length=4000: every "
        "response is within it, so laser rewards no response for being shorter (its advantage is correctness alone); "
        "set algorithm.laser.target_length below 4000, or raise the cap (BUDGET in the launch scripts)"
    ]
    assert "    warning: algorithm.laser.target_length=4096 is not below" in cli.summary(report)
    assert fits.ok and fits.warnings == []


def test_recorded_settings_guard_the_resume(tmp_path):
    cfg = compose("experiment=math_1p5b", "algorithm.lead.beta=0.5")
    C.record_settings(tmp_path, cfg)
    assert C.settings_changes(tmp_path, cfg) == []
    # Run length, logging and checkpointing may change on resume; the training may not.
    longer = compose(
        "experiment=math_1p5b",
        "algorithm.lead.beta=0.5",
        "trainer.total_epochs=9",
        "trainer.logger=[console]",
        "trainer.save_freq=10",
    )
    assert C.settings_changes(tmp_path, longer) == []
    other = compose("experiment=math_1p5b", "data.max_response_length=4000")
    changes = C.settings_changes(tmp_path, other)
    assert "algorithm.lead.beta: 0.5 -> 0.95" in changes and "algorithm.lead.bmax: 8000 -> 4000" in changes
    assert "data.max_response_length: 8000 -> 4000" in changes
    assert C.settings_changes(tmp_path / "elsewhere", cfg) == []


def small_run(tmp_path: Path, *extra: str) -> list[str]:
    train = write_parquet(tmp_path / "data" / "train.parquet", 300)
    write_parquet(tmp_path / "data" / "test.parquet", 10)
    return [
        "data.train_batch_size=8",
        "actor_rollout_ref.rollout.n=4",
        "trainer.n_gpus_per_node=1",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        f"actor_rollout_ref.model.path={PAPER_MODEL}",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        f"data.train_files={train}",
        f"data.val_files={tmp_path / 'data' / 'test.parquet'}",
        "reward.custom_reward_function.path=pkg://lead.rewards.math",
        f"trainer.default_local_dir={tmp_path / 'out'}",
        "trainer.logger=[console]",
        "trainer.save_freq=10",
        *extra,
    ]


def test_check_plan_reports_each_bad_run_by_name_and_checks_them_all(tmp_path):
    runs = [
        P.PlannedRun("good", small_run(tmp_path)),
        P.PlannedRun("typo", small_run(tmp_path, "algorithm.lead.alpah=2")),
        P.PlannedRun("bad_value", small_run(tmp_path, "algorithm.lead.aggregator=max")),
        P.PlannedRun("bad_estimator", small_run(tmp_path, "algorithm.adv_estimator=leed")),
        P.PlannedRun("bad_reward", small_run(tmp_path, "reward.custom_reward_function.path=pkg://lead.rewards.nope")),
        P.PlannedRun("bad_tp", small_run(tmp_path, "actor_rollout_ref.rollout.tensor_model_parallel_size=2")),
        P.PlannedRun("odd_batch", small_run(tmp_path, "trainer.n_gpus_per_node=3")),
        P.PlannedRun("no_cluster", small_run(tmp_path, "trainer.nnodes=2")),
    ]
    reports = {r.run.name: r for r in C.check_plan(runs)}
    assert reports["good"].ok and reports["good"].state == "new" and reports["good"].final_step == 37 * 30
    assert (
        reports["typo"].error
        == "unknown key alpah in algorithm.lead (override algorithm.lead.alpah); did you mean alpha?"
    )
    assert "algorithm.lead.aggregator='max'" in reports["bad_value"].error
    assert "algorithm.adv_estimator='leed' is not a registered advantage estimator" in reports["bad_estimator"].error
    assert (
        "reward.custom_reward_function.path='pkg://lead.rewards.nope' cannot be loaded" in reports["bad_reward"].error
    )
    assert "tensor_model_parallel_size=2 must divide the GPUs per node (N_GPUS=1)" in reports["bad_tp"].error
    assert (
        "data.train_batch_size=8 x actor_rollout_ref.rollout.n=4 = 32 responses do not split evenly over 3 GPU(s)"
    ) in reports["odd_batch"].error
    assert (
        "NNODES=2 needs a Ray cluster" in reports["no_cluster"].error and "RAY_ADDRESS" in reports["no_cluster"].error
    )

    (cluster,) = C.check_plan([P.PlannedRun("cluster", small_run(tmp_path, "trainer.nnodes=2"))], ray_address="auto")
    assert cluster.ok, cluster.error

    (tmp_path / "out").mkdir()
    fake_checkpoint(tmp_path / "out", 5)
    C.record_settings(tmp_path / "out", compose(*small_run(tmp_path, "algorithm.lead.beta=0.5")))
    (changed,) = C.check_plan([P.PlannedRun("changed", small_run(tmp_path))])
    assert "holds a checkpoint of a run with other settings" in changed.error
    assert "algorithm.lead.beta: 0.5 -> 0.95" in changed.error


def test_multi_node_plans_check_world_size_and_batch_divisibility(clean_env, tmp_path):
    data = tmp_path / "d"
    write_parquet(data / "train.parquet", 300)
    write_parquet(data / "test.parquet", 10)
    env = {
        **clean_env,
        "DATA_DIR": str(data),
        "NNODES": "2",
        "N_GPUS": "4",
        "RAY_ADDRESS": "10.0.0.1:6379",
        "WANDB_MODE": "offline",
    }
    (run,) = plan_of("train_math_lead_deepseek-r1-7b.sh", env, tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        (report,) = C.check_plan([run], ray_address="10.0.0.1:6379")
        assert report.ok, report.error
        assert report.config.trainer.nnodes * report.config.trainer.n_gpus_per_node == 8
        (odd,) = C.check_plan([P.PlannedRun("odd", [*run.overrides, "trainer.n_gpus_per_node=3"])], ray_address="x")
        (indivisible,) = C.check_plan(
            [
                P.PlannedRun(
                    "ind",
                    [*run.overrides, "actor_rollout_ref.rollout.n=6", "actor_rollout_ref.actor.ppo_mini_batch_size=5"],
                )
            ],
            ray_address="x",
        )
    assert "tensor_model_parallel_size=2 must divide the GPUs per node (N_GPUS=3)" in odd.error
    assert (
        "ppo_mini_batch_size=5 x actor_rollout_ref.rollout.n=6 = 30 responses do not split evenly over 8 GPU(s)"
        in indivisible.error
    )


def test_launch_checks_explain_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose(
        *small_run(tmp_path),
        "data.val_files=/nowhere/test.parquet",
        "actor_rollout_ref.model.path=/nowhere/model",
        "trainer.logger=[console,wandb]",
    )
    problems = "\n".join(C.launch_problems(cfg))
    assert "data.val_files: /nowhere/test.parquet does not exist" in problems and "lead data math" in problems
    assert "actor_rollout_ref.model.path: /nowhere/model does not exist; set BASE_MODEL" in problems
    assert "WANDB_API_KEY is not set" in problems and ".env" in problems
    assert "data.train_files" not in problems

    ok = compose(*small_run(tmp_path), "trainer.logger=[console,wandb]", f"actor_rollout_ref.model.path={PAPER_MODEL}")
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert C.launch_problems(ok) == []
    monkeypatch.delenv("WANDB_MODE")
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password key\n")
    assert C.launch_problems(ok) == []


# --- end to end -----------------------------------------------------------------------------------


def test_dry_run_of_a_script_reports_missing_data_and_wandb_as_errors(clean_env):
    done = run_script(
        REPO / "train_math_lead_deepseek-r1-1.5b.sh",
        {**clean_env, "DRY_RUN": "1", "DATA_DIR": str(Path(clean_env["TMPDIR"]) / "none")},
        "algorithm.lead.alpha=2.0",
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "data.train_files:" in done.stderr and "does not exist" in done.stderr
    assert "WANDB_API_KEY is not set" in done.stderr
    assert "[invalid] math_lead_deepseek-r1-1.5b" in done.stderr and "nothing launched" not in done.stdout


def test_dry_run_of_a_script_prints_a_summary_and_starts_nothing(clean_env, tmp_path):
    data = tmp_path / "d"
    write_parquet(data / "train.parquet", 300)
    write_parquet(data / "test.parquet", 10)
    env = {**clean_env, "DRY_RUN": "1", "DATA_DIR": str(data), "WANDB_MODE": "offline"}
    done = run_script(REPO / "train_math_lead_deepseek-r1-1.5b.sh", env, "algorithm.lead.alpha=2.0", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert f"[ok] math_lead_{TAG}: new, 14 steps" in out
    assert "4 GPU(s) x 1 node(s) (cuda), 128 prompts x 8 rollouts, responses <= 8000 tokens" in out
    assert "lead: alpha=2.0" in out and f"checkpoints: {clean_env['OUTPUT_ROOT']}/math_lead_{TAG}" in out
    assert "DRY_RUN: all 1 planned run(s) valid; nothing launched." in out
    assert "actor_rollout_ref:" not in out  # the full config only with PRINT_CONFIG
    assert not Path(clean_env["OUTPUT_ROOT"]).exists()
    full = run_script(REPO / "train_math_lead_deepseek-r1-1.5b.sh", {**env, "PRINT_CONFIG": "1"}, timeout=300)
    assert full.returncode == 0 and "actor_rollout_ref:" in full.stdout and "bmax: 8000" in full.stdout


def test_sweep_launch_skips_finished_runs_resumes_partial_ones_and_reports_failures(
    clean_env, tmp_path, monkeypatch, capsys
):
    """A real (non-dry) sweep on a fake output tree, with the training process replaced by a recorder."""
    data = tmp_path / "data"
    write_parquet(data / "train.parquet", 300)  # 2 steps per epoch, 14 steps in all
    write_parquet(data / "test.parquet", 10)
    out = Path(clean_env["OUTPUT_ROOT"])
    record = tmp_path / "record"
    record.mkdir()
    recorder = tmp_path / "recorder.py"
    # The recorder gets lead-train's arguments and keeps the configuration they name as it was at start.
    recorder.write_text(f"""import os, sys, yaml
args = sys.argv[1:]
text = open(args[1]).read()
name = yaml.safe_load(text)["trainer"]["experiment_name"]
with open({str(record)!r} + "/" + name, "w") as f:
    f.write(f"WANDB_RUN_ID={{os.environ['WANDB_RUN_ID']}} WANDB_RESUME={{os.environ['WANDB_RESUME']}}\\n")
    f.write("\\n".join(args) + "\\n")
open({str(record)!r} + "/" + name + ".yaml", "w").write(text)
print("training", name)
sys.exit(1 if "median" in name else 0)
""")
    lead_train = execute.train_command
    assert lead_train(Path("run/lead_config.yaml"), "py")[:3] == ["py", "-m", "lead.verl_plugin.main"]
    monkeypatch.setattr(
        execute,
        "train_command",
        lambda config, python=sys.executable: [python, str(recorder), *lead_train(config, python)[3:]],
    )
    env = {
        **clean_env,
        "DATA_DIR": str(data),
        "WANDB_MODE": "offline",
        "AGGS": "mean_correct min_correct median_correct mean_all",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fake_checkpoint(out / f"math_lead_agg_mean_correct_{TAG}", 14)  # finished: final step 14 checkpointed
    fake_checkpoint(out / f"math_lead_agg_min_correct_{TAG}", 12)  # partial

    code = cli.run(
        launch_args(
            "--experiment", "ablation_1p5b", "--sweep", "aggregator", "--root", str(REPO), "trainer.test_freq=5"
        )
    )
    captured = capsys.readouterr()
    assert code == 1, captured.err[-3000:]
    out_text = captured.out
    assert f"[ok] math_lead_agg_mean_correct_{TAG}: done (final step 14 checkpointed)" in out_text
    assert f"[ok] math_lead_agg_min_correct_{TAG}: resume from step 12 of 14" in out_text
    assert f"[ok] math_lead_agg_mean_all_{TAG}: new, 14 steps" in out_text
    assert f"== math_lead_agg_mean_correct_{TAG}: finished, skipped" in out_text
    assert sorted(p.name for p in record.iterdir() if p.suffix != ".yaml") == [
        f"math_lead_agg_{a}_{TAG}" for a in ("mean_all", "median_correct", "min_correct")
    ]
    assert f"1 run(s) failed: math_lead_agg_median_correct_{TAG}" in captured.err
    assert f"== math_lead_agg_mean_all_{TAG}: finished" in out_text  # a failure does not stop the sweep

    resumed = (record / f"math_lead_agg_min_correct_{TAG}").read_text().splitlines()
    assert resumed[0].startswith("WANDB_RUN_ID=math_lead_agg_min_correct_deepseek-r1-1-5b-")
    assert resumed[0].endswith("WANDB_RESUME=allow")
    run_dir = out / f"math_lead_agg_min_correct_{TAG}"
    # lead-train is started on the run's recorded configuration, and on nothing else.
    assert resumed[1:] == ["--config", str(run_dir / C.SETTINGS_FILE)]
    assert "training math_lead_agg_min_correct" in (run_dir / "train.log").read_text()
    trained = (record / f"math_lead_agg_min_correct_{TAG}.yaml").read_text()
    assert trained == (run_dir / C.SETTINGS_FILE).read_text() and "${" not in trained  # resolved
    recorded = yaml.safe_load(trained)
    assert recorded["algorithm"]["lead"]["aggregator"] == "min_correct" and recorded["trainer"]["test_freq"] == 5
    assert recorded["trainer"]["default_local_dir"] == str(run_dir)
    assert recorded["trainer"]["experiment_name"] == f"math_lead_agg_min_correct_{TAG}"
    assert not (out / f"math_lead_agg_mean_correct_{TAG}" / C.SETTINGS_FILE).exists()  # skipped: untouched
    # The second launch resumes the same wandb run.
    first_id = (run_dir / "wandb_run_id").read_text()
    cli.run(
        launch_args(
            "--experiment", "ablation_1p5b", "--sweep", "aggregator", "--root", str(REPO), "trainer.test_freq=5"
        )
    )
    assert (run_dir / "wandb_run_id").read_text() == first_id


def test_a_gpu_machine_without_flash_attn_is_told_before_launch(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "cuda_available", lambda: True)
    monkeypatch.setitem(sys.modules, "flash_attn", None)  # import fails as if not installed
    monkeypatch.delenv("LEAD_ATTENTION", raising=False)
    overrides = [*small_run(tmp_path), "trainer.device=cuda", "actor_rollout_ref.model.use_remove_padding=true"]
    (missing,) = C.check_plan([P.PlannedRun("needs_fa", overrides)])
    assert "this run needs flash-attn" in missing.error and "attention=sdpa" in missing.error
    (sdpa,) = C.check_plan([P.PlannedRun("sdpa", [*overrides, "attention=sdpa"])])
    assert sdpa.ok, sdpa.error
    assert any("attention=sdpa: running without flash-attn" in w for w in sdpa.warnings)
    model = sdpa.config.actor_rollout_ref.model
    assert model.override_config.attn_implementation == "sdpa" and model.use_remove_padding is False


# --- one composition: what the launcher checks and records is what lead-train trains ---------------


@pytest.fixture
def lead_train_in_process(monkeypatch):
    """``lead-train <args>`` in this process with verl's training replaced: returns the configurations
    it would have trained, and counts the validation passes (``check_config``) and the compositions
    of the launcher (``compose_run``) into ``passes``. Hydra's run configures logging: restored after."""
    import logging

    from lead.verl_plugin import main as M

    passes = {"compose": 0, "check": 0}
    real_compose, real_check = C.compose_run, M.check_config

    def compose_run(overrides):
        passes["compose"] += 1
        return real_compose(overrides)

    def check_config(config):
        passes["check"] += 1
        real_check(config)

    monkeypatch.setattr(C, "compose_run", compose_run)
    monkeypatch.setattr(M, "check_config", check_config)
    monkeypatch.delenv("DEVICE", raising=False)
    monkeypatch.delenv("DRY_RUN", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def lead_train(*args: str) -> list:
        trained = []
        monkeypatch.setattr(M, "run_trainer", trained.append)
        monkeypatch.setattr(sys, "argv", ["lead-train", *args])
        M.main()
        return trained

    yield lead_train, passes
    root.handlers[:] = handlers
    root.setLevel(level)


def test_lead_train_trains_the_recorded_configuration_the_launcher_checked_once(
    tmp_path, monkeypatch, lead_train_in_process, capsys
):
    """The launcher composes and checks a run once, with LEAD_ATTENTION and an environment
    interpolation applied, and records it resolved; lead-train, started as the launcher starts it,
    trains exactly that record in another environment, composing and checking nothing."""
    from omegaconf import OmegaConf

    lead_train, passes = lead_train_in_process
    monkeypatch.setenv("LEAD_ATTENTION", "sdpa")
    monkeypatch.setenv("LEAD_TEST_PROJECT", "at-launch")
    run = small_run(
        tmp_path,
        "trainer.project_name=${oc.env:LEAD_TEST_PROJECT}",
        "trainer.total_epochs=1",
        "trainer.total_training_steps=100",
    )
    (report,) = C.check_plan([P.PlannedRun("r", run)])
    assert report.ok, report.error
    assert passes == {"compose": 1, "check": 1}
    Path(report.output_dir).mkdir()
    record = C.record_settings(report.output_dir, report.config)
    checked = OmegaConf.to_container(report.config, resolve=True)
    command = execute.train_command(record, "python")
    assert command == ["python", "-m", "lead.verl_plugin.main", "--config", str(record)]

    passes.update(compose=0, check=0)
    monkeypatch.setenv("LEAD_TEST_PROJECT", "at-train")
    monkeypatch.delenv("LEAD_ATTENTION")
    (config,) = lead_train(*command[3:])
    assert passes == {"compose": 0, "check": 0}
    assert OmegaConf.to_yaml(config) == record.read_text()
    assert OmegaConf.to_container(config) == checked
    assert config.trainer.project_name == "at-launch"  # resolved once, where it was checked
    assert config.trainer.total_training_steps == 37  # the launcher's setting: the last step the data give
    model = config.actor_rollout_ref.model
    assert model.override_config.attn_implementation == "sdpa" and model.use_remove_padding is False
    assert "attention=sdpa" not in capsys.readouterr().err  # the launcher's edit, not made again
    hydra = tmp_path / "out" / "hydra" / ".hydra"
    assert yaml.safe_load((hydra / "overrides.yaml").read_text()) == []
    assert yaml.safe_load((hydra / "hydra.yaml").read_text())["hydra"]["job"]["config_name"] == C.SETTINGS_FILE[:-5]

    monkeypatch.setenv("DRY_RUN", "1")
    assert lead_train("--config", str(record)) == [] and passes == {"compose": 0, "check": 1}
    assert "DRY_RUN: recorded configuration is valid; not starting Ray." in capsys.readouterr().out


def test_lead_train_with_overrides_composes_and_checks_once_and_explains_a_misspelt_key(
    tmp_path, monkeypatch, lead_train_in_process
):
    lead_train, passes = lead_train_in_process
    monkeypatch.setenv("LEAD_ATTENTION", "sdpa")
    run = [*small_run(tmp_path), "algorithm.lead.alpha=2.0", f"hydra.run.dir={tmp_path / 'hydra'}"]
    (config,) = lead_train(*run)
    assert passes["check"] == 1 and config.algorithm.lead.alpha == 2.0
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    with pytest.raises(SystemExit) as refused:
        lead_train(*run, "algorithm.lead.alpah=2")
    assert refused.value.code == (
        "lead-train: error: unknown key alpah in algorithm.lead (override algorithm.lead.alpah); did you mean alpha?"
    )
    assert passes["check"] == 1


def test_lead_train_takes_a_recorded_configuration_alone_and_on_its_device(
    tmp_path, monkeypatch, lead_train_in_process
):
    lead_train, _ = lead_train_in_process
    record = C.record_settings(tmp_path, compose(*small_run(tmp_path)))
    with pytest.raises(SystemExit, match="takes no other argument"):
        lead_train("--config", str(record), "algorithm.lead.alpha=2")
    with pytest.raises(SystemExit, match="not a .yaml file"):
        lead_train("--config", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("DEVICE", "cpu")
    with pytest.raises(SystemExit, match="records a run with trainer.device=cuda, which contradicts DEVICE='cpu'"):
        lead_train("--config", str(record))


def test_slurm_template_starts_ray_on_every_node_and_runs_the_script_on_the_head(tmp_path):
    """scripts/slurm/lead.sbatch with Slurm and Ray replaced by recorders: the head starts first,
    the other nodes join it, and the launch script runs on the head with the cluster's layout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "scontrol").write_text("#!/usr/bin/env bash\nprintf 'node-a\\nnode-b\\nnode-c\\n'\n")
    (bin_dir / "srun").write_text(f"""#!/usr/bin/env bash
echo "srun $*" >> {log}
while [[ $1 == -* ]]; do [[ $1 == -w ]] && shift; shift; done
if [[ $1 == hostname ]]; then echo "10.0.0.7 fe80::1"; exit 0; fi
exec "$@"
""")
    (bin_dir / "python").write_text(f'#!/usr/bin/env bash\necho "python $*" >> {log}\n')
    fake_script = tmp_path / "train.sh"
    fake_script.write_text(
        f'#!/usr/bin/env bash\necho "train $* RAY_ADDRESS=$RAY_ADDRESS NNODES=$NNODES N_GPUS=$N_GPUS" >> {log}\n'
    )
    for f in (*bin_dir.iterdir(), fake_script):
        f.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "SLURM_JOB_NODELIST": "node-[a-c]",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "PYTHON": str(bin_dir / "python"),
        "RAY_START_WAIT": "0",
    }
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm" / "lead.sbatch"), str(fake_script), "trainer.total_epochs=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    # The Ray starts run in the background (as on a real allocation), so their order is not fixed.
    starts = [c for c in calls if c.startswith("python -m ray.scripts.scripts start")]
    heads = [c for c in starts if "--head" in c]
    assert len(starts) == 3 and len(heads) == 1 and "--head --node-ip-address=10.0.0.7 --port=6379" in heads[0]
    assert sum("--address=10.0.0.7:6379 --num-cpus=32 --num-gpus=4 --block" in c for c in starts) == 2
    assert "train trainer.total_epochs=1 RAY_ADDRESS=10.0.0.7:6379 NNODES=3 N_GPUS=4" in calls
    assert any(c.startswith("srun --overlap --nodes=1 --ntasks=1 -w node-a bash") for c in calls)


# --- CPU mode through the launcher --------------------------------------------------------------

# The CPU group's method knobs: token knobs scaled by 32/8000, per-token rates by 8000/32.
CPU_SCALED = {
    "lead": {"lstar_floor": 4.0, "min_correct_len": 2.0},
    "gdpo_static": {"lstar_floor": 4.0, "min_correct_len": 2.0},
    "grpo_len_threshold": {"threshold": 8.0, "soft_max": 16.0},
    "laser": {"target_length": 16.384},
    "laser_d": {"lower_bound": 8.192, "interval": 4.096},
    "alp": {"beta": 2.5e-05},
    "shorter_better": {"beta": 0.25},
}


def test_cpu_group_scales_every_token_knob_from_the_methods_declarations():
    from omegaconf import OmegaConf

    from lead.core.knobs import per_token_knobs, token_knobs

    # The GPU recipe at the CPU's response cap: every knob that follows the cap agrees.
    gpu = compose("experiment=math_1p5b", "data.max_response_length=32")
    cfg = compose("experiment=math_1p5b", "device=cpu")
    cap, paper = cfg.data.max_response_length, 8000
    assert cap == 32 and cfg.actor_rollout_ref.rollout.response_length == cap
    for name, cls in load_methods().items():
        if name == "grpo":
            continue
        defaults = cls.config_cls()
        for knob in token_knobs(name):
            want = cap if knob == cap_knob(name) else getattr(defaults, knob) * cap / paper
            assert cfg.algorithm[name][knob] == pytest.approx(want), (name, knob)
        for knob in per_token_knobs(name):
            assert cfg.algorithm[name][knob] == pytest.approx(getattr(defaults, knob) * paper / cap), (name, knob)
        # Exactly these values, and every other knob as on a GPU.
        block, gpu_block = (OmegaConf.to_container(c.algorithm[name], resolve=True) for c in (cfg, gpu))
        assert block == {**gpu_block, **CPU_SCALED.get(name, {})}, name
    assert [list(s) for s in cfg.algorithm.truncation.schedule] == [[180, 24], [360, 16]]
    # Command-line overrides still win over the scaled values.
    user = compose("experiment=math_1p5b", "device=cpu", "algorithm.laser.target_length=20", "algorithm.alp.beta=0.001")
    assert user.algorithm.laser.target_length == 20 and user.algorithm.alp.beta == 0.001
    assert user.algorithm.laser_d.lower_bound == 8.192


def test_cpu_dry_run_of_a_script_plans_the_tiny_run(clean_env, cpu_cache):
    env = {**clean_env, "DEVICE": "cpu", "DRY_RUN": "1", "LEAD_CACHE": str(cpu_cache)}
    done = run_script(REPO / "train_math_lead_deepseek-r1-1.5b.sh", env, "actor_rollout_ref.rollout.n=2", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "[ok] math_lead_deepseek-r1-1.5b-cpu-tiny: new, 2 steps" in out
    assert "1 GPU(s) x 1 node(s) (cpu), 4 prompts x 2 rollouts, responses <= 32 tokens" in out
    assert f"model {cpu_cache}" in out and "CPU mode: data: generated" in done.stderr
    # The 7B script's CPU run is another run in the same OUTPUT_ROOT: its name keeps the recipe's model.
    seven = run_script(REPO / "train_math_lead_deepseek-r1-7b.sh", env, timeout=300)
    assert seven.returncode == 0, seven.stderr[-3000:]
    assert "[ok] math_lead_deepseek-r1-7b-cpu-tiny: new, 2 steps" in seven.stdout

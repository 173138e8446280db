"""Launch scripts, baselines and ablation sweeps: their plans, their validation, resume and skip.

Every script is run once in ``DRY_RUN=1`` mode with ``PLAN_FILE`` set, which makes it write its
planned runs instead of validating them; all plans are then validated together in this process
by :mod:`lead.verl_plugin.validate` (what each script's own ``DRY_RUN`` does, paying verl's import
once). Two scripts also run end to end as subprocesses: one in ``DRY_RUN=1`` mode, and one sweep in
launch mode on a fake output tree, with the trainer replaced by a recorder.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lead.core.registry import load_methods
from lead.verl_plugin import validate as V

REPO = Path(__file__).resolve().parents[1]
SHARED_TRAIN = REPO.parent / "shared" / "data" / "train" / "math_l3to5_train.parquet"
LAUNCH = ["train_math_lead_deepseek-r1-1.5b.sh", "train_math_grpo_deepseek-r1-1.5b.sh",
          "train_math_lead_deepseek-r1-7b.sh"]
SWEEPS = sorted(p.name for p in (REPO / "ablations").glob("*.sh"))
BASELINES = sorted(p.name for p in (REPO / "baselines").glob("*.sh"))
PAPER_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


# --- helpers ----------------------------------------------------------------------------------

@pytest.fixture
def clean_env(tmp_path):
    """A controlled environment: none of the caller's launch variables, no .env of the checkout."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "PYTHON": sys.executable,
            "ENV_FILE": str(empty), "TMPDIR": str(tmp_path), "OUTPUT_ROOT": str(tmp_path / "out")}


def run_script(script: str | Path, env: dict, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO, check=False)


def plan_of(script: str, env: dict, tmp_path: Path, *args: str) -> list[V.PlannedRun]:
    """The runs ``script`` plans (run once, in DRY_RUN mode with PLAN_FILE)."""
    plan = tmp_path / f"{Path(script).name}.plan"
    plan.unlink(missing_ok=True)
    done = run_script(REPO / script, {**env, "DRY_RUN": "1", "PLAN_FILE": str(plan)}, *args)
    assert done.returncode == 0, done.stderr
    with plan.open() as handle:
        return V.read_plan(handle)


def items(run: V.PlannedRun) -> dict[str, str]:
    return V._override_items(run.overrides)


def write_parquet(path: Path, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"data_source": ["math"] * rows, "prompt": [f"problem {i}" for i in range(rows)]}), path)
    return path


def fake_checkpoint(folder: Path, step: int) -> None:
    (folder / f"global_step_{step}" / "actor").mkdir(parents=True)
    (folder / V.TRACKER_FILE).write_text(str(step))


# --- every script, planned and validated --------------------------------------------------------

@pytest.fixture(scope="module")
def all_plans(tmp_path_factory):
    """{script: [PlannedRun]} for every launch, baseline and sweep script, and their reports."""
    tmp = tmp_path_factory.mktemp("plans")
    empty = tmp / "empty.env"
    empty.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "PYTHON": sys.executable, "ENV_FILE": str(empty),
           "TMPDIR": str(tmp), "OUTPUT_ROOT": str(tmp / "out")}
    scripts = LAUNCH + [f"baselines/{b}" for b in BASELINES] + [f"ablations/{s}" for s in SWEEPS]
    plans = {script: plan_of(script, env, tmp) for script in scripts}
    runs = [run for plan in plans.values() for run in plan]
    reports = {r.run.name: r for r in V.check_plan(runs)}
    return plans, reports


def test_every_planned_run_of_every_script_is_valid(all_plans):
    plans, reports = all_plans
    assert len(reports) == sum(len(p) for p in plans.values())  # run names are unique across scripts
    bad = {name: r.error for name, r in reports.items() if not r.ok}
    assert not bad
    for report in reports.values():
        assert report.state == "new"  # OUTPUT_ROOT is empty
        assert report.warnings == []  # e.g. no bmax below the response cap


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
        assert cfg.data.train_files.endswith("data/math/train.parquet")
        assert cfg.data.val_files.endswith("data/math/test.parquet")
        assert cfg.trainer.experiment_name == report.run.name
        assert Path(cfg.trainer.default_local_dir).name == report.run.name


def test_budget_sets_every_cap_together(all_plans):
    """The response cap, the rollout caps and the method's cap knob (every method config field
    named bmax or max_length) come from one BUDGET."""
    _, reports = all_plans
    cap_fields = {name: [f for f in ("bmax", "max_length") if f in cls.config_cls.__dataclass_fields__]
                  for name, cls in load_methods().items()}
    assert cap_fields["lead"] == ["bmax"] and cap_fields["dler"] == ["max_length"]
    for report in reports.values():
        cfg = report.config
        budget = cfg.data.max_response_length
        rollout = cfg.actor_rollout_ref.rollout
        assert rollout.response_length == budget and rollout.max_model_len == 1024 + budget
        assert cfg.actor_rollout_ref.actor.ppo_max_token_len_per_gpu >= 1024 + budget
        method = cfg.algorithm.adv_estimator
        for knob in cap_fields.get(method, []):
            assert cfg.algorithm[method][knob] == budget, (report.run.name, knob)


def test_launch_scripts_reproduce_the_paper_rows(all_plans):
    plans, reports = all_plans
    lead = reports[plans["train_math_lead_deepseek-r1-1.5b.sh"][0].name].config
    assert lead.algorithm.adv_estimator == "lead" and lead.data.max_response_length == 8000
    assert lead.actor_rollout_ref.actor.optim.lr == 2e-6 and lead.actor_rollout_ref.actor.clip_ratio_high == 0.2
    assert lead.actor_rollout_ref.model.path == PAPER_MODEL and lead.trainer.n_gpus_per_node == 4
    assert lead.trainer.save_freq == 50 and lead.algorithm.lead.lstar_mode == "max_sym"

    grpo = reports[plans["train_math_grpo_deepseek-r1-1.5b.sh"][0].name].config
    assert grpo.algorithm.adv_estimator == "grpo_len_threshold" and grpo.data.max_response_length == 2000
    assert grpo.actor_rollout_ref.actor.optim.lr == 1e-6 and grpo.actor_rollout_ref.actor.clip_ratio_high == 0.28
    assert grpo.algorithm.grpo_len_threshold.mode == "conditioned"
    assert grpo.algorithm.grpo_len_threshold.threshold == 2000 and grpo.trainer.save_freq == 20

    big = reports[plans["train_math_lead_deepseek-r1-7b.sh"][0].name].config
    assert big.actor_rollout_ref.model.path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert big.trainer.n_gpus_per_node == 8 and big.actor_rollout_ref.rollout.tensor_model_parallel_size == 2
    assert big.trainer.experiment_name == "math_lead_deepseek-r1-7b"


def test_one_baseline_per_method_and_only_the_method_differs(all_plans):
    plans, _ = all_plans
    methods = {}
    lead_run = plans["train_math_lead_deepseek-r1-1.5b.sh"][0]

    def shared(run):
        return {k: v for k, v in items(run).items()
                if not k.startswith("algorithm.") and k not in ("trainer.experiment_name", "trainer.default_local_dir")}

    for script in BASELINES:
        (run,) = plans[f"baselines/{script}"]
        method = items(run)["algorithm.adv_estimator"]
        assert script == f"train_{method}_deepseek-r1-1.5b.sh"
        methods[method] = run
        assert shared(run) == shared(lead_run), script
    assert set(methods) == set(load_methods()) - {"lead"}
    assert items(methods["dler"])["algorithm.filter_groups.enable"] == "true"
    assert items(methods["truncation"])["algorithm.truncation.schedule"] == "[[180,6000],[360,4000]]"


def test_sweeps_plan_the_paper_tables(all_plans):
    plans, reports = all_plans
    ratio = plans["ablations/ratio_sweep.sh"]
    assert len(ratio) == 12
    for run in ratio:
        cfg = reports[run.name].config
        r = float(run.name.split("_ratio")[1].split("_")[0].replace("p", "."))
        assert cfg.data.max_response_length == 4000 and cfg.actor_rollout_ref.actor.optim.lr == 1e-6
        assert cfg.actor_rollout_ref.actor.clip_ratio_high == 0.28 and cfg.trainer.max_actor_ckpt_to_keep == 2
        if run.name.startswith("math_lead_"):
            assert cfg.algorithm.lead.static_lambda_corr == pytest.approx(1 / (1 + r))
            assert cfg.algorithm.lead.bmax == 4000
        else:
            block = cfg.algorithm.grpo_len_threshold
            assert cfg.algorithm.adv_estimator == "grpo_len_threshold" and block.mode == "classic"
            assert (block.lambda1, block.lambda2) == (pytest.approx(1 / (1 + r)), pytest.approx(r / (1 + r)))
            assert block.threshold == 2000
    assert {reports[r.name].config.algorithm.lead.aggregator for r in plans["ablations/aggregator_sweep.sh"]} == {
        "mean_correct", "min_correct", "median_correct", "mean_all"}
    assert {reports[r.name].config.algorithm.lead.lstar_mode for r in plans["ablations/mode_sweep.sh"]} == {
        "max_sym", "max_asym", "upper_only"}
    points = {(c.alpha, c.beta, c.lambda_min) for c in
              (reports[r.name].config.algorithm.lead for r in plans["ablations/controller_sweep.sh"])}
    # One run at the paper's point, every other run changing exactly one knob.
    assert points == {(1, 0.95, 0.3), (0.5, 0.95, 0.3), (2, 0.95, 0.3), (1, 0.9, 0.3), (1, 0.99, 0.3),
                      (1, 0.95, 0.1), (1, 0.95, 0.5)}


# --- script behaviour (no verl needed) ------------------------------------------------------------

def test_subsets_and_budget_from_the_environment(clean_env, tmp_path):
    env = {**clean_env, "METHODS": "lead", "RATIOS": "0.5,2", "BUDGET": "6000", "CUDA_VISIBLE_DEVICES": "0,1"}
    runs = plan_of("ablations/ratio_sweep.sh", env, tmp_path, "trainer.total_epochs=1")
    assert [r.name for r in runs] == ["math_lead_ratio0p5_deepseek-r1-1.5b", "math_lead_ratio2_deepseek-r1-1.5b"]
    for run, w in zip(runs, ("0.6666666667", "0.3333333333")):
        got = items(run)
        assert got["algorithm.lead.static_lambda_corr"] == w
        assert got["data.max_response_length"] == got["algorithm.lead.bmax"] == "6000"
        assert got["actor_rollout_ref.rollout.max_model_len"] == "7024"
        assert got["trainer.n_gpus_per_node"] == "2"
        assert run.overrides[-1] == "trainer.total_epochs=1"  # extra arguments come last, so they win
    knobs = plan_of("ablations/controller_sweep.sh", {**clean_env, "KNOBS": "beta", "BETAS": "0.5 0.95"}, tmp_path)
    assert [r.name for r in knobs] == ["math_lead_a1_b0p5_lm0p3_deepseek-r1-1.5b", "math_lead_a1_b0p95_lm0p3_deepseek-r1-1.5b"]


@pytest.mark.parametrize("env,args,message", [
    ({"BUDGET": "4k"}, [], "BUDGET='4k' is not a number of tokens"),
    ({"BUDGET": "0"}, [], "BUDGET='0' is not a number of tokens"),
    ({"N_GPUS": "4", "CUDA_VISIBLE_DEVICES": "0,1"}, [], "N_GPUS=4 but CUDA_VISIBLE_DEVICES=0,1 lists 2 GPU(s)"),
    ({"N_GPUS": "four"}, [], "N_GPUS='four' is not a positive integer"),
    ({}, ["trainer.total_epochs"], "argument 'trainer.total_epochs' is not a Hydra override"),
    ({}, ["data.max_response_length=4000"], "set BUDGET instead"),
    ({}, ["algorithm.lead.bmax=4000"], "set BUDGET instead"),
    ({}, ["trainer.default_local_dir=/tmp/x"], "set OUTPUT_ROOT"),
    ({"LENGTH_THRESHOLD": "short"}, [], "LENGTH_THRESHOLD='short' is not a number of tokens"),
])
def test_bad_settings_fail_before_python_with_a_clear_message(clean_env, env, args, message):
    script = REPO / ("train_math_grpo_deepseek-r1-1.5b.sh" if "LENGTH_THRESHOLD" in env
                     else "train_math_lead_deepseek-r1-1.5b.sh")
    # PYTHON points nowhere: these checks must fire before any interpreter starts.
    done = run_script(script, {**clean_env, "DRY_RUN": "1", "PYTHON": "/nonexistent/python", **env}, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Planned runs" not in done.stdout


@pytest.mark.parametrize("script,env,message", [
    ("ablations/ratio_sweep.sh", {"METHODS": "lead ppo"}, "METHODS: unknown method 'ppo'"),
    ("ablations/ratio_sweep.sh", {"RATIOS": "0.5 big"}, "RATIOS: 'big' is not a ratio"),
    ("ablations/controller_sweep.sh", {"KNOBS": "gamma"}, "KNOBS: unknown knob 'gamma'"),
    ("ablations/mode_sweep.sh", {"MODES": " , "}, "no runs planned"),
])
def test_bad_sweep_subsets_are_refused(clean_env, script, env, message):
    done = run_script(REPO / script, {**clean_env, "DRY_RUN": "1", **env})
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_dotenv_is_loaded_and_the_callers_values_win(clean_env, tmp_path):
    # A copy of the launch kit, so that a .env in this checkout is never touched.
    kit = tmp_path / "kit"
    (kit / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "common.sh", kit / "scripts" / "common.sh")
    shutil.copy(REPO / "train_math_lead_deepseek-r1-1.5b.sh", kit)
    (kit / ".env").write_text("# comment\nexport BUDGET=3000\nN_GPUS=2\nDATA_DIR=prepared/math\n"
                              "BASE_MODEL='/models/my model'\nMODEL_TAG=mine\n")
    env = {k: v for k, v in clean_env.items() if k != "ENV_FILE"}
    plan = tmp_path / "plan"
    done = run_script(kit / "train_math_lead_deepseek-r1-1.5b.sh", {**env, "N_GPUS": "8", "PLAN_FILE": str(plan)})
    assert done.returncode == 0, done.stderr
    assert f"loaded {kit / '.env'}" in done.stderr
    (run,) = V.read_plan(plan.open())
    got = items(run)
    assert got["data.max_response_length"] == got["algorithm.lead.bmax"] == "3000"
    assert got["trainer.n_gpus_per_node"] == "8"  # the caller's N_GPUS beats the file's
    assert got["data.train_files"] == f"{kit}/prepared/math/train.parquet"  # relative to the repository root
    assert got["actor_rollout_ref.model.path"] == "/models/my model" and run.name == "math_lead_mine"

    missing = run_script(kit / "train_math_lead_deepseek-r1-1.5b.sh",
                         {**env, "ENV_FILE": str(tmp_path / "nope.env"), "PLAN_FILE": str(plan)})
    assert missing.returncode == 2 and f"ENV_FILE={tmp_path / 'nope.env'} does not exist" in missing.stderr


def test_scripts_name_no_interpreter_or_home_path():
    for script in [*LAUNCH, *(f"baselines/{b}" for b in BASELINES), *(f"ablations/{s}" for s in SWEEPS),
                   "scripts/common.sh"]:
        text = (REPO / script).read_text()
        assert "/home/" not in text and "miniconda" not in text and "/usr/bin/python" not in text, script
        if script != "scripts/common.sh":
            assert text.startswith("#!/usr/bin/env bash\n"), script
            assert os.access(REPO / script, os.X_OK), script


def test_shellcheck_finds_nothing():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = [*LAUNCH, *(f"baselines/{b}" for b in BASELINES), *(f"ablations/{s}" for s in SWEEPS), "scripts/common.sh"]
    done = subprocess.run([shellcheck, "-x", *scripts], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout


# --- the validator ----------------------------------------------------------------------------

def test_read_plan_parses_and_refuses_bad_lines():
    runs = V.read_plan(["# a comment\n", "\n", "a\tx=1\ty=2\n", "b\tz=[1,2]\n"])
    assert [(r.name, r.overrides) for r in runs] == [("a", ["x=1", "y=2"]), ("b", ["z=[1,2]"])]
    with pytest.raises(ValueError, match="line 2: run 'a' is already planned on line 1"):
        V.read_plan(["a\tx=1\n", "a\tx=2\n"])
    with pytest.raises(ValueError, match="line 1: run 'a' has no overrides"):
        V.read_plan(["a\n"])
    with pytest.raises(ValueError, match="line 1: the run name"):
        V.read_plan(["\tx=1\n"])


def test_checkpoint_marker_states(tmp_path):
    assert V.checkpoint_step(tmp_path) is None
    fake_checkpoint(tmp_path, 40)
    assert V.checkpoint_step(tmp_path) == 40
    (tmp_path / V.TRACKER_FILE).write_text("50")
    with pytest.raises(ValueError, match="names step 50 but .*global_step_50 is missing"):
        V.checkpoint_step(tmp_path)
    (tmp_path / V.TRACKER_FILE).write_text("fifty")
    with pytest.raises(ValueError, match="should hold a step number, found 'fifty'"):
        V.checkpoint_step(tmp_path)


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("lead.verl_plugin.config", version_base=None):
        return hydra_compose("lead_trainer", overrides=list(overrides))


def test_final_step_follows_verl_step_accounting(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", 300)
    cfg = compose(f"data.train_files={train}", "data.train_batch_size=128", "trainer.total_epochs=7")
    assert V.final_step(cfg) == (2 * 7, "")  # 300 // 128 = 2 full batches per epoch; the last is dropped
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("{}\n" * 100)
    cfg = compose(f"data.train_files=[{train},{jsonl}]", "data.train_batch_size=100", "trainer.total_epochs=2")
    assert V.final_step(cfg) == (8, "")
    assert V.final_step(compose(f"data.train_files={train}", "data.train_max_samples=128",
                                "data.train_batch_size=64"))[0] == 2 * 30
    assert V.final_step(compose(f"data.train_files={train}", "trainer.total_training_steps=5")) == (5, "")
    unknown, note = V.final_step(compose(f"data.train_files={train}", "data.filter_overlong_prompts=true"))
    assert unknown is None and "filter_overlong_prompts" in note
    assert V.final_step(compose(f"data.train_files={tmp_path / 'absent.parquet'}"))[0] is None


def test_run_state_resumes_a_partial_run_and_skips_only_the_final_step(tmp_path):
    out = tmp_path / "run"
    train = write_parquet(tmp_path / "train.parquet", 300)
    cfg = compose(f"data.train_files={train}", "data.train_batch_size=128", "trainer.total_epochs=7",
                  f"trainer.default_local_dir={out}")
    assert V.run_state(cfg) == ("new", None, 14, "")
    fake_checkpoint(out, 10)
    assert V.run_state(cfg) == ("resume", 10, 14, "")
    fake_checkpoint(out, 14)
    assert V.run_state(cfg) == ("done", 14, 14, "")
    fake_checkpoint(out, 20)
    with pytest.raises(ValueError, match="holds step 20, beyond this run's final step 14"):
        V.run_state(cfg)


@pytest.mark.skipif(not SHARED_TRAIN.exists(), reason="real data folder ../shared/data not present")
def test_the_paper_run_ends_at_step_462_not_at_the_release_450(tmp_path):
    """8,521 training rows // 128 = 66 steps per epoch, x 7 epochs = 462 steps. verl 0.9.1 saves
    the last step whatever save_freq; the release's sweep called a run finished at step 450."""
    out = tmp_path / "run"
    cfg = compose(f"data.train_files={SHARED_TRAIN}", "data.train_batch_size=128", "trainer.total_epochs=7",
                  "trainer.save_freq=50", f"trainer.default_local_dir={out}")
    assert V.final_step(cfg) == (462, "")
    fake_checkpoint(out, 450)
    assert V.run_state(cfg)[0] == "resume"
    fake_checkpoint(out, 462)
    assert V.run_state(cfg)[0] == "done"


def test_settings_recorded_by_a_launch_guard_the_resume(tmp_path):
    (tmp_path / V.SETTINGS_FILE).write_text("a=1\nb=2\n~c\n")
    assert V.settings_changes(tmp_path, ["a=1", "b=2", "~c"]) == []
    assert V.settings_changes(tmp_path, ["a=1", "b=3", "+d=4"]) == ["b: 2 -> 3", "c: <deleted> -> <unset>",
                                                                    "d: <unset> -> 4"]
    assert V.settings_changes(tmp_path / "elsewhere", ["a=1"]) == []


def small_run(tmp_path: Path, *extra: str) -> list[str]:
    train = write_parquet(tmp_path / "data" / "train.parquet", 300)
    write_parquet(tmp_path / "data" / "test.parquet", 10)
    return ["data.train_batch_size=8", "actor_rollout_ref.rollout.n=4", "trainer.n_gpus_per_node=1",
            "actor_rollout_ref.actor.ppo_mini_batch_size=8", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2", f"data.train_files={train}",
            f"data.val_files={tmp_path / 'data' / 'test.parquet'}", "reward.custom_reward_function.path=pkg://lead.rewards.math",
            f"trainer.default_local_dir={tmp_path / 'out'}", *extra]


def test_check_plan_reports_each_bad_run_by_name_and_checks_them_all(tmp_path):
    runs = [V.PlannedRun("good", small_run(tmp_path)),
            V.PlannedRun("typo", small_run(tmp_path, "algorithm.lead.alpah=2")),
            V.PlannedRun("bad_value", small_run(tmp_path, "algorithm.lead.aggregator=max")),
            V.PlannedRun("bad_estimator", small_run(tmp_path, "algorithm.adv_estimator=leed")),
            V.PlannedRun("bad_reward", small_run(tmp_path, "reward.custom_reward_function.path=pkg://lead.rewards.nope"))]
    reports = {r.run.name: r for r in V.check_plan(runs)}
    assert reports["good"].ok and reports["good"].state == "new" and reports["good"].final_step == 37 * 30
    assert "alpah" in reports["typo"].error
    assert "algorithm.lead.aggregator='max'" in reports["bad_value"].error
    assert "algorithm.adv_estimator='leed' is not a registered advantage estimator" in reports["bad_estimator"].error
    assert "reward.custom_reward_function.path='pkg://lead.rewards.nope' cannot be loaded" in reports["bad_reward"].error

    (tmp_path / "out").mkdir()
    fake_checkpoint(tmp_path / "out", 5)
    (tmp_path / "out" / V.SETTINGS_FILE).write_text("\n".join(small_run(tmp_path, "algorithm.lead.beta=0.5")))
    (changed,) = V.check_plan([V.PlannedRun("changed", small_run(tmp_path))])
    assert "holds a checkpoint of a run with other settings" in changed.error
    assert "algorithm.lead.beta: 0.5 -> <unset>" in changed.error


def test_a_misspelt_override_through_a_script_is_refused_naming_it(clean_env, tmp_path):
    runs = plan_of("train_math_grpo_deepseek-r1-1.5b.sh", clean_env, tmp_path, "algorithm.grpo_len_threshold.treshold=1500")
    (report,) = V.check_plan(runs)
    assert "Could not override 'algorithm.grpo_len_threshold.treshold'" in report.error


def test_launch_checks_explain_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose(*small_run(tmp_path), "data.val_files=/nowhere/test.parquet",
                  "actor_rollout_ref.model.path=/nowhere/model", "trainer.logger=[console,wandb]")
    problems = "\n".join(V.launch_problems(cfg))
    assert "data.val_files: /nowhere/test.parquet does not exist" in problems and "lead data math" in problems
    assert "actor_rollout_ref.model.path: /nowhere/model does not exist; set BASE_MODEL" in problems
    assert "WANDB_API_KEY is not set" in problems and ".env" in problems
    assert "data.train_files" not in problems

    ok = compose(*small_run(tmp_path), "trainer.logger=[console,wandb]", f"actor_rollout_ref.model.path={PAPER_MODEL}")
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert V.launch_problems(ok) == []
    monkeypatch.delenv("WANDB_MODE")
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password key\n")
    assert V.launch_problems(ok) == []


def test_validator_cli_exit_codes(tmp_path, capsys):
    plan = tmp_path / "plan"
    plan.write_text("good\t" + "\t".join(small_run(tmp_path)) + "\n")
    states = tmp_path / "states"
    assert V.main([str(plan), "--states", str(states)]) == 0
    assert "[ok] good: new, 1110 steps" in capsys.readouterr().out
    assert states.read_text() == "good\tnew\t-\t1110\n"
    plan.write_text("bad\t" + "\t".join(small_run(tmp_path, "algorithm.lead.beta=2")) + "\n")
    assert V.main([str(plan)]) == 1
    err = capsys.readouterr().err
    assert "[invalid] bad:" in err and "algorithm.lead.beta=2" in err and "1 of 1 planned run(s) invalid" in err
    plan.write_text("# nothing\n")
    assert V.main([str(plan)]) == 2


# --- end to end through bash ----------------------------------------------------------------------

def test_dry_run_of_a_launch_script_prints_the_config_and_starts_nothing(clean_env):
    done = run_script(REPO / "train_math_lead_deepseek-r1-1.5b.sh", {**clean_env, "DRY_RUN": "1"},
                      "algorithm.lead.alpha=2.0", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Planned runs (1)" in out and "extra overrides for every run: algorithm.lead.alpha=2.0" in out
    assert "adv_estimator: lead" in out and "alpha: 2.0" in out and "bmax: 8000" in out
    assert "[ok] math_lead_deepseek-r1-1.5b: new" in out and "DRY_RUN: configurations valid; nothing launched." in out
    assert not (Path(clean_env["OUTPUT_ROOT"])).exists()


def test_sweep_launch_skips_finished_runs_resumes_partial_ones_and_reports_failures(clean_env, tmp_path):
    """A real (non-dry) sweep on a fake output tree, with the trainer replaced by a recorder."""
    data = tmp_path / "data"
    write_parquet(data / "train.parquet", 300)  # 2 steps per epoch, 14 steps in all
    write_parquet(data / "test.parquet", 10)
    out = Path(clean_env["OUTPUT_ROOT"])
    record = tmp_path / "record"
    record.mkdir()
    fake = tmp_path / "python"
    fake.write_text(f"""#!/usr/bin/env bash
if [[ "$1 $2" == "-m lead.verl_plugin.main" ]]; then
    name=$(printf '%s\\n' "$@" | sed -n 's/^trainer.experiment_name=//p')
    {{ echo "WANDB_RUN_ID=$WANDB_RUN_ID WANDB_RESUME=$WANDB_RESUME"; printf '%s\\n' "$@"; }} > "{record}/$name"
    echo "training $name"
    [[ $name != *median* ]]
    exit
fi
exec {sys.executable} "$@"
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**clean_env, "PYTHON": str(fake), "DATA_DIR": str(data), "WANDB_MODE": "offline",
           "AGGS": "mean_correct min_correct median_correct mean_all"}
    tag = "deepseek-r1-1.5b"
    fake_checkpoint(out / f"math_lead_agg_mean_correct_{tag}", 14)  # finished: final step 14 checkpointed
    fake_checkpoint(out / f"math_lead_agg_min_correct_{tag}", 12)   # partial

    done = run_script(REPO / "ablations" / "aggregator_sweep.sh", env, "trainer.test_freq=5", timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    out_text = done.stdout
    assert f"[ok] math_lead_agg_mean_correct_{tag}: done (final step 14 checkpointed)" in out_text
    assert f"[ok] math_lead_agg_min_correct_{tag}: resume from step 12 of 14" in out_text
    assert f"[ok] math_lead_agg_mean_all_{tag}: new, 14 steps" in out_text
    assert f"== math_lead_agg_mean_correct_{tag}: finished, skipped" in out_text
    assert sorted(p.name for p in record.iterdir()) == [f"math_lead_agg_{a}_{tag}" for a in
                                                       ("mean_all", "median_correct", "min_correct")]
    assert f"1 run(s) failed: math_lead_agg_median_correct_{tag}" in done.stderr
    assert f"== math_lead_agg_mean_all_{tag}: finished" in out_text  # a failure does not stop the sweep

    resumed = (record / f"math_lead_agg_min_correct_{tag}").read_text().splitlines()
    assert resumed[0].startswith("WANDB_RUN_ID=math_lead_agg_min_correct_deepseek-r1-1-5b-")
    assert resumed[0].endswith("WANDB_RESUME=allow")
    run_dir = out / f"math_lead_agg_min_correct_{tag}"
    assert f"hydra.run.dir={run_dir}/hydra" in resumed and "trainer.test_freq=5" in resumed
    assert "algorithm.lead.aggregator=min_correct" in resumed and f"trainer.default_local_dir={run_dir}" in resumed
    assert "training math_lead_agg_min_correct" in (run_dir / "train.log").read_text()
    recorded = (run_dir / V.SETTINGS_FILE).read_text().splitlines()
    assert recorded == [a for a in resumed[3:] if not a.startswith("hydra.run.dir=")]
    assert not (out / f"math_lead_agg_mean_correct_{tag}" / V.SETTINGS_FILE).exists()  # skipped: untouched

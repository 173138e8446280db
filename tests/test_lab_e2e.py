"""`lead lab` end to end in its CI configuration (``--preset test``): warm-up, RL with LEAD and
GRPO through the registry, evaluation, table, plots and saved models.

Stated margins: the warm-up model must solve at least 80% of the easiest held-out problems
(k = 1) greedily; LEAD's final mean length must be at most 80% of the warm-up model's, with
held-out accuracy no more than 10 points below it (sampling noise on 150 problems is ~4 points).
"""

import json
import math

import pytest
import torch
from PIL import Image

from lead.cli import main
from lead.lab.experiment import EVAL_SEED_OFFSET
from lead.lab.model import load
from lead.lab.task import TaskConfig, heldout_problems
from lead.lab.train import evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    assert main(["lab", "--preset", "test", "--methods", "lead,grpo", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_outputs_are_written(lab_run):
    out, results = lab_run
    table = (out / "results.md").read_text()
    for row in ("| warm-up model |", "| lead |", "| grpo |", "k=5 (23)"):
        assert row in table
    for name in ("curves.png", "lead_controller.png"):
        with Image.open(out / name) as img:
            assert img.size[0] >= 600 and img.size[1] >= 300
        assert (out / name).stat().st_size < 300_000
    for folder in ("warmup_model", "models/lead-seed0", "models/grpo-seed0"):
        assert (out / folder / "config.json").is_file()
    assert set(results["summary"]) == {"lead", "grpo"}


def test_warmup_model_solves_most_easy_problems(lab_run):
    _, results = lab_run
    assert results["warmup"]["by_k"]["1"]["greedy_accuracy"] >= 0.8


def test_rl_steps_are_finite_and_log_lead_state(lab_run):
    _, results = lab_run
    steps = results["config"]["rl_steps"]
    for run in results["runs"]:
        assert [s["step"] for s in run["steps"]] == list(range(1, steps + 1))
        assert all(math.isfinite(s["loss"]) for s in run["steps"])
    lead = next(r for r in results["runs"] if r["method"] == "lead")
    assert all(0.3 <= s["lead/w_corr"] <= 1 for s in lead["steps"])
    assert lead["method_config"]["lstar_floor"] == 7.0 and lead["method_config"]["bmax"] == 96.0


def test_lead_shortens_the_warmup_model_without_losing_accuracy(lab_run):
    _, results = lab_run
    warm, lead = results["warmup"], results["summary"]["lead"]
    assert lead["length"]["mean"] <= 0.8 * warm["length"]
    assert lead["accuracy"]["mean"] >= warm["accuracy"] - 0.10


def test_saved_model_reloads_and_reproduces_its_evaluation(lab_run):
    out, results = lab_run
    model, tokenizer = load(out / "models" / "lead-seed0")
    cfg = results["config"]
    held = heldout_problems(TaskConfig(**cfg["task"]), cfg["eval_per_k"], cfg["seed"])
    torch.set_num_threads(cfg["threads"])
    again = evaluate(model, tokenizer, held, cfg["max_new_tokens"], cfg["seed"] + EVAL_SEED_OFFSET)
    final = next(r for r in results["runs"] if r["method"] == "lead")["evals"][-1]
    assert again["accuracy"] == final["accuracy"] and again["length"] == final["length"]

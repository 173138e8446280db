"""`lead lab` end to end in its CI configuration (``--preset test``, the default arms): warm-up,
RL with every default method through the registry, evaluation, tables, plots and saved models.

The assertions hold whatever the outcome of so short a run: every arm starts from the same
warm-up weights, losses are finite, every output file is written and agrees with
``results.json``, the static-budget methods never favour a response over their cap, and LEAD's
per-difficulty L* stays within the bounds LEAD reports. One margin is stated: the warm-up model
must solve at least 80% of the easiest held-out problems (k = 1) greedily.
"""

import json
import math

import pytest
import torch
from PIL import Image

from lead.cli import main
from lead.lab.config import DEFAULT_METHODS, STATIC_BUDGET_KNOBS
from lead.lab.experiment import EVAL_SEED_OFFSET
from lead.lab.model import load
from lead.lab.report import markdown_table
from lead.lab.task import TaskConfig, heldout_problems
from lead.lab.train import evaluate, weights_digest

# The module fixture runs the whole lab preset (about 6 minutes on 2 busy cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    assert main(["lab", "--preset", "test", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_every_arm_starts_from_the_saved_warmup_weights(lab_run):
    out, results = lab_run
    assert [r["arm"] for r in results["runs"]] == list(DEFAULT_METHODS)
    saved, _ = load(out / "warmup_model")
    assert weights_digest(saved) == results["warmup_weights"]
    for run in results["runs"]:
        assert run["start_weights"] == results["warmup_weights"]
        # Same weights and the same evaluation seed: the step-0 evaluation is the warm-up model's.
        assert {k: v for k, v in run["evals"][0].items() if k != "step"} == results["warmup"]


def test_warmup_model_solves_most_easy_problems(lab_run):
    _, results = lab_run
    assert results["warmup"]["by_k"]["1"]["greedy_accuracy"] >= 0.8


def test_rl_steps_are_complete_and_finite(lab_run):
    _, results = lab_run
    steps = results["config"]["rl_steps"]
    for run in results["runs"]:
        assert [s["step"] for s in run["steps"]] == list(range(1, steps + 1))
        assert all(math.isfinite(s["loss"]) and math.isfinite(s["grad_norm"]) for s in run["steps"])


def test_every_output_file_is_written_and_agrees_with_results_json(lab_run):
    out, results = lab_run
    assert results["files"] == ["results.json", "results.md", "pareto.png", "curves.png", "lead_controller.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(results["files"] + ["models", "warmup_model"])
    assert (out / "results.md").read_text() == markdown_table(results)
    for name in results["files"][2:]:
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 300
    cfg = results["config"]
    held = heldout_problems(TaskConfig(**cfg["task"]), cfg["eval_per_k"], cfg["seed"])
    torch.set_num_threads(cfg["threads"])
    assert sorted(p.name for p in (out / "models").iterdir()) == sorted(
        r["model_dir"].split("/")[1] for r in results["runs"]
    )
    for run in results["runs"]:
        model, tokenizer = load(out / run["model_dir"])
        again = evaluate(model, tokenizer, held, cfg["max_new_tokens"], cfg["seed"] + EVAL_SEED_OFFSET)
        assert {k: again[k] for k in ("accuracy", "length", "by_k")} == {
            k: run["evals"][-1][k] for k in ("accuracy", "length", "by_k")
        }
        summary = results["summary"][run["arm"]]
        assert summary["accuracy"]["mean"] == run["evals"][-1]["accuracy"]
        assert summary["length"]["mean"] == run["evals"][-1]["length"]


def test_static_budget_methods_share_the_measured_budget_and_never_favour_exceeding_it(lab_run):
    _, results = lab_run
    budget = results["static_budget"]
    assert budget["source"] == "measured" and budget["tokens"] == budget["measured_median_correct"]
    checked = [r for r in results["runs"] if r["method"] in STATIC_BUDGET_KNOBS]
    assert {r["method"] for r in checked} == {"truncation", "laser"}
    for run in checked:
        assert run["method_config"][STATIC_BUDGET_KNOBS[run["method"]]] == budget["tokens"]
        assert all(s["lab/over_cap_favoured"] == 0 for s in run["steps"])
        # The check saw responses over the cap (the warm-up model overthinks), so it was not vacuous.
        assert any(s["lab/over_cap_frac"] > 0 for s in run["steps"])


def test_lead_targets_per_difficulty_stay_within_the_bounds_lead_reports(lab_run):
    _, results = lab_run
    lead = next(r for r in results["runs"] if r["method"] == "lead")
    cfg = lead["method_config"]
    assert cfg["lstar_floor"] == 7.0 and cfg["bmax"] == 96.0
    seen = 0
    for s in lead["steps"]:
        assert 0.3 <= s["lead/w_corr"] <= 1
        for key, value in s.items():
            if key.startswith("lab/lstar_k"):
                seen += 1
                assert s["lead/lstar_min_solvable"] <= value <= s["lead/lstar_max_solvable"]
                assert cfg["lstar_floor"] <= value < cfg["bmax"]
    assert seen >= len(lead["steps"])

"""`lead lab --trainer verl` end to end at a tiny scale: LEAD trained in-process and through verl's
real loop on the CPU (``lead-train device=cpu`` in a subprocess) from the same warm-up model, the
final verl checkpoint (fp32 Hugging Face weights) evaluated by the lab. The assertions hold whatever
so short a run learns. (GRPO through verl, verl's own estimator, is in the documented default run.)
"""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from lead.cli import main
from lead.lab.model import load
from lead.lab.train import weights_digest

# The module fixture warms up, trains in-process and makes one verl run (start-up 2-3 minutes).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ARMS = ["lead", "lead (verl)"]


@pytest.fixture(scope="module")
def lab_verl_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("labverl")
    assert (
        main(
            [
                "lab",
                "--trainer",
                "verl",
                "--methods",
                "lead",
                "--preset",
                "test",
                "--sft-steps",
                "20",
                "--rl-steps",
                "1",
                "--eval-per-k",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out, json.loads((out / "results.json").read_text())


def test_both_loops_train_from_the_same_warmup_weights(lab_verl_run):
    out, results = lab_verl_run
    assert [r["arm"] for r in results["runs"]] == ARMS
    assert [r["trainer"] for r in results["runs"]] == ["local", "verl"]
    assert results["trainers"] == ["local", "verl"]
    for run in results["runs"]:
        assert run["start_weights"] == results["warmup_weights"]
        assert {k: v for k, v in run["evals"][0].items() if k != "step"} == results["warmup"]
        assert [e["step"] for e in run["evals"]] == [0, 1]
        assert [s["step"] for s in run["steps"]] == [1]
        assert all(math.isfinite(s["loss"]) and math.isfinite(s["grad_norm"]) for s in run["steps"])


def test_the_verl_run_goes_through_verls_loop_and_its_checkpoint_is_evaluated(lab_verl_run):
    out, results = lab_verl_run
    warm = weights_digest(load(out / "warmup_model")[0])
    for run in (r for r in results["runs"] if r["trainer"] == "verl"):
        work = out / "verl" / run["model_dir"].split("/", 1)[1]
        step = run["steps"][0]
        # verl's own metrics: the step counter, its timing, the batch of 16 prompts x 8 samples.
        assert step["training/global_step"] == 1 and step["timing_s/step"] > 0
        assert (work / "checkpoints" / "global_step_1" / "actor").is_dir()
        assert "CPU mode (DEVICE=cpu)" in (work / "console.log").read_text()
        # The evaluated model is verl's final checkpoint, stored in fp32 (its config.json says
        # bf16, the dtype verl builds the folder with), and moved off the warm-up weights.
        with safe_open(Path(run["verl"]["checkpoint"]) / "model.safetensors", "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
        final = AutoModelForCausalLM.from_pretrained(
            run["verl"]["checkpoint"], local_files_only=True, dtype=torch.float32
        )
        assert weights_digest(final) == weights_digest(load(out / run["model_dir"])[0]) != warm
    lead = next(r for r in results["runs"] if r["arm"] == "lead (verl)")
    assert {"lead/w_corr", "lead/w_eff", "lead/lstar_mean", "lead/accuracy_batch"} <= set(lead["steps"][0])
    assert 0 < lead["steps"][0]["lead/w_corr"] < 1


def test_results_files_agree_with_results_json(lab_verl_run):
    out, results = lab_verl_run
    assert list(results["summary"]) == ARMS
    table = (out / "results.md").read_text()
    for arm in ARMS:
        row = results["summary"][arm]
        assert f"| {arm} | {row['accuracy']['mean']:.3f} |" in table
    for name in results["files"]:
        assert (out / name).is_file()

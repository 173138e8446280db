"""The lab's table and plots, on hand-made results with two seeds."""

import pytest
from matplotlib.figure import Figure
from PIL import Image

from lead.lab.config import PRESETS
from lead.lab.report import (
    _accuracy_length_axes,
    markdown_table,
    plot_curves,
    plot_lead,
    plot_pareto,
    summarise,
    write_outputs,
)


def evaluation(step, acc, length, n_per_k=2):
    by_k = {
        str(k): {
            "accuracy": acc,
            "greedy_accuracy": 1.0,
            "length": length + k,
            "rechecks": 0.5,
            "direct": 0.0,
            "excess": 1.0,
            "unfinished": 0.0,
            "n": n_per_k,
        }
        for k in (1, 2)
    }
    return {
        "step": step,
        "accuracy": acc,
        "greedy_accuracy": 1.0,
        "length": length,
        "rechecks": 0.5,
        "direct": 0.0,
        "excess": 1.0,
        "unfinished": 0.0,
        "n": 2 * n_per_k,
        "by_k": by_k,
    }


def run(method, seed, final_acc, final_len):
    steps = [
        {
            "step": s,
            "loss": 0.1,
            "lead/w_corr": 0.6,
            "lead/w_eff": 0.4,
            "lead/target_w_corr": 0.7,
            "lead/target_w_eff": 0.3,
            "lab/lstar_k1": 9.0,
            "lab/lstar_k2": 12.0,
        }
        for s in (1, 2)
    ]
    return {
        "arm": method,
        "method": method,
        "seed": seed,
        "method_config": {},
        "steps": steps,
        "evals": [evaluation(0, 0.5, 20.0), evaluation(2, final_acc, final_len)],
    }


@pytest.fixture
def results():
    warm = evaluation(0, 0.5, 20.0)
    runs = [run("lead", 0, 0.8, 10.0), run("lead", 1, 0.6, 14.0), run("grpo", 0, 0.7, 22.0), run("grpo", 1, 0.7, 22.0)]
    summary = summarise(warm, runs, ["lead", "grpo"])
    return {
        "config": PRESETS["default"].to_dict(),
        "model": "0.34M-parameter Llama (hidden 96, 3 layers)",
        "methods": ["lead", "grpo"],
        "seeds": 2,
        "warmup": warm,
        "runs": runs,
        "summary": summary,
        "method_settings": {"lead": {"bmax": 96.0, "lstar_floor": 7.0}, "grpo": {}},
        "static_budget": {"tokens": 19.0, "measured_median_correct": 19.0, "source": "measured"},
    }


def test_summary_averages_seeds_and_compares_with_the_warmup(results):
    lead, grpo = results["summary"]["lead"], results["summary"]["grpo"]
    assert lead["accuracy"]["mean"] == pytest.approx(0.7)
    assert lead["accuracy"]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert lead["length"]["mean"] == pytest.approx(12.0)
    assert lead["delta_accuracy"] == pytest.approx(0.2)
    assert lead["delta_length_pct"] == pytest.approx(-40.0)
    assert grpo["length"]["std"] == 0.0 and grpo["delta_length_pct"] == pytest.approx(10.0)
    assert lead["by_k"]["2"]["length"]["mean"] == pytest.approx(14.0)
    assert lead["seeds"] == 2 and lead["steps"] == 2


def test_markdown_table(results):
    table = markdown_table(results)
    assert "| lead | 0.700 ± 0.141 | +20.0 pt | 12.0 ± 2.8 | -40% |" in table
    assert "| grpo | 0.700 | +20.0 pt | 22.0 | +10% |" in table
    assert "mean ± std over 2 seeds" in table
    assert "Model: 0.34M-parameter Llama (hidden 96, 3 layers), 600 warm-up steps." in table
    assert "| method | k=1 (7) | k=2 (11) |" in table
    assert "lead: bmax=96, lstar_floor=7" in table and "grpo:" not in table
    # Only a run with a static-budget method reports the budget.
    assert "Static length budget" not in table
    for r in results["runs"][2:]:
        r["method"] = "truncation"
    assert "19 tokens, the warm-up model's median correct length." in markdown_table(results)
    # Per difficulty: accuracy / length, then excess over 4k + 3 / direct answers.
    assert "| lead | 0.70 / 13.0 | 0.70 / 14.0 |" in table
    assert "| lead | +1.0 / 0.00 | +1.0 / 0.00 |" in table


def test_plots_are_small_pngs(results, tmp_path):
    plot_curves(results, tmp_path / "curves.png")
    plot_lead(results, tmp_path / "lead.png")
    plot_pareto(results, tmp_path / "pareto.png")
    for name, size in (("curves.png", (1000, 380)), ("lead.png", (1000, 380)), ("pareto.png", (700, 480))):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.size == size
        assert (tmp_path / name).stat().st_size < 300_000


def test_the_accuracy_axis_of_the_pareto_plot_stays_within_0_and_100_percent(results):
    for acc in (0.0, 1.0):
        for r in results["runs"]:
            r["evals"][-1]["accuracy"] = acc
        results["warmup"]["accuracy"] = acc
        ax = Figure().subplots()
        _accuracy_length_axes(ax, results, results["methods"])
        lo, hi = ax.get_ylim()
        assert 0.0 <= lo <= 100 * acc <= hi <= 100.0


def test_write_outputs_lists_what_it_wrote(results, tmp_path):
    results["ablation"] = None
    files = write_outputs(results, tmp_path)
    assert files == ["results.json", "results.md", "pareto.png", "curves.png", "lead_controller.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files[1:])
    assert (tmp_path / "results.md").read_text() == markdown_table(results)

"""`lead report`: the paper-style table with both AES aggregations, and the Pareto plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lead.cli import main
from lead.eval.metrics import summarize
from lead.eval.report import pareto_front

SETTINGS = {"n": 1, "temperature": 0.8, "top_p": 0.9, "top_k": 0, "max_tokens": 16384, "preset": "sober", "seed": 0,
            "prompt_template": "{problem} Let's think step by step.", "chat_template": True}


def _run(root: Path, name: str, results: dict[str, tuple[int, int]], **settings) -> Path:
    """A run folder whose benchmark b has 5 problems, ``correct`` of them solved, every response ``tokens`` long."""
    path = root / name
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"name": name}))
    for bench, (correct, tokens) in results.items():
        records = [{"id": str(i), "sample": 0, "correct": i < correct, "tokens": tokens, "truncated": False}
                   for i in range(5)]
        summary = {"benchmark": bench, "name": name, "settings": {**SETTINGS, **settings},
                   "metrics": summarize(records)}
        (path / f"{bench}.summary.json").write_text(json.dumps(summary))
    return path


@pytest.fixture
def runs(tmp_path):
    return {
        "base": _run(tmp_path, "base", {"math500": (4, 4000), "aime24": (2, 12000)}),
        "lead": _run(tmp_path, "lead", {"math500": (5, 2000), "aime24": (1, 6000)}),
        "grpo": _run(tmp_path, "grpo", {"math500": (4, 3000)}, max_tokens=8192),
    }


def test_report_table_aes_both_ways_and_plot(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(runs["lead"]), str(runs["grpo"]), "--base", str(runs["base"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == ("| Run | MATH-500 Acc | MATH-500 Tok | AIME24 Acc | AIME24 Tok | Avg Acc | Avg Tok "
                        "| AES (mean) | AES (avg) |")
    # The base is added first. lead: math500 dL=0.5, dA=+0.25 -> 1.25; aime24 dL=0.5, dA=-0.5 -> 0.5-2.5=-2.0;
    # mean of the two -0.375; AES of the averages (60 % / 4000 vs 60 % / 8000) = 0.5.
    assert lines[2] == "| base (base) | 80.0 | 4000 | 40.0 | 12000 | 60.00 | 8000 | – | – |"
    assert lines[3] == "| lead | 100.0 | 2000 | 20.0 | 6000 | 60.00 | 4000 | -0.375 | 0.500 |"
    # grpo has no AIME24: averaged over what it has (flagged), AES over the shared MATH-500 only.
    assert lines[4] == "| grpo | 80.0 | 3000 | – | – | 80.00* | 3000* | 0.250 | 0.250 |"
    assert "alpha=1, beta=3, gamma=5" in printed and "AES (mean) = mean of the per-benchmark AES" in printed
    assert "grpo lacks aime24" in printed
    assert "math500: max_tokens differs" in printed and "grpo=8192" in printed

    assert (out / "report.md").read_text().splitlines()[:5] == lines[:5]
    data = json.loads((out / "report.json").read_text())
    lead_row = next(r for r in data["rows"] if r["name"] == "lead")
    assert lead_row["aes"]["per_benchmark"] == pytest.approx({"math500": 1.25, "aime24": -2.0})
    import matplotlib.image

    image = matplotlib.image.imread(out / "pareto.png")
    assert image.shape[0] > 300 and image.shape[1] > 400


def test_report_options(runs, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(runs["base"]), str(runs["lead"]), "--base", str(runs["base"]), "--benchmarks",
                 "aime24", "--gamma", "10", "--std", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| Run | AIME24 Acc | AIME24 Tok | Avg Acc | Avg Tok | AES (mean) | AES (avg) |"
    # n = 1: no std to show. aime24 alone: dL = 0.5, dA = -0.5 -> 0.5 - 10 * 0.5
    assert lines[3] == "| lead | 20.0 | 6000 | 20.00 | 6000 | -4.500 | -4.500 |"
    # Without a base there is no AES column.
    assert main(["report", str(runs["lead"]), "--out", str(out)]) == 0
    assert "AES" not in capsys.readouterr().out.splitlines()[0]


def test_report_errors(runs, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "run folder does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    assert "no evaluation summaries" in capsys.readouterr().err
    assert main(["report", str(runs["lead"]), "--benchmarks", "minerva", "--out", str(tmp_path / "r")]) == 2
    assert "minerva" in capsys.readouterr().err
    assert main(["report", str(runs["lead"]), "--gamma", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "gamma=-1" in capsys.readouterr().err
    zero = _run(tmp_path, "zero", {"math500": (0, 100)})
    assert main(["report", str(runs["lead"]), "--base", str(zero), "--out", str(tmp_path / "r")]) == 0
    assert "AES of lead is undefined: AES needs a base accuracy > 0" in capsys.readouterr().out


def test_pareto_front():
    # (accuracy, tokens): the 2nd is dominated by the 1st (less accurate, longer); ties on one axis count.
    points = [(0.6, 1000), (0.5, 2000), (0.7, 3000), (0.7, 2500), (0.4, 500)]
    assert pareto_front(points) == [4, 0, 3]

"""`lead report`: the paper-style table with both AES aggregations, † marks and paired comparisons,
problem-set warnings, details and breakdowns, and the Pareto, length and sweep plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lead.cli import main
from lead.eval.metrics import problem_table, summarize
from lead.eval.report import pareto_front

SETTINGS = {
    "n": 1,
    "temperature": 0.8,
    "top_p": 0.9,
    "top_k": 0,
    "max_tokens": 16384,
    "preset": "sober",
    "seed": 0,
    "prompt_template": "{problem} Let's think step by step.",
    "chat_template": True,
}


def _run(root: Path, name: str, results: dict[str, tuple[int, int]], problems: int = 5, **settings) -> Path:
    """A run folder whose benchmark b has ``problems`` problems, the first ``correct`` of them solved,
    every response ``tokens`` long."""
    path = root / name
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"name": name}))
    for bench, (correct, tokens) in results.items():
        records = [
            {"id": str(i), "sample": 0, "correct": i < correct, "tokens": tokens, "truncated": False}
            for i in range(problems)
        ]
        _write_summary(path, bench, name, records, settings)
    return path


def _write_summary(path: Path, bench: str, name: str, records: list[dict], settings: dict | None = None) -> None:
    summary = {
        "benchmark": bench,
        "name": name,
        "settings": {**SETTINGS, **(settings or {})},
        "metrics": summarize(records, resamples=500),
        "per_problem": problem_table(records).to_dict(),
    }
    (path / f"{bench}.summary.json").write_text(json.dumps(summary))


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
    assert lines[0] == (
        "| Run | MATH-500 Acc | MATH-500 Tok | AIME24 Acc | AIME24 Tok | Avg Acc | Avg Tok "
        "| AES (mean) | AES (avg) | Problems |"
    )
    # The base is added first. lead: math500 dL=0.5, dA=+0.25 -> 1.25; aime24 dL=0.5, dA=-0.5 -> 0.5-2.5=-2.0;
    # mean of the two -0.375; AES of the averages (60 % / 4000 vs 60 % / 8000) = 0.5.
    # Every lead response is shorter than the base's on the same problem: an interval of one point, marked †;
    # one problem more (fewer) solved out of 5 is not a difference the bootstrap can tell from zero.
    assert lines[2] == "| base (base) | 80.0 | 4000 | 40.0 | 12000 | 60.00 | 8000 | – | – | 5 / 5 |"
    assert lines[3] == "| lead | 100.0 | 2000† | 20.0 | 6000† | 60.00 | 4000† | -0.375 | 0.500 | 5 / 5 |"
    # grpo has no AIME24: averaged over what it has (flagged), AES over the shared MATH-500 only.
    assert lines[4] == "| grpo | 80.0 | 3000† | – | – | 80.00* | 3000*† | 0.250 | 0.250 | 5 / – |"
    assert "†: differs from base with a 95% paired-bootstrap interval that excludes zero" in printed
    # Paired comparisons against the base, on the shared problems and sample indices.
    assert "Paired comparison: lead minus base (same problems, same sample indices)" in printed
    assert "| MATH-500 | 5 | 1 | +20.0 [0.0, 60.0] | – | -2000 [-2000, -2000] | 1 / 0 / 4 |" in printed
    assert "alpha=1, beta=3, gamma=5" in printed and "AES (mean) = mean of the per-benchmark AES" in printed
    assert "grpo lacks aime24" in printed
    assert "math500: max_tokens differs" in printed and "grpo=8192" in printed

    assert (out / "report.md").read_text().splitlines()[:5] == lines[:5]
    data = json.loads((out / "report.json").read_text())
    lead_row = next(r for r in data["rows"] if r["name"] == "lead")
    assert lead_row["aes"]["per_benchmark"] == pytest.approx({"math500": 1.25, "aime24": -2.0})
    assert lead_row["vs_base"]["aime24"]["accuracy"] == pytest.approx(-0.2)
    assert lead_row["vs_base_average"]["mean_tokens"] == pytest.approx(-4000)
    import matplotlib.image

    for plot in ("pareto.png", "lengths.png"):
        image = matplotlib.image.imread(out / plot)
        assert image.shape[0] > 300 and image.shape[1] > 400


def test_report_options(runs, tmp_path, capsys):
    out = tmp_path / "r"
    assert (
        main(
            [
                "report",
                str(runs["base"]),
                str(runs["lead"]),
                "--base",
                str(runs["base"]),
                "--benchmarks",
                "aime24",
                "--gamma",
                "10",
                "--std",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| Run | AIME24 Acc | AIME24 Tok | Avg Acc | Avg Tok | AES (mean) | AES (avg) | Problems |"
    # n = 1: no std to show. aime24 alone: dL = 0.5, dA = -0.5 -> 0.5 - 10 * 0.5
    assert lines[3] == "| lead | 20.0 | 6000† | 20.00 | 6000† | -4.500 | -4.500 | 5 |"
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


def test_significance_marks_follow_the_paired_interval(tmp_path, capsys):
    # 20 problems, 2 samples: b solves every problem, a none of them -> the difference is -100 pp in
    # every resample; c solves the same problems as b with one sample index differing on one problem.
    def run(name, correct):
        path = tmp_path / name
        path.mkdir()
        records = [
            {"id": f"q{i}", "sample": j, "correct": correct(i, j), "tokens": 100 + i, "truncated": False}
            for i in range(20)
            for j in range(2)
        ]
        _write_summary(path, "aime24", name, records)
        return path

    b = run("b", lambda i, j: True)
    a = run("a", lambda i, j: False)
    c = run("c", lambda i, j: not (i == 0 and j == 1))
    assert main(["report", str(a), str(c), "--base", str(b), "--ci", "--out", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| b (base) | 100.0 [100.0, 100.0] | 110 [")
    assert lines[3].startswith("| a | 0.0 [0.0, 0.0]† | 110 [")  # tokens are the same: no mark
    assert "†" not in lines[4].split("|")[2]  # c: one sample of one problem differs


def test_two_runs_without_base_get_a_paired_comparison_and_differing_problem_sets_a_warning(tmp_path, capsys):
    full = _run(tmp_path, "full", {"math500": (3, 100)}, problems=6)
    short = _run(tmp_path, "short", {"math500": (2, 80)}, problems=3)
    assert main(["report", str(full), str(short), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "| full | 50.0 | 100 | 50.00 | 100 | 6 |" in printed
    assert "| short | 66.7 | 80 | 66.67 | 80 | 3 |" in printed
    assert (
        "Warning: runs were evaluated on different problems, their numbers are not directly comparable: "
        "math500: runs evaluated different problems (full: 6, short: 3; 3 shared, paired comparisons use only "
        "those)"
    ) in printed
    # short minus full on problems 0..2: short solves 0, 1; full solves 0, 1, 2 -> -1/3; tokens -20 everywhere
    assert "Paired comparison: short minus full" in printed
    assert "| MATH-500 | 3 | 1 | -33.3 [" in printed and "| -20 [-20, -20] | 0 / 1 / 2 |" in printed


def test_details_and_breakdowns_by_level(tmp_path, capsys):
    path = tmp_path / "run"
    path.mkdir()
    records = [
        {
            "id": f"q{i}",
            "sample": j,
            "correct": i < 2,
            "tokens": 10 * (i + 1),
            "truncated": i == 3,
            "vote": 0 if i < 2 else 1,
        }
        for i in range(4)
        for j in range(2)
    ]
    summary = {
        "benchmark": "math500",
        "name": "run",
        "settings": SETTINGS,
        "metrics": summarize(records, groups={"level": {"q0": "1", "q1": "2", "q2": "2", "q3": "10"}}),
        "per_problem": problem_table(records).to_dict(),
    }
    (path / "math500.summary.json").write_text(json.dumps(summary))
    assert main(["report", str(path), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    # avg@2 50 %, pass@2 50 %, maj@2 50 %, tokens 15 correct / 35 incorrect, 25 % truncated, completed 2/3
    assert "| run | MATH-500 | 2 | 50.0 [" in printed
    assert "| 50.0 | 50.0 | 15 | 35 | 25.0 | 66.7 |" in printed
    assert "By level: accuracy % / mean tokens (problems)" in printed
    assert "| Run | Benchmark | 1 | 2 | 10 |" in printed  # numeric levels in numeric order
    assert "| run | MATH-500 | 100.0 / 10 (1) | 50.0 / 25 (2) | 0.0 / 40 (1) |" in printed


def test_benchmarks_in_an_average_are_resampled_independently(tmp_path, capsys):
    """AIME24 and AIME25 have 30 problems each. Resampled with one seed, their bootstrap draws
    would be the same, so two benchmarks with the same per-problem results would move together
    and the average's interval would be as wide as each one's; independent draws narrow it by
    about 1/sqrt(2)."""
    from lead.eval.metrics import benchmark_seed

    same = {"aime24": (15, 1000), "aime25": (15, 1000)}
    base = _run(tmp_path, "base", same, problems=30)
    run = _run(tmp_path, "run", {"aime24": (10, 1000), "aime25": (10, 1000)}, problems=30)
    assert main(["report", str(run), "--base", str(base), "--out", str(tmp_path / "report")]) == 0
    row = next(r for r in json.loads((tmp_path / "report" / "report.json").read_text())["rows"] if r["name"] == "run")
    width = {b: row["vs_base"][b]["accuracy_ci"][1] - row["vs_base"][b]["accuracy_ci"][0] for b in same}
    average = row["vs_base_average"]["accuracy_ci"]
    assert average[1] - average[0] < 0.85 * min(width.values())
    # Reproducible: the seed comes from the base seed and the name through SHA-256, not hash().
    assert benchmark_seed(0, "aime24") == 17189456779645552526
    assert benchmark_seed(0, "aime24") not in (benchmark_seed(0, "aime25"), benchmark_seed(1, "aime24"))
    capsys.readouterr()
    assert main(["report", str(run), "--base", str(base), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.json").read_text() == (tmp_path / "report" / "report.json").read_text()

"""`lead data`: verl training parquet and normalised evaluation sets, on built fixtures and real data."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lead.cli import main as lead_main
from lead.data import sources
from lead.data.eval_sets import BENCHMARKS, INSTRUCTION, build_prompt, load_benchmark
from lead.data.prepare import DEFAULT_DATA_SOURCE
from lead.rewards.math import DEFAULT_TIMEOUT_S
from lead.rewards.verifier import get_pool

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data not present")

EXPECTED_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [("index", pa.int64()), ("level", pa.string()), ("split", pa.string()), ("subject", pa.string())]
            ),
        ),
    ]
)


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _math_problem(n: int, level: int | str, subject: str = "Algebra") -> dict:
    return {
        "problem": f"What is ${n} + {n}$?",
        "level": level if isinstance(level, str) else f"Level {level}",
        "type": subject,
        "solution": f"We add: ${n} + {n} = \\boxed{{{2 * n}}}$.",
    }


@pytest.fixture
def math_fixture(tmp_path: Path) -> dict:
    """A miniature MATH release (one JSON file per problem) and a MATH-500 file."""
    root = tmp_path / "MATH"
    problems = {
        "train/algebra/1.json": _math_problem(1, 3),
        "train/algebra/2.json": _math_problem(2, 4),
        "train/algebra/3.json": _math_problem(3, 1),  # level too low
        "train/geometry/4.json": _math_problem(4, 5, "Geometry"),
        "train/geometry/5.json": {**_math_problem(5, 5, "Geometry"), "problem": "What is  $4 + 4$?"},  # 4 again
        "train/number_theory/6.json": {**_math_problem(6, 4, "Number Theory"), "solution": "No box here."},
        "train/number_theory/7.json": {**_math_problem(7, 3, "Number Theory"), "problem": "   "},
        "train/prealgebra/8.json": _math_problem(8, "Level ?", "Prealgebra"),
        "test/precalculus/9.json": _math_problem(9, 5, "Precalculus"),  # in MATH-500 (by id and text)
        "test/precalculus/10.json": _math_problem(10, 3, "Precalculus"),
        "test/algebra/11.json": {**_math_problem(11, 4), "problem": "What is $12 + 12$? \n"},  # MATH-500 text
        "test/algebra/12.json": {
            **_math_problem(12, 5),
            "problem": "Where is the point?",
            "solution": r"So $x = \boxed{\frac{1}{2}}$, not \fbox{3}... "
            r"actually \boxed{\left( 3, \frac{\pi}{2} \right)}.",
        },
    }
    for rel, row in problems.items():
        _write_json(root / rel, row)
    math500 = tmp_path / "math500.jsonl"
    _write_jsonl(
        math500,
        [
            {
                "problem": "What is $9 + 9$?",
                "solution": "...",
                "answer": "18",
                "subject": "Precalculus",
                "level": 5,
                "unique_id": "test/precalculus/9.json",
            },
            {
                "problem": "What is $12 + 12$?",
                "solution": "...",
                "answer": "24",
                "subject": "Algebra",
                "level": 2,
                "unique_id": "test/algebra/99.json",
            },
            {
                "problem": "Name the planet.",
                "solution": "...",
                "answer": r"\text{Mars}",
                "subject": "Prealgebra",
                "level": 1,
                "unique_id": "test/prealgebra/5.json",
            },
            {"problem": "", "solution": "...", "answer": "1", "subject": "Algebra", "level": 1, "unique_id": "x"},
        ],
    )
    return {"root": root, "math500": math500}


def _read(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_math_training_set_from_local_files(math_fixture, tmp_path, capsys):
    out = tmp_path / "out"
    rc = lead_main(
        [
            "data",
            "math",
            "--source",
            str(math_fixture["root"]),
            "--math500",
            str(math_fixture["math500"]),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert pq.read_schema(out / "train.parquet").remove_metadata() == EXPECTED_SCHEMA
    assert pq.read_schema(out / "test.parquet").remove_metadata() == EXPECTED_SCHEMA
    train, test = _read(out / "train.parquet"), _read(out / "test.parquet")

    answers = {row["reward_model"]["ground_truth"] for row in train}
    # Kept: 1 (L3), 2 (L4), 4 (L5), 10 (L3), 12 (L5, last box). Dropped: 3 (L1), 5 (duplicate
    # of 4 up to spaces), 6 (no answer), 7 (no problem), 8 (level ?), 9 and 11 (in MATH-500).
    assert sorted(answers, key=str) == sorted(["2", "4", "8", "20", r"\left( 3, \frac{\pi}{2} \right)"], key=str)
    for row in train:
        assert row["data_source"] == DEFAULT_DATA_SOURCE and row["ability"] == "math"
        assert row["reward_model"]["style"] == "rule"
        assert len(row["prompt"]) == 1 and row["prompt"][0]["role"] == "user"
        assert row["prompt"][0]["content"].endswith(" " + INSTRUCTION)
        assert row["extra_info"]["split"] == "train"
        assert row["extra_info"]["level"] in {"3", "4", "5"}
    by_answer = {row["reward_model"]["ground_truth"]: row for row in train}
    assert by_answer["8"]["extra_info"]["subject"] == "Geometry"
    assert by_answer["2"]["prompt"][0]["content"] == "What is $1 + 1$? " + INSTRUCTION

    assert [row["reward_model"]["ground_truth"] for row in test] == ["18", "24", r"\text{Mars}"]
    assert [row["extra_info"]["index"] for row in test] == [0, 1, 2]
    assert {row["extra_info"]["split"] for row in test} == {"test"}
    assert [row["extra_info"]["level"] for row in test] == ["5", "2", "1"]
    train_problems = {sources.problem_key(r["prompt"][0]["content"]) for r in train}
    assert not train_problems & {sources.problem_key(r["prompt"][0]["content"]) for r in test}

    report = capsys.readouterr().out
    assert "math/train.parquet: read 12, wrote 5" in report
    for reason in (
        "1 duplicate problem",
        "1 no answer",
        "1 no problem text",
        "1 no level",
        "2 in MATH-500",
        "1 level outside 3-5",
    ):
        assert reason in report
    assert "math/test.parquet (MATH-500): read 4, wrote 3 (dropped: 1 no problem text)" in report


def test_indices_are_stable_across_runs_and_unique(math_fixture, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert (
            lead_main(
                [
                    "data",
                    "math",
                    "--source",
                    str(math_fixture["root"]),
                    "--math500",
                    str(math_fixture["math500"]),
                    "--out",
                    str(out),
                    "--levels",
                    "4-5",
                ]
            )
            == 0
        )
        outs.append(_read(out / "train.parquet"))
    first, second = outs
    assert first == second
    indices = [row["extra_info"]["index"] for row in first]
    assert len(set(indices)) == len(indices)
    assert all(row["extra_info"]["level"] in {"4", "5"} for row in first)
    # The index is the problem's position in the source, so it survives a change of filter.
    wider = tmp_path / "wider"
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(math_fixture["root"]),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(wider),
            ]
        )
        == 0
    )
    wide_index = {r["reward_model"]["ground_truth"]: r["extra_info"]["index"] for r in _read(wider / "train.parquet")}
    for row in first:
        assert wide_index[row["reward_model"]["ground_truth"]] == row["extra_info"]["index"]


def test_prepared_file_as_source_keeps_its_indices(math_fixture, tmp_path):
    first = tmp_path / "first"
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(math_fixture["root"]),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(first),
            ]
        )
        == 0
    )
    again = tmp_path / "again"
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(first / "train.parquet"),
                "--math500",
                str(first / "test.parquet"),
                "--out",
                str(again),
            ]
        )
        == 0
    )
    assert _read(again / "train.parquet") == _read(first / "train.parquet")
    assert _read(again / "test.parquet") == _read(first / "test.parquet")


def test_dapo_prompts_are_unwrapped_and_deduplicated(math_fixture, tmp_path, capsys):
    rows = []
    for copy in range(3):
        for n in range(4):
            rows.append(
                {
                    "data_source": "math_dapo",
                    "prompt": [
                        {"role": "user", "content": sources.DAPO_PREFIX + f"Compute ${n}^2$." + sources.DAPO_SUFFIX}
                    ],
                    "ability": "MATH",
                    "reward_model": {"ground_truth": str(n * n), "style": "rule-lighteval/MATH_v2"},
                    "extra_info": {"index": f"uuid-{n}-{copy}"},
                }
            )
    rows.append(
        {
            **rows[0],
            "reward_model": {"ground_truth": "", "style": "rule"},
            "prompt": [{"role": "user", "content": "Compute $7^2$."}],
        }
    )
    source = tmp_path / "dapo.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    out = tmp_path / "dapo"
    assert (
        lead_main(
            [
                "data",
                "dapo",
                "--source",
                str(source),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(out),
                "--data-source",
                "dapo",
            ]
        )
        == 0
    )
    train = _read(out / "train.parquet")
    assert [r["prompt"][0]["content"] for r in train] == [build_prompt(f"Compute ${n}^2$.") for n in range(4)]
    assert [r["reward_model"]["ground_truth"] for r in train] == ["0", "1", "4", "9"]
    assert [r["extra_info"]["index"] for r in train] == [0, 1, 2, 3]
    assert {r["data_source"] for r in train} == {"dapo"}
    assert {r["extra_info"]["level"] for r in train} == {None}
    report = capsys.readouterr().out
    assert "dapo/train.parquet: read 13, wrote 4 (dropped: 8 duplicate problem, 1 no answer)" in report


def test_deepscaler_from_jsonl(math_fixture, tmp_path):
    source = tmp_path / "deepscaler.jsonl"
    _write_jsonl(
        source,
        [
            {"problem": "Find $x$ if $2x = 1$.", "answer": r"\frac{1}{2}", "solution": "x = 1/2"},
            {"problem": "What is $12 + 12$?", "answer": "24", "solution": ""},  # a MATH-500 problem
            {"problem": "How many?", "answer": 27.0, "solution": ""},
        ],
    )
    out = tmp_path / "ds"
    assert (
        lead_main(
            [
                "data",
                "deepscaler",
                "--source",
                str(source),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    train = _read(out / "train.parquet")
    assert [r["reward_model"]["ground_truth"] for r in train] == [r"\frac{1}{2}", "27"]
    assert [r["extra_info"]["index"] for r in train] == [0, 2]


def test_hf_download_reads_every_config_and_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(repo, config, split):
        calls.append((repo, config, split))
        return [{"problem": f"{config}/{split}", "solution": r"\boxed{1}", "level": "Level 3", "type": "Algebra"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = sources.load_hf(sources.HF_SOURCES["math"])
    assert len(rows) == 14
    assert calls == [
        ("EleutherAI/hendrycks_math", c, s) for c in sources.MATH_SUBJECT_CONFIGS for s in ("train", "test")
    ]


# ---------------------------------------------------------------- evaluation sets


@pytest.fixture
def eval_fixture(tmp_path: Path) -> Path:
    """Raw benchmark files in the formats their public sources use."""
    raw = tmp_path / "raw"
    _write_jsonl(
        raw / "math500.jsonl",
        [
            {
                "problem": "Convert $(0,3)$ to polar.",
                "solution": "...",
                "answer": r"\left( 3, \frac{\pi}{2} \right)",
                "subject": "Precalculus",
                "level": 2,
                "unique_id": "test/precalculus/807.json",
            },
        ],
    )
    _write_jsonl(
        raw / "aime24.jsonl",
        [
            {"id": 60, "problem": "AIME problem A.", "solution": "...", "answer": "025", "url": "u"},
            {"id": 61, "problem": "AIME problem B.", "solution": "...", "answer": "204", "url": "u"},
        ],
    )
    _write_jsonl(raw / "aime25.jsonl", [{"problem": "AIME 2025 problem.", "answer": "70"}])
    _write_jsonl(
        raw / "amc23.jsonl",
        [
            {"id": 0, "problem": "AMC problem.", "answer": 27.0, "url": "u"},
            {"id": 1, "problem": "AMC problem 2.", "answer": 0.5, "url": "u"},
        ],
    )
    _write_jsonl(
        raw / "olympiadbench.jsonl",
        [
            {
                "id": 1606,
                "subfield": "Combinatorics",
                "context": None,
                "question": "Olympiad question?",
                "solution": ["..."],
                "final_answer": ["$(3,2),(-3,2)$"],
                "is_multiple_answer": True,
                "unit": None,
                "answer_type": "Tuple",
                "error": None,
            },
            {
                "id": 1607,
                "subfield": "Algebra",
                "context": "Let $f(x)=x^2$.",
                "question": "Find $f(2)$.",
                "solution": ["..."],
                "final_answer": ["4"],
                "is_multiple_answer": False,
                "unit": None,
                "answer_type": "Numerical",
                "error": None,
            },
            {
                "id": 1608,
                "subfield": "Algebra",
                "context": None,
                "question": "Broken row.",
                "solution": ["..."],
                "final_answer": [],
                "is_multiple_answer": False,
                "unit": None,
                "answer_type": "Numerical",
                "error": None,
            },
        ],
    )
    _write_jsonl(
        raw / "minerva_math.jsonl",
        [
            {
                "problem": "Find the diameter.",
                "solution": r"So $d = \boxed{1.6} \mathrm{~cm}$.",
                "type": "Astronomy",
                "idx": 0,
            },
        ],
    )
    return raw


def test_eval_sets_normalised(eval_fixture, tmp_path, capsys):
    out = tmp_path / "eval"
    assert lead_main(["data", "eval", "--source", str(eval_fixture), "--out", str(out)]) == 0
    sets = {name: load_benchmark(name, out) for name in BENCHMARKS}
    assert {name: len(records) for name, records in sets.items()} == {
        "math500": 1,
        "aime24": 2,
        "aime25": 1,
        "amc23": 2,
        "olympiadbench": 2,
        "minerva": 1,
    }
    assert sets["math500"][0] == {
        "id": "test/precalculus/807.json",
        "benchmark": "math500",
        "problem": "Convert $(0,3)$ to polar.",
        "answer": [r"\left( 3, \frac{\pi}{2} \right)"],
        "level": "2",
        "subject": "Precalculus",
    }
    assert [r["answer"] for r in sets["aime24"]] == [["025"], ["204"]]
    assert [r["id"] for r in sets["aime24"]] == ["60", "61"]
    assert sets["aime25"][0]["id"] == "0"
    assert [r["answer"] for r in sets["amc23"]] == [["27"], ["0.5"]]
    olympiad = sets["olympiadbench"]
    assert olympiad[0]["answer"] == ["(3,2),(-3,2)"] and olympiad[0]["subject"] == "Combinatorics"
    assert olympiad[1]["problem"] == "Let $f(x)=x^2$.\n\nFind $f(2)$."
    assert sets["minerva"][0]["answer"] == ["1.6"] and sets["minerva"][0]["subject"] == "Astronomy"
    # Answers are ready for the grader: math-verify parses each gold as equivalent to itself.
    pool = get_pool()
    assert all(pool.check(r["answer"][0], r["answer"], timeout=DEFAULT_TIMEOUT_S) for rs in sets.values() for r in rs)
    assert "olympiadbench.jsonl: read 3, wrote 2 (dropped: 1 no answer)" in capsys.readouterr().out


def test_eval_subset_and_errors(eval_fixture, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        lead_main(["data", "eval", "--source", str(eval_fixture), "--out", str(out), "--benchmarks", "aime24,amc23"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["aime24.jsonl", "amc23.jsonl"]
    with pytest.raises(FileNotFoundError, match=r"lead data eval --out"):
        load_benchmark("math500", out)
    with pytest.raises(ValueError, match="unknown benchmark 'aime2024'; choose from math500, aime24"):
        load_benchmark("aime2024", out)
    (out / "aime25.jsonl").write_text('{"id": "1", "benchmark": "aime25", "problem": "p", "answer": "5"}\n')
    with pytest.raises(ValueError, match=r"aime25.jsonl:1: 'answer' must be a non-empty list"):
        load_benchmark("aime25", out)
    (out / "aime25.jsonl").write_text('{"id": "1", "benchmark": "aime24", "problem": "p", "answer": ["5"]}\n')
    with pytest.raises(ValueError, match="record of benchmark 'aime24' in the 'aime25' file"):
        load_benchmark("aime25", out)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        lead_main(["data", "eval", "--benchmarks", "aime24,gsm8k"])
    assert "unknown benchmark(s) gsm8k" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert lead_main(["data", "eval", "--source", str(empty), "--out", str(out)]) == 1
    assert "no file for math500 in" in capsys.readouterr().err


def test_bad_arguments_fail_clearly(math_fixture, tmp_path, capsys):
    with pytest.raises(SystemExit):
        lead_main(["data", "math", "--levels", "5-3"])
    assert "levels range '5-3' is empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        lead_main(["data", "math", "--levels", "hard"])
    assert "levels must look like 3-5" in capsys.readouterr().err
    missing = tmp_path / "nope.jsonl"
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(missing),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert f"source {missing} does not exist" in capsys.readouterr().err
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(math_fixture["root"]),
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(tmp_path / "o"),
                "--levels",
                "9",
            ]
        )
        == 1
    )
    assert "no training problem left" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("025", "025"),
        ("0", "0"),
        (27.0, "27"),
        (0.5, "0.5"),
        (3, "3"),
        ("$x^2$", "x^2"),
        (r"\$5", r"\$5"),
        ("  ", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ([1], None),
    ],
)
def test_clean_answer(value, expected):
    assert sources.clean_answer(value) == expected


@pytest.mark.parametrize("value, expected", [("Level 3", "3"), (3, "3"), ("4", "4"), ("Level ?", None), (None, None)])
def test_level_of(value, expected):
    assert sources.level_of({"level": value}) == expected


def test_build_prompt():
    assert build_prompt("  What is 1+1?\n") == "What is 1+1? " + INSTRUCTION
    assert INSTRUCTION == "Let's think step by step and output the final answer within \\boxed{}."
    with pytest.raises(ValueError, match="problem must be a non-empty string"):
        build_prompt(" ")


# ---------------------------------------------------------------- real data


@needs_shared
def test_real_math_data_round_trip(tmp_path):
    """The paper's files, used as sources, come back with the same schema, prompts and answers."""
    shipped_train = SHARED_DATA / "train" / "math_l3to5_train.parquet"
    shipped_test = SHARED_DATA / "train" / "math500_test.parquet"
    out = tmp_path / "math"
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                str(shipped_train),
                "--math500",
                str(SHARED_DATA / "eval" / "math500.jsonl"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert pq.read_schema(out / "train.parquet").remove_metadata() == pq.read_schema(shipped_train).remove_metadata()
    train, test = _read(out / "train.parquet"), _read(out / "test.parquet")
    original = {r["extra_info"]["index"]: r for r in _read(shipped_train)}
    assert len(original) == 8521
    # Two problems appear twice (one of them with different spacing); each is kept once.
    assert len(train) == 8519
    for row in train:
        assert row == original[row["extra_info"]["index"]]
    levels = {r["extra_info"]["level"] for r in train}
    assert levels == {"3", "4", "5"}

    shipped_val = _read(shipped_test)
    assert len(test) == 500
    for ours, theirs in zip(test, shipped_val):
        assert ours["prompt"] == theirs["prompt"]
        assert ours["reward_model"] == theirs["reward_model"]
        assert ours["extra_info"]["index"] == theirs["extra_info"]["index"]
        assert ours["extra_info"]["split"] == "test"
    train_keys = {sources.problem_key(r["prompt"][0]["content"]) for r in train}
    assert not train_keys & {sources.problem_key(r["prompt"][0]["content"]) for r in test}


@needs_shared
def test_real_eval_sets(tmp_path):
    out = tmp_path / "eval"
    assert lead_main(["data", "eval", "--source", str(SHARED_DATA / "eval"), "--out", str(out)]) == 0
    counts = {name: len(load_benchmark(name, out)) for name in BENCHMARKS}
    assert counts == {"math500": 500, "aime24": 30, "aime25": 30, "amc23": 40, "olympiadbench": 675, "minerva": 272}
    aime24 = load_benchmark("aime24", out)
    assert all(len(r["answer"]) == 1 and r["answer"][0].isdigit() for r in aime24)
    assert all(r["answer"][0].lstrip("-").isdigit() for r in load_benchmark("amc23", out))
    olympiad = load_benchmark("olympiadbench", out)
    assert not any("$" in a.replace(r"\$", "") for r in olympiad for a in r["answer"])
    math500 = load_benchmark("math500", out)
    shipped = [json.loads(line) for line in (SHARED_DATA / "eval" / "math500.jsonl").open(encoding="utf-8")]
    assert [r["problem"] for r in math500] == [s["problem"].strip() for s in shipped]
    assert [r["id"] for r in math500] == [s["unique_id"] for s in shipped]


def test_failed_download_names_the_option_for_a_local_copy(math_fixture, tmp_path, capsys, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'HuggingFaceH4/MATH-500' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert lead_main(["data", "math", "--source", str(math_fixture["root"]), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "cannot download HuggingFaceH4/MATH-500" in err and "OfflineModeIsEnabled" in err
    assert "pass a local copy with --math500 PATH" in err
    assert lead_main(["data", "math", "--math500", str(math_fixture["math500"]), "--out", str(tmp_path / "o")]) == 1
    assert "pass a local copy with --source PATH" in capsys.readouterr().err
    assert lead_main(["data", "eval", "--benchmarks", "aime24", "--out", str(tmp_path / "e")]) == 1
    assert "pass a local copy with --source DIR" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


def test_a_source_that_is_not_a_file_says_so(math_fixture, tmp_path, capsys):
    assert (
        lead_main(
            [
                "data",
                "math",
                "--source",
                "/dev/null",
                "--math500",
                str(math_fixture["math500"]),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "source /dev/null is neither a regular file nor a directory" in err
    assert "does not exist" not in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_output_files_follow_the_umask(math_fixture, eval_fixture, tmp_path, umask, mode):
    import os
    import stat

    previous = os.umask(umask)
    try:
        assert (
            lead_main(
                [
                    "data",
                    "math",
                    "--source",
                    str(math_fixture["root"]),
                    "--math500",
                    str(math_fixture["math500"]),
                    "--out",
                    str(tmp_path / "math"),
                ]
            )
            == 0
        )
        assert (
            lead_main(
                [
                    "data",
                    "eval",
                    "--source",
                    str(eval_fixture),
                    "--out",
                    str(tmp_path / "eval"),
                    "--benchmarks",
                    "aime24",
                ]
            )
            == 0
        )
    finally:
        os.umask(previous)
    written = [
        tmp_path / "math" / "train.parquet",
        tmp_path / "math" / "test.parquet",
        tmp_path / "eval" / "aime24.jsonl",
    ]
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in written} == {p: mode for p in written}
    assert sorted(p.name for p in (tmp_path / "math").iterdir()) == ["test.parquet", "train.parquet"]

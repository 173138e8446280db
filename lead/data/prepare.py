r"""Training data in verl's RL parquet schema, and evaluation sets in the normalised JSONL format.

Training files have exactly the columns and types of the LEAD paper's data::

    data_source  string                      ("deepscaler" by default, as in the paper's files)
    prompt       list<struct<content, role>> one user message: problem + " " + INSTRUCTION
    ability      string                      "math"
    reward_model struct<ground_truth, style> bare LaTeX answer, "rule"
    extra_info   struct<index: int64, level: string, split: string, subject: string>

``extra_info.index`` is stable: the row's position in its source (a prepared file's own index
is kept), so re-running on the same source gives every problem the same index. ``level`` is a
bare digit string ("3") or null when the source has none. Every training set is written with
MATH-500 as its validation file (``test.parquet``) and with the MATH-500 problems removed from
training. Rows without a problem or an answer are counted and reported, never written;
duplicate problems are kept once.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lead.data import sources
from lead.data.eval_sets import build_prompt, check_benchmark_name, validate_record

DEFAULT_DATA_SOURCE = "deepscaler"
TRAIN_SETS = ("math", "deepscaler", "dapo")


def _parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("index", pa.int64()),
                        ("level", pa.string()),
                        ("split", pa.string()),
                        ("subject", pa.string()),
                    ]
                ),
            ),
        ]
    )


@dataclass
class Report:
    """What happened to the rows of one output file."""

    name: str
    read: int = 0
    written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.dropped.items()))
        return f"{self.name}: read {self.read}, wrote {self.written}" + (f" (dropped: {parts})" if parts else "")


@dataclass
class Problem:
    index: int
    problem: str
    answers: list[str]
    level: str | None
    subject: str | None
    uid: str
    unique_id: str | None


def collect(
    rows: list[dict],
    report: Report,
    keep: Callable[[Problem], str | None] = lambda p: None,
) -> list[Problem]:
    """Rows as :class:`Problem` s: malformed ones and duplicates dropped and counted.

    ``keep(problem)`` returns None to keep a problem or the reason it is left out.
    """
    seen: set[str] = set()
    problems: list[Problem] = []
    for position, row in enumerate(rows):
        report.read += 1
        if not isinstance(row, dict):
            report.drop("not a JSON object")
            continue
        text = sources.problem_of(row)
        if text is None:
            report.drop("no problem text")
            continue
        answers = sources.answers_of(row)
        if not answers:
            report.drop("no answer")
            continue
        index = sources.source_index_of(row)
        problem = Problem(
            index=position if index is None else index,
            problem=text,
            answers=answers,
            level=sources.level_of(row),
            subject=sources.subject_of(row),
            uid=sources.id_of(row, position),
            unique_id=row.get("unique_id") if isinstance(row.get("unique_id"), str) else None,
        )
        reason = keep(problem)
        if reason is not None:
            report.drop(reason)
            continue
        key = sources.problem_key(text)
        if key in seen:
            report.drop("duplicate problem")
            continue
        seen.add(key)
        problems.append(problem)
    return problems


def verl_row(problem: Problem, split: str, data_source: str) -> dict:
    if len(problem.answers) != 1:
        raise ValueError(
            f"problem {problem.uid} has {len(problem.answers)} gold answers {problem.answers!r}; "
            "verl's reward_model.ground_truth holds one"
        )
    return {
        "data_source": data_source,
        "prompt": [{"content": build_prompt(problem.problem), "role": "user"}],
        "ability": "math",
        "reward_model": {"ground_truth": problem.answers[0], "style": "rule"},
        "extra_info": {
            "index": problem.index,
            "level": problem.level,
            "split": split,
            "subject": problem.subject,
        },
    }


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in its folder, renamed into place when complete.
    The file gets the mode of any new file (0666 less the user's umask), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    indices = [r["extra_info"]["index"] for r in rows]
    if len(set(indices)) != len(indices):
        raise ValueError(f"{path}: extra_info.index values are not unique")
    table = pa.Table.from_pylist(rows, schema=_parquet_schema())
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _single_answer(problem: Problem) -> str | None:
    return None if len(problem.answers) == 1 else "several gold answers"


def prepare_train(
    name: str,
    out_dir: str | Path,
    train_rows: list[dict],
    math500_rows: list[dict],
    data_source: str = DEFAULT_DATA_SOURCE,
    levels: tuple[int, int] | None = None,
) -> list[Report]:
    """Write ``out_dir/train.parquet`` (``train_rows``) and ``out_dir/test.parquet`` (MATH-500).

    ``levels=(lo, hi)`` keeps only training problems whose level is in ``[lo, hi]``.
    """
    out_dir = Path(out_dir)
    if not data_source.strip():
        raise ValueError("data_source must be a non-empty string")
    val_report = Report(f"{name}/test.parquet (MATH-500)")
    val = collect(math500_rows, val_report, _single_answer)
    for position, problem in enumerate(val):
        problem.index = position
    val_keys = {sources.problem_key(p.problem) for p in val}
    # MATH names its problems by path ("test/algebra/1.json"); where both sides carry that
    # name it catches a MATH-500 problem whose text was edited.
    val_unique_ids = {p.unique_id for p in val if p.unique_id is not None}

    def keep_train(problem: Problem) -> str | None:
        if sources.problem_key(problem.problem) in val_keys or problem.unique_id in val_unique_ids:
            return "in MATH-500"
        if levels is not None:
            if problem.level is None:
                return "no level"
            if not levels[0] <= int(problem.level) <= levels[1]:
                return f"level outside {levels[0]}-{levels[1]}"
        return _single_answer(problem)

    train_report = Report(f"{name}/train.parquet")
    train = collect(train_rows, train_report, keep_train)
    if not train:
        raise ValueError(f"{name}: no training problem left ({train_report})")
    if not val:
        raise ValueError(f"{name}: no MATH-500 problem read ({val_report})")
    write_parquet([verl_row(p, "train", data_source) for p in train], out_dir / "train.parquet")
    write_parquet([verl_row(p, "test", data_source) for p in val], out_dir / "test.parquet")
    train_report.written, val_report.written = len(train), len(val)
    return [train_report, val_report]


def eval_records(name: str, rows: list[dict], report: Report) -> list[dict]:
    """Rows of benchmark ``name`` in the normalised evaluation format."""
    check_benchmark_name(name)
    records = []
    for problem in collect(rows, report):
        record = {"id": problem.uid, "benchmark": name, "problem": problem.problem, "answer": problem.answers}
        if problem.level is not None:
            record["level"] = problem.level
        if problem.subject is not None:
            record["subject"] = problem.subject
        records.append(validate_record(record, f"{name} problem {problem.uid}"))
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: problem ids are not unique")
    return records


def write_jsonl(records: list[dict], path: Path) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    _atomic_write(path, write)


def prepare_eval(out_dir: str | Path, rows_by_name: dict[str, list[dict]]) -> list[Report]:
    """Write ``out_dir/<name>.jsonl`` for every benchmark in ``rows_by_name``."""
    for name in rows_by_name:
        check_benchmark_name(name)
    reports = []
    for name, rows in rows_by_name.items():
        report = Report(f"{name}.jsonl")
        records = eval_records(name, rows, report)
        if not records:
            raise ValueError(f"{name}: no problem left ({report})")
        write_jsonl(records, Path(out_dir) / f"{name}.jsonl")
        report.written = len(records)
        reports.append(report)
    return reports

r"""Evaluation benchmarks in one normalised JSONL format, and the prompt shared with training.

``lead data eval --out DIR`` writes ``DIR/<name>.jsonl`` for every name in :data:`BENCHMARKS`;
each line is one problem::

    {"id": str, "benchmark": str, "problem": str, "answer": [str, ...],
     "level": str (optional), "subject": str (optional)}

``answer`` lists the acceptable gold answers, ready for :func:`lead.rewards.math.grade`.
"""

from __future__ import annotations

import json
from pathlib import Path

INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."

BENCHMARKS: tuple[str, ...] = ("math500", "aime24", "aime25", "amc23", "olympiadbench", "minerva")

REQUIRED_FIELDS = ("id", "benchmark", "problem", "answer")


def build_prompt(problem: str) -> str:
    """The user message for ``problem``: the problem, one space, then :data:`INSTRUCTION`."""
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError(f"problem must be a non-empty string, got {problem!r}")
    return problem.strip() + " " + INSTRUCTION


def check_benchmark_name(name: str) -> str:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    return name


def benchmark_path(name: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / f"{check_benchmark_name(name)}.jsonl"


def validate_record(record: object, where: str) -> dict:
    """``record`` if it has the normalised format, else ValueError naming ``where``."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    for key in ("id", "benchmark", "problem"):
        if not isinstance(record[key], str) or not record[key].strip():
            raise ValueError(f"{where}: {key!r} must be a non-empty string, got {record[key]!r}")
    answer = record["answer"]
    if not isinstance(answer, list) or not answer or not all(isinstance(a, str) and a.strip() for a in answer):
        raise ValueError(f"{where}: 'answer' must be a non-empty list of non-empty strings, got {answer!r}")
    for key in ("level", "subject"):
        if key in record and not isinstance(record[key], str):
            raise ValueError(f"{where}: {key!r} must be a string, got {record[key]!r}")
    return record


def load_benchmark(name: str, data_dir: str | Path) -> list[dict]:
    """The problems of benchmark ``name`` from ``<data_dir>/<name>.jsonl`` (normalised format).

    Raises ValueError for an unknown name or a malformed line (naming file and line), and
    FileNotFoundError, with the command that creates the file, when it is absent.
    """
    path = benchmark_path(name, data_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"benchmark file {path} not found; create it with: lead data eval --out {Path(data_dir)}"
        )
    records = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
            record = validate_record(record, where)
            if record["benchmark"] != name:
                raise ValueError(f"{where}: record of benchmark {record['benchmark']!r} in the {name!r} file")
            records.append(record)
    if not records:
        raise ValueError(f"{path} holds no problems")
    return records

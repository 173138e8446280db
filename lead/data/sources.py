r"""Where problems come from: Hugging Face datasets or local files, read into plain dicts.

Every public source is named here once (``HF_SOURCES``); ``--source PATH`` replaces the download
with local rows in any of the formats the sources ship: JSONL, JSON (a list of objects or one
object), Parquet, or a directory of those (e.g. the original MATH release, one JSON object per
problem under ``train/<subject>/<n>.json``; such a file's path relative to the directory becomes
its ``unique_id``, which is how MATH-500 names its problems).

Field names differ between sources; :func:`problem_of`, :func:`answers_of`, :func:`level_of`
and :func:`subject_of` read any of them, including verl-format rows (``prompt`` messages and
``reward_model.ground_truth``), so a prepared parquet file can itself be a source.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lead.data.eval_sets import INSTRUCTION
from lead.rewards.math import extract_answer


@dataclass(frozen=True)
class HFSource:
    """One public dataset: ``datasets.load_dataset(repo, config, split=split)`` per config/split."""

    repo: str
    splits: tuple[str, ...]
    configs: tuple[str | None, ...] = (None,)

    def describe(self) -> str:
        configs = "" if self.configs == (None,) else f" configs {','.join(self.configs)}"
        return f"{self.repo}{configs} split {'+'.join(self.splits)}"


MATH_SUBJECT_CONFIGS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)

HF_SOURCES: dict[str, HFSource] = {
    # All 12,500 MATH problems (train and test); MATH-500 is removed from them afterwards.
    "math": HFSource("EleutherAI/hendrycks_math", ("train", "test"), MATH_SUBJECT_CONFIGS),
    "math500": HFSource("HuggingFaceH4/MATH-500", ("test",)),
    "deepscaler": HFSource("agentica-org/DeepScaleR-Preview-Dataset", ("train",)),
    "dapo": HFSource("BytedTsinghua-SIA/DAPO-Math-17k", ("train",)),
    "aime24": HFSource("HuggingFaceH4/aime_2024", ("train",)),
    "aime25": HFSource("math-ai/aime25", ("test",)),
    "amc23": HFSource("math-ai/amc23", ("test",)),
    "olympiadbench": HFSource("Hothan/OlympiadBench", ("train",), ("OE_TO_maths_en_COMP",)),
    "minerva": HFSource("math-ai/minervamath", ("test",)),
}

# File stems a local benchmark directory may use for each benchmark (first found wins).
LOCAL_NAMES: dict[str, tuple[str, ...]] = {
    "math500": ("math500", "math-500", "MATH-500", "test"),
    "aime24": ("aime24", "aime_2024", "aime2024"),
    "aime25": ("aime25", "aime_2025", "aime2025"),
    "amc23": ("amc23", "amc_2023", "amc2023"),
    "olympiadbench": ("olympiadbench", "olympiad_bench", "OlympiadBench"),
    "minerva": ("minerva", "minerva_math", "minervamath"),
}

FILE_SUFFIXES = (".jsonl", ".json", ".parquet")

# DAPO-Math-17k wraps every problem in its own answer-format instructions.
DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be of "
    "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def load_hf(source: HFSource) -> list[dict]:
    """Download ``source`` with the ``datasets`` library (needs Hugging Face hub access)."""
    import datasets

    rows: list[dict] = []
    for config in source.configs:
        for split in source.splits:
            rows.extend(dict(r) for r in datasets.load_dataset(source.repo, config, split=split))
    return rows


def _read_file(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg})") from None
    return data if isinstance(data, list) else [data]


def read_local(path: str | Path) -> list[dict]:
    """Rows of a local file or directory (see the module docstring), in a stable order."""
    path = Path(path)
    if path.is_file():
        if path.suffix not in FILE_SUFFIXES:
            raise ValueError(f"{path}: unsupported file type; use one of {', '.join(FILE_SUFFIXES)}")
        return _read_file(path)
    if not path.exists():
        raise FileNotFoundError(f"source {path} does not exist")
    if not path.is_dir():
        raise ValueError(
            f"source {path} is neither a regular file nor a directory; give a "
            f"{'/'.join(FILE_SUFFIXES)} file or a directory of them"
        )
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FILE_SUFFIXES)
    if not files:
        raise ValueError(f"source directory {path} has no {'/'.join(FILE_SUFFIXES)} files")
    rows = []
    for file in files:
        for row in _read_file(file):
            if isinstance(row, dict) and file.suffix == ".json" and "unique_id" not in row:
                row = {**row, "unique_id": file.relative_to(path).as_posix()}
            rows.append(row)
    return rows


def find_local_benchmark(directory: Path, name: str) -> Path | None:
    for stem in LOCAL_NAMES[name]:
        for suffix in FILE_SUFFIXES:
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _first_str(row: dict, keys: Iterable[str]) -> str | None:
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _strip_wrappers(text: str) -> str:
    text = text.strip()
    for suffix in (INSTRUCTION, DAPO_SUFFIX.strip()):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if text.startswith(DAPO_PREFIX.strip()):
        text = text[len(DAPO_PREFIX.strip()) :]
    return text.strip()


def problem_of(row: dict) -> str | None:
    """The bare problem statement (instruction wrappers removed), or None when there is none."""
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        user = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if user and isinstance(user[-1], str):
            text = _strip_wrappers(user[-1])
            return text or None
    text = _first_str(row, ("problem", "question", "Problem", "Question"))
    if text is None:
        return None
    context = row.get("context")
    if isinstance(context, str) and context.strip():
        text = context.strip() + "\n\n" + text.strip()
    return text.strip()


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def clean_answer(value: Any) -> str | None:
    r"""A gold answer as a bare LaTeX string, or None when it is empty or not an answer.

    Numbers become their shortest exact text (``27.0`` -> ``27``) and math delimiters ``$``
    are removed (``\$`` stays); strings are otherwise kept as written (AIME's ``025`` stays,
    math-verify reads it as 25).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = _UNESCAPED_DOLLAR.sub("", value).strip()
    return text or None


def answers_of(row: dict) -> list[str]:
    """The acceptable gold answers of ``row`` (empty when it has none).

    Read from, in order: ``reward_model.ground_truth``, ``answer``/``final_answer`` (a value
    or a list), or the last ``\\boxed{}`` of ``solution``.
    """
    reward_model = row.get("reward_model")
    candidates: Any = None
    if isinstance(reward_model, dict) and reward_model.get("ground_truth") is not None:
        candidates = reward_model["ground_truth"]
    else:
        for key in ("answer", "final_answer", "Answer", "gt_answer"):
            if row.get(key) is not None:
                candidates = row[key]
                break
    if candidates is None:
        solution = row.get("solution", row.get("Solution"))
        if isinstance(solution, list):
            solution = solution[0] if solution else None
        if isinstance(solution, str):
            candidates = extract_answer(solution)
    if not isinstance(candidates, (list, tuple)):
        candidates = [candidates]
    answers = []
    for candidate in candidates:
        cleaned = clean_answer(candidate)
        if cleaned is not None and cleaned not in answers:
            answers.append(cleaned)
    return answers


_LEVEL = re.compile(r"^(?:level\s*)?(\d+)$", re.IGNORECASE)


def level_of(row: dict) -> str | None:
    """The difficulty level as a bare digit string (``"Level 3"``, 3 and ``"3"`` -> ``"3"``)."""
    extra = row.get("extra_info")
    value = row.get("level")
    if value is None and isinstance(extra, dict):
        value = extra.get("level")
    if isinstance(value, bool) or value is None:
        return None
    match = _LEVEL.match(str(value).strip())
    return match.group(1) if match else None


def subject_of(row: dict) -> str | None:
    extra = row.get("extra_info")
    if isinstance(extra, dict) and isinstance(extra.get("subject"), str):
        return extra["subject"]
    return _first_str(row, ("subject", "type", "subfield"))


def source_index_of(row: dict) -> int | None:
    """An integer index the row already carries (a prepared verl file), else None."""
    extra = row.get("extra_info")
    if isinstance(extra, dict):
        index = extra.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
    return None


def id_of(row: dict, position: int) -> str:
    for key in ("unique_id", "id", "ID", "idx"):
        value = row.get(key)
        if value is not None and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return str(position)


def problem_key(problem: str) -> str:
    """Identity of a problem for de-duplication and train/validation exclusion."""
    return " ".join(problem.split())

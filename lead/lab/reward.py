"""The lab task's reward for verl's reward loop: ``reward.custom_reward_function.path=pkg://lead.lab.reward``.

verl hands the reward the decoded response without special tokens, so ``<eos>`` is gone; a
response ended at ``<eos>`` exactly when it is shorter than the response budget (the ``<eos>``
token counts towards it), which ``extra_info["max_response_length"]`` carries. The response is
then graded by the lab's own :func:`lead.lab.task.grade`.
"""

from __future__ import annotations

from typing import Any

from lead.lab.task import EOS, Problem, grade

DATA_SOURCE = "lead_lab"


def problem_from_key(key: str) -> Problem:
    """Inverse of :attr:`Problem.key` (``"4 +3 -5 *2"``)."""
    start, *ops = key.split()
    return Problem(int(start), tuple(ops))


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict[str, Any] | None = None,
                  **kwargs: Any) -> float:
    """1.0 for a correct lab answer, else 0.0."""
    if data_source != DATA_SOURCE:
        raise ValueError(f"lead.lab.reward scores data_source {DATA_SOURCE!r}, not {data_source!r}")
    if not extra_info or "lab_key" not in extra_info or "max_response_length" not in extra_info:
        raise ValueError(f"lead.lab.reward needs extra_info with lab_key and max_response_length, got {extra_info!r}")
    problem = problem_from_key(extra_info["lab_key"])
    if str(problem.answer) != str(ground_truth):
        raise ValueError(f"ground truth {ground_truth!r} is not the answer {problem.answer} of {problem.key!r}")
    tokens = solution_str.split()
    if len(tokens) < int(extra_info["max_response_length"]):
        tokens.append(EOS)
    return float(grade(problem, tokens).correct)

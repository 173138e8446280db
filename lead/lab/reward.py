"""The lab task's reward for verl's reward loop: ``reward.custom_reward_function.path=pkg://lead.lab.reward``.

The problem is read from ``extra_info["subject"]``, which holds its :attr:`Problem.key` in the
lab's data (:func:`lead.lab.verl_loop.export_data`). verl hands the reward the decoded response
without special tokens, so ``<eos>`` is gone; a response ended at ``<eos>`` exactly when it is
shorter than the response budget (the ``<eos>`` token counts towards it), which verl passes as
``max_response_length`` (``reward.custom_reward_function.reward_kwargs``). The response is then
graded by the lab's own :func:`lead.lab.task.grade`.
"""

from __future__ import annotations

from typing import Any

from lead.lab.task import EOS, Problem, grade

DATA_SOURCE = "lead_lab"


def problem_from_key(key: str) -> Problem:
    """Inverse of :attr:`Problem.key` (``"4 +3 -5 *2"``)."""
    start, *ops = key.split()
    return Problem(int(start), tuple(ops))


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    max_response_length: int | None = None,
    **kwargs: Any,
) -> float:
    """1.0 for a correct lab answer, else 0.0."""
    if data_source != DATA_SOURCE:
        raise ValueError(f"lead.lab.reward scores data_source {DATA_SOURCE!r}, not {data_source!r}")
    if max_response_length is None:
        raise ValueError("lead.lab.reward needs max_response_length (reward.custom_reward_function.reward_kwargs)")
    if not extra_info or not extra_info.get("subject"):
        raise ValueError(f"lead.lab.reward needs the problem key in extra_info['subject'], got {extra_info!r}")
    problem = problem_from_key(extra_info["subject"])
    if str(problem.answer) != str(ground_truth):
        raise ValueError(f"ground truth {ground_truth!r} is not the answer {problem.answer} of {problem.key!r}")
    tokens = solution_str.split()
    if len(tokens) < int(max_response_length):
        tokens.append(EOS)
    return float(grade(problem, tokens).correct)

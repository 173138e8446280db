"""Evaluation harness: generate on math benchmarks, grade, summarise, compare runs.

* :mod:`lead.eval.presets`: named sampling settings (sober, deepseek, laser).
* :mod:`lead.eval.models`: Hugging Face ids, local folders and verl checkpoints (merged with verl's merger).
* :mod:`lead.eval.backends`: vLLM, transformers and OpenAI-compatible-server generation with per-sample seeds.
* :mod:`lead.eval.runner`: the resumable evaluation loop and its result files.
* :mod:`lead.eval.sweeps`: budget sweeps (exact reuse of finished responses) and checkpoint sweeps.
* :mod:`lead.eval.metrics`: avg@n, unbiased pass@k, maj@k, length statistics, bootstrap intervals, AES.
* :mod:`lead.eval.cli` / :mod:`lead.eval.report`: the ``lead eval`` and ``lead report`` commands.
"""

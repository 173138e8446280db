"""Competing efficient-reasoning methods, one module each, registered in :mod:`lead.core.registry`.

Importing this package imports every method module listed in ``MODULES``.
"""

import importlib

MODULES = (
    "grpo",
    "grpo_len_threshold",
    "efficient_reasoning",
    "kimi_len",
    "truncation",
    "laser",
    "grpo_lambda",
    "hapo",
    "shorter_better",
    "alp",
    "gdpo_static",
)

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")

"""Competing efficient-reasoning methods, one module each, registered in :mod:`lead.core.registry`.

Importing this package imports every method module listed in ``MODULES``.
"""

import importlib

MODULES = ("grpo",)

for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")

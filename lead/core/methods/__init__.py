"""Competing efficient-reasoning methods, one module each, registered in :mod:`lead.core.registry`.

Every module of this package whose name does not start with ``_`` is imported (so registered)
with the package, so a new method is one new file here.
"""

import importlib
import pkgutil


def import_all() -> None:
    """Import every method module of this package (each import is done once)."""
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{name}")


import_all()

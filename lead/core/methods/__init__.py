"""Every advantage method, LEAD's and the competing ones, and how to find and build one.

Each competing method is one module here (whose name does not start with ``_``), registered in
:mod:`lead.core.registry`; importing this package imports all of them and LEAD
(:mod:`lead.core.lead`), so a new method is one new file here plus its config class in
:mod:`lead.core.knobs`.
"""

import importlib
import pkgutil
from typing import Any

import lead.core.lead  # noqa: F401 - registers LEAD
from lead.core.registry import METHODS


def import_all() -> None:
    """Import every method module of this package (each import is done once)."""
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{name}")


def load_methods() -> dict[str, type]:
    """Every registered method by name, after importing each module of this package."""
    import_all()
    return METHODS


def get_method(name: str) -> type:
    methods = load_methods()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; available: {sorted(methods)}")
    return methods[name]


def build_method(name: str, config: Any = None) -> Any:
    """Instantiate method ``name`` from a config mapping (``None`` for the defaults)."""
    cls = get_method(name)
    cfg = config if isinstance(config, cls.config_cls) else cls.config_cls.from_mapping(config or {})
    return cls(cfg)


import_all()

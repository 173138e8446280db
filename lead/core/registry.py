"""The registry of advantage methods: LEAD and the competing methods behind one interface.

A *method* turns one batch of scored rollouts into one advantage per rollout. Every consumer
(the verl estimators, the CPU lab, the benchmarks) goes through this registry, so each formula
is written once, in ``lead/core``.

Interface of a method class (see :class:`Method`):

* ``config_cls``: a dataclass deriving from :class:`lead.core.config.MethodConfig` whose fields
  are the method's knobs (documented, with the defaults of its paper);
* ``__init__(config)``, keeping the config object as ``self.config``;
* ``advantages(batch) -> (adv [N], metrics)`` with metric names prefixed ``<method>/``;
* ``needs_prompt_keys`` (class attribute, default False): True for methods that remember
  prompts across steps and so need ``RolloutBatch.prompt_keys``;
* ``state_dict()`` / ``load_state_dict(state)`` with plain JSON-serialisable data (``{}`` for a
  stateless method); restoring it must make the next call identical to an uninterrupted run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch


@dataclass
class RolloutBatch:
    """What every method sees of one training step's rollouts (``N`` of them).

    ``scores``: summed reward of each rollout, ``[N]``. ``lengths``: response tokens, ``[N]``.
    ``group_ids``: the per-step prompt id (verl's ``uid``) of each rollout; rollouts of one
    prompt share it. ``prompt_keys``: a prompt id that is stable across steps (the dataset's
    ``extra_info.index``), needed only by methods that remember prompts between steps.
    """

    scores: torch.Tensor
    lengths: torch.Tensor
    group_ids: Any
    prompt_keys: Any | None = None


class Method(Protocol):
    name: str
    config_cls: type
    config: Any

    def __init__(self, config: Any) -> None: ...

    def advantages(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


METHODS: dict[str, type] = {}

# Modules that define methods; importing one registers its classes.
_METHOD_MODULES = ("lead.core.lead", "lead.core.methods")


def register_method(name: str) -> Callable[[type], type]:
    """Class decorator: make a method available under ``name`` (also sets ``cls.name``)."""

    def decorator(cls: type) -> type:
        if METHODS.get(name, cls) is not cls:
            raise ValueError(f"method {name!r} is already registered to {METHODS[name].__qualname__}")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorator


def load_methods() -> dict[str, type]:
    """Import every method module and return the registry."""
    for module in _METHOD_MODULES:
        importlib.import_module(module)
    return METHODS


def get_method(name: str) -> type:
    methods = load_methods()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; available: {sorted(methods)}")
    return methods[name]


def cap_knob(name: str) -> str | None:
    """The knob of method ``name`` that caps response length in tokens, or None."""
    return get_method(name).config_cls.cap_knob


def build_method(name: str, config: Any = None) -> Any:
    """Instantiate method ``name`` from a config mapping (``None`` for the defaults)."""
    cls = get_method(name)
    cfg = config if isinstance(config, cls.config_cls) else cls.config_cls.from_mapping(config or {})
    return cls(cfg)

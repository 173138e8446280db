"""The registry of advantage methods: LEAD and the competing methods behind one interface.

A *method* turns one batch of scored rollouts into one advantage per rollout. Every consumer
(the verl estimators, the CPU lab, the benchmarks) goes through this registry, so each formula
is written once, in ``lead/core``. A method is one module: ``lead/core/methods/<name>.py`` is
found and imported by :func:`load_methods`, and its Hydra block ``algorithm.<name>`` is generated
from its config class.

Interface of a method class (see :class:`Method`):

* ``config_cls``: a dataclass deriving from :class:`lead.core.config.MethodConfig` whose fields
  are the method's knobs (documented, with the defaults of its paper; ``correct_threshold`` comes
  from the base), with ``cap_knob`` / ``token_knobs`` / ``per_token_knobs`` naming the knobs tied
  to the response budget (:func:`cap_knob`, :func:`token_knobs`, :func:`per_token_knobs`);
* ``__init__(config)``, keeping the config object as ``self.config``;
* ``advantages(batch) -> (adv [N], metrics)`` with metric names prefixed ``<method>/``;
* ``needs_prompt_keys`` (class attribute, default False): True for methods that remember
  prompts across steps and so need ``RolloutBatch.prompt_keys``;
* ``state_dict()`` / ``load_state_dict(state)`` with plain JSON-serialisable data (``{}`` for a
  stateless method); restoring it must make the next call identical to an uninterrupted run.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
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



def register_method(name: str) -> Callable[[type], type]:
    """Class decorator: make a method available under ``name`` (also sets ``cls.name``).

    The config class's ``cap_knob``, ``token_knobs`` and ``per_token_knobs`` must name its
    fields, and the cap must be one of the token knobs."""

    def decorator(cls: type) -> type:
        if METHODS.get(name, cls) is not cls:
            raise ValueError(f"method {name!r} is already registered to {METHODS[name].__qualname__}")
        config_cls = cls.config_cls
        knobs = {f.name for f in fields(config_cls)}
        declared = (*config_cls.token_knobs, *config_cls.per_token_knobs,
                    *((config_cls.cap_knob,) if config_cls.cap_knob else ()))
        unknown = sorted(set(declared) - knobs)
        if unknown:
            raise ValueError(f"method {name!r}: {config_cls.__qualname__} declares knobs {unknown} it does not have")
        if config_cls.cap_knob and config_cls.cap_knob not in config_cls.token_knobs:
            raise ValueError(f"method {name!r}: cap_knob {config_cls.cap_knob!r} must be one of its token_knobs")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorator


def load_methods() -> dict[str, type]:
    """Import every method module (LEAD's and each one in :mod:`lead.core.methods`) and return
    the registry."""
    importlib.import_module("lead.core.lead")
    importlib.import_module("lead.core.methods").import_all()
    return METHODS


def get_method(name: str) -> type:
    methods = load_methods()
    if name not in methods:
        raise ValueError(f"unknown method {name!r}; available: {sorted(methods)}")
    return methods[name]


def cap_knob(name: str) -> str | None:
    """The knob of method ``name`` that must equal the response cap (the launch budget), or
    None when the method has none: ``bmax`` for LEAD, ``max_length`` for ``truncation``..."""
    return get_method(name).config_cls.cap_knob


def token_knobs(name: str) -> tuple[str, ...]:
    """The knobs of method ``name`` counted in tokens (its cap included), which scale with the
    response budget."""
    return tuple(get_method(name).config_cls.token_knobs)


def per_token_knobs(name: str) -> tuple[str, ...]:
    """The knobs of method ``name`` that are rates per token (they scale inversely with the budget)."""
    return tuple(get_method(name).config_cls.per_token_knobs)


def build_method(name: str, config: Any = None) -> Any:
    """Instantiate method ``name`` from a config mapping (``None`` for the defaults)."""
    cls = get_method(name)
    cfg = config if isinstance(config, cls.config_cls) else cls.config_cls.from_mapping(config or {})
    return cls(cfg)

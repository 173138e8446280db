"""The registry of advantage methods: LEAD and the competing methods behind one interface.

A *method* turns one batch of scored rollouts into one advantage per rollout. Every consumer
(the verl estimators, the CPU lab, the benchmarks) builds methods through
:func:`lead.core.methods.build_method`, so each formula is written once, in ``lead/core``. A
method is a class registered here with :func:`register_method`, in :mod:`lead.core.lead` or a
module of :mod:`lead.core.methods`; its config class, with its knobs and their length roles,
is in :mod:`lead.core.knobs`, and its Hydra block ``algorithm.<name>`` is generated from it.

Interface of a method class (see :class:`Method`):

* ``config_cls``: a dataclass deriving from :class:`lead.core.knobs.MethodConfig` whose fields
  are the method's knobs (documented, with the defaults of its paper; ``correct_threshold`` comes
  from the base), with ``method`` set to the registered name and ``cap_knob`` /
  ``budget_knob`` / ``token_knobs`` / ``per_token_knobs`` naming the knobs tied to the response
  budget (:func:`lead.core.knobs.scaled_knobs`);
* ``__init__(config)``, keeping the config object as ``self.config``;
* ``advantages(batch) -> (adv [N], metrics)`` with metric names prefixed ``<method>/``;
* ``needs_prompt_keys`` (class attribute, default False): True for methods that remember
  prompts across steps and so need ``RolloutBatch.prompt_keys``;
* ``state_dict()`` / ``load_state_dict(state)`` with plain JSON-serialisable data (``{}`` for a
  stateless method); restoring it must make the next call identical to an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from lead.core.knobs import check_roles
from lead.core.rollouts import RolloutBatch


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

    The config class must be the one of method ``name``, and its length roles must name its
    fields (:func:`lead.core.knobs.check_roles`)."""

    def decorator(cls: type) -> type:
        if METHODS.get(name, cls) is not cls:
            raise ValueError(f"method {name!r} is already registered to {METHODS[name].__qualname__}")
        config_cls = cls.config_cls
        if config_cls.method != name:
            raise ValueError(
                f"method {name!r}: its config {config_cls.__qualname__} is for method {config_cls.method!r}"
            )
        try:
            check_roles(config_cls)
        except ValueError as err:
            raise ValueError(f"method {name!r}: {err}") from None
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorator

"""OmegaConf resolvers that tie token counts together in the project's Hydra configs.

OmegaConf has no arithmetic, and a recipe's caps are sums and fractions of one budget
(``max_model_len = prompt + response``, a schedule at 3/4 of the cap). Registered by the plugin in
every process that imports verl, so any process that resolves a config can read them:

* ``${lead.add:a,b,...}``: the sum of integers;
* ``${lead.max:a,b,...}``: the largest;
* ``${lead.mul:x,f}``: ``floor(x * f)``, an integer token count.
"""

from __future__ import annotations

import math

from omegaconf import OmegaConf


def _ints(values: tuple, name: str) -> list[int]:
    if not values:
        raise ValueError(f"${{lead.{name}:...}} needs at least one value")
    out = []
    for value in values:
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"${{lead.{name}:...}} takes token counts (integers), got {value!r}")
        out.append(int(number))
    return out


def _add(*values) -> int:
    return sum(_ints(values, "add"))


def _max(*values) -> int:
    return max(_ints(values, "max"))


def _mul(value, factor) -> int:
    return math.floor(float(value) * float(factor))


def register() -> None:
    """Register the resolvers (idempotent)."""
    for name, fn in (("lead.add", _add), ("lead.max", _max), ("lead.mul", _mul)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)

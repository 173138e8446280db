"""Base of every method's config dataclass (LEAD's and the competing methods').

A config is a dataclass deriving from :class:`MethodConfig` with ``method`` set to its registry
name. Its fields are the method's knobs, each documented by the string under it; the Hydra
blocks ``algorithm.<method>`` are generated from them. It gets ``from_mapping`` (rejects unknown
keys), ``to_dict`` and validation helpers whose errors name the Hydra key
(``algorithm.<method>.<key>``), the bad value and what is allowed.

Class attributes describe knobs to the launcher and the CPU lab: ``cap_knob``, the knob that
must equal the response cap (set from the launch budget), ``token_knobs``, the knobs counted in
tokens, and ``per_token_knobs``, rates per token (both rescaled with the budget).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Mapping, NoReturn


@dataclass
class MethodConfig:
    """Base of the method config dataclasses; subclasses set ``method`` to their registry name."""

    method: ClassVar[str] = ""
    cap_knob: ClassVar[str | None] = None
    token_knobs: ClassVar[tuple[str, ...]] = ()
    per_token_knobs: ClassVar[tuple[str, ...]] = ()

    correct_threshold: float = 0.5
    """A rollout is correct when its summed reward exceeds this. Assumes a 1/0 reward; with
    other reward values (e.g. +1/-1) set it between the two."""

    def __post_init__(self) -> None:
        self.number("correct_threshold")
        self.validate()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "MethodConfig":
        """Build from a dict-like (an omegaconf node converted to a dict, a dict). Unknown keys are an error."""
        values = dict(values or {})
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"algorithm.{cls.method}: unknown key(s) {unknown}; allowed keys are {known}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key, the value and what is allowed (overridden per method)."""

    def invalid(self, key: str, allowed: str) -> NoReturn:
        raise ValueError(f"algorithm.{self.method}.{key}={getattr(self, key)!r} is invalid: {allowed}")

    def number(self, key: str) -> float:
        """The finite number stored under ``key`` (booleans are rejected)."""
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.invalid(key, "expected a finite number")
        return float(value)

    def positive(self, key: str) -> float:
        """The number under ``key``, which must be > 0: an epsilon guarding a division, where 0
        turns a group or batch without variance into NaN advantages."""
        if self.number(key) <= 0:
            self.invalid(key, "expected a value > 0 (it guards a division)")
        return float(getattr(self, key))

    def integer(self, key: str) -> int:
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.invalid(key, "expected an integer")
        return int(value)

    def flag(self, key: str) -> bool:
        value = getattr(self, key)
        if not isinstance(value, bool):
            self.invalid(key, "expected true or false")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = getattr(self, key)
        if value not in options:
            self.invalid(key, f"expected one of {list(options)}")
        return value

"""Plain-language errors for Hydra overrides of keys that do not exist.

Hydra answers ``algorithm.lead.alpah=1`` with advice to append the key with ``+``, which turns a
typo into a silently ignored setting (or a different error later). This module names the unknown
key, where it was looked for, and the closest existing keys.

The paper's release named LEAD's knobs ``algorithm.lead_<knob>`` (``algorithm.lead_alpha=2.0``);
here they are ``algorithm.lead.<knob>``. A release name is refused with its new key, with or
without Hydra's ``+`` (which would add it as a key nothing reads: the run would train with the
default knobs).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

_OVERRIDE = re.compile(r"Could not override '([^']+)'")
_FULL_KEY = re.compile(r"full_key: (\S+)")


def override_key(override: str) -> str:
    """The key of a Hydra override (``+a.b=1``, ``~a.b``, ``a.b=[1,2]`` -> ``a.b``)."""
    return override.split("=", 1)[0].lstrip("~+")


RELEASE_PREFIX = "algorithm.lead_"


def release_name_error(override: str) -> str | None:
    """The refusal of an override that uses the release's name of a LEAD knob
    (``+algorithm.lead_alpha=2.0`` -> ``use algorithm.lead.alpha=2.0``); None for any other."""
    key = override_key(override)
    if not key.startswith(RELEASE_PREFIX):
        return None
    from dataclasses import fields

    from lead.core.knobs import LeadConfig

    knob = key[len(RELEASE_PREFIX) :]
    if knob not in {f.name for f in fields(LeadConfig)}:
        return None
    value = override.split("=", 1)[1] if "=" in override else "<value>"
    return (
        f"{key} is the paper release's name of a LEAD knob, which this package does not read: "
        f"use algorithm.lead.{knob}={value}"
    )


def check_release_names(overrides: list[str]) -> None:
    """Raise ``ValueError`` for the first override that uses a release name (:func:`release_name_error`)."""
    for override in overrides:
        error = release_name_error(override)
        if error:
            raise ValueError(error)


def explain_override_error(
    err: Exception, overrides: list[str], compose: Callable[[list[str]], Any] | None = None
) -> Exception:
    """A ``ValueError`` saying ``unknown key alpah in algorithm.lead; did you mean alpha?`` when
    ``err`` is Hydra's refusal of an override of a missing key; ``err`` itself otherwise.

    ``compose`` builds the configuration of a list of overrides (default: Hydra's ``compose`` of
    ``lead_trainer``, inside an initialised config module); it is called without the bad override to
    list the keys that do exist."""
    match = _OVERRIDE.search(str(err))
    full = _FULL_KEY.search(str(err.__cause__ or ""))
    if match is None or full is None:
        return err
    bad = full.group(1)
    given = next((o for o in overrides if override_key(o) == match.group(1)), match.group(1))
    release = release_name_error(given)
    if release:
        return ValueError(release)
    parent, _, leaf = bad.rpartition(".")
    if compose is None:
        from hydra import compose as hydra_compose

        def compose(values: list[str]) -> Any:
            return hydra_compose("lead_trainer", overrides=values)

    rest = [o for o in overrides if override_key(o) != match.group(1)]
    try:
        node = compose(rest)
        for part in parent.split(".") if parent else ():
            node = node[part]
        known = [str(k) for k in node.keys()]
    except Exception:  # noqa: BLE001 - without the keys, the message still names the bad one
        known = []
    where = f" in {parent}" if parent else " at the top level"
    hint = difflib.get_close_matches(leaf, known, n=3)
    advice = (
        f"; did you mean {' or '.join(hint)}?"
        if hint
        else (f"; {parent or 'it'} has: {', '.join(sorted(known))}" if known else "")
    )
    return ValueError(f"unknown key {leaf}{where} (override {match.group(1)}){advice}")

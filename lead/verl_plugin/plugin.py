"""verl plugin entry point (group ``verl.plugins``), loaded by every ``import verl``.

It registers this package's advantage estimators (``lead`` and the baselines) and, when verl's
v1 trainer stack is importable, the ``lead_sync`` trainer. In CPU mode (``VERL_PLATFORM=cpu``,
see :mod:`lead.verl_plugin.cpu`) it first registers the CPU backend, before anything asks verl
for its platform, and creates the gloo process group of a worker-group actor. verl swallows plugin errors at DEBUG
level, which would surface much later as "Unknown advantage estimator"; failures here are
therefore reported as warnings naming the error.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings


def _load() -> None:
    from lead.verl_plugin.resolvers import register as register_resolvers

    register_resolvers()
    from lead.verl_plugin.cpu import cpu_mode

    if cpu_mode():
        try:
            from lead.verl_plugin.cpu import init_process_group, register

            register()
            init_process_group()
        except Exception as exc:  # noqa: BLE001
            warnings.warn(
                f"lead: the CPU backend (VERL_PLATFORM=cpu) was not registered with verl: {exc!r}", stacklevel=2
            )
            logging.getLogger("lead").error("the CPU backend was not registered with verl: %r", exc)
    try:
        from lead.verl_plugin.estimators import register_estimators

        register_estimators()
    except Exception as exc:  # noqa: BLE001 - reported, never swallowed
        warnings.warn(f"lead: advantage estimators were not registered with verl: {exc!r}", stacklevel=2)
        logging.getLogger("lead").warning("advantage estimators were not registered with verl: %r", exc)
        return
    if importlib.util.find_spec("transfer_queue") is None:
        return
    try:
        import lead.verl_plugin.trainer  # noqa: F401 - registers trainer_mode "lead_sync"
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"lead: the lead_sync trainer was not registered with verl: {exc!r}", stacklevel=2)
        logging.getLogger("lead").warning("the lead_sync trainer was not registered with verl: %r", exc)


_load()

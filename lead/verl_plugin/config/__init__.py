"""Hydra configs of ``lead-train``.

``lead_trainer.yaml`` extends verl's ``ppo_trainer``. Its ``algorithm.<method>`` knob blocks are
generated from the methods' config dataclasses by :mod:`lead.verl_plugin.algo_config` (imported
here, so composing through ``initialize_config_module("lead.verl_plugin.config")`` finds them).
"""

import lead.verl_plugin.algo_config  # noqa: F401 - stores the generated method blocks

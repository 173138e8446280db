"""Configuration glue: verl's ``AlgoConfig`` with one block per method, and start-up checks.

``algorithm._target_`` in the project's Hydra config points to :class:`LeadAlgoConfig`, so
verl's ``omega_conf_to_dataclass(config.algorithm)`` keeps working with the extra
``algorithm.<method>`` blocks (plain ``AlgoConfig`` rejects unknown keys).
"""

from __future__ import annotations

import warnings
from dataclasses import field, make_dataclass
from typing import Any

from verl.trainer.config import AlgoConfig

from lead.core.registry import get_method, load_methods
from lead.verl_plugin.estimators import is_lead_estimator, method_block

LeadAlgoConfig = make_dataclass(
    "LeadAlgoConfig",
    [(name, dict[str, Any], field(default_factory=dict)) for name in load_methods()
     if name not in AlgoConfig.__dataclass_fields__],
    bases=(AlgoConfig,),
    namespace={
        "__module__": __name__,
        "__doc__": "verl's AlgoConfig plus ``algorithm.<method>`` knob blocks (``lead``, and one per "
                   "registered baseline), each a plain dict validated by the method's config dataclass.",
    },
)


def validate_run_config(config: Any) -> None:
    """Check a full training config before anything expensive starts.

    The estimator must be registered with verl. For an estimator of this package: the ``algorithm.<estimator>`` knobs must be valid (unknown
    keys, modes and out-of-range values raise ``ValueError`` naming key, value and what is
    allowed); the KL penalty must not be folded into the reward; and a LEAD ``bmax`` below the
    rollout's response cap triggers a warning, since longer responses would all get L* = bmax.
    Other estimators pass through untouched.
    """
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    algorithm = config.algorithm
    name = algorithm.adv_estimator
    if name not in ADV_ESTIMATOR_REGISTRY:
        raise ValueError(f"algorithm.adv_estimator={name!r} is not a registered advantage estimator; "
                         f"available: {sorted(ADV_ESTIMATOR_REGISTRY)}")
    if not is_lead_estimator(name):
        return
    cfg = get_method(name).config_cls.from_mapping(method_block(algorithm, name))
    if algorithm.get("use_kl_in_reward", False):
        raise ValueError(
            f"algorithm.use_kl_in_reward=True is incompatible with adv_estimator={name}: the estimator reads "
            "correctness from token_level_rewards, which would include the KL penalty. Set it to False and use "
            "actor_rollout_ref.actor.use_kl_loss=True instead.")
    max_response = config.get("data", {}).get("max_response_length")
    bmax = getattr(cfg, "bmax", None)
    if bmax is not None and max_response is not None and bmax < max_response:
        warnings.warn(
            f"algorithm.{name}.bmax={bmax} is below data.max_response_length={max_response}: responses longer "
            f"than bmax are scored against L* <= bmax. Set both from one budget (BUDGET in the launch scripts).",
            stacklevel=2)

"""Configuration glue: the generated method blocks, verl's ``AlgoConfig`` with them, start-up checks.

The ``algorithm.<method>`` knob blocks of the project's Hydra config, one per estimator of this
package, are generated from each method's config dataclass (:mod:`lead.core.knobs`) when this
module is imported, and stored as the ``lead_method_blocks`` config that ``lead_trainer.yaml``
lists in its defaults: every knob's default has one source, and a new method's block appears
with its module. The CPU group (``device/cpu.yaml``) lists ``lead_cpu_method_knobs`` in its
defaults: each method's length knobs scaled to the group's response cap
(:func:`lead.core.knobs.scaled_knobs`).

``algorithm._target_`` in the project's Hydra config points to :class:`LeadAlgoConfig`, so
verl's ``omega_conf_to_dataclass(config.algorithm)`` keeps working with the extra
``algorithm.<method>`` blocks (plain ``AlgoConfig`` rejects unknown keys).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import field, make_dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from verl.trainer.config import AlgoConfig

from lead.core.knobs import config_class, scaled_knobs
from lead.core.methods import build_method, load_methods
from lead.verl_plugin.estimators import is_lead_estimator, method_block, register_estimators

METHOD_BLOCKS = "lead_method_blocks"
CPU_METHOD_KNOBS = "lead_cpu_method_knobs"
CPU_GROUP_FILE = Path(__file__).parent / "config" / "device" / "cpu.yaml"


# Every method's length cap is the response cap unless a run says otherwise, so one number (BUDGET
# in the launch scripts) sets both and they cannot disagree.
CAP = "${data.max_response_length}"


def method_blocks() -> dict[str, dict[str, Any]]:
    """``{method: default knobs}`` for every estimator of this package, as plain YAML values; each
    method's cap knob interpolates ``data.max_response_length``."""
    blocks = {}
    for name in register_estimators():
        config_cls = config_class(name)
        block = json.loads(json.dumps(config_cls().to_dict()))
        if config_cls.cap_knob is not None:
            block[config_cls.cap_knob] = CAP
        blocks[name] = block
    return blocks


def cpu_method_knobs() -> dict[str, dict[str, float]]:
    """``{method: {knob: value}}``: every estimator's token knobs and per-token rates scaled from
    its defaults to the CPU group's response cap (``data.max_response_length`` in
    ``device/cpu.yaml``); cap knobs are left to follow the response cap. Values are rounded to
    12 significant digits, so that the printed configuration reads ``2.5e-05``, not
    ``2.4999999999999998e-05``."""
    cap = OmegaConf.load(CPU_GROUP_FILE).data.max_response_length
    blocks = {}
    for name in register_estimators():
        cap_knob = config_class(name).cap_knob
        knobs = {knob: float(f"{value:.12g}") for knob, value in scaled_knobs(name, cap).items() if knob != cap_knob}
        if knobs:
            blocks[name] = knobs
    return blocks


def store_method_blocks() -> None:
    """(Re)generate the ``lead_method_blocks`` and ``lead_cpu_method_knobs`` configs (under
    ``algorithm``) in Hydra's ConfigStore."""
    ConfigStore.instance().store(name=METHOD_BLOCKS, node=method_blocks(), package="algorithm")
    ConfigStore.instance().store(name=CPU_METHOD_KNOBS, node=cpu_method_knobs(), package="algorithm")


store_method_blocks()

LeadAlgoConfig = make_dataclass(
    "LeadAlgoConfig",
    [
        (name, dict[str, Any], field(default_factory=dict))
        for name in load_methods()
        if name not in AlgoConfig.__dataclass_fields__
    ],
    bases=(AlgoConfig,),
    namespace={
        "__module__": __name__,
        "__doc__": "verl's AlgoConfig plus ``algorithm.<method>`` knob blocks (``lead``, and one per "
        "registered baseline), each a plain dict validated by the method's config dataclass.",
    },
)


# The trainer that logs the estimators' metrics and checkpoints their state (lead.verl_plugin.trainer).
TRAINER_MODE = "lead_sync"
# The reward function of this package, whose reward levels are known from its reward_kwargs.
_OUR_REWARD = ("lead.rewards.math", "lead/rewards/math")


def validate_run_config(config: Any) -> None:
    """Check a full training config before anything expensive starts.

    The estimator must be registered with verl. For an estimator of this package (other
    estimators pass through untouched), each failure is a ``ValueError`` naming the key:

    * the ``algorithm.<estimator>`` knobs must be valid (unknown keys, modes and out-of-range
      values name key, value and what is allowed);
    * the KL penalty must not be folded into the reward;
    * ``algorithm.rollout_correction.rollout_rs`` must be off: rejection sampling edits
      ``response_mask`` before the estimator runs, so the lengths it sees shrink or vanish;
    * a method with state across steps (LEAD's controller, ...) needs the ``lead_sync`` v1
      trainer, the only one that logs its metrics and checkpoints its state once per step;
    * with this package's reward function, ``correct_threshold`` must separate its
      ``incorrect_reward`` and ``correct_reward``, and LEAD with other rewards than 1/0 needs
      ``indicator_stats``.

    Warnings: a LEAD ``bmax`` below the rollout's response cap (longer responses would all get
    L* = bmax), and a stateless method of this package under another trainer (its metrics are
    not logged).
    """
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    algorithm = config.algorithm
    name = algorithm.adv_estimator
    if name not in ADV_ESTIMATOR_REGISTRY:
        raise ValueError(
            f"algorithm.adv_estimator={name!r} is not a registered advantage estimator; "
            f"available: {sorted(ADV_ESTIMATOR_REGISTRY)}"
        )
    if not is_lead_estimator(name):
        return
    cfg = config_class(name).from_mapping(method_block(algorithm, name))
    if algorithm.get("use_kl_in_reward", False):
        raise ValueError(
            f"algorithm.use_kl_in_reward=True is incompatible with adv_estimator={name}: the estimator reads "
            "correctness from token_level_rewards, which would include the KL penalty. Set it to False and use "
            "actor_rollout_ref.actor.use_kl_loss=True instead."
        )
    rejection = (algorithm.get("rollout_correction") or {}).get("rollout_rs")
    if rejection not in (None, ""):
        raise ValueError(
            f"algorithm.rollout_correction.rollout_rs={rejection!r} is incompatible with adv_estimator={name}: "
            "rejection sampling zeroes parts of response_mask before the advantage estimator runs, so the "
            "response lengths it scores shrink or vanish. Set algorithm.rollout_correction.rollout_rs=null "
            "(importance weighting, rollout_is, leaves the mask alone)."
        )
    _check_trainer(config, name)
    _check_reward_levels(config, name, cfg)
    max_response = config.get("data", {}).get("max_response_length")
    bmax = getattr(cfg, "bmax", None)
    if bmax is not None and max_response is not None and bmax < max_response:
        warnings.warn(
            f"algorithm.{name}.bmax={bmax} is below data.max_response_length={max_response}: responses longer "
            f"than bmax are scored against L* <= bmax. Set both from one budget (BUDGET in the launch scripts).",
            stacklevel=2,
        )


def _check_trainer(config: Any, name: str) -> None:
    trainer = config.get("trainer") or {}
    use_v1 = trainer.get("use_v1", True)
    mode = (trainer.get("v1") or {}).get("trainer_mode")
    if use_v1 and mode == TRAINER_MODE:
        return
    setting = "trainer.use_v1=false" if not use_v1 else f"trainer.v1.trainer_mode={mode}"
    if build_method(name).state_dict():
        raise ValueError(
            f"adv_estimator={name} keeps state from step to step, which {setting} neither checkpoints nor logs "
            f"(and the asynchronous modes would advance it several times per step). Use the synchronous v1 "
            f"trainer of this package: trainer.use_v1=true trainer.v1.trainer_mode={TRAINER_MODE}."
        )
    warnings.warn(
        f"adv_estimator={name} with {setting}: its {name}/* metrics are not logged; "
        f"trainer.v1.trainer_mode={TRAINER_MODE} logs them.",
        stacklevel=3,
    )


def _check_reward_levels(config: Any, name: str, cfg: Any) -> None:
    reward_fn = (config.get("reward") or {}).get("custom_reward_function") or {}
    if not any(marker in str(reward_fn.get("path") or "") for marker in _OUR_REWARD):
        return  # another reward function: its levels are unknown here
    kwargs = reward_fn.get("reward_kwargs") or {}
    correct, incorrect = float(kwargs.get("correct_reward", 1.0)), float(kwargs.get("incorrect_reward", 0.0))
    threshold = getattr(cfg, "correct_threshold", None)
    if threshold is not None and not incorrect <= threshold < correct:
        raise ValueError(
            f"algorithm.{name}.correct_threshold={threshold} does not separate the reward's incorrect_reward="
            f"{incorrect} and correct_reward={correct} (a rollout is correct when its reward exceeds the "
            f"threshold): set it between the two, e.g. {(correct + incorrect) / 2}."
        )
    if (correct, incorrect) != (1.0, 0.0) and getattr(cfg, "indicator_stats", True) is False:
        raise ValueError(
            f"adv_estimator={name} with correct_reward={correct} and incorrect_reward={incorrect}: the controller's "
            f"correctness statistics assume 1/0 rewards. Set algorithm.{name}.indicator_stats=true to compute them "
            f"on the correct/incorrect indicator, or use 1/0 rewards."
        )
